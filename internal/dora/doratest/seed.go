// Package doratest seeds a store with a known production history for the
// DORA tests of internal/dora and handlers. Every expected value is
// written next to the history it comes from.
package doratest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// Now is the moment the seeded history is looked at: Dec 4 2026, 15:00 UTC.
var Now = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)

// Fixture is what Seed made.
type Fixture struct {
	Project    *models.Project
	Production *models.Environment
	Dev        *models.Environment
	// RepoDir is a real git repository holding k1 → k2 → k3 → k4 → k5.
	RepoDir string
	// Commits are k1..k5 by name.
	Commits map[string]string
}

func at(day, hour, minute int) time.Time {
	return time.Date(2026, 12, day, hour, minute, 0, 0, time.UTC)
}

// Seed creates project slug with the history below in its production
// environment (and one unrelated deploy in dev):
//
//	Dec 2 09:00  r1  k1 (seen 08:00)                      live, later superseded
//	Dec 2 11:00  r2  k1..k3: k2 (seen 10:00), k3 (10:30)  rolled back: failure
//	Dec 2 11:20  r3  rollback to r1                       rework; recovery 20 min
//	Dec 3 10:00  r4  hotfix/fix at k5                     deploy failed: failure; rework
//	Dec 3 11:00  --  pending release skipped              not a deployment
//	Dec 3 12:00  r5  main at k5: k4 (seen 11:00), k5 (09:00)  live; rework; recovery 2 h
//	             r5 crashed at 12:30                      after the 15 min bake: no failure
//
// Expected (UTC days):
//
//	Dec 2: 3 deployments, 1 failure, 1 rework, lead times 3600 1800 3600, recovery 1200
//	Dec 3: 2 deployments, 1 failure, 2 reworks, lead times 10800 3600, recovery 7200
//	7 days to Dec 4: 5/7 per day (high), lead median 3600 (elite), fail rate 0.4 (low),
//	recovery median 4200 (high), rework 0.6
func Seed(t testing.TB, s *models.Store, slug string) Fixture {
	t.Helper()
	ctx := context.Background()
	if _, err := exec.LookPath("git"); err != nil {
		testpg.SkipOrFail(t, "git is not installed: %v", err)
	}
	f := Fixture{RepoDir: t.TempDir(), Commits: map[string]string{}}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = f.RepoDir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
		if err := os.WriteFile(filepath.Join(f.RepoDir, "f.txt"), []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", "f.txt")
		git("commit", "-q", "-m", k)
		f.Commits[k] = git("rev-parse", "HEAD")
	}
	f.RepoDir = filepath.Join(f.RepoDir, ".git")

	p := &models.Project{Slug: slug, Name: slug, RepoURL: "file:///x", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 10}
	if err := testkit.InsertFixture(ctx, s, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDefaultEnvironments(ctx, p.ID, "main"); err != nil {
		t.Fatal(err)
	}
	_, envs, err := s.ProjectEnvironments(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	for i := range envs {
		switch envs[i].Name {
		case "production":
			f.Production = &envs[i]
		case "dev":
			f.Dev = &envs[i]
		}
	}
	f.Project = p

	n := int64(0)
	build := func(ref, k string) *models.Build {
		t.Helper()
		n++
		sha := strings.Repeat(string(rune('a'+n)), 64)
		b := &models.Build{ProjectID: p.ID, Number: n, Ref: ref, RefType: "branch", CommitSHA: f.Commits[k], Trigger: "manual",
			Status: models.BuildSucceeded, ArtifactSHA256: &sha, CreatedAt: at(1, 0, 0)}
		if err := testkit.InsertFixture(ctx, s, &models.Artifact{SHA256: sha, Size: 1}, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	release := func(env *models.Environment, b *models.Build, status, reason string, started *time.Time, finished time.Time) *models.Release {
		t.Helper()
		r := &models.Release{EnvironmentID: env.ID, BuildID: &b.ID, ArtifactSHA256: *b.ArtifactSHA256, ConfigVersion: 1, ConfigSummary: "[]",
			Status: status, Reason: reason, Rejected: status == models.ReleaseRolledBack, CreatedAt: finished.Add(-2 * time.Minute),
			StartedAt: started, FinishedAt: &finished}
		if err := testkit.InsertFixture(ctx, s, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	started := func(t time.Time) *time.Time { t = t.Add(-time.Minute); return &t }

	b1, b3, b5h, b5 := build("main", "k1"), build("main", "k3"), build("hotfix/fix", "k5"), build("main", "k5")
	prod := f.Production
	r1 := release(prod, b1, models.ReleaseSuperseded, models.ReasonDeploy, started(at(2, 9, 0)), at(2, 9, 0))
	release(prod, b3, models.ReleaseRolledBack, models.ReasonPromotion, started(at(2, 11, 0)), at(2, 11, 0))
	r3 := release(prod, b1, models.ReleaseSuperseded, models.ReasonRollback, started(at(2, 11, 20)), at(2, 11, 20))
	r3.SourceReleaseID = &r1.ID
	release(prod, b5h, models.ReleaseFailed, models.ReasonDeploy, started(at(3, 10, 0)), at(3, 10, 0))
	release(prod, b5, models.ReleaseSuperseded, models.ReasonAuto, nil, at(3, 11, 0))
	r5 := release(prod, b5, models.ReleaseLive, models.ReasonPromotion, started(at(3, 12, 0)), at(3, 12, 0))
	if err := testkit.InsertFixture(ctx, s, &models.ReleaseEvent{EnvironmentID: prod.ID, ReleaseID: r5.ID, Kind: "crashed", CreatedAt: at(3, 12, 30)}); err != nil {
		t.Fatal(err)
	}
	// Another environment's deploy never counts in production.
	release(f.Dev, b5, models.ReleaseLive, models.ReasonAuto, started(at(3, 8, 0)), at(3, 8, 0))

	for k, seen := range map[string]time.Time{"k1": at(2, 8, 0), "k2": at(2, 10, 0), "k3": at(2, 10, 30), "k4": at(3, 11, 0), "k5": at(3, 9, 0)} {
		if err := s.RecordCommitSightings(ctx, p.ID, []string{f.Commits[k]}, models.SightingWebhook, seen); err != nil {
			t.Fatal(err)
		}
	}
	return f
}
