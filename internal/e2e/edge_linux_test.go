package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// edgeClient connects to the edge of a portal's data dir.
func edgeClient(t *testing.T, dataDir string) *edge.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := edge.Dial(ctx, edge.ClientOptions{Socket: edge.DefaultSocket(dataDir)})
	must(t, err)
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return cl
}

// liveApp returns the edge address and app pid of the one environment the
// edge serves.
func liveApp(t *testing.T, cl *edge.Client) (addr string, pid int) {
	t.Helper()
	envs, err := cl.Envs(context.Background())
	must(t, err)
	for _, st := range envs {
		for _, in := range st.Instances {
			if in.Role == "live" {
				return st.EdgeAddr, in.PID
			}
		}
	}
	t.Fatalf("the edge serves nothing: %+v", envs)
	return "", 0
}

// steadyLoad sends rate GET requests per second to url until stop is
// closed; it returns how many were sent and the failures (errors and
// non-200 answers), by message.
func steadyLoad(url string, rate int, stop <-chan struct{}) (sent int, failures map[string]int) {
	failures = map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			wg.Wait()
			return sent, failures
		case <-tick.C:
		}
		sent++
		wg.Go(func() {
			resp, err := hc.Get(url)
			bad := ""
			if err != nil {
				bad = err.Error()
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad = resp.Status
				}
			}
			if bad != "" {
				mu.Lock()
				failures[bad]++
				mu.Unlock()
			}
		})
	}
}

// TestTrafficSurvivesPortalRestartsAndAnEdgeUpgrade is the edge's bar: a
// deployed app is served through the edge process at 200 requests per
// second while the portal is restarted five times (SIGTERM and kill -9,
// alternately) and the edge upgrades itself in place; no request fails,
// and the app keeps its pid throughout (nothing started it again).
func TestTrafficSurvivesPortalRestartsAndAnEdgeUpgrade(t *testing.T) {
	key := secretbox.NewKey()
	opts := Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}}
	p := StartPortal(t, opts)
	data := p.DataDir
	// Registered first, so it runs last: the edge outlives every portal.
	t.Cleanup(func() {
		if res := Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop"); res.ExitCode != 0 {
			t.Errorf("slipway edge stop:\n%s", res)
		}
		if t.Failed() {
			t.Logf("edge log:\n%s", readFile(filepath.Join(data, "run", "edge.log")))
		}
	})
	id := seedApp(t, p, key, "exec ./bin/app")
	res := p.CLI("token", "create", "--user", "admin", "--name", "e2e")
	if res.ExitCode != 0 {
		t.Fatalf("token create:\n%s", res)
	}
	deployLive(t, p, strings.TrimSpace(res.Stdout), id)
	cl := edgeClient(t, data)
	addr, appPID := liveApp(t, cl)
	edgePID := cl.Info().PID

	stop := make(chan struct{})
	type result struct {
		sent     int
		failures map[string]int
	}
	done := make(chan result, 1)
	go func() {
		s, f := steadyLoad("http://"+addr+"/", 200, stop)
		done <- result{s, f}
	}()
	began := time.Now()
	for i := range 5 {
		time.Sleep(500 * time.Millisecond)
		if i%2 == 0 {
			if code := p.Stop(); code != 0 {
				t.Errorf("restart %d: the portal exited with %d after SIGTERM", i+1, code)
			}
		} else {
			killPortal(t, p)
		}
		var err error
		p, err = startOnce(t, opts, data, t.TempDir(), 1)
		must(t, err)
	}
	// The upgrade: SIGHUP to the edge starts the binary again, which
	// inherits the listeners and adopts the app.
	must(t, sigHUP(edgePID))
	testkit.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c2, err := edge.Dial(ctx, edge.ClientOptions{Socket: edge.DefaultSocket(data)})
		if err != nil {
			return false
		}
		defer c2.Close(ctx)
		return c2.Info().PID != edgePID && processGone(edgePID)
	}, "the upgraded edge")
	time.Sleep(time.Second)
	close(stop)
	r := <-done
	elapsed := time.Since(began)

	failed := 0
	for _, n := range r.failures {
		failed += n
	}
	t.Logf("%d requests in %s at 200/s across 5 portal restarts and an edge upgrade: %d failed", r.sent, elapsed.Round(time.Millisecond), failed)
	if failed != 0 {
		t.Errorf("%d requests failed: %v", failed, r.failures)
	}
	if r.sent < int(elapsed.Seconds()*200*0.8) {
		t.Errorf("only %d requests sent in %s: the load did not hold 200/s", r.sent, elapsed)
	}
	cl2 := edgeClient(t, data)
	if _, pid := liveApp(t, cl2); pid != appPID {
		t.Errorf("the app's pid changed from %d to %d: it was started again", appPID, pid)
	}
	// The last portal took the app's output up again: a line the app
	// prints now is stored, masked as before.
	token := strings.TrimSpace(res.Stdout)
	if code, body := apiCall(t, http.MethodGet, "http://"+addr+"/say?msg=after-the-restarts", "", ""); code != http.StatusOK {
		t.Fatalf("/say: %d %s", code, body)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		code, body := apiCall(t, http.MethodGet, p.URL+"/api/v1/projects/shop/environments/dev/output?lines=50", token, "")
		return code == http.StatusOK && strings.Contains(body, "after-the-restarts")
	}, "the app's line after the restarts in its stored output")
	if strings.Contains(p.Stderr(), "environment restored") || !strings.Contains(p.Stderr(), "environment still served by the edge") {
		t.Errorf("the last portal should have found the release live on the edge:\n%s", p.Stderr())
	}
}

