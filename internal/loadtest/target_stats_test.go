package loadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// A real attack on a loopback server where one target always fails: the
// report names which target failed, how often, and with what.
func TestRunBreaksErrorsDownPerTarget(t *testing.T) {
	var okHits, badHits, teapots atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			okHits.Add(1)
			w.Write([]byte("fine"))
		case "/broken":
			// Every third request answers 418, the rest 503: two messages,
			// the more frequent listed first.
			if badHits.Add(1)%3 == 0 {
				teapots.Add(1)
				w.WriteHeader(http.StatusTeapot)
				return
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	rep, err := Run(t.Context(), spec(srv.URL, "GET /ok\nPOST /broken\nGET /ok\nX-Other: header", 60, 2*time.Second), nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.Targets) != 2 {
		t.Fatalf("Targets = %+v, want 2 rows (the two GET /ok targets share one)", rep.Targets)
	}
	ok, bad := rep.Targets[0], rep.Targets[1]
	if ok.Method != "GET" || !strings.HasSuffix(ok.URL, "/ok") || bad.Method != "POST" || !strings.HasSuffix(bad.URL, "/broken") {
		t.Fatalf("targets out of order or misnamed: %s %s, %s %s", ok.Method, ok.URL, bad.Method, bad.URL)
	}
	if ok.Requests != uint64(okHits.Load()) || ok.Errors != 0 || len(ok.TopErrors) != 0 || ok.StatusCodes["200"] != int(ok.Requests) {
		t.Errorf("GET /ok = %+v; the server saw %d requests, all answered 200", ok, okHits.Load())
	}
	if bad.Requests != uint64(badHits.Load()) || bad.Errors != bad.Requests || bad.Requests == 0 {
		t.Errorf("POST /broken = %+v; the server saw %d requests, all failed", bad, badHits.Load())
	}
	if ok.Requests+bad.Requests != rep.Requests {
		t.Errorf("per-target requests %d + %d, report %d", ok.Requests, bad.Requests, rep.Requests)
	}
	if bad.StatusCodes["503"]+bad.StatusCodes["418"] != int(bad.Requests) || bad.StatusCodes["418"] != int(teapots.Load()) {
		t.Errorf("POST /broken status codes %v, want %d 418 and the rest 503", bad.StatusCodes, teapots.Load())
	}
	if len(bad.TopErrors) != 2 || !strings.Contains(bad.TopErrors[0].Message, "503") || !strings.Contains(bad.TopErrors[1].Message, "418") ||
		bad.TopErrors[0].Count+bad.TopErrors[1].Count != bad.Errors {
		t.Errorf("POST /broken top errors %+v, want 503 then 418 summing to %d", bad.TopErrors, bad.Errors)
	}

	// Stored as JSON and read back, the breakdown survives.
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Targets) != 2 || back.Targets[1].Errors != bad.Errors || back.Targets[1].TopErrors[0] != bad.TopErrors[0] {
		t.Errorf("after a JSON round trip Targets = %+v", back.Targets)
	}
}

// A target answering with ever new messages keeps a bounded breakdown: the
// distinct messages beyond the cap count together, and nothing is lost.
func TestTargetCountsBoundDistinctMessages(t *testing.T) {
	tc := newTargetCounts("GET", "http://x/")
	long := strings.Repeat("é", MaxErrorLen) // cut mid-rune must stay valid UTF-8
	tc.add(&vegeta.Result{Code: 0, Error: long})
	for i := range 3 * maxTargetDistinct {
		tc.add(&vegeta.Result{Code: 500, Error: fmt.Sprintf("boom %d", i)})
	}
	for range 10 {
		tc.add(&vegeta.Result{Code: 200})
	}
	s := tc.stats()
	if s.Requests != 3*maxTargetDistinct+11 || s.Errors != 3*maxTargetDistinct+1 {
		t.Fatalf("Requests %d, Errors %d", s.Requests, s.Errors)
	}
	if len(tc.messages) > maxTargetDistinct {
		t.Errorf("%d distinct messages kept, cap %d", len(tc.messages), maxTargetDistinct)
	}
	if len(s.TopErrors) != MaxTargetErrors || s.TopErrors[0].Message != OtherErrors || s.TopErrors[0].Count != 2*maxTargetDistinct+2 {
		t.Errorf("TopErrors = %+v, want %q first with %d", s.TopErrors, OtherErrors, 2*maxTargetDistinct+2)
	}
	for _, e := range s.TopErrors {
		if len(e.Message) > MaxErrorLen || !utf8.ValidString(e.Message) {
			t.Errorf("message %q longer than %d bytes or invalid UTF-8", e.Message, MaxErrorLen)
		}
	}
}
