package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slipway-ci/slipway/internal/testkit"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestStartAndSwitchServesTheRelease(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	edge := "http://" + addr

	code, body := get(t, edge+"/")
	if code != http.StatusBadGateway || !strings.Contains(body, "No release is live in environment proj/dev") {
		t.Fatalf("before any switch: %d %q, want 502 naming the environment", code, body)
	}

	out := &lineLog{}
	v1, err := m.StartInstance(context.Background(), appSpec(t, "proj/dev", 1, "v1"), out.add)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out.all(), "app v1 starting") {
		t.Errorf("log func got %q, want the app's output", out.all())
	}
	prev, err := m.Switch("proj/dev", v1)
	if err != nil || prev != nil {
		t.Fatalf("Switch = %v, %v; want nil, nil", prev, err)
	}
	wantBody(t, edge+"/", "v1")

	t.Run("the app sees the public host and forwarding headers", func(t *testing.T) {
		_, h := get(t, edge+"/headers")
		for _, want := range []string{"Host=" + addr, "X-Forwarded-For=127.0.0.1", "X-Forwarded-Host=" + addr, "X-Forwarded-Proto=http"} {
			if !strings.Contains(h, want+"\n") {
				t.Errorf("headers seen by the app:\n%s\nwant %s", h, want)
			}
		}
	})

	t.Run("status shows the live release", func(t *testing.T) {
		st := m.Status("proj/dev")
		if st.EdgeAddr != addr || st.LiveReleaseID != 1 || st.Live == nil {
			t.Fatalf("status = %+v", st)
		}
		if st.Live.State != StateHealthy || st.Live.PID != v1.PID() || st.Live.PID == 0 || st.Live.Port != v1.Port() {
			t.Errorf("live = %+v", *st.Live)
		}
		if len(st.Warm) != 0 || len(st.Other) != 0 {
			t.Errorf("warm %+v, other %+v; want none", st.Warm, st.Other)
		}
	})

	t.Run("switching to the live instance again changes nothing", func(t *testing.T) {
		prev, err := m.Switch("proj/dev", v1)
		if err != nil || prev != nil {
			t.Fatalf("Switch = %v, %v; want nil, nil", prev, err)
		}
		wantBody(t, edge+"/", "v1")
	})
}

