package jobs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// slipwayBinary builds cmd/slipway once per test binary.
var slipwayBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "slipway-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "slipway")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/slipway").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// portal is a `slipway serve` process.
type portal struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	args []string
	env  []string
	out  *os.File
}

func startPortal(t *testing.T, args, env []string) *portal {
	t.Helper()
	bin, err := slipwayBinary()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	out, err := os.CreateTemp(t.TempDir(), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := &portal{t: t, url: "http://" + addr, args: append(args, "--addr", addr), env: env, out: out}
	p.cmd = exec.Command(bin, append([]string{"serve"}, p.args...)...)
	if env == nil {
		env = os.Environ()
	}
	// Edges in process: these portals are killed on purpose, and what they
	// ran must end with them, not in a `slipway edge` that outlives the test.
	p.cmd.Env = append(slices.Clone(env), "SLIPWAY_EDGE=inprocess")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) || p.exited() {
			t.Fatalf("slipway serve did not come up:\n%s", p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *portal) exited() bool {
	return p.cmd.ProcessState != nil || syscall.Kill(p.cmd.Process.Pid, 0) != nil
}

func (p *portal) output() string {
	b, _ := os.ReadFile(p.out.Name())
	return string(b)
}

// kill9 ends the portal the hard way.
func (p *portal) kill9() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

func TestKill9MidBuildEndsInterruptedWithItsLogAndNoOrphans(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run("on "+db, func(t *testing.T) {
			ctx := context.Background()
			data := t.TempDir()
			args := []string{"--data", data}
			var store *models.Store
			var err error
			if db == "postgres" {
				url := testpg.NewDatabase(t)
				args = append(args, "--database-url", url)
				store, err = models.Open(ctx, models.Config{URL: url})
			} else {
				store, err = models.Open(ctx, models.Config{DataDir: data})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			workspaces := t.TempDir()
			env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SLIPWAY_ADMIN_PASSWORD=crash-test-password",
				"SLIPWAY_BCRYPT_COST=4", "SLIPWAY_SANDBOX=off", "SLIPWAY_WORKSPACE_DIR=" + workspaces, "SLIPWAY_LOG_LEVEL=warn"}
			first := startPortal(t, args, env)

			repo := buildtest.NewRepo(t)
			pidFile := filepath.Join(t.TempDir(), "pid")
			repo.Pipeline("build:\n  - name: long\n    run: |\n      echo started\n      sleep 300 &\n      echo $! > "+pidFile+"\n      wait\n", nil, "slow")
			buildtest.Project(t, store, "app", repo.Dir)
			admin, err := store.UserByName(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			tok, prefix := auth.NewToken()
			if err := store.CreateAPIToken(ctx, &models.APIToken{UserID: admin.ID, Name: "t", Hash: auth.HashSecret(tok), Prefix: prefix}); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", first.url+"/api/v1/projects/app/builds", strings.NewReader(`{"ref":"main"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Fatalf("create build: %d %s", resp.StatusCode, body)
			}
			bs, err := store.Builds(ctx, models.BuildFilter{})
			if err != nil || len(bs) != 1 {
				t.Fatalf("builds: %d %v", len(bs), err)
			}
			id := bs[0].ID

			pid, err := strconv.Atoi(waitFile(t, pidFile, 60*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			ls := logs.NewService(store, logs.Options{})
			defer ls.Close()
			readLog := func() []string {
				page, err := ls.Read(ctx, models.BuildLogStream(id), 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, l := range page.Lines {
					out = append(out, l.Text)
				}
				return out
			}
			// The line is flushed within 100 ms; wait for it to be stored.
			deadline := time.Now().Add(30 * time.Second)
			for !contains(readLog(), "started") {
				if time.Now().After(deadline) {
					t.Fatalf("the step's output never reached the store: %q", readLog())
				}
				time.Sleep(20 * time.Millisecond)
			}

			first.kill9()
			if !processAlive(pid) {
				t.Fatal("the step's sleep died with the portal: this test could not see an orphan")
			}
			if b, _ := store.Build(ctx, id); b.Status != models.BuildRunning {
				t.Fatalf("after kill -9 the build is %s, want still running in the database", b.Status)
			}
			left, _ := filepath.Glob(filepath.Join(workspaces, "slipway-build-*"))
			if len(left) != 1 {
				t.Fatalf("after kill -9: workspaces %v, want the crashed build's", left)
			}

			second := startPortal(t, args, env)
			done := buildtest.WaitBuild(t, store, id, 60*time.Second)
			if done.Status != models.BuildInterrupted || done.StatusReason != ReasonWorkerDied {
				t.Fatalf("after restart: %s %q, want interrupted %q\n%s", done.Status, done.StatusReason, ReasonWorkerDied, second.output())
			}
			if s := stepByName(t, done, "long"); s.Status != models.BuildInterrupted {
				t.Errorf("the running step is %s, want interrupted", s.Status)
			}
			// Recovery closes the log after it marks the build.
			deadline = time.Now().Add(30 * time.Second)
			for {
				page, err := ls.Read(ctx, models.BuildLogStream(id), 1, 1)
				if err != nil {
					t.Fatal(err)
				}
				if page.Closed {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the interrupted build's log was never closed")
				}
				time.Sleep(10 * time.Millisecond)
			}
			lines := readLog()
			if !contains(lines, "started") || !strings.HasPrefix(lines[len(lines)-1], "[slipway] build interrupted: "+ReasonWorkerDied) {
				t.Errorf("log after recovery:\n%s", strings.Join(lines, "\n"))
			}
			if !waitGone(pid, 10*time.Second) {
				t.Fatalf("the crashed build's sleep %d still runs after the restart", pid)
			}
			if isDir(left[0]) {
				t.Errorf("the crashed build's workspace %s is still there after the restart", left[0])
			}
		})
	}
}
