package jobs

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// pollRepo is a real repository tests commit to.
type pollRepo struct {
	t   *testing.T
	dir string
}

func newPollRepo(t *testing.T) *pollRepo {
	t.Helper()
	r := &pollRepo{t: t, dir: filepath.Join(t.TempDir(), "repo")}
	r.git("init", "--quiet", "--initial-branch=main", r.dir)
	r.commit()
	return r
}

func (r *pollRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = r.dir
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *pollRepo) commit() string {
	r.t.Helper()
	r.git("commit", "--quiet", "--allow-empty", "-m", "change")
	return r.git("rev-parse", "HEAD")
}

func pollProject(t *testing.T, s *models.Store, slug, repo, branch string, interval int64) *models.Project {
	t.Helper()
	p := &models.Project{Slug: slug, Name: slug, RepoURL: repo, DefaultBranch: branch, WebhookSecretSealed: []byte("x"), PollInterval: interval}
	if err := s.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func countBuilds(t *testing.T, s *models.Store, projectID int64) int {
	t.Helper()
	bs, err := s.RecentBuildsByBranch(context.Background(), projectID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return n
}

func TestPollBuildsEachNewCommitOnce(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			j, err := New(ctx, Deps{Store: s, DataDir: t.TempDir()}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = j.Stop(context.Background()) })
			w := &PollWorker{j: j, store: s, log: slog.New(slog.DiscardHandler)}
			repo := newPollRepo(t)
			polled := pollProject(t, s, "polled", repo.dir, "main", 60)
			off := pollProject(t, s, "off", repo.dir, "main", 0)
			missing := pollProject(t, s, "missing", repo.dir, "develop", 60)
			gone := pollProject(t, s, "gone", repo.dir+"-gone", "main", 60)
			now := time.Now().UTC().Truncate(time.Second)

			built, err := w.Poll(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(built) != 1 || built[0].ProjectID != polled.ID || built[0].CommitSHA != repo.git("rev-parse", "HEAD") ||
				built[0].Trigger != "poll" || built[0].Ref != "main" {
				t.Fatalf("first poll built %+v, want the head of main of the polled project", built)
			}
			for _, p := range []*models.Project{off, missing, gone} {
				if n := countBuilds(t, s, p.ID); n != 0 {
					t.Fatalf("%s: %d builds, want none", p.Slug, n)
				}
			}

			t.Run("nothing is built before the interval passed", func(t *testing.T) {
				repo.commit()
				if built, err := w.Poll(ctx, now.Add(30*time.Second)); err != nil || len(built) != 0 {
					t.Fatalf("built %+v, %v", built, err)
				}
			})
			t.Run("a new commit is built once the interval passed", func(t *testing.T) {
				built, err := w.Poll(ctx, now.Add(61*time.Second))
				if err != nil || len(built) != 1 || built[0].CommitSHA != repo.git("rev-parse", "HEAD") {
					t.Fatalf("built %+v, %v", built, err)
				}
			})
			t.Run("an unchanged branch is not built again", func(t *testing.T) {
				if built, err := w.Poll(ctx, now.Add(200*time.Second)); err != nil || len(built) != 0 {
					t.Fatalf("built %+v, %v", built, err)
				}
			})
			t.Run("a commit already built by a webhook is not built again", func(t *testing.T) {
				sha := repo.commit()
				if _, err := j.CreateBuild(ctx, s, CreateBuildRequest{Project: polled, Ref: "refs/heads/main", CommitSHA: sha, Trigger: "webhook"}); err != nil {
					t.Fatal(err)
				}
				if built, err := w.Poll(ctx, now.Add(300*time.Second)); err != nil || len(built) != 0 {
					t.Fatalf("built %+v, %v", built, err)
				}
			})
			t.Run("pollers racing for one commit build it once", func(t *testing.T) {
				before := countBuilds(t, s, polled.ID)
				repo.commit()
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if _, err := w.Poll(ctx, now.Add(400*time.Second)); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if n := countBuilds(t, s, polled.ID); n != before+1 {
					t.Fatalf("%d builds after the race, want %d", n, before+1)
				}
			})
		})
	}
}

func TestPollRunsAsAPeriodicJob(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			repo := newPollRepo(t)
			p := pollProject(t, s, "polled", repo.dir, "main", 60)
			j, err := New(ctx, Deps{Store: s, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}, Options{Work: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := j.Stop(sctx); err != nil {
					t.Error(err)
				}
			}()
			deadline := time.Now().Add(30 * time.Second)
			for countBuilds(t, s, p.ID) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the poll job did not build the polled project")
				}
				time.Sleep(100 * time.Millisecond)
			}
			b, err := s.LatestBuildForRef(ctx, p.ID, "main")
			if err != nil || b.Trigger != "poll" || b.CommitSHA != repo.git("rev-parse", "HEAD") {
				t.Fatalf("build: %v %+v", err, b)
			}
		})
	}
}