// TestSwitchUnderLoadLosesNoRequest deploys v2 and rolls back to v1 while
// vegeta sends 200 requests per second (each held 20 ms by the app, so
// requests are always in flight across the switches).
func TestSwitchUnderLoadLosesNoRequest(t *testing.T) {
	tests := []struct {
		name    string
		warmFor time.Duration
	}{
		{"a rollback to the warm release is instant and loses no request", 10 * time.Minute},
		{"a replaced release stopped right after draining loses no request", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.WarmFor = tt.warmFor
			m := newTestManager(t, opts)
			addr, err := m.EnsureEdge("proj/dev", "")
			if err != nil {
				t.Fatal(err)
			}
			v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
			if _, err := m.Switch("proj/dev", v1); err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			seen := map[string]int{}
			var failures []string
			count := func(body string) int {
				mu.Lock()
				defer mu.Unlock()
				return seen[body]
			}
			attacker := vegeta.NewAttacker(vegeta.Timeout(20*time.Second), vegeta.KeepAlive(true), vegeta.MaxWorkers(256))
			targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: "http://" + addr + "/?sleep=20"})
			results := attacker.Attack(targeter, vegeta.Rate{Freq: 200, Per: time.Second}, 0, "switch")
			done := make(chan struct{})
			go func() {
				defer close(done)
				for res := range results {
					mu.Lock()
					if res.Code != http.StatusOK || res.Error != "" {
						failures = append(failures, res.Error+" "+http.StatusText(int(res.Code))+" "+string(res.Body))
					} else {
						seen[string(res.Body)]++
					}
					mu.Unlock()
				}
			}()
			began := time.Now()
			stopped := false
			stop := func() {
				if !stopped {
					stopped = true
					attacker.Stop()
					<-done
				}
			}
			defer stop()

			testkit.Eventually(t, 20*time.Second, func() bool { return count("v1") > 50 }, "v1 answers under load")
			v2 := startApp(t, m, appSpec(t, "proj/dev", 2, "v2"))
			prev, err := m.Switch("proj/dev", v2)
			if err != nil || prev != v1 {
				t.Fatalf("Switch to v2 = %v, %v; want v1", prev, err)
			}
			testkit.Eventually(t, 20*time.Second, func() bool { return count("v2") > 50 }, "v2 answers under load")

			back := m.Warm("proj/dev", 1)
			if tt.warmFor > 0 {
				if back != v1 {
					t.Fatalf("Warm(1) = %v, want the v1 instance", back)
				}
			} else {
				if back != nil {
					t.Fatalf("Warm(1) = %v without a rollback window", back)
				}
				testkit.Eventually(t, 20*time.Second, func() bool { return v1.State() == StateStopped }, "the replaced v1 to stop")
				back = startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
			}
			v1Before := count("v1")
			if prev, err := m.Switch("proj/dev", back); err != nil || prev != v2 {
				t.Fatalf("rollback Switch = %v, %v; want v2", prev, err)
			}
			testkit.Eventually(t, 20*time.Second, func() bool { return count("v1") > v1Before+50 }, "v1 answers again")
			testkit.Eventually(t, 20*time.Second, func() bool { return time.Since(began) >= 3*time.Second }, "about 3 s of load")
			stop()

			mu.Lock()
			defer mu.Unlock()
			if len(failures) > 0 {
				t.Fatalf("%d requests failed, e.g. %q", len(failures), failures[:min(5, len(failures))])
			}
			for body := range seen {
				if body != "v1" && body != "v2" {
					t.Errorf("unexpected body %q", body)
				}
			}
			// The attack asks for 200/s over ≥3 s; a loaded machine sends
			// fewer, but both releases must have answered a real share.
			if total := seen["v1"] + seen["v2"]; total < 200 || seen["v2"] < 20 {
				t.Errorf("only %d requests were answered (%v); the attack did not run", total, seen)
			}
			t.Logf("answers: %v", seen)
		})
	}
}

func TestStartFailures(t *testing.T) {
	opts := testOptions()
	opts.HealthTimeout = 1500 * time.Millisecond
	m := newTestManager(t, opts)
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
	if _, err := m.Switch("proj/dev", v1); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		spec   InstanceSpec
		ctx    func(out *lineLog) context.Context
		want   error
		verify func(t *testing.T, se *StartError, out *lineLog)
	}{
		{
			name: "an app that never passes its health check is stopped with ErrUnhealthy",
			spec: appSpec(t, "proj/dev", 2, "v2", "FAIL_HEALTH=1"),
			want: ErrUnhealthy,
			verify: func(t *testing.T, se *StartError, out *lineLog) {
				if !strings.Contains(se.Detail, "503") {
					t.Errorf("detail %q does not tell the health answer", se.Detail)
				}
				if !slices.Contains(se.Output, "app v2 starting") {
					t.Errorf("output %q lacks the app's lines", se.Output)
				}
			},
		},
		{
			name: "an app that exits at once reports ErrExited with its output",
			spec: appSpec(t, "proj/dev", 3, "v3", "EXIT_AT_ONCE=1"),
			want: ErrExited,
			verify: func(t *testing.T, se *StartError, out *lineLog) {
				if se.Exit == nil || se.Exit.Code != 3 {
					t.Fatalf("exit = %+v, want code 3", se.Exit)
				}
				for _, lines := range [][]string{se.Output, se.Exit.Lines, out.all()} {
					if !slices.Contains(lines, "fatal: told to exit at once") {
						t.Errorf("lines %q lack the app's last words", lines)
					}
				}
				if !strings.Contains(se.Error(), "exit status 3") {
					t.Errorf("message %q lacks the exit status", se.Error())
				}
			},
		},
		{
			name: "a command that does not exist reports ErrExited with the shell's complaint",
			spec: InstanceSpec{Env: "proj/dev", ReleaseID: 4, Dir: t.TempDir(), Command: "./no-such-binary"},
			want: ErrExited,
			verify: func(t *testing.T, se *StartError, out *lineLog) {
				if se.Exit == nil || se.Exit.Code != 127 || !strings.Contains(strings.Join(se.Output, "\n"), "not found") {
					t.Errorf("exit %+v, output %q", se.Exit, se.Output)
				}
			},
		},
		{
			name: "a start cancelled by its context stops the process",
			spec: appSpec(t, "proj/dev", 5, "v5", "FAIL_HEALTH=1"),
			ctx: func(out *lineLog) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					for !slices.ContainsFunc(out.all(), func(s string) bool { return strings.HasPrefix(s, "listening on") }) {
						time.Sleep(5 * time.Millisecond)
					}
					cancel()
				}()
				t.Cleanup(cancel)
				return ctx
			},
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &lineLog{}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(out)
			}
			inst, err := m.StartInstance(ctx, tt.spec, out.add)
			if !errors.Is(err, tt.want) || inst != nil {
				t.Fatalf("StartInstance = %v, %v; want error %v", inst, err, tt.want)
			}
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *StartError", err)
			}
			if se.PID == 0 || !processGone(se.PID) {
				t.Errorf("process %d of the failed start still runs", se.PID)
			}
			if tt.verify != nil {
				tt.verify(t, se, out)
			}
			wantBody(t, "http://"+addr+"/", "v1")
			if st := m.Status("proj/dev"); st.LiveReleaseID != 1 {
				t.Errorf("live release = %d, want 1", st.LiveReleaseID)
			}
		})
	}
}

