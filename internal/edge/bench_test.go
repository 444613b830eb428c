package edge_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/edge"
)

// BenchmarkEdgeProcessOverhead compares a no-op request sent straight to
// an app with the same request through the `slipway edge` process, in
// alternating rounds of 200 sequential requests within one run, so that
// both sides see the same machine load. It reports the median of the
// rounds' per-request times for each, and their ratio.
func BenchmarkEdgeProcessOverhead(b *testing.B) {
	data := b.TempDir()
	startEdge(b, data)
	cl := dial(b, data)
	url, _ := deployApp(b, cl, data, "bench", 1, "v1", 1)
	direct := "http://127.0.0.1:" + strconv.Itoa(cl.Status("bench").Pool[0].Port) + "/"
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()
	const round = 200
	run := func(u string) time.Duration {
		start := time.Now()
		for range round {
			resp, err := hc.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
		return time.Since(start) / round
	}
	run(direct) // warm both connections up
	run(url)
	var d, e []time.Duration
	for b.Loop() {
		d = append(d, run(direct))
		e = append(e, run(url))
	}
	md, me := median(d), median(e)
	b.ReportMetric(float64(md.Microseconds()), "direct-µs/req")
	b.ReportMetric(float64(me.Microseconds()), "edge-µs/req")
	b.ReportMetric(float64(me)/float64(md), "edge/direct")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkEdgeRestartAdopt measures a restart of a killed edge: from
// exec of `slipway edge` until the environment answers through it again,
// with the running app re-adopted (not started again).
func BenchmarkEdgeRestartAdopt(b *testing.B) {
	data := b.TempDir()
	e := startEdge(b, data)
	cl := dial(b, data)
	url, pids := deployApp(b, cl, data, "bench", 1, "v1", 1)
	pid := pids[0]
	_ = cl.Close(context.Background())
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var total time.Duration
	for b.Loop() {
		e.kill()
		start := time.Now()
		e = startEdge(b, data)
		for {
			resp, err := hc.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
	}
	c2 := dial(b, data)
	if st := c2.Status("bench"); st.Live == nil || st.Live.PID != pid {
		b.Fatalf("the app was not re-adopted: %+v, want pid %d", st.Live, pid)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
}

// BenchmarkEdgeUpgrade measures an in-place upgrade (SIGHUP): from the
// signal until the new process answers on the control socket, and until
// the old one has drained and exited.
func BenchmarkEdgeUpgrade(b *testing.B) {
	data := b.TempDir()
	e := startEdge(b, data)
	cl := dial(b, data)
	deployApp(b, cl, data, "bench", 1, "v1", 1)
	_ = cl.Close(context.Background())
	oldPID := e.cmd.Process.Pid
	var ready, gone time.Duration
	for b.Loop() {
		start := time.Now()
		if err := syscall.Kill(oldPID, syscall.SIGHUP); err != nil {
			b.Fatal(err)
		}
		var newPID int
		deadline := time.Now().Add(30 * time.Second)
		for newPID == 0 || newPID == oldPID {
			if time.Now().After(deadline) {
				b.Fatalf("no new edge 30 s after SIGHUP to %d:\n%s", oldPID, e.output())
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if c, err := edge.Dial(ctx, edge.ClientOptions{Socket: edge.DefaultSocket(data)}); err == nil {
				newPID = c.Info().PID
				_ = c.Close(ctx)
			}
			cancel()
			time.Sleep(time.Millisecond)
		}
		ready += time.Since(start)
		for syscall.Kill(oldPID, 0) == nil && !zombie(oldPID) {
			if time.Now().After(deadline) {
				b.Fatalf("the old edge %d still runs 30 s after SIGHUP:\n%s", oldPID, e.output())
			}
			time.Sleep(time.Millisecond)
		}
		gone += time.Since(start)
		oldPID = newPID
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ms-to-ready")
	b.ReportMetric(float64(gone.Milliseconds())/float64(b.N), "ms-to-old-exit")
}
