package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

func TestBuildLogPageRendersTheTailWithoutJavaScript(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildFailed, time.Minute,
		models.BuildStep{Name: "checkout", Status: models.BuildSucceeded, FirstLine: 1, LastLine: 2, DurationMS: 1200},
		models.BuildStep{Name: "test", Status: models.BuildFailed, FirstLine: 3, LastLine: 2500, DurationMS: 65000})
	lines := numbered("line", 1, 2500)
	lines[2498] = "<script>window.__xss=1</script>"
	lines[2499] = "\x1b[31m<img src=x onerror=\"window.__xss=1\">\x1b[0m"
	writeLines(t, ls.logs, b.LogStream(), models.BuildFailed, lines...)
	page := fmt.Sprintf("/builds/%d", b.ID)

	t.Run("the tail page shows the last 1000 lines and links to earlier ones", func(t *testing.T) {
		resp, body := ls.do(http.MethodGet, page, reqOpts{session: ls.session})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, want := range []string{
			`id="L1501"`, `id="L2498"`,
			`href="/builds/` + fmt.Sprint(b.ID) + `?from=501#L1500"`, // load earlier, as a plain link
			"Lines 1501–2500 of 2500",
			`&lt;script&gt;window.__xss=1&lt;/script&gt;`,
			`<span class="term-fg31">&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;</span>`,
			`data-testid="log-raw"`, "1m 05s", `<summary class="log-step-head">`,
			`data-live="false"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		for _, bad := range []string{`id="L1500"`, "<script>window", "<img src=x"} {
			if strings.Contains(body, bad) {
				t.Errorf("page contains %q", bad)
			}
		}
		if n := strings.Count(body, `class="log-line"`); n != 1000 {
			t.Errorf("%d lines on the page, want 1000", n)
		}
	})
	t.Run("from shows an earlier page with a link to the next one", func(t *testing.T) {
		_, body := ls.do(http.MethodGet, page+"?from=1", reqOpts{session: ls.session})
		for _, want := range []string{`id="L1"`, `id="L1000"`, "?from=1001#L1001", "Lines 1–1000 of 2500", "checkout"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(body, "Load earlier lines") {
			t.Error("the first page offers earlier lines")
		}
	})
	t.Run("a search without JavaScript lists matching lines", func(t *testing.T) {
		_, body := ls.do(http.MethodGet, page+"?q=LINE+25", reqOpts{session: ls.session})
		for _, want := range []string{`data-testid="log-search-results"`, `?from=1#L25"`, `#L2500"`} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("a bad from is a bad request", func(t *testing.T) {
		resp, _ := ls.do(http.MethodGet, page+"?from=zero", reqOpts{session: ls.session})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}

func TestBuildLogLines(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildSucceeded, time.Minute)
	lines := numbered("line", 1, 3000)
	lines[9] = "\x1b[1m<b>bold</b>"
	writeLines(t, ls.logs, b.LogStream(), models.BuildSucceeded, lines...)
	base := fmt.Sprintf("/builds/%d/log/lines", b.ID)

	tests := []struct {
		name        string
		query       string
		status      int
		from, count int
		first       string
	}{
		{"without from it returns the tail", "", 200, 2001, 1000, "line 2001"},
		{"from and limit select a page", "?from=10&limit=5", 200, 10, 5, `<span class="term-fg1">&lt;b&gt;bold&lt;&#47;b&gt;</span>`},
		{"a limit with no from returns that much tail", "?limit=3", 200, 2998, 3, "line 2998"},
		{"from past the end returns nothing", "?from=5000", 200, 5000, 0, ""},
		{"a limit over the maximum is refused", "?limit=50000", 400, 0, 0, ""},
		{"a bad from is refused", "?from=x", 400, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ls.do(http.MethodGet, base+tt.query, reqOpts{session: ls.session})
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			var p linesPage
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatal(err)
			}
			if p.From != tt.from || len(p.Lines) != tt.count || p.Total != 3000 || !p.Closed || p.Status != "succeeded" {
				t.Fatalf("page from %d with %d lines (total %d, closed %v, %q), want from %d with %d", p.From, len(p.Lines), p.Total, p.Closed, p.Status, tt.from, tt.count)
			}
			if tt.count > 0 && p.Lines[0] != tt.first {
				t.Fatalf("first line %q, want %q", p.Lines[0], tt.first)
			}
		})
	}
}

func TestBuildLogSearch(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildSucceeded, time.Minute)
	lines := numbered("line", 1, 500)
	lines[99] = "\x1b[31mERR\x1b[0mOR: disk full"
	lines[399] = "an error again"
	writeLines(t, ls.logs, b.LogStream(), models.BuildSucceeded, lines...)
	base := fmt.Sprintf("/builds/%d/log/search", b.ID)

	tests := []struct {
		name   string
		query  string
		status int
		want   []int
	}{
		{"matches ignore case and colours", "?q=error", 200, []int{100, 400}},
		{"from skips earlier matches", "?q=error&from=101", 200, []int{400}},
		{"no match is an empty list", "?q=nothing+here", 200, []int{}},
		{"an empty query is refused", "?q=+", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ls.do(http.MethodGet, base+tt.query, reqOpts{session: ls.session})
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				return
			}
			var r searchResult
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.Matches) != fmt.Sprint(tt.want) || !r.Done {
				t.Fatalf("matches %v (done %v), want %v", r.Matches, r.Done, tt.want)
			}
		})
	}
}

func TestBuildLogDownload(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildSucceeded, time.Minute)
	lines := numbered("line", 1, 25000)
	lines[0] = "\x1b[32m<ok>\x1b[0m"
	writeLines(t, ls.logs, b.LogStream(), models.BuildSucceeded, lines...)
	resp, body := ls.do(http.MethodGet, fmt.Sprintf("/builds/%d/log.txt", b.ID), reqOpts{session: ls.session})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Disposition"); got != fmt.Sprintf(`attachment; filename=web-build-%d.log`, b.Number) {
		t.Errorf("Content-Disposition %q", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if want := strings.Join(lines, "\n") + "\n"; body != want {
		t.Fatalf("download is %d bytes, want the %d bytes of the log as printed", len(body), len(want))
	}
}
