package loadtest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// spec returns a runnable spec against url with the given targets.
func spec(url, targets string, rate float64, d time.Duration) Spec {
	return Spec{BaseURL: url, Targets: targets, Pacer: PacerConstant, Rate: rate, Duration: d, Timeout: 5 * time.Second}
}

func check(r *Report, name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func TestRunAttacksAServerAndEmitsWindows(t *testing.T) {
	const body = "hello, load"
	var hits, withHeader atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Test") == "yes" && r.URL.Path == "/a" {
			withHeader.Add(1)
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()

	var (
		mu   sync.Mutex
		seen []Window
	)
	rep, err := Run(t.Context(), spec(srv.URL, "GET /a\nX-Test: yes\n\nGET /b", 100, 2*time.Second), func(w Window) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, w)
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	// About 200 requests: the bounds are loose because the box is shared.
	if rep.Requests < 100 || rep.Requests > 300 {
		t.Errorf("Requests = %d, want about 200", rep.Requests)
	}
	if got := hits.Load(); got != int64(rep.Requests) {
		t.Errorf("server saw %d requests, report counts %d", got, rep.Requests)
	}
	if withHeader.Load() == 0 {
		t.Error("no request to /a carried the X-Test header")
	}
	if rep.Verdict != VerdictPass || rep.Success != 1 || rep.Canceled {
		t.Errorf("Verdict = %q, Success = %v, Canceled = %v; want pass, 1, false (checks %+v, errors %v)", rep.Verdict, rep.Success, rep.Canceled, rep.Checks, rep.Errors)
	}
	if rep.StatusCodes["200"] != int(rep.Requests) {
		t.Errorf("StatusCodes = %v, want all %d 200", rep.StatusCodes, rep.Requests)
	}
	if rep.BytesIn != rep.Requests*uint64(len(body)) {
		t.Errorf("BytesIn = %d, want %d", rep.BytesIn, rep.Requests*uint64(len(body)))
	}
	l := rep.Latencies
	if !(0 < l.Min && l.Min <= l.P50 && l.P50 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("Latencies out of order: %+v", l)
	}
	var inHistogram uint64
	for _, b := range rep.Histogram {
		inHistogram += b.Count
	}
	if inHistogram != rep.Requests {
		t.Errorf("histogram holds %d requests, want %d", inHistogram, rep.Requests)
	}

	// Windows: one per second of the run (plus perhaps a last partial one),
	// numbered in order, adding up to the total, and the same as pushed live.
	if len(rep.Windows) < 2 || len(rep.Windows) > 3 {
		t.Errorf("got %d windows, want 2 or 3: %+v", len(rep.Windows), rep.Windows)
	}
	var inWindows int
	for i, w := range rep.Windows {
		if w.Second != i {
			t.Errorf("window %d has Second %d", i, w.Second)
		}
		inWindows += w.Requests
	}
	if inWindows != int(rep.Requests) {
		t.Errorf("windows hold %d requests, want %d", inWindows, rep.Requests)
	}
	w0 := rep.Windows[0]
	if w0.Requests == 0 || w0.Successes != w0.Requests || w0.Throughput <= 0 || w0.P50 <= 0 || w0.P95 < w0.P50 || w0.P99 < w0.P95 {
		t.Errorf("first window = %+v, want requests, all successful, with throughput and ordered quantiles", w0)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, rep.Windows) {
		t.Errorf("onWindow saw %+v, report has %+v", seen, rep.Windows)
	}
}

func TestRunThresholds(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte(big))
	}))
	defer srv.Close()

	tests := []struct {
		name    string
		th      Thresholds
		verdict string
		failing []string
	}{
		{"passes when every threshold is met", Thresholds{P95: 10 * time.Second, P99: 10 * time.Second, MinSuccessRatio: 1, MinThroughput: 1}, VerdictPass, nil},
		{"fails when latency is above the p95 and p99 thresholds", Thresholds{P95: time.Millisecond, P99: time.Millisecond, MinSuccessRatio: 1}, VerdictFail, []string{CheckP95, CheckP99}},
		{"fails when throughput is below the minimum", Thresholds{MinThroughput: 1000}, VerdictFail, []string{CheckThroughput}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(srv.URL, "GET /", 20, time.Second)
			s.Thresholds = tt.th
			s.MaxBody = 1000
			rep, err := Run(t.Context(), s, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if rep.Verdict != tt.verdict {
				t.Errorf("Verdict = %q, want %q; checks %+v", rep.Verdict, tt.verdict, rep.Checks)
			}
			var failing []string
			for _, c := range rep.Checks {
				if !c.Pass {
					failing = append(failing, c.Name)
				}
			}
			if !slices.Equal(failing, tt.failing) {
				t.Errorf("failing checks = %v, want %v", failing, tt.failing)
			}
			if rep.BytesIn != rep.Requests*1000 {
				t.Errorf("BytesIn = %d, want %d: the body cap of 1000 was not applied", rep.BytesIn, rep.Requests*1000)
			}
		})
	}
}

func TestRunAgainstADownTargetFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	rep, err := Run(t.Context(), spec("http://"+addr, "GET /", 10, time.Second), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Requests == 0 || rep.StatusCodes["0"] != int(rep.Requests) {
		t.Errorf("Requests = %d, StatusCodes = %v; want requests, all without a response", rep.Requests, rep.StatusCodes)
	}
	if rep.Verdict != VerdictFail || rep.Success != 0 {
		t.Errorf("Verdict = %q, Success = %v; want fail, 0", rep.Verdict, rep.Success)
	}
	if c, _ := check(rep, CheckSuccesses); c.Pass {
		t.Errorf("successes check passed: %+v", c)
	}
	if len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0], "refused") {
		t.Errorf("Errors = %q, want connection refused", rep.Errors)
	}
}

func TestRunCancelReturnsPromptlyWithAPartialReport(t *testing.T) {
	var hanging atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			hanging.Add(1)
			defer hanging.Add(-1)
			select {
			case <-r.Context().Done(): // the client gave up
			case <-release: // the test is over; lets srv.Close return if it failed
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Ten minutes of requests, some of which never answer within their
	// ten-minute timeout: only cancellation can end this run.
	s := spec(srv.URL, "GET /fast\nGET /hang", 20, 10*time.Minute)
	s.Timeout = 10 * time.Minute
	done := make(chan *Report, 1)
	go func() {
		rep, err := Run(ctx, s, func(Window) { cancel() })
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- rep
	}()

	var rep *Report
	select {
	case rep = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of being canceled")
	}
	if rep == nil {
		t.Fatal("Run returned no report")
	}
	if !rep.Canceled || rep.Verdict != VerdictFail {
		t.Errorf("Canceled = %v, Verdict = %q; want true, fail", rep.Canceled, rep.Verdict)
	}
	if c, _ := check(rep, CheckCompleted); c.Pass || c.Got != "canceled" {
		t.Errorf("completed check = %+v, want a failure saying canceled", c)
	}
	if rep.Requests == 0 || rep.StatusCodes["200"] == 0 {
		t.Errorf("partial report has Requests = %d, StatusCodes = %v; want the fast responses of the first second", rep.Requests, rep.StatusCodes)
	}
	if len(rep.Windows) == 0 {
		t.Error("partial report has no windows")
	}
	// Requests in flight were aborted, not left to their ten-minute timeout.
	for deadline := time.Now().Add(30 * time.Second); hanging.Load() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still in flight 30s after cancel", hanging.Load())
		}
	}
}

func TestRunRedirects(t *testing.T) {
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
	}))
	defer other.Close()
	var okHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/", http.StatusFound)
	})
	mux.HandleFunc("/home", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { okHits.Add(1) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	t.Run("a redirect to another host is refused and one on the same host followed", func(t *testing.T) {
		rep, err := Run(t.Context(), spec(srv.URL, "GET /away\nGET /home", 10, time.Second), nil)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := otherHits.Load(); n != 0 {
			t.Errorf("the other host got %d requests, want 0", n)
		}
		if okHits.Load() == 0 || rep.StatusCodes["200"] == 0 {
			t.Errorf("same-host redirect not followed: /ok hits %d, StatusCodes %v", okHits.Load(), rep.StatusCodes)
		}
		if rep.StatusCodes["0"] == 0 || len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0], ErrRedirectRefused.Error()) {
			t.Errorf("StatusCodes = %v, Errors = %q; want the refused redirects counted as errors", rep.StatusCodes, rep.Errors)
		}
	})
	t.Run("a redirect to an allowed host is followed", func(t *testing.T) {
		s := spec(srv.URL, "GET /away", 10, time.Second)
		s.AllowHosts = []string{strings.TrimPrefix(other.URL, "http://")}
		rep, err := Run(t.Context(), s, nil)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if otherHits.Load() == 0 || rep.Success != 1 {
			t.Errorf("other host hits = %d, Success = %v; want the redirects followed", otherHits.Load(), rep.Success)
		}
	})
}

func TestRunRefusesAnInvalidSpec(t *testing.T) {
	_, err := Run(t.Context(), spec(base, "GET http://evil.test/", 10, time.Second), nil)
	var te *TargetError
	if !errors.As(err, &te) || te.Line != 1 {
		t.Errorf("Run = %v, want the *TargetError of line 1", err)
	}
}

func TestPacer(t *testing.T) {
	tests := []struct {
		name         string
		s            Spec
		atStart, end float64
	}{
		{"a constant pacer keeps its rate", Spec{Rate: 40, Duration: 10 * time.Second}, 40, 40},
		{"a fractional constant rate survives", Spec{Rate: 2.5, Duration: 10 * time.Second}, 2.5, 2.5},
		{"a linear pacer ramps up to rate_to at the end", Spec{Pacer: PacerLinear, Rate: 10, RateTo: 50, Duration: 4 * time.Second}, 10, 50},
		{"a linear pacer ramps down too", Spec{Pacer: PacerLinear, Rate: 50, RateTo: 5, Duration: 9 * time.Second}, 50, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pacer(tt.s)
			if got := p.Rate(0); !near(got, tt.atStart) {
				t.Errorf("Rate(0) = %v, want %v", got, tt.atStart)
			}
			if got := p.Rate(tt.s.Duration); !near(got, tt.end) {
				t.Errorf("Rate(end) = %v, want %v", got, tt.end)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