// sigHUP sends SIGHUP to pid.
func sigHUP(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }

// processGone reports whether pid no longer runs (gone or a zombie).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// TestBrowserAChildEdgeRefusesAPoolWithAClearMessage: the edge process
// runs one instance per environment, so with `--edge=child` a scale above
// 1 is refused when it is asked for, with a message that says what to do
// (422 in the API, an error on the page; not a 500, and not a scale job
// that fails later), and the live app keeps serving untouched.
func TestBrowserAChildEdgeRefusesAPoolWithAClearMessage(t *testing.T) {
	key := secretbox.NewKey()
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}})
	data := p.DataDir
	t.Cleanup(func() {
		if res := Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop"); res.ExitCode != 0 {
			t.Errorf("slipway edge stop:\n%s", res)
		}
	})
	id := seedApp(t, p, key, "exec ./bin/app")
	res := p.CLI("token", "create", "--user", "admin", "--name", "e2e")
	if res.ExitCode != 0 {
		t.Fatalf("token create:\n%s", res)
	}
	token := strings.TrimSpace(res.Stdout)
	deployLive(t, p, token, id)
	cl := edgeClient(t, data)
	_, pid := liveApp(t, cl)

	const api = "/api/v1/projects/shop/environments/dev"
	code, body := apiCall(t, http.MethodPatch, p.URL+api, token, `{"instances":3}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "one instance per environment") || !strings.Contains(body, "--edge=inprocess") {
		t.Fatalf("PATCH instances 3 with --edge=child = %d %s, want 422 saying to use --edge=inprocess", code, body)
	}

	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	must(t, Visit(ctx, p.URL+"/projects/shop/environments/dev"))
	must(t, Fill(ctx, `[data-testid=scale-form] input[name=instances]`, "2"))
	must(t, ClickAndLoad(ctx, chromedp.CSS(`[data-testid=scale-form] button`)))
	msg, err := TextOf(ctx, "flash-error")
	must(t, err)
	if !strings.Contains(msg, "one instance per environment") || !strings.Contains(msg, "--edge=inprocess") {
		t.Errorf("the scale form's error = %q, want it to say to use --edge=inprocess", msg)
	}
	Screenshot(t, ctx, "scale-refused")
	phone(t, ctx)
	Screenshot(t, ctx, "scale-refused-phone")

	code, body = apiCall(t, http.MethodPatch, p.URL+api, token, `{"instances":1}`)
	if code != http.StatusOK || !strings.Contains(body, `"instances":1`) {
		t.Fatalf("PATCH instances 1 = %d %s, want 200", code, body)
	}
	if _, now := liveApp(t, cl); now != pid {
		t.Errorf("the live app's pid changed from %d to %d", pid, now)
	}
}

// TestAPoolRestoredThroughTheEdgeProcessServesWithOneInstance: an
// environment scaled to 2 under the in-process edge, after the portal
// restarts with --edge=child, is served again with one instance (the edge
// process runs no more yet) rather than left down, and the log says why.
func TestAPoolRestoredThroughTheEdgeProcessServesWithOneInstance(t *testing.T) {
	key := secretbox.NewKey()
	opts := Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key}}
	p := StartPortal(t, opts)
	data := p.DataDir
	t.Cleanup(func() {
		if res := Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop"); res.ExitCode != 0 {
			t.Errorf("slipway edge stop:\n%s", res)
		}
	})
	id := seedApp(t, p, key, "exec ./bin/app")
	res := p.CLI("token", "create", "--user", "admin", "--name", "e2e")
	if res.ExitCode != 0 {
		t.Fatalf("token create:\n%s", res)
	}
	token := strings.TrimSpace(res.Stdout)
	const api = "/api/v1/projects/shop/environments/dev"
	if code, body := apiCall(t, http.MethodPatch, p.URL+api, token, `{"instances":2}`); code != http.StatusOK {
		t.Fatalf("PATCH instances 2 in process = %d %s", code, body)
	}
	deployLive(t, p, token, id)
	if code := p.Stop(); code != 0 {
		t.Fatalf("the in-process portal exited with %d", code)
	}

	child := Options{Env: append(slices.Clone(opts.Env), "SLIPWAY_EDGE=child")}
	p2, err := startOnce(t, child, data, t.TempDir(), 1)
	must(t, err)
	cl := edgeClient(t, data)
	var addr string
	testkit.Eventually(t, 60*time.Second, func() bool {
		envs, err := cl.Envs(context.Background())
		if err != nil || len(envs) != 1 || envs[0].Live == 0 || envs[0].EdgeAddr == "" {
			return false
		}
		addr = envs[0].EdgeAddr
		return true
	}, "the live release restored through the edge process")
	resp, err := http.Get("http://" + addr + "/")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the restored environment answers %d", resp.StatusCode)
	}
	envs, err := cl.Envs(context.Background())
	must(t, err)
	if n := len(envs[0].Instances); n != 1 {
		t.Errorf("the edge process runs %d instances, want 1: %+v", n, envs[0].Instances)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(p2.Stdout()+p2.Stderr(), "environment restored with fewer instances than it asks for")
	}, "the portal's log to say it restored fewer instances")
}
