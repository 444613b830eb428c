package handlers

// The whole-portal live-log figures in docs/benchmarks.md come from these
// benchmarks (the socket engine's latency benchmark is in
// internal/logs/live); `go tool task bench:logs` runs them. They report
// custom metrics (bytes per viewer, milliseconds to first paint) rather
// than ns/op: each runs its whole scenario once per b.N.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/models"
)

// BenchmarkLogIdleViewers: the memory a real `slipway serve` process
// holds for 1,000 viewers of a running build that prints nothing.
func BenchmarkLogIdleViewers(b *testing.B) {
	const viewers = 1000
	for b.Loop() {
		p := startBenchPortal(b)
		store, err := models.Open(context.Background(), models.Config{DataDir: p.DataDir})
		if err != nil {
			b.Fatal(err)
		}
		bl := insertBuild(b, store, models.BuildRunning, 0)
		u := &models.User{Username: "bench", PasswordHash: "x", Role: string(auth.Viewer)}
		if err := store.CreateUser(context.Background(), u); err != nil {
			b.Fatal(err)
		}
		tok, prefix := auth.NewToken()
		if err := store.CreateAPIToken(context.Background(), &models.APIToken{UserID: u.ID, Name: "bench", Hash: auth.HashSecret(tok), Prefix: prefix}); err != nil {
			b.Fatal(err)
		}
		store.Close()
		before := rssOf(b, p.PID())
		h := http.Header{}
		h.Set("Authorization", "Bearer "+tok)
		url := "ws" + strings.TrimPrefix(p.URL, "http") + fmt.Sprintf("/api/v1/builds/%d/log/ws", bl.ID)
		conns := make([]*websocket.Conn, 0, viewers)
		for range viewers {
			conn, _, err := websocket.DefaultDialer.Dial(url, h)
			if err != nil {
				b.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := conn.ReadMessage(); err != nil { // the state frame
				b.Fatal(err)
			}
			conns = append(conns, conn)
		}
		time.Sleep(2 * time.Second) // let the server settle
		after := rssOf(b, p.PID())
		b.ReportMetric(float64(after-before)/viewers/1024, "KiB/viewer")
		b.ReportMetric(float64(after)/(1<<20), "MiB-rss-total")
		for _, c := range conns {
			c.Close()
		}
	}
}

func startBenchPortal(b *testing.B) *e2e.Portal {
	b.Helper()
	if os.Getenv(e2e.BinaryEnv) == "" {
		bin, err := e2e.Build(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		b.Setenv(e2e.BinaryEnv, bin)
	}
	return e2e.StartPortal(b, e2e.Options{Env: []string{"SLIPWAY_BCRYPT_COST=4"}})
}

// rssOf reads a process's resident set size in bytes.
func rssOf(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkLogFirstPaint: headless Chromium opens a finished
// 1,000,000-line log; reported are the first contentful paint and the
// time until the viewer shows the last line, median of 5 loads.
func BenchmarkLogFirstPaint(b *testing.B) {
	for b.Loop() {
		ls := newLogServer(b, models.Config{})
		bl := insertBuild(b, ls.store, models.BuildSucceeded, time.Minute)
		writeMillion(b, ls, bl.LogStream(), 1_000_000)
		ctx := e2e.NewBrowser(b)
		ls.browserLogin(b, ctx)
		var fcp, ready []float64
		for range 5 {
			if err := e2e.Visit(ctx, fmt.Sprintf("%s/builds/%d", ls.srv.URL, bl.ID)); err != nil {
				b.Fatal(err)
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(".log-js") !== null && document.getElementById("L1000000") !== null && performance.getEntriesByName("first-contentful-paint").length > 0`))
				if err != nil {
					b.Fatal(err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("the log never showed its last line")
				}
			}
			v, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`[performance.getEntriesByName("first-contentful-paint")[0].startTime, performance.now()]`))
			if err != nil {
				b.Fatal(err)
			}
			fcp = append(fcp, v[0])
			ready = append(ready, v[1])
		}
		slices.Sort(fcp)
		slices.Sort(ready)
		b.ReportMetric(fcp[2], "first-paint-ms")
		b.ReportMetric(ready[2], "tail-shown-by-ms")
	}
}
