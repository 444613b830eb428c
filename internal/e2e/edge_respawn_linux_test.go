package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// answeringEdge is the pid of the edge answering on socket, 0 when none
// does.
func answeringEdge(socket string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cl, err := edge.Dial(ctx, edge.ClientOptions{Socket: socket})
	if err != nil {
		return 0
	}
	defer cl.Close(ctx)
	return cl.Info().PID
}

// answers reports whether a GET of url answers 200 within a second.
func answers(url string) bool {
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := hc.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestAKilledEdgeIsStartedAgainByThePortalAndKeepsItsApps: the edge a
// portal started (--edge=child) is killed with SIGKILL, three times; each
// time the running portal starts a new edge within seconds, the app
// answers through its edge URL again with the same pid (re-adopted, not
// started again), and the portal's log says what happened in one line.
// The portal still drives the new edge afterwards: a line the app prints
// reaches the release's stored output.
func TestAKilledEdgeIsStartedAgainByThePortalAndKeepsItsApps(t *testing.T) {
	key := secretbox.NewKey()
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}})
	data := p.DataDir
	// It stops whichever edge runs at the end, and its apps.
	t.Cleanup(func() {
		p.Stop() // first, so that its watchdog is gone
		if res := Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop"); res.ExitCode != 0 {
			t.Errorf("slipway edge stop:\n%s", res)
		}
		if t.Failed() {
			t.Logf("edge log:\n%s", readFile(filepath.Join(data, "run", "edge.log")))
		}
	})
	id := seedApp(t, p, key, "exec ./bin/app")
	token := adminToken(t, p)
	deployLive(t, p, token, id)
	socket := edge.DefaultSocket(data)
	addr, appPID := liveApp(t, edgeClient(t, data))
	url := "http://" + addr + "/"
	if !answers(url) {
		t.Fatalf("the app does not answer on %s before the kill", url)
	}

	var took []time.Duration
	for round := 1; round <= 3; round++ {
		edgePID := answeringEdge(socket)
		if edgePID == 0 {
			t.Fatalf("round %d: no edge answers on %s", round, socket)
		}
		killed := time.Now()
		must(t, syscall.Kill(edgePID, syscall.SIGKILL))
		// The kill closed the edge's listeners: the app is unreachable
		// until an edge serves them again.
		testkit.Eventually(t, 5*time.Second, func() bool { return !answers(url) }, "the edge URL to go down with the edge")
		// Asked every 10 ms, so the measured time is that of the restart.
		for !answers(url) {
			if time.Since(killed) > 15*time.Second {
				t.Fatalf("round %d: the app does not answer through its edge URL %s after the edge was killed", round, time.Since(killed).Round(time.Millisecond))
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(killed))

		newPID := answeringEdge(socket)
		if newPID == 0 || newPID == edgePID {
			t.Fatalf("round %d: the edge on %s is pid %d, want a new one (the killed one was %d)", round, socket, newPID, edgePID)
		}
		if _, pid := liveApp(t, edgeClient(t, data)); pid != appPID {
			t.Errorf("round %d: the app's pid changed from %d to %d: it was started again, not re-adopted", round, appPID, pid)
		}
		want := fmt.Sprintf("the edge (pid %d) stopped answering; started it again as pid %d; it re-adopts the running apps", edgePID, newPID)
		if n := strings.Count(p.Stderr(), want); n != 1 {
			t.Errorf("round %d: the portal's log has %q %d times, want once:\n%s", round, want, n, p.Stderr())
		}
	}
	t.Logf("from kill -9 of the edge to the app answering again: %v", took)
	for _, d := range took {
		// The watchdog asks every 0.5 s and acts on the second miss; the
		// edge then starts and re-adopts. Well under 5 s on a quiet
		// machine; 10 s leaves room for a loaded one.
		if d > 10*time.Second {
			t.Errorf("the app was down %s after a kill of its edge, want a few seconds", d)
		}
	}

	// The portal follows the new edge's events again: a line the app
	// prints reaches the release's stored output. The client re-follows
	// the stream a moment after the edge is back (lines printed before
	// that stay in the edge's memory only), so the app speaks until one
	// line arrives.
	n := 0
	testkit.Eventually(t, 30*time.Second, func() bool {
		n++
		if code, body := apiCall(t, http.MethodGet, fmt.Sprintf("%ssay?msg=after-the-edge-died-%d", url, n), "", ""); code != http.StatusOK {
			t.Fatalf("/say: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
		code, body := apiCall(t, http.MethodGet, p.URL+"/api/v1/projects/shop/environments/dev/output?lines=50", token, "")
		return code == http.StatusOK && strings.Contains(body, "after-the-edge-died-")
	}, "a line the app printed after the edge was started again in its stored output")
	t.Logf("the app spoke %d times before a line reached the stored output", n)
}

// TestThePortalNeverStartsAnExternalEdge: with --edge-socket the edge
// belongs to someone else (its own systemd unit). When it is killed, the
// portal says so loudly, once, and starts nothing; when it is back, the
// portal says that once too.
func TestThePortalNeverStartsAnExternalEdge(t *testing.T) {
	data := t.TempDir()
	socket := filepath.Join(t.TempDir(), "edge.sock")
	logs := t.TempDir()
	var edges []*exec.Cmd
	startExternal := func() int {
		t.Helper()
		out, err := os.Create(filepath.Join(logs, fmt.Sprintf("edge-%d.log", len(edges)+1)))
		must(t, err)
		defer out.Close()
		cmd := exec.Command(Binary(t), "edge", "--data", data, "--socket", socket, "--sandbox", "off")
		cmd.Env = cleanEnv()
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		must(t, cmd.Start())
		edges = append(edges, cmd)
		go func() { _ = cmd.Wait() }()
		var pid int
		testkit.Eventually(t, 20*time.Second, func() bool { pid = answeringEdge(socket); return pid != 0 }, "the external edge")
		return pid
	}
	t.Cleanup(func() {
		Exec(t, nil, "", "edge", "stop", "--socket", socket)
		for _, cmd := range edges {
			_ = cmd.Process.Kill()
		}
	})
	first := startExternal()
	p, err := startOnce(t, Options{Env: []string{"SLIPWAY_EDGE=child", "SLIPWAY_EDGE_SOCKET=" + socket}, AdminPassword: DefaultAdminPassword}, data, t.TempDir(), 1)
	must(t, err)
	if !strings.Contains(p.Stderr(), "using the running edge") {
		t.Fatalf("the portal did not use the external edge:\n%s", p.Stderr())
	}

	must(t, syscall.Kill(first, syscall.SIGKILL))
	gone := fmt.Sprintf("THE EDGE IS GONE: no edge answers on --edge-socket %s (pid %d last)", socket, first)
	testkit.Eventually(t, 5*time.Second, func() bool { return strings.Contains(p.Stderr(), gone) }, "the portal's warning that the edge is gone")
	// Six more questions go unanswered; none starts an edge.
	time.Sleep(3 * time.Second)
	if pid := answeringEdge(socket); pid != 0 {
		t.Fatalf("an edge (pid %d) answers on %s: the portal started one", pid, socket)
	}
	if _, err := os.Stat(filepath.Join(data, "run", "edge.log")); err == nil {
		t.Errorf("the portal started an edge (run/edge.log exists):\n%s", readFile(filepath.Join(data, "run", "edge.log")))
	}
	if n := strings.Count(p.Stderr(), "THE EDGE IS GONE"); n != 1 {
		t.Errorf("the portal warned %d times during one outage, want once:\n%s", n, p.Stderr())
	}

	second := startExternal()
	back := fmt.Sprintf("the edge answers again on %s (pid %d)", socket, second)
	testkit.Eventually(t, 5*time.Second, func() bool { return strings.Contains(p.Stderr(), back) }, "the portal's note that the edge is back")
	time.Sleep(time.Second)
	if n := strings.Count(p.Stderr(), "the edge answers again"); n != 1 {
		t.Errorf("the portal noted the recovery %d times, want once:\n%s", n, p.Stderr())
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("the portal exited with %d", code)
	}
	want := fmt.Sprintf("the edge (pid %d) keeps serving the environments; `slipway edge stop --socket %s` stops it and its apps", second, socket)
	if !strings.Contains(p.Stderr(), want) {
		t.Errorf("the portal's last words do not say %q:\n%s", want, p.Stderr())
	}
}

// TestAnEdgeStoppedOnPurposeStaysStopped: `slipway edge stop` while a
// portal (--edge=child) runs is not a crash: the portal's watchdog leaves
// the edge stopped and says how to bring it back.
func TestAnEdgeStoppedOnPurposeStaysStopped(t *testing.T) {
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_EDGE=child"}})
	data := p.DataDir
	socket := edge.DefaultSocket(data)
	t.Cleanup(func() {
		p.Stop()
		Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop")
	})
	pid := answeringEdge(socket)
	if pid == 0 {
		t.Fatalf("no edge answers on %s", socket)
	}
	if res := p.CLI("edge", "stop"); res.ExitCode != 0 || !strings.Contains(res.Stdout, fmt.Sprintf("edge (pid %d) stopped", pid)) {
		t.Fatalf("slipway edge stop: %s", res)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(p.Stderr(), fmt.Sprintf("the edge (pid %d) was stopped with `slipway edge stop`; this portal does not start it again", pid))
	}, "the portal's note that the edge was stopped on purpose")
	time.Sleep(2 * time.Second)
	if now := answeringEdge(socket); now != 0 {
		t.Fatalf("an edge (pid %d) answers again after slipway edge stop: the watchdog started it", now)
	}
	if strings.Contains(p.Stderr(), "started it again") {
		t.Errorf("the watchdog started the edge again:\n%s", p.Stderr())
	}
}

// TestAHungEdgeIsWaitedForNotDoubled: an edge that stops answering but
// still runs (SIGSTOP) holds the data dir's lock, so the edge the
// watchdog starts refuses to run; the portal says so with the path of
// edge.log and tries again later. Once the hung edge answers again
// (SIGCONT) the portal says that, and it is still the only edge.
func TestAHungEdgeIsWaitedForNotDoubled(t *testing.T) {
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_EDGE=child"}})
	data := p.DataDir
	socket := edge.DefaultSocket(data)
	pid := answeringEdge(socket)
	if pid == 0 {
		t.Fatalf("no edge answers on %s", socket)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		p.Stop()
		Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop")
	})
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	failed := fmt.Sprintf("the edge (pid %d) stopped answering and could not be started again; trying again in 1s (see %s)",
		pid, filepath.Join(data, "run", "edge.log"))
	testkit.Eventually(t, 15*time.Second, func() bool { return strings.Contains(p.Stderr(), failed) }, "the portal's note that a new edge could not start")
	if log := readFile(filepath.Join(data, "run", "edge.log")); !strings.Contains(log, "another slipway edge already runs") {
		t.Errorf("the second edge did not refuse for the lock:\n%s", log)
	}

	must(t, syscall.Kill(pid, syscall.SIGCONT))
	back := fmt.Sprintf("the edge (pid %d) answers again after it stopped answering", pid)
	testkit.Eventually(t, 15*time.Second, func() bool { return strings.Contains(p.Stderr(), back) }, "the portal's note that the edge answers again")
	if now := answeringEdge(socket); now != pid {
		t.Errorf("the edge on %s is pid %d, want the one that hung, %d", socket, now, pid)
	}
	if strings.Contains(p.Stderr(), "started it again as") {
		t.Errorf("the portal claims it started a new edge:\n%s", p.Stderr())
	}
}
