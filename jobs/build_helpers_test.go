package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// buildEnv is a store with River workers, a log service and an artifact
// store, as `slipway serve` wires them.
type buildEnv struct {
	t     testing.TB
	store *models.Store
	logs  *logs.Service
	arts  *artifact.Store
	jobs  *Jobs
	data  string
	deps  Deps
}

// newBuildEnv starts workers on a fresh database. Steps run unsandboxed
// unless edit says otherwise, so tests can see their processes.
func newBuildEnv(t testing.TB, db string, workers int, edit ...func(*Deps)) *buildEnv {
	t.Helper()
	e := newIdleBuildEnv(t, db, workers, edit...)
	if err := e.jobs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

// newIdleBuildEnv is newBuildEnv with the workers not started yet.
func newIdleBuildEnv(t testing.TB, db string, workers int, edit ...func(*Deps)) *buildEnv {
	t.Helper()
	ctx := context.Background()
	s := testkit.OpenStoreOn(t, testkit.DB(db), testkit.Migrations(Migrate))
	data := t.TempDir()
	ls := logs.NewService(s, logs.Options{})
	if err := ls.Start(ctx); err != nil {
		t.Fatal(err)
	}
	arts, err := artifact.NewStore(filepath.Join(data, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Store: s, DataDir: data, Logs: ls, Artifacts: arts, WorkspaceDir: t.TempDir(), Sandbox: runner.SandboxOff}
	for _, e := range edit {
		e(&deps)
	}
	j, err := New(ctx, deps, Options{Work: true, BuildWorkers: workers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := j.Stop(sctx); err != nil {
			t.Error(err)
		}
		ls.Close()
	})
	return &buildEnv{t: t, store: s, logs: ls, arts: arts, jobs: j, data: data, deps: deps}
}

// project links a new repository with the given pipeline and files.
func (e *buildEnv) project(slug, yml string, files map[string]string) (*models.Project, *buildtest.Repo, string) {
	e.t.Helper()
	r := buildtest.NewRepo(e.t)
	var sha string
	if yml == "" {
		for n, c := range files {
			r.Write(n, c)
		}
		sha = r.Commit("no pipeline")
	} else {
		sha = r.Pipeline(yml, files, "first")
	}
	return buildtest.Project(e.t, e.store, slug, r.Dir), r, sha
}

// build creates a build of ref and returns it.
func (e *buildEnv) build(p *models.Project, ref string) *models.Build {
	e.t.Helper()
	b, err := e.jobs.CreateBuild(context.Background(), e.store, CreateBuildRequest{Project: p, Ref: ref, Trigger: TriggerAPI})
	if err != nil {
		e.t.Fatalf("create build of %s: %v", ref, err)
	}
	return b
}

func (e *buildEnv) wait(id int64) *models.Build {
	e.t.Helper()
	return buildtest.WaitBuild(e.t, e.store, id, 60*time.Second)
}

// log returns the whole stored log of a build.
func (e *buildEnv) log(id int64) []string {
	e.t.Helper()
	var out []string
	from := 1
	for {
		p, err := e.logs.Read(context.Background(), models.BuildLogStream(id), from, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, l := range p.Lines {
			out = append(out, l.Text)
		}
		if len(p.Lines) == 0 {
			return out
		}
		from = p.Next
	}
}

// closedLog waits until the build's log stream is closed and returns it.
func (e *buildEnv) closedLog(id int64) []string {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := e.logs.Read(context.Background(), models.BuildLogStream(id), 1, 1)
		if err != nil {
			e.t.Fatal(err)
		}
		if p.Closed {
			return e.log(id)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("log of build %d not closed", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stepNames(b *models.Build) []string {
	var out []string
	for _, s := range b.Steps {
		out = append(out, s.Name)
	}
	return out
}

func stepByName(t testing.TB, b *models.Build, name string) models.BuildStep {
	t.Helper()
	for _, s := range b.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("build %d has no step %q (steps %v)", b.ID, name, stepNames(b))
	return models.BuildStep{}
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// waitFile waits for a file to have content and returns it.
func waitFile(t testing.TB, path string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(strings.TrimSpace(string(b))) > 0 && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within %s", path, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processAlive reports whether pid is a live (non-zombie) process.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !(strings.HasPrefix(s[i+1:], " Z") || strings.HasPrefix(s[i+1:], " X"))
}

// waitGone waits for pid to end and reports whether it did.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func buildtestSkip(t *testing.T) {
	t.Helper()
	testpg.SkipOrFail(t, "bubblewrap (bwrap) is missing or cannot create namespaces here")
}
