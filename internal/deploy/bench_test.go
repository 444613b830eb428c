package deploy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// BenchmarkEdgeOverhead compares a request sent straight to an app with
// the same request sent through the environment's edge proxy.
func BenchmarkEdgeOverhead(b *testing.B) {
	m := newTestManager(b, testOptions())
	addr, err := m.EnsureEdge("bench/dev", "")
	if err != nil {
		b.Fatal(err)
	}
	inst := startApp(b, m, appSpec(b, "bench/dev", 1, "v1"))
	if _, err := m.Switch("bench/dev", inst); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	for _, bc := range []struct {
		name string
		url  string
	}{
		{"direct", "http://127.0.0.1:" + strconv.Itoa(inst.Port()) + "/"},
		{"through_edge", "http://" + addr + "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := client.Get(bc.url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkStartInstance measures a start until healthy and a stop, in
// the release directory as before work dirs, and in the environment's
// work dir without and with the sandbox (bubblewrap and the pids cgroup).
func BenchmarkStartInstance(b *testing.B) {
	for _, bc := range []struct {
		name string
		mode SandboxMode
		work bool
	}{{"release_dir", SandboxOff, false}, {"work_dir", SandboxOff, true}, {"sandboxed", SandboxAuto, true}} {
		b.Run(bc.name, func(b *testing.B) {
			l := portalLayout{data: b.TempDir()}
			l.releases, l.work = l.data+"/releases", l.data+"/appdata"
			opts := testOptions()
			opts.ReleasesDir, opts.Sandbox = l.releases, bc.mode
			if bc.work {
				opts.WorkDir = l.work
			}
			m := newTestManager(b, opts)
			rel := l.release(b, "sha-1")
			if use, notice, _ := m.Sandbox(); bc.mode == SandboxAuto && !use {
				b.Skip(notice)
			}
			for b.Loop() {
				inst, err := m.StartInstance(context.Background(), InstanceSpec{Env: "bench/dev", ReleaseID: 1, Dir: rel,
					Command: "exec ./bin/app", HealthPath: "/healthz"}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Stop(context.Background(), inst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPoolCPUBound measures the throughput of a CPU-bound handler
// (/cpu: 100,000 rounds of SHA-256, about 15 ms of one core) through the edge
// with one and with two instances, each app limited to one core
// (GOMAXPROCS=1, like a single-threaded runtime), driven by 8 closed-loop
// clients for 3 s each. It reports both rates and their ratio; run it with
// -benchtime=1x (go tool task bench:instances).
func BenchmarkPoolCPUBound(b *testing.B) {
	const clients, window = 8, 3 * time.Second
	measure := func(n int) float64 {
		m := newTestManager(b, testOptions())
		addr, err := m.EnsureEdge("bench/dev", "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(b, "bench/dev", 1, "v1", "GOMAXPROCS=1"), Instances: n}, nil); err != nil {
			b.Fatal(err)
		}
		url := "http://" + addr + "/cpu?n=100000"
		rate := throughput(b, url, clients, window)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Close(ctx)
		return rate
	}
	for b.Loop() {
		one := measure(1)
		two := measure(2)
		b.ReportMetric(one, "req/s_n1")
		b.ReportMetric(two, "req/s_n2")
		b.ReportMetric(two/one, "ratio_n2/n1")
	}
}

// BenchmarkRollingDeployUnderLoad rolls three instances of v2 over three
// of v1 while Vegeta sends 200 requests per second (each held 20 ms by
// the app), then rolls back to the warm set, and reports how long the
// rolling deploy took, the failed requests (the bar is 0) and the latency
// percentiles of the whole attack.
func BenchmarkRollingDeployUnderLoad(b *testing.B) {
	for b.Loop() {
		m := newTestManager(b, testOptions())
		addr, err := m.EnsureEdge("bench/dev", "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(b, "bench/dev", 1, "v1"), Instances: 3}, nil); err != nil {
			b.Fatal(err)
		}
		attacker := vegeta.NewAttacker(vegeta.Timeout(20*time.Second), vegeta.KeepAlive(true), vegeta.MaxWorkers(256))
		results := attacker.Attack(vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: "http://" + addr + "/?sleep=20"}),
			vegeta.Rate{Freq: 200, Per: time.Second}, 4*time.Second, "rolling")
		var metrics vegeta.Metrics
		done := make(chan struct{})
		go func() {
			defer close(done)
			for res := range results {
				metrics.Add(res)
			}
		}()
		time.Sleep(500 * time.Millisecond)
		start := time.Now()
		if _, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: appSpec(b, "bench/dev", 2, "v2"), Instances: 3}, nil); err != nil {
			b.Fatal(err)
		}
		rolled := time.Since(start)
		time.Sleep(500 * time.Millisecond)
		if _, err := m.SwitchWarm("bench/dev", 1); err != nil {
			b.Fatal(err)
		}
		<-done
		metrics.Close()
		b.ReportMetric(rolled.Seconds()*1000, "rolling_ms")
		b.ReportMetric(float64(metrics.Requests), "requests")
		b.ReportMetric(float64(metrics.Requests)*(1-metrics.Success), "failed")
		b.ReportMetric(float64(metrics.Latencies.P99.Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(metrics.Latencies.Max.Microseconds())/1000, "max_ms")
	}
}
