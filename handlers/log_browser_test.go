package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/models"
)

// browserLogin signs the viewer in through the login form.
func (ls *logServer) browserLogin(t testing.TB, ctx context.Context) {
	t.Helper()
	if err := e2e.Visit(ctx, ls.srv.URL+"/login"); err != nil {
		t.Fatal(err)
	}
	if err := e2e.Fill(ctx, "#username", "viewer"); err != nil {
		t.Fatal(err)
	}
	if err := e2e.Fill(ctx, "#password", "password-viewer"); err != nil {
		t.Fatal(err)
	}
	if err := e2e.ClickAndLoad(ctx, chromedp.CSS(`[data-testid="login-form"] button[type="submit"]`)); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(cctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is true.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !eval[bool](t, ctx, js) {
		if time.Now().After(deadline) {
			e2e.Screenshot(t, ctx, "timeout")
			t.Fatalf("timed out waiting for %s (%s)", what, js)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// xssLines are what a hostile build prints.
var xssLines = []string{
	`<script>window.__xss=1</script>`,
	`<img src=x onerror="window.__xss=1">`,
	"\x1b[31m<script>window.__xss=1</script>\x1b[0m",
	"\x1b[1;32m<img src=x onerror=\"window.__xss=1\">\x1b[0m",
	"\x1b]8;;javascript:window.__xss=1\x07click me\x1b]8;;\x07",
	"\x1b]1338;url=x;alt=\"><img src=x onerror=window.__xss=1>\x07",
}

// xssText is what each of xssLines must read as on the page.
var xssText = []string{
	`<script>window.__xss=1</script>`,
	`<img src=x onerror="window.__xss=1">`,
	`<script>window.__xss=1</script>`,
	`<img src=x onerror="window.__xss=1">`,
	"click me",
	"",
}

// TestLogViewerShowsHostileOutputAsTextInChromium prints markup (plain
// and wrapped in ANSI colours, links and images) through every way lines
// reach the page — the server-rendered page, the live socket, and pages
// loaded on demand — and checks it reads as text and runs nothing.
func TestLogViewerShowsHostileOutputAsTextInChromium(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildRunning, 0,
		models.BuildStep{Name: `<img src=x onerror="window.__xss=1">`, Status: models.BuildRunning, FirstLine: 1})
	ctx := context.Background()
	w, err := ls.logs.NewWriter(ctx, b.LogStream())
	if err != nil {
		t.Fatal(err)
	}
	// Lines 1–6 fall outside the first page: they load on demand.
	for _, l := range xssLines {
		w.Line(l)
	}
	for i := range 1500 {
		w.Line(fmt.Sprintf("filler %d", i+1))
	}
	// Lines 1507–1512 are on the server-rendered page.
	for _, l := range xssLines {
		w.Line(l)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	bctx := e2e.NewBrowser(t)
	ls.browserLogin(t, bctx)
	if err := e2e.Visit(bctx, fmt.Sprintf("%s/builds/%d", ls.srv.URL, b.ID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the viewer to start", `document.querySelector(".log-js") !== null && document.getElementById("L1512") !== null`)

	// Lines 1513–1518 arrive live over the socket.
	for _, l := range xssLines {
		w.Line(l)
	}
	waitJS(t, bctx, "the live lines", `document.getElementById("L1518") !== null`)
	// Lines 1–6: the permalink loads their page.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#L3"`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the permalinked page", `document.getElementById("L1") !== null && document.getElementById("L3").classList.contains("log-hl")`)
	// And the socket's lines once more, now paged back in from the server.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#L1516"`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the live lines paged in", `document.getElementById("L1516") !== null && document.getElementById("L1516").classList.contains("log-hl")`)
	e2e.Screenshot(t, bctx, "hostile-output")

	// Server-rendered lines (1507–1512) and live ones (1513–1518), as
	// paged back in; then the first page again.
	for _, base := range []int{1506, 1512} {
		for i, want := range xssText {
			n := base + i + 1
			got := eval[string](t, bctx, fmt.Sprintf(`(document.querySelector("#L%d .log-t") || {}).textContent ?? "missing"`, n))
			if got != want {
				t.Errorf("line %d reads %q, want %q", n, got, want)
			}
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](`location.hash = "#L2"`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the first lines again", `document.getElementById("L2") !== null && document.getElementById("L2").classList.contains("log-hl")`)
	for i, want := range xssText {
		got := eval[string](t, bctx, fmt.Sprintf(`(document.querySelector("#L%d .log-t") || {}).textContent ?? "missing"`, i+1))
		if got != want {
			t.Errorf("line %d reads %q, want %q", i+1, got, want)
		}
	}
	for _, check := range []struct{ what, js string }{
		{"window.__xss is undefined", `typeof window.__xss === "undefined"`},
		{"the log holds no script, img or link elements", `document.querySelectorAll("[data-log-box] script, [data-log-box] img, .log-t a").length === 0`},
		{"the step's name is text", `document.querySelector("[data-log-steps]").textContent.includes('<img src=x onerror="window.__xss=1">')`},
		{"no img anywhere on the page", `document.querySelectorAll("img").length === 0`},
	} {
		if !eval[bool](t, bctx, check.js) {
			t.Errorf("%s: false", check.what)
		}
	}
	if err := w.Close(ctx, models.BuildFailed); err != nil {
		t.Fatal(err)
	}
}

// TestLogViewerFollowsALiveBuild: the log follows the end while the build
// runs, a click on a line number makes a permalink, search finds lines
// anywhere, and the end of the build shows its status.
func TestLogViewerFollowsALiveBuild(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildRunning, 0,
		models.BuildStep{Name: "checkout", Status: models.BuildSucceeded, FirstLine: 1, LastLine: 3, DurationMS: 800},
		models.BuildStep{Name: "test", Status: models.BuildRunning, FirstLine: 4})
	ctx := context.Background()
	w, err := ls.logs.NewWriter(ctx, b.LogStream())
	if err != nil {
		t.Fatal(err)
	}
	w.Line("cloning")
	w.Line("checked out 0123456")
	w.Line("done")
	w.Line("\x1b[32m=== RUN\x1b[0m TestA")
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	bctx := e2e.NewBrowser(t)
	ls.browserLogin(t, bctx)
	if err := e2e.Visit(bctx, fmt.Sprintf("%s/builds/%d", ls.srv.URL, b.ID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the viewer to follow", `document.querySelector("[data-log-follow]").checked`)
	for i := range 400 {
		w.Line(fmt.Sprintf("ok  pkg/%d  0.%03ds", i, i))
	}
	w.Line("needle in the haystack")
	waitJS(t, bctx, "the live lines", `document.getElementById("L405") !== null`)
	waitJS(t, bctx, "the box to stay at the end", `(() => { const b = document.querySelector("[data-log-box]"); return b.scrollHeight - b.scrollTop - b.clientHeight < 5 })()`)
	if got := eval[int](t, bctx, `document.querySelectorAll("details.log-step").length`); got != 2 {
		t.Errorf("%d step sections, want 2 (checkout, test)", got)
	}
	e2e.Screenshot(t, bctx, "following")

	// A click on a line number: permalink and highlight, following stops.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#L2 .log-n"), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the permalink", `location.hash === "#L2" && document.getElementById("L2").classList.contains("log-hl") && !document.querySelector("[data-log-follow]").checked`)

	// Search.
	if err := e2e.Fill(bctx, "#log-search-q", "NEEDLE"); err != nil {
		t.Fatal(err)
	}
	// requestSubmit, as pressing Enter does (form.submit() would skip the
	// script and run the no-JS search).
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-log-search-form]").requestSubmit()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the search result", `document.querySelector("[data-log-search-count]").textContent === "1 of 1" && location.hash === "#L405" && document.querySelector("#L405 mark.log-mark") !== null`)

	// Collapsing a step hides its lines.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`details.log-step summary`), chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the step to collapse", `!document.querySelector("details.log-step").open && !document.getElementById("L2").checkVisibility()`)

	if err := w.Close(ctx, models.BuildSucceeded); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the end of the build", `document.querySelector("[data-logview]").dataset.ended === "true" && document.querySelector("[data-log-status] [data-status]").dataset.status === "succeeded"`)
	e2e.Screenshot(t, bctx, "ended")
	if got := eval[string](t, bctx, `document.querySelector("[data-testid=log-range]").textContent`); !strings.Contains(got, "of 405") {
		t.Errorf("range reads %q, want it to count 405 lines", got)
	}
}

// TestLogViewerOnAMillionLines: a finished 1,000,000-line log opens on its
// end, keeps a bounded number of lines in the DOM, and loads earlier
// lines as the reader scrolls up (dropping the far end).
func TestLogViewerOnAMillionLines(t *testing.T) {
	const total = 1_000_000
	ls := newLogServer(t, models.Config{})
	b := insertBuild(t, ls.store, models.BuildSucceeded, time.Minute)
	writeMillion(t, ls, b.LogStream(), total)

	bctx := e2e.NewBrowser(t)
	ls.browserLogin(t, bctx)
	if err := e2e.Visit(bctx, fmt.Sprintf("%s/builds/%d", ls.srv.URL, b.ID)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, bctx, "the tail", `document.querySelector(".log-js") !== null && document.getElementById("L1000000") !== null`)
	const boxJS = `document.querySelector("[data-log-box]")`
	waitJS(t, bctx, "the end to be in view", `(() => { const b = `+boxJS+`; const r = document.getElementById("L1000000").getBoundingClientRect(), br = b.getBoundingClientRect(); return r.bottom <= br.bottom + 1 && r.top >= br.top })()`)
	e2e.Screenshot(t, bctx, "tail")
	countJS := `document.querySelectorAll("[data-log-box] .log-line").length`
	firstJS := `+document.querySelector("[data-log-box] .log-line").id.slice(1)`
	if n := eval[int](t, bctx, countJS); n != 1000 {
		t.Fatalf("%d lines in the DOM at first, want the last 1000", n)
	}
	first := eval[int](t, bctx, firstJS)
	for range 4 {
		if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](boxJS+`.scrollTop = 0`)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, bctx, "earlier lines", fmt.Sprintf(`%s < %d`, firstJS, first))
		first = eval[int](t, bctx, firstJS)
		if n := eval[int](t, bctx, countJS); n > 3000 {
			t.Fatalf("%d lines in the DOM, want at most 3000", n)
		}
	}
	if first > total-4000 {
		t.Fatalf("first line in the DOM is %d after four scrolls up, want at most %d", first, total-4000)
	}
	if eval[bool](t, bctx, `document.getElementById("L1000000") !== null`) {
		t.Fatal("the far end is still in the DOM: lines are not dropped")
	}
	e2e.Screenshot(t, bctx, "scrolled-up")
}

// writeMillion writes total numbered lines through the log service, a
// thousand per Line call (Line splits them), and closes the stream.
func writeMillion(t testing.TB, ls *logServer, stream string, total int) {
	t.Helper()
	ctx := context.Background()
	w, err := ls.logs.NewWriter(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for i := 1; i <= total; i++ {
		fmt.Fprintf(&sb, "\x1b[32mok\x1b[0m  step output line %d\n", i)
		if i%1000 == 0 {
			w.Line(sb.String())
			sb.Reset()
		}
	}
	if err := w.Close(ctx, models.BuildSucceeded); err != nil {
		t.Fatal(err)
	}
}
