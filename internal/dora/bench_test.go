package dora_test

import (
	"context"
	"fmt"
	"github.com/slipway-ci/slipway/internal/testkit"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/models"
)

// benchHistory is 90 days of production with 4 deploys a day (360
// releases, each bringing 2 new commits, every 10th rolled back and every
// 25th failed) in a fresh SQLite store, and the repository holding the
// 720 commits.
func benchHistory(b *testing.B) (*models.Store, *models.Environment, string, time.Time) {
	b.Helper()
	ctx := context.Background()
	s, err := models.Open(ctx, models.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q", "--bare")
	tree := git("", "mktree")
	var commits []string
	parent := ""
	for i := range 720 {
		args := []string{"commit-tree", tree, "-m", fmt.Sprint(i)}
		if parent != "" {
			args = append(args, "-p", parent)
		}
		parent = git("", args...)
		commits = append(commits, parent)
	}
	p := &models.Project{Slug: "big", Name: "big", RepoURL: "file:///x", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 1}
	if err := testkit.InsertFixture(ctx, s, p); err != nil {
		b.Fatal(err)
	}
	env := &models.Environment{ProjectID: p.ID, Name: "production", Position: 1, Target: "process"}
	if err := testkit.InsertFixture(ctx, s, env); err != nil {
		b.Fatal(err)
	}
	env.Project = *p
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	start := now.AddDate(0, 0, -90)
	for i := range 360 {
		at := start.Add(time.Duration(i) * 6 * time.Hour)
		head := commits[2*i+1]
		sha := fmt.Sprintf("%064d", i)
		bd := &models.Build{ProjectID: p.ID, Number: int64(i + 1), Ref: "main", RefType: "branch", CommitSHA: head, Trigger: "webhook",
			Status: models.BuildSucceeded, ArtifactSHA256: &sha}
		status := models.ReleaseSuperseded
		switch {
		case i%25 == 24:
			status = models.ReleaseFailed
		case i%10 == 9:
			status = models.ReleaseRolledBack
		}
		started := at.Add(-time.Minute)
		r := &models.Release{EnvironmentID: env.ID, BuildID: &bd.ID, ArtifactSHA256: sha, ConfigVersion: 1, ConfigSummary: "[]",
			Status: status, Reason: models.ReasonDeploy, StartedAt: &started, FinishedAt: &at}
		if err := testkit.InsertFixture(ctx, s, &models.Artifact{SHA256: sha, Size: 1}, bd); err != nil {
			b.Fatal(err)
		}
		r.BuildID = &bd.ID
		if err := testkit.InsertFixture(ctx, s, r); err != nil {
			b.Fatal(err)
		}
		if err := s.RecordCommitSightings(ctx, p.ID, commits[2*i:2*i+2], models.SightingWebhook, at.Add(-3*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	return s, env, dir, now
}

// BenchmarkRollup90DaysOneEnvironment measures one environment's 90-day
// recomputation, as the hourly job does it (one git rev-list over the
// history), and a 7-day report read from the rollup with today live.
func BenchmarkRollup90DaysOneEnvironment(b *testing.B) {
	if _, err := exec.LookPath("git"); err != nil {
		b.Skip("no git")
	}
	s, env, dir, now := benchHistory(b)
	repo := func(*models.Project) string { return dir }
	ctx := context.Background()
	b.Run("rollup-90-days", func(b *testing.B) {
		for b.Loop() {
			if _, err := dora.NewService(s, repo).Days(ctx, env, now.AddDate(0, 0, -89), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("report-7-days-from-rollup", func(b *testing.B) {
		svc := dora.NewService(s, repo)
		if _, err := svc.Rollup(ctx, now); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := svc.Report(ctx, env, 7, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
