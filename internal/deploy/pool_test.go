package deploy

import (
	"context"
	"errors"
	"github.com/slipway-ci/slipway/internal/testkit"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// rollout takes release id live on n instances and fails the test on error.
func rollout(t testing.TB, m *Manager, env string, id int64, version string, n int, vars ...string) RolloutResult {
	t.Helper()
	res, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(t, env, id, version, vars...), Instances: n}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("rollout of release %d on %d instances: %v", id, n, err)
	}
	return res
}

// poolOf returns the releases and slots of env's live pool, e.g. "1/1 1/2".
func poolOf(m *Manager, env string) string {
	var parts []string
	for _, s := range m.Status(env).Pool {
		parts = append(parts, itoa64(s.ReleaseID)+"/"+itoa64(int64(s.Slot)))
	}
	return strings.Join(parts, " ")
}

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }

// load sends rate requests per second of method to url until stop is
// closed, and returns the failures it saw (status other than 200, or an
// error) and the number of requests.
type load struct {
	mu       sync.Mutex
	total    int
	failures []string
	done     chan struct{}
	stop     func()
}

func startLoad(t *testing.T, rate int, target vegeta.Target) *load {
	t.Helper()
	attacker := vegeta.NewAttacker(vegeta.Timeout(20*time.Second), vegeta.KeepAlive(true), vegeta.MaxWorkers(256))
	results := attacker.Attack(vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: rate, Per: time.Second}, 60*time.Second, "pool")
	l := &load{done: make(chan struct{}), stop: func() { attacker.Stop() }}
	go func() {
		defer close(l.done)
		for res := range results {
			l.mu.Lock()
			l.total++
			if res.Code != http.StatusOK || res.Error != "" {
				l.failures = append(l.failures, res.Error+" "+string(res.Body)+" code "+itoa64(int64(res.Code)))
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { l.finish() })
	return l
}

func (l *load) finish() (int, []string) {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.failures
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func TestPoolBalancesAcrossInstances(t *testing.T) {
	for _, bal := range []Balance{BalanceRoundRobin, BalanceLeastOutstanding} {
		t.Run(string(bal)+" spreads sequential requests evenly", func(t *testing.T) {
			opts := testOptions()
			opts.Balance = bal
			m := newTestManager(t, opts)
			addr, err := m.EnsureEdge("proj/dev", "")
			if err != nil {
				t.Fatal(err)
			}
			rollout(t, m, "proj/dev", 1, "v1", 3)
			if got := poolOf(m, "proj/dev"); got != "1/1 1/2 1/3" {
				t.Fatalf("pool = %q, want three instances of release 1", got)
			}
			hits := map[string]int{}
			for range 30 {
				_, body := get(t, "http://"+addr+"/whoami")
				hits[body]++
			}
			for _, who := range []string{"v1/1", "v1/2", "v1/3"} {
				if hits[who] != 10 {
					t.Errorf("hits = %v, want 10 for each instance", hits)
					break
				}
			}
			st := m.Status("proj/dev")
			for _, s := range st.Pool {
				if s.Requests != 10 || s.Health != HealthUp || !s.Routable {
					t.Errorf("instance %d: %+v, want 10 requests, up and routable", s.Slot, s)
				}
			}
		})
	}

	// The release's own balance (RolloutSpec.Balance) wins over the
	// manager's default (least-outstanding): round robin keeps sending
	// every other request to the busy instance.
	for _, bal := range []Balance{"", BalanceRoundRobin} {
		name := "least-outstanding avoids the busy instance"
		if bal == BalanceRoundRobin {
			name = "a release asking for round-robin takes turns, busy or not"
		}
		t.Run(name, func(t *testing.T) {
			m := newTestManager(t, testOptions())
			addr, err := m.EnsureEdge("proj/dev", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(t, "proj/dev", 1, "v1"), Instances: 2, Balance: bal}, nil); err != nil {
				t.Fatal(err)
			}
			slow := make(chan string, 1)
			go func() {
				resp, err := http.Get("http://" + addr + "/whoami?sleep=1500")
				if err != nil {
					slow <- err.Error()
					return
				}
				defer resp.Body.Close()
				b := make([]byte, 64)
				n, _ := resp.Body.Read(b)
				slow <- string(b[:n])
			}()
			busy := 0
			testkit.Eventually(t, 20*time.Second, func() bool {
				for _, s := range m.Status("proj/dev").Pool {
					if s.InFlight == 1 {
						busy = s.Slot
						return true
					}
				}
				return false
			}, "the slow request to be in flight")
			toBusy := 0
			for range 10 {
				if _, body := get(t, "http://"+addr+"/whoami"); body == "v1/"+itoa64(int64(busy)) {
					toBusy++
				}
			}
			switch {
			case bal == "" && toBusy > 0:
				t.Errorf("%d of 10 requests went to instance %d, which is busy with a slow request", toBusy, busy)
			case bal == BalanceRoundRobin && (toBusy < 4 || toBusy > 6):
				t.Errorf("round robin sent %d of 10 requests to instance %d, want about half", toBusy, busy)
			}
			if got := <-slow; got != "v1/"+itoa64(int64(busy)) {
				t.Errorf("slow request answered %q", got)
			}
		})
	}

	t.Run("an unknown balance is refused", func(t *testing.T) {
		m := newTestManager(t, testOptions())
		_, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(t, "proj/dev", 1, "v1"), Instances: 2, Balance: "random"}, nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"random"`) {
			t.Errorf("rollout with balance random: %v, want ErrInvalid naming it", err)
		}
	})
}

// TestPoolSurvivesDeployRollbackAndKill holds 200 requests per second
// (each held 20 ms by the app) through a rolling deploy of three
// instances, a rollback to the warm set, and a SIGKILL of one instance,
// and wants every request answered 200.
func TestPoolSurvivesDeployRollbackAndKill(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	rollout(t, m, "proj/dev", 1, "v1", 3)
	l := startLoad(t, 200, vegeta.Target{Method: http.MethodGet, URL: "http://" + addr + "/?sleep=20"})
	testkit.Eventually(t, 20*time.Second, func() bool { return l.count() > 50 }, "load to start")

	res := rollout(t, m, "proj/dev", 2, "v2", 3)
	if !res.Rolling || res.Previous != 1 || res.Instances != 3 {
		t.Errorf("rollout result = %+v, want rolling from release 1 on 3 instances", res)
	}
	if got := poolOf(m, "proj/dev"); got != "2/1 2/2 2/3" {
		t.Fatalf("pool after the rolling deploy = %q", got)
	}
	if st := m.Status("proj/dev"); len(st.Warm) != 3 {
		t.Fatalf("warm after the rolling deploy = %d instances, want the whole old set of 3", len(st.Warm))
	}
	wantBody(t, "http://"+addr+"/", "v2")

	n, err := m.SwitchWarm("proj/dev", 1)
	if err != nil || n != 3 {
		t.Fatalf("SwitchWarm = %d, %v; want the 3 warm instances", n, err)
	}
	if got := poolOf(m, "proj/dev"); got != "1/1 1/2 1/3" {
		t.Fatalf("pool after the rollback = %q", got)
	}
	wantBody(t, "http://"+addr+"/", "v1")

	before := l.count()
	testkit.Eventually(t, 20*time.Second, func() bool { return l.count() > before+100 }, "more load after the rollback")
	victim := m.Status("proj/dev").Pool[1]
	killed := time.Now()
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var outAfter time.Duration
	testkit.Eventually(t, 20*time.Second, func() bool {
		s := m.Status("proj/dev").Pool[1]
		if s.Routable {
			return false
		}
		outAfter = time.Since(killed)
		return true
	}, "the killed instance to leave the rotation")
	if outAfter > 3*time.Second {
		t.Errorf("the killed instance left the rotation after %s, want within 3s", outAfter)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		s := m.Status("proj/dev").Pool[1]
		return s.Routable && s.Restarts == 1 && s.PID != victim.PID && s.PID != 0
	}, "the killed instance to be restarted")
	before = l.count()
	testkit.Eventually(t, 20*time.Second, func() bool { return l.count() > before+100 }, "more load after the restart")

	total, failures := l.finish()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", len(failures), total, failures[0])
	}
	t.Logf("%d requests, none failed; killed instance out of rotation after %s", total, outAfter)
}

func TestFailingRolloutKeepsTheOldSet(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	rollout(t, m, "proj/dev", 1, "v1", 3)
	l := startLoad(t, 100, vegeta.Target{Method: http.MethodGet, URL: "http://" + addr + "/?sleep=20"})
	testkit.Eventually(t, 20*time.Second, func() bool { return l.count() > 30 }, "load to start")

	// Instance 2 of release 2 exits at once: the first batch (instance 1)
	// has replaced an old instance by then.
	_, err = m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(t, "proj/dev", 2, "v2", "FAIL_INSTANCE=2"),
		Instances: 3, Batch: 1}, func(s string) { t.Log(s) })
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Rollout = %v, want the start failure of instance 2", err)
	}
	if got := poolOf(m, "proj/dev"); got != "1/1 1/2 1/3" {
		t.Fatalf("pool after the failed rollout = %q, want the whole old set", got)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		for _, s := range m.Status("proj/dev").Other {
			if s.ReleaseID == 2 {
				return false
			}
		}
		return true
	}, "the new instances to stop")
	for range 6 {
		wantBody(t, "http://"+addr+"/", "v1")
	}
	total, failures := l.finish()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", len(failures), total, failures[0])
	}
}

func TestScaleWithoutADeploy(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Scale(context.Background(), "proj/dev", 17); !errors.Is(err, ErrInvalid) {
		t.Errorf("Scale to 17 = %v, want ErrInvalid", err)
	}
	rollout(t, m, "proj/dev", 1, "v1", 1)
	if err := m.Scale(context.Background(), "proj/dev", 3); err != nil {
		t.Fatal(err)
	}
	st := m.Status("proj/dev")
	if got := poolOf(m, "proj/dev"); got != "1/1 1/2 1/3" || st.Desired != 3 {
		t.Fatalf("pool after scaling to 3 = %q (desired %d)", got, st.Desired)
	}
	ports := map[int]bool{}
	for _, s := range st.Pool {
		if s.State != StateHealthy || ports[s.Port] || s.Port == 0 {
			t.Errorf("instance %+v: want healthy on its own port", s)
		}
		ports[s.Port] = true
	}
	hits := map[string]int{}
	for range 9 {
		_, body := get(t, "http://"+addr+"/whoami")
		hits[body]++
	}
	if len(hits) != 3 {
		t.Errorf("hits = %v, want all three instances to answer", hits)
	}

	if err := m.Scale(context.Background(), "proj/dev", 1); err != nil {
		t.Fatal(err)
	}
	if got := poolOf(m, "proj/dev"); got != "1/1" {
		t.Fatalf("pool after scaling to 1 = %q", got)
	}
	for _, s := range st.Pool[1:] {
		testkit.Eventually(t, 20*time.Second, func() bool { return processGone(s.PID) }, "a removed instance to stop")
	}
	wantBody(t, "http://"+addr+"/whoami", "v1/1")
}

func TestPassiveEjection(t *testing.T) {
	opts := testOptions()
	opts.Balance = BalanceRoundRobin
	opts.HealthInterval = time.Second
	m := newTestManager(t, opts)
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	rollout(t, m, "proj/dev", 1, "v1", 2)
	// Round robin alternates: three of six requests reach instance 1,
	// which fails them.
	fails := 0
	for range 6 {
		if code, _ := get(t, "http://"+addr+"/?fail=1"); code == http.StatusInternalServerError {
			fails++
		}
	}
	if fails != 3 {
		t.Fatalf("%d requests failed, want the 3 sent to instance 1", fails)
	}
	s := m.Status("proj/dev").Pool[0]
	if s.Health != HealthDown || s.Routable || s.Errors != 3 {
		t.Fatalf("instance 1 after 3 errors: %+v, want ejected", s)
	}
	for range 4 {
		wantBody(t, "http://"+addr+"/whoami", "v1/2")
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return m.Status("proj/dev").Pool[0].Routable
	}, "instance 1 to pass its health checks and come back")
	hits := map[string]int{}
	for range 4 {
		_, body := get(t, "http://"+addr+"/whoami")
		hits[body]++
	}
	if hits["v1/1"] != 2 {
		t.Errorf("hits after readmission = %v, want instance 1 back in turn", hits)
	}
}

func TestRetryOnAnotherInstance(t *testing.T) {
	opts := testOptions()
	opts.Balance = BalanceRoundRobin
	m := newTestManager(t, opts)
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	rollout(t, m, "proj/dev", 1, "v1", 2)
	edge := "http://" + addr
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(edge+path, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 256)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}

	t.Run("a request that was sent and dropped is retried only when idempotent", func(t *testing.T) {
		for range 2 { // one of the two reaches instance 1, which hangs up
			wantBody(t, edge+"/hangup?on=1", "v1/2")
		}
		codes := map[int]int{}
		for range 2 {
			code, _ := post("/hangup?on=1", "data")
			codes[code]++
		}
		if codes[http.StatusBadGateway] != 1 || codes[http.StatusOK] != 1 {
			t.Errorf("POST codes = %v, want one 502 (not retried) and one 200", codes)
		}
	})

	t.Run("a request that could not connect is retried, with its body", func(t *testing.T) {
		// Instance 1's port is closed as if its process had just died.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		m.mu.Lock()
		inst := m.envs["proj/dev"].live.Load().members[0]
		m.mu.Unlock()
		inst.target.Store(&url.URL{Scheme: "http", Host: closed})
		for range 4 {
			wantBody(t, edge+"/whoami", "v1/2")
			if code, body := post("/echo", "payload"); code != http.StatusOK || body != "v1/2:payload" {
				t.Fatalf("POST /echo = %d %q, want it retried on instance 2 with its body", code, body)
			}
		}
	})
}

func TestRollingDeployClosesTheOldInstancesWebsockets(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	rollout(t, m, "proj/dev", 1, "v1", 1)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "before" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	start := time.Now()
	rollout(t, m, "proj/dev", 2, "v2", 1)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the rolling deploy took %s: the open websocket held the drain until its timeout", took)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("the websocket through the replaced instance is still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the websocket through the replaced instance was not closed")
	}
	wantBody(t, "http://"+addr+"/", "v2")
}