func TestStartInstanceRejectsBadSpecs(t *testing.T) {
	m := newTestManager(t, testOptions())
	good := appSpec(t, "proj/dev", 1, "v1")
	tests := []struct {
		name   string
		change func(*InstanceSpec)
	}{
		{"an empty environment is refused", func(s *InstanceSpec) { s.Env = "" }},
		{"an empty command is refused", func(s *InstanceSpec) { s.Command = " " }},
		{"a health path without a slash is refused", func(s *InstanceSpec) { s.HealthPath = "healthz" }},
		{"a relative dir without a releases dir is refused", func(s *InstanceSpec) { s.Dir = "abc" }},
		{"a bad variable name is refused", func(s *InstanceSpec) { s.Vars = map[string]string{"A=B": "x"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good
			tt.change(&spec)
			if _, err := m.StartInstance(context.Background(), spec, nil); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReleasesDirResolvesRelativeDirs(t *testing.T) {
	opts := testOptions()
	opts.ReleasesDir = t.TempDir()
	m := newTestManager(t, opts)
	dir, err := m.ReleaseDir("abc123")
	if err != nil {
		t.Fatal(err)
	}
	if err := mkdir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReleaseDir("../etc"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReleaseDir(../etc) err = %v, want ErrInvalid", err)
	}
	spec := appSpec(t, "proj/dev", 1, "v1")
	spec.Dir = "abc123"
	spec.Command = `pwd; exec ` + appBin
	out := &lineLog{}
	if _, err := m.StartInstance(context.Background(), spec, out.add); err != nil {
		t.Fatal(err)
	}
	if got := out.all(); len(got) == 0 || got[0] != dir {
		t.Errorf("app ran in %q, want %s", got, dir)
	}
	spec.Dir = "../outside"
	if _, err := m.StartInstance(context.Background(), spec, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("dir ../outside: err = %v, want ErrInvalid", err)
	}
}

func TestEnsureEdge(t *testing.T) {
	m := newTestManager(t, testOptions())
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()

	t.Run("an address in use is a clear error naming it", func(t *testing.T) {
		_, err := m.EnsureEdge("proj/dev", taken)
		if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), taken) {
			t.Fatalf("err = %v, want ErrAddrInUse naming %s", err, taken)
		}
	})
	t.Run("two environments cannot share an address", func(t *testing.T) {
		addr, err := m.EnsureEdge("proj/staging", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.EnsureEdge("proj/prod", addr); !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("err = %v, want ErrAddrInUse", err)
		}
	})
	t.Run("asking again returns the bound address", func(t *testing.T) {
		addr, err := m.EnsureEdge("proj/qa", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		for _, again := range []string{"", "127.0.0.1:0", addr} {
			if got, err := m.EnsureEdge("proj/qa", again); err != nil || got != addr {
				t.Errorf("EnsureEdge(%q) = %q, %v; want %q", again, got, err, addr)
			}
		}
	})
	t.Run("a persisted address is bound again by a new manager", func(t *testing.T) {
		m1 := NewManager(testOptions())
		addr, err := m1.EnsureEdge("proj/dev", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := m1.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		m2 := newTestManager(t, testOptions())
		if got, err := m2.EnsureEdge("proj/dev", addr); err != nil || got != addr {
			t.Fatalf("EnsureEdge(%q) = %q, %v", addr, got, err)
		}
		code, _ := get(t, "http://"+addr+"/")
		if code != http.StatusBadGateway {
			t.Errorf("empty edge answered %d, want 502", code)
		}
	})
	t.Run("an edge moved to a new address serves there", func(t *testing.T) {
		old, err := m.EnsureEdge("proj/move", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		want := l.Addr().String()
		l.Close()
		got, err := m.EnsureEdge("proj/move", want)
		if err != nil || got != want || got == old {
			t.Fatalf("EnsureEdge(%q) = %q, %v (old %s)", want, got, err, old)
		}
		if code, body := get(t, "http://"+got+"/"); code != http.StatusBadGateway || !strings.Contains(body, "proj/move") {
			t.Errorf("moved edge answered %d %q", code, body)
		}
	})
}

func TestCrashedLiveInstanceIsRestarted(t *testing.T) {
	events := &eventLog{}
	opts := testOptions()
	opts.OnEvent = events.add
	m := newTestManager(t, opts)
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
	if _, err := m.Switch("proj/dev", v1); err != nil {
		t.Fatal(err)
	}
	oldPID := v1.PID()
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, 20*time.Second, func() bool { _, ok := events.find(EventRestarted, 1); return ok }, "a restarted event")
	crash, ok := events.find(EventCrashed, 1)
	if !ok {
		t.Fatal("no crashed event before the restart")
	}
	if crash.PID != oldPID || crash.Exit == nil || crash.Exit.Signal != "killed" || crash.Env != "proj/dev" {
		t.Errorf("crashed event = %+v (exit %+v)", crash, crash.Exit)
	}
	restart, _ := events.find(EventRestarted, 1)
	if restart.PID == oldPID || restart.PID == 0 || restart.Restarts != 1 {
		t.Errorf("restarted event = %+v", restart)
	}
	wantBody(t, "http://"+addr+"/", "v1")

	st := m.Status("proj/dev")
	if st.Live == nil || st.Live.State != StateHealthy || st.Live.Restarts != 1 || st.Live.PID != restart.PID {
		t.Fatalf("status after restart = %+v", st.Live)
	}
	if st.Live.LastExit == nil || st.Live.LastExit.Signal != "killed" || len(st.Live.LastExit.Lines) == 0 {
		t.Errorf("last exit = %+v", st.Live.LastExit)
	}
}

func TestCrashLoopBacksOff(t *testing.T) {
	events := &eventLog{}
	opts := testOptions()
	opts.OnEvent = events.add
	m := newTestManager(t, opts)
	// The first run is healthy; every restart finds the marker and exits.
	dir := t.TempDir()
	spec := appSpec(t, "proj/dev", 1, "v1")
	spec.Dir = dir
	spec.Command = `if [ -e crashed ]; then echo "crashing again"; exit 4; fi; touch crashed; exec ` + appBin
	v1 := startApp(t, m, spec)
	if _, err := m.Switch("proj/dev", v1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(v1.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() bool {
		events.mu.Lock()
		defer events.mu.Unlock()
		n := 0
		for _, ev := range events.events {
			if ev.Kind == EventCrashed {
				n++
			}
		}
		return n >= 3
	}, "three crashes")
	events.mu.Lock()
	var delays []time.Duration
	for _, ev := range events.events {
		if ev.Kind == EventCrashed {
			delays = append(delays, ev.Delay)
		}
	}
	events.mu.Unlock()
	want := []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	if !slices.Equal(delays[:3], want) {
		t.Errorf("restart delays = %v, want %v", delays, want)
	}
	if st := v1.Status(); st.LastExit == nil || st.LastExit.Code != 4 {
		t.Errorf("last exit = %+v, want code 4", st.LastExit)
	}
}

func TestWebsocketPassesThroughTheEdge(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
	if _, err := m.Switch("proj/dev", v1); err != nil {
		t.Fatal(err)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through the edge: %v (%v)", err, resp)
	}
	defer c.Close()
	for _, msg := range []string{"hello", "second message"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("echo = %q, %v; want %q", got, err, msg)
		}
	}
	if n := v1.Status().InFlight; n != 1 {
		t.Errorf("in flight with an open websocket = %d, want 1", n)
	}
	c.Close()
	testkit.Eventually(t, 20*time.Second, func() bool { return v1.Status().InFlight == 0 }, "the websocket to leave the in-flight count")
}

func TestRollbackWindow(t *testing.T) {
	t.Run("a replaced release stops when its window ends", func(t *testing.T) {
		events := &eventLog{}
		opts := testOptions()
		opts.WarmFor = 100 * time.Millisecond
		opts.OnEvent = events.add
		m := newTestManager(t, opts)
		v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
		v2 := startApp(t, m, appSpec(t, "proj/dev", 2, "v2"))
		m.Switch("proj/dev", v1)
		pid := v1.PID()
		if _, err := m.Switch("proj/dev", v2); err != nil {
			t.Fatal(err)
		}
		<-v1.Done()
		if !processGone(pid) {
			t.Errorf("v1 process %d still runs after its window", pid)
		}
		if _, ok := events.find(EventStopped, 1); !ok {
			t.Error("no stopped event for v1")
		}
		if w := m.Warm("proj/dev", 1); w != nil {
			t.Error("Warm returned a stopped instance")
		}
		if _, err := m.Switch("proj/dev", v1); !errors.Is(err, ErrStopped) {
			t.Errorf("switch to stopped v1: err = %v, want ErrStopped", err)
		}
	})
	t.Run("only MaxWarm releases are kept warm, the oldest stops first", func(t *testing.T) {
		opts := testOptions()
		opts.MaxWarm = 1
		m := newTestManager(t, opts)
		var insts []*Instance
		for id := int64(1); id <= 3; id++ {
			inst := startApp(t, m, appSpec(t, "proj/dev", id, "v"))
			if _, err := m.Switch("proj/dev", inst); err != nil {
				t.Fatal(err)
			}
			insts = append(insts, inst)
		}
		<-insts[0].Done()
		st := m.Status("proj/dev")
		if st.LiveReleaseID != 3 || len(st.Warm) != 1 || st.Warm[0].ReleaseID != 2 || st.Warm[0].WarmUntil.IsZero() {
			t.Fatalf("status = %+v", st)
		}
		if len(st.Other) != 0 {
			t.Errorf("the stopped release is still listed: %+v", st.Other)
		}
		if m.Warm("proj/dev", 2) != insts[1] || m.Warm("proj/dev", 1) != nil {
			t.Error("Warm does not match the warm list")
		}
	})
	t.Run("a warm release can be stopped early, the live one cannot", func(t *testing.T) {
		m := newTestManager(t, testOptions())
		v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
		v2 := startApp(t, m, appSpec(t, "proj/dev", 2, "v2"))
		m.Switch("proj/dev", v1)
		m.Switch("proj/dev", v2)
		if err := m.Stop(context.Background(), v2); !errors.Is(err, ErrLive) {
			t.Fatalf("Stop(live) = %v, want ErrLive", err)
		}
		if err := m.Stop(context.Background(), v1); err != nil {
			t.Fatal(err)
		}
		if v1.State() != StateStopped || m.Warm("proj/dev", 1) != nil || len(m.Status("proj/dev").Warm) != 0 {
			t.Error("v1 is still listed after Stop")
		}
	})
}

func TestSwitchRefusesWhatCannotServe(t *testing.T) {
	m := newTestManager(t, testOptions())
	dev := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
	gone := startApp(t, m, appSpec(t, "proj/dev", 2, "v2"))
	if st := m.Status("proj/dev"); len(st.Other) != 2 || st.Other[0].ReleaseID != 1 || st.Other[1].ReleaseID != 2 || st.Live != nil {
		t.Fatalf("started but not switched to: status %+v", st)
	}
	if err := m.Stop(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		inst *Instance
		want error
	}{
		{"an instance of another environment is refused", "proj/staging", dev, ErrWrongEnv},
		{"a stopped instance is refused", "proj/dev", gone, ErrStopped},
		{"no instance is refused", "proj/dev", nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Switch(tt.env, tt.inst); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStopEnv(t *testing.T) {
	m := newTestManager(t, testOptions())
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	v1 := startApp(t, m, appSpec(t, "proj/dev", 1, "v1"))
	v2 := startApp(t, m, appSpec(t, "proj/dev", 2, "v2"))
	m.Switch("proj/dev", v1)
	m.Switch("proj/dev", v2)
	pids := []int{v1.PID(), v2.PID()}
	if err := m.StopEnv("proj/dev"); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("process %d still runs", pid)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("edge %s still accepts connections", addr)
	}
	if st := m.Status("proj/dev"); st.EdgeAddr != "" || st.Live != nil || len(st.Warm) != 0 {
		t.Errorf("status after StopEnv = %+v", st)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	opts := testOptions()
	opts.StopTimeout = 300 * time.Millisecond
	m := NewManager(opts)
	addr, err := m.EnsureEdge("proj/dev", "")
	if err != nil {
		t.Fatal(err)
	}
	// Each release leaves a child in its process group that ignores SIGTERM.
	var pids []int
	var insts []*Instance
	for id := int64(1); id <= 3; id++ {
		out := &lineLog{}
		spec := appSpec(t, "proj/dev", id, "v")
		spec.Command = `trap '' TERM; sleep 300 & echo "child $!"; exec ` + appBin
		inst, err := m.StartInstance(context.Background(), spec, out.add)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, inst.PID(), out.childPID())
		insts = append(insts, inst)
	}
	m.Switch("proj/dev", insts[0])
	m.Switch("proj/dev", insts[1]) // release 1 warm, release 3 never switched to
	for _, pid := range pids {
		if pid == 0 || processGone(pid) {
			t.Fatalf("process %d is not running before Close (pids %v)", pid, pids)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("process %d survived Close", pid)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("edge %s still accepts connections", addr)
	}
	if _, err := m.StartInstance(context.Background(), appSpec(t, "proj/dev", 9, "v"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("StartInstance after Close: %v, want ErrClosed", err)
	}
	if _, err := m.EnsureEdge("proj/dev", ""); !errors.Is(err, ErrClosed) {
		t.Errorf("EnsureEdge after Close: %v, want ErrClosed", err)
	}
}

func TestSetLogRedirectsOutput(t *testing.T) {
	m := newTestManager(t, testOptions())
	first, second := &lineLog{}, &lineLog{}
	spec := appSpec(t, "proj/dev", 1, "v1")
	spec.Command = `echo one; exec ` + appBin
	inst, err := m.StartInstance(context.Background(), spec, first.add)
	if err != nil {
		t.Fatal(err)
	}
	inst.SetLog(second.add)
	n := len(first.all())
	syscall.Kill(inst.PID(), syscall.SIGKILL) // the restart prints again
	testkit.Eventually(t, 20*time.Second, func() bool { return slices.Contains(second.all(), "one") }, "output after the restart")
	if len(first.all()) != n {
		t.Errorf("the replaced log func still got lines: %q", first.all()[n:])
	}
	if !slices.Contains(inst.Output(), "one") {
		t.Errorf("ring buffer = %q", inst.Output())
	}
}

func TestAppsDieWithThePortal(t *testing.T) {
	portal := exec.Command(os.Args[0], "-test.run=^$")
	portal.Env = append(os.Environ(), "DEPLOY_TEST_PORTAL_APP="+appBin, "DEPLOY_TEST_PORTAL_DIR="+t.TempDir())
	stdout, err := portal.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := portal.Start(); err != nil {
		t.Fatal(err)
	}
	defer portal.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("portal said %q: %v", line, err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil || pid == 0 || processGone(pid) {
		t.Fatalf("portal said %q", line)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // if the test fails
	if err := portal.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = portal.Wait()
	testkit.Eventually(t, 20*time.Second, func() bool { return processGone(pid) }, "the app to die with its portal")
}
