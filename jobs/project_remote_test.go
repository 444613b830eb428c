package jobs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// TestOnlyAdminsProjectsReachThisMachine stores projects that point at a
// git server on loopback (as a project linked before the address check,
// or straight through the database, would) and polls and builds them: a
// developer's project must not make a single request, an admin's works.
func TestOnlyAdminsProjectsReachThisMachine(t *testing.T) {
	s := openStores(t)["sqlite"]
	ctx := context.Background()
	j, err := New(ctx, Deps{Store: s, DataDir: t.TempDir()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Stop(context.Background()) })
	w := &PollWorker{j: j, store: s, log: slog.New(slog.DiscardHandler)}

	repo := newPollRepo(t)
	gitPath, _ := exec.LookPath("git")
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo.dir), "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}}
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		backend.ServeHTTP(rw, r)
	}))
	defer srv.Close()
	url := srv.URL + "/repo"

	user := func(name, role string) *int64 {
		u := &models.User{Username: name, PasswordHash: "x", Role: role}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return &u.ID
	}
	project := func(slug string, by *int64) *models.Project {
		p := &models.Project{Slug: slug, Name: slug, RepoURL: url, DefaultBranch: "main", WebhookSecretSealed: []byte("x"), PollInterval: 60, CreatedByID: by}
		if err := s.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dev := project("devs", user("dev", "developer"))
	orphan := project("orphan", nil)
	now := time.Now().UTC()

	built, err := w.Poll(ctx, now)
	if err != nil || len(built) != 0 {
		t.Fatalf("poll built %+v, %v", built, err)
	}
	_, err = j.CreateBuild(ctx, s, CreateBuildRequest{Project: dev, Ref: "main", Trigger: TriggerManual})
	var re *RepoError
	if !errors.As(err, &re) || !errors.Is(err, gitrepo.ErrForbiddenAddress) || re.Msg != "repository not found or not reachable: "+url {
		t.Fatalf("build of a developer's loopback project: %v", err)
	}
	if _, err := j.CreateBuild(ctx, s, CreateBuildRequest{Project: orphan, Ref: "main", Trigger: TriggerManual}); !errors.Is(err, gitrepo.ErrForbiddenAddress) {
		t.Fatalf("build of a project without creator: %v", err)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the git server on loopback got %d requests from projects no admin linked", n)
	}

	admin := project("admins", user("root", "admin"))
	built, err = w.Poll(ctx, now.Add(time.Hour))
	if err != nil || len(built) != 1 || built[0].ProjectID != admin.ID {
		t.Fatalf("poll built %+v, %v; want the admin's project built", built, err)
	}
	if requests.Load() == 0 {
		t.Fatal("the admin's project did not reach its server")
	}
}
