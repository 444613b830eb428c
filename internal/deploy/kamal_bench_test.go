package deploy

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
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEdgeVsKamalProxy puts the same app instance behind nothing, the
// environment's edge and kamal-proxy, and measures the three in alternating
// rounds of one run, so a busy machine slows them alike:
//
//   - throughput with 16 concurrent keep-alive clients for 1 s per round;
//   - latency of sequential requests (300 per round), median and p99.
//
// kamal-proxy is not a dependency of Slipway: build it from its source
// (github.com/basecamp/kamal-proxy, `go build ./cmd/kamal-proxy`) and point
// KAMAL_PROXY at the binary. Without it the benchmark skips.
//
//	KAMAL_PROXY=/path/to/kamal-proxy go test ./internal/deploy -run '^$' \
//	  -bench BenchmarkEdgeVsKamalProxy -benchtime 1x
func BenchmarkEdgeVsKamalProxy(b *testing.B) {
	kp := os.Getenv("KAMAL_PROXY")
	if kp == "" {
		b.Skip("KAMAL_PROXY is not set: build kamal-proxy from source and set it to the binary's path")
	}
	m := newTestManager(b, testOptions())
	edgeAddr, err := m.EnsureEdge("bench/dev", "")
	if err != nil {
		b.Fatal(err)
	}
	inst := startApp(b, m, appSpec(b, "bench/dev", 1, "v1"))
	if _, err := m.Switch("bench/dev", inst); err != nil {
		b.Fatal(err)
	}
	app := "127.0.0.1:" + strconv.Itoa(inst.Port())
	kamal := startKamalProxy(b, kp, app)

	targets := []struct{ name, url string }{
		{"direct", "http://" + app + "/"},
		{"edge", "http://" + edgeAddr + "/"},
		{"kamal", "http://" + kamal + "/"},
	}
	rounds := 5
	thr := map[string][]float64{}
	lat := map[string][]time.Duration{}
	for b.Loop() {
		for r := 0; r < rounds; r++ {
			for k := range targets {
				t := targets[(k+r)%len(targets)] // rotate who goes first
				thr[t.name] = append(thr[t.name], throughput(b, t.url, 16, time.Second))
				lat[t.name] = append(lat[t.name], sequential(b, t.url, 300)...)
			}
		}
	}
	med := func(name string) float64 { s := slices.Clone(thr[name]); slices.Sort(s); return s[len(s)/2] }
	q := func(name string, p float64) time.Duration {
		s := slices.Clone(lat[name])
		slices.Sort(s)
		return s[int(float64(len(s)-1)*p)]
	}
	for _, t := range targets {
		b.ReportMetric(med(t.name), t.name+"_req/s")
		b.ReportMetric(float64(q(t.name, 0.5).Microseconds()), t.name+"_p50_µs")
		b.ReportMetric(float64(q(t.name, 0.99).Microseconds()), t.name+"_p99_µs")
	}
	b.ReportMetric(med("edge")/med("direct"), "edge/direct")
	b.ReportMetric(med("kamal")/med("direct"), "kamal/direct")
	b.ReportMetric(med("edge")/med("kamal"), "edge/kamal")
	b.ReportMetric(float64((q("edge", 0.99)-q("direct", 0.99)).Microseconds())/1000, "edge_added_p99_ms")
	b.ReportMetric(float64((q("kamal", 0.99)-q("direct", 0.99)).Microseconds())/1000, "kamal_added_p99_ms")
}

// startKamalProxy runs kamal-proxy on a free loopback port with its state
// in a temporary home, deploys app behind it, and returns its address.
func startKamalProxy(b *testing.B, bin, app string) string {
	b.Helper()
	home := b.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+home, "KAMAL_PROXY_SOCKET="+filepath.Join(home, "kp.sock"))
	port, tlsPort := freePort(b), freePort(b)
	run := exec.Command(bin, "run", "--http-port", strconv.Itoa(port), "--https-port", strconv.Itoa(tlsPort))
	run.Env, run.Stdout, run.Stderr = env, io.Discard, io.Discard
	if err := run.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		deploy := exec.Command(bin, "deploy", "bench", "--target", app, "--health-check-path", "/healthz")
		deploy.Env = env
		out, err := deploy.CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("kamal-proxy deploy: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

func freePort(b *testing.B) int {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// throughput is the rate of GETs to url that workers keep-alive clients
// complete in d.
func throughput(b *testing.B, url string, workers int, d time.Duration) float64 {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, Proxy: nil}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var n, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%s: %d requests failed", url, f)
	}
	return float64(n.Load()) / time.Since(start).Seconds()
}

// sequential sends count GETs to url one after another on one keep-alive
// connection and returns each one's latency.
func sequential(b *testing.B, url string, count int) []time.Duration {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	out := make([]time.Duration, 0, count)
	for range count {
		t0 := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(fmt.Errorf("%s: %w", url, err))
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out = append(out, time.Since(t0))
	}
	return out
}
