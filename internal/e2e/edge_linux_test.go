package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
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

// livePool returns the edge address, the live release and the pids of
// its pool, by slot, of the one environment the edge serves.
func livePool(t *testing.T, cl *edge.Client) (addr string, rel int64, pids []int) {
	t.Helper()
	envs, err := cl.Envs(context.Background())
	must(t, err)
	if len(envs) != 1 {
		t.Fatalf("the edge serves %d environments, want 1: %+v", len(envs), envs)
	}
	for _, in := range envs[0].Instances {
		if in.Role == "live" && in.ReleaseID == envs[0].Live {
			pids = append(pids, in.PID)
		}
	}
	return envs[0].EdgeAddr, envs[0].Live, pids
}

// rollbackLive rolls dev back to release through the API and waits until
// the rollback's release is live.
func rollbackLive(t *testing.T, p *Portal, token string, release int64) {
	t.Helper()
	code, body := apiCall(t, http.MethodPost, p.URL+"/api/v1/projects/shop/environments/dev/rollback", token,
		`{"release_id":`+strconv.FormatInt(release, 10)+`}`)
	if code != http.StatusCreated {
		t.Fatalf("rollback: %d %s", code, body)
	}
	awaitLive(t, p, token, body)
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

// TestTrafficSurvivesPortalRestartsAndAnEdgeUpgrade is the bar of the
// edge process, in one run at 200 requests per second through the edge of
// a pool of three: a rolling deploy of three, a rollback (the warm three
// switch back at once), kill -9 of one instance, five restarts of the
// portal (SIGTERM and kill -9, alternately) and an in-place upgrade of the
// edge. No request fails; the pool keeps its processes throughout but for
// the killed one, which the edge started again.
func TestTrafficSurvivesPortalRestartsAndAnEdgeUpgrade(t *testing.T) {
	key := secretbox.NewKey()
	opts := Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}}
	p := StartPortal(t, opts)
	data := p.DataDir
	id := seedApp(t, p, key, "exec ./bin/app")
	token := adminToken(t, p)
	const api = "/api/v1/projects/shop/environments/dev"
	if code, body := apiCall(t, http.MethodPatch, p.URL+api, token, `{"instances":3}`); code != http.StatusOK {
		t.Fatalf("PATCH instances 3: %d %s", code, body)
	}
	firstRelease := deployLive(t, p, token, id)
	cl := edgeClient(t, data)
	addr, first, firstPIDs := livePool(t, cl)
	if len(firstPIDs) != 3 {
		t.Fatalf("the first deploy runs %d instances through the edge process, want 3", len(firstPIDs))
	}
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
	step := func(what string) { t.Logf("%6s  %s", time.Since(began).Round(10*time.Millisecond), what) }

	// A rolling deploy of three: the next build.
	deployLive(t, p, token, seedNextBuild(t, p, 2, "exec ./bin/app", "v2"))
	_, second, secondPIDs := livePool(t, cl)
	if second == first || len(secondPIDs) != 3 || slices.ContainsFunc(secondPIDs, func(pid int) bool { return slices.Contains(firstPIDs, pid) }) {
		t.Fatalf("after the rolling deploy release %d runs on %v, want a new release on 3 new processes (the first ran on %v)", second, secondPIDs, firstPIDs)
	}
	step("rolling deploy of 3 done")
	// The rollback switches the warm three back.
	rollbackLive(t, p, token, firstRelease)
	if _, _, pids := livePool(t, cl); !slices.Equal(pids, firstPIDs) {
		t.Fatalf("after the rollback the pool runs %v, want the warm %v", pids, firstPIDs)
	}
	step("rollback to the warm pool done")
	// kill -9 of one instance: the edge takes it out and starts it again.
	victim := firstPIDs[1]
	must(t, syscall.Kill(-victim, syscall.SIGKILL))
	testkit.Eventually(t, 20*time.Second, func() bool {
		_, _, pids := livePool(t, cl)
		return len(pids) == 3 && pids[1] != victim && pids[1] != 0
	}, "the killed instance started again")
	_, _, pool := livePool(t, cl)
	step("killed instance restarted")

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
	step("five portal restarts done")
	// The upgrade: SIGHUP to the edge starts the binary again, which
	// inherits the listeners and adopts the pool.
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
	step("edge upgraded")
	time.Sleep(time.Second)
	close(stop)
	r := <-done
	elapsed := time.Since(began)

	failed := 0
	for _, n := range r.failures {
		failed += n
	}
	t.Logf("%d requests in %s at 200/s across a rolling deploy of 3, a rollback, kill -9 of an instance, 5 portal restarts and an edge upgrade: %d failed",
		r.sent, elapsed.Round(time.Millisecond), failed)
	if failed != 0 {
		t.Errorf("%d requests failed: %v", failed, r.failures)
	}
	if r.sent < int(elapsed.Seconds()*200*0.8) {
		t.Errorf("only %d requests sent in %s: the load did not hold 200/s", r.sent, elapsed)
	}
	cl2 := edgeClient(t, data)
	if _, _, pids := livePool(t, cl2); !slices.Equal(pids, pool) {
		t.Errorf("the pool's pids changed from %v to %v: it was started again", pool, pids)
	}
	// The last portal took the app's output up again: a line the app
	// prints now is stored, masked as before.
	if code, body := apiCall(t, http.MethodGet, "http://"+addr+"/say?msg=after-the-restarts", "", ""); code != http.StatusOK {
		t.Fatalf("/say: %d %s", code, body)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		code, body := apiCall(t, http.MethodGet, p.URL+api+"/output?lines=50", token, "")
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

// TestAPoolRestoredThroughTheEdgeProcessServesWholeAgain: an environment
// scaled to 2 under the in-process edge, after the portal restarts with
// the edge process, is served again by a pool of 2 through it.
func TestAPoolRestoredThroughTheEdgeProcessServesWholeAgain(t *testing.T) {
	key := secretbox.NewKey()
	opts := Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=inprocess"}}
	p := StartPortal(t, opts)
	data := p.DataDir
	id := seedApp(t, p, key, "exec ./bin/app")
	token := adminToken(t, p)
	const api = "/api/v1/projects/shop/environments/dev"
	if code, body := apiCall(t, http.MethodPatch, p.URL+api, token, `{"instances":2}`); code != http.StatusOK {
		t.Fatalf("PATCH instances 2 in process = %d %s", code, body)
	}
	deployLive(t, p, token, id)
	if code := p.Stop(); code != 0 {
		t.Fatalf("the in-process portal exited with %d", code)
	}

	child := Options{Env: append(slices.Clone(opts.Env), "SLIPWAY_EDGE=child")}
	_, err := startOnce(t, child, data, t.TempDir(), 1)
	must(t, err)
	cl := edgeClient(t, data)
	var addr string
	testkit.Eventually(t, 60*time.Second, func() bool {
		envs, err := cl.Envs(context.Background())
		if err != nil || len(envs) != 1 || envs[0].Live == 0 || envs[0].EdgeAddr == "" {
			return false
		}
		addr = envs[0].EdgeAddr
		healthy := 0
		for _, in := range envs[0].Instances {
			if in.Role == "live" && in.State == deploy.StateHealthy {
				healthy++
			}
		}
		return healthy == 2
	}, "the live release restored through the edge process on 2 instances")
	resp, err := http.Get("http://" + addr + "/")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the restored environment answers %d", resp.StatusCode)
	}
}
