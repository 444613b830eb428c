// Package buildtest helps tests of builds: real Git repositories in temp
// dirs with a fixed identity and clock, and projects in a real store.
package buildtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// Repo is a real Git repository (with a work tree) that tests commit to.
type Repo struct {
	t testing.TB
	// Dir is the repository's path, usable as a project's repository URL.
	Dir  string
	when time.Time
}

// NewRepo makes an empty repository whose first branch is main.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, Dir: filepath.Join(t.TempDir(), "repo"), when: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	r.Git("init", "--quiet", "--initial-branch=main", r.Dir)
	return r
}

// Git runs git in the repository with a fixed identity and no user config,
// and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = r.Dir
	}
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + r.Dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE=" + r.when.Format(time.RFC3339), "GIT_COMMITTER_DATE=" + r.when.Format(time.RFC3339),
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write creates or replaces a file in the work tree.
func (r *Repo) Write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Commit commits every change with message and returns the commit SHA.
// Each commit is a minute after the previous one.
func (r *Repo) Commit(message string) string {
	r.t.Helper()
	r.Git("add", "--all")
	r.Git("commit", "--quiet", "--allow-empty", "-m", message)
	r.when = r.when.Add(time.Minute)
	return r.Git("rev-parse", "HEAD")
}

// Pipeline writes files (name → content) plus .slipway.yml and commits.
func (r *Repo) Pipeline(yml string, files map[string]string, message string) string {
	r.t.Helper()
	for name, content := range files {
		r.Write(name, content)
	}
	r.Write(".slipway.yml", yml)
	return r.Commit(message)
}

// Project inserts a project whose repository is repoURL and returns it.
// It writes the row directly so tests do not depend on the project pages.
func Project(t testing.TB, store *models.Store, slug, repoURL string) *models.Project {
	t.Helper()
	ctx := context.Background()
	ph := func(i int) string {
		if store.Dialect() == models.Postgres {
			return fmt.Sprintf("$%d", i)
		}
		return "?"
	}
	q := fmt.Sprintf(`INSERT INTO projects (slug, name, repo_url, default_branch, webhook_secret_sealed, poll_interval, next_build_number, created_at, updated_at)
		VALUES (%s, %s, %s, %s, %s, 0, 1, %s, %s)`, ph(1), ph(2), ph(3), ph(4), ph(5), ph(6), ph(7))
	now := time.Now().UTC()
	if _, err := store.SQLDB().ExecContext(ctx, q, slug, slug, repoURL, "main", []byte("sealed"), now, now); err != nil {
		t.Fatalf("insert project: %v", err)
	}
	p, err := store.ProjectForBuilds(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// WaitBuild polls until the build is finished and returns it, failing the
// test after timeout.
func WaitBuild(t testing.TB, store *models.Store, id int64, timeout time.Duration) *models.Build {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := store.Build(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if models.BuildFinished(b.Status) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %d still %s after %s", id, b.Status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
