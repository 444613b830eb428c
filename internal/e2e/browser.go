package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/testpg"
)

const (
	// browserTimeout bounds one test's whole browser session.
	browserTimeout = 3 * time.Minute
	// stepTimeout bounds one helper (a navigation, a wait, a click).
	stepTimeout = 15 * time.Second
	// ScreenshotDir is the folder under the module root that receives
	// screenshots; git ignores it.
	ScreenshotDir = "e2e-screenshots"
)

// debianChromium is where Debian's chromium package puts the browser.
const debianChromium = "/usr/bin/chromium"

type sessionKey struct{}

// session is per-browser state the helpers share through the context.
type session struct {
	shotDir string
	shots   atomic.Int32

	mu      sync.Mutex
	console []string // errors and exceptions the pages reported
}

// NewBrowser starts a headless Chromium for this test and returns its
// chromedp context. It skips (or fails under SLIPWAY_REQUIRE_ALL=1) when
// Chromium is not installed. The browser closes at cleanup; console errors
// the pages reported are logged then, and uncaught exceptions fail the test.
// It also empties this test's screenshot folder.
func NewBrowser(t testing.TB) context.Context {
	t.Helper()
	return NewBrowserFor(t, browserTimeout)
}

// NewBrowserFor is NewBrowser for a session that may last up to d, for
// journeys longer than the default three minutes.
func NewBrowserFor(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		testpg.SkipOrFail(t, "chromium not installed (apt-get install -y chromium)")
	}
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		// Exactly these flags: without the background-networking ones
		// Chromium keeps trying to reach the internet.
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	root, cancelRoot := context.WithTimeout(context.Background(), d)
	actx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)

	s := &session{shotDir: screenshotDir(t)}
	ctx = context.WithValue(ctx, sessionKey{}, s)
	clearStaleScreenshots(t, s.shotDir)

	// Start the browser now, so a broken install fails here and not in the
	// middle of a test.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		cancelRoot()
		t.Fatalf("e2e: start chromium %s: %v", path, err)
	}
	messages := chromedp.Console(ctx)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				s.mu.Lock()
				s.console = append(s.console, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // waits for the browser process to exit
		cancelRoot()
		<-collected
		for _, m := range ConsoleErrors(ctx) {
			if strings.HasPrefix(m, string(chromedp.ConsoleException)+":") {
				t.Errorf("e2e: uncaught exception in the page: %s", m)
			} else {
				t.Logf("e2e: browser console: %s", m)
			}
		}
		// Chromium's helpers can write to the profile for a moment after
		// the main process is gone; remove it before t.TempDir tries.
		removeWithRetry(profile)
	})
	return ctx
}

// ConsoleErrors returns the console errors and uncaught exceptions the
// browser's pages have reported so far, as "type: text (url:line)".
func ConsoleErrors(ctx context.Context) []string {
	s := sessionFrom(ctx)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.console...)
}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

func findChromium() string {
	if fi, err := os.Stat(debianChromium); err == nil && !fi.IsDir() {
		return debianChromium
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// processStart is when this test binary started: screenshots older than it
// are from an earlier run.
var processStart = time.Now()

// clearStaleScreenshots removes the screenshots an earlier run left in dir,
// and keeps those this run has taken (a test may open several browsers).
func clearStaleScreenshots(t testing.TB, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // no folder yet
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(processStart) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Logf("e2e: clear screenshots: %v", err)
		}
	}
}

func removeWithRetry(dir string) {
	for i := 0; i < 20; i++ {
		if os.RemoveAll(dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func screenshotDir(t testing.TB) string {
	root, err := ModuleRoot()
	if err != nil {
		root = os.TempDir()
	}
	return filepath.Join(root, ScreenshotDir, unsafeName.ReplaceAllString(t.Name(), "_"))
}

// Screenshot saves a full-page PNG of the current page as
// <module root>/e2e-screenshots/<TestName>/<NN>-<name>.png, numbering the
// shots of a test in order. A failure to capture fails the test.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	s := sessionFrom(ctx)
	if s == nil {
		t.Fatalf("e2e: Screenshot needs a context from NewBrowser")
	}
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("e2e: screenshot %q: %v", name, err)
	}
	if err := os.MkdirAll(s.shotDir, 0o755); err != nil {
		t.Fatalf("e2e: screenshot %q: %v", name, err)
	}
	n := s.shots.Add(1)
	path := filepath.Join(s.shotDir, fmt.Sprintf("%02d-%s.png", n, unsafeName.ReplaceAllString(name, "-")))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("e2e: screenshot %q: %v", name, err)
	}
	return path
}

// TestID selects the element with data-testid="id".
func TestID(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf("[data-testid=%q]", id))
}

// step runs actions with the per-step timeout.
func step(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Visit opens url and waits for the page to load.
func Visit(ctx context.Context, url string) error {
	err := step(ctx, chromedp.Navigate(url))
	for try := 0; try < 3 && err != nil && strings.Contains(err.Error(), "net::ERR_ABORTED"); try++ {
		// The page reloaded itself (a live page does when its run or
		// deploy ends) while we navigated: the navigation was cut short,
		// as a user's click would be; go again.
		time.Sleep(300 * time.Millisecond)
		err = step(ctx, chromedp.Navigate(url))
	}
	if err != nil {
		return fmt.Errorf("e2e: visit %s: %w", url, err)
	}
	return nil
}

// ClickAndLoad clicks sel and waits for the page the click leads to (a
// submitted form, a link) to load.
func ClickAndLoad[S chromedp.Selectable](ctx context.Context, sel S) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(sel, chromedp.NodeVisible)))
	if err != nil {
		return fmt.Errorf("e2e: click %v and wait for the next page: %w", sel, err)
	}
	return nil
}

// WaitTestID waits until the element with data-testid="id" is visible.
func WaitTestID(ctx context.Context, id string) error {
	if err := step(ctx, chromedp.WaitVisible(TestID(id))); err != nil {
		return fmt.Errorf("e2e: wait for data-testid=%q: %w", id, err)
	}
	return nil
}

// TextOf waits for the element with data-testid="id" and returns its
// visible text, trimmed.
func TextOf(ctx context.Context, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for {
		s, err := chromedp.Run(ctx, chromedp.Text(TestID(id), chromedp.NodeVisible))
		if err == nil {
			return strings.TrimSpace(s), nil
		}
		// A live page may swap the region holding the node between finding
		// it and reading it: find it again.
		if strings.Contains(err.Error(), "No node with given id") && ctx.Err() == nil {
			continue
		}
		return "", fmt.Errorf("e2e: text of data-testid=%q: %w", id, err)
	}
}

// HasTestID reports whether the current page has an element with
// data-testid="id", without waiting.
func HasTestID(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	js := fmt.Sprintf("document.querySelector(%q) !== null", fmt.Sprintf("[data-testid=%q]", id))
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		return false, fmt.Errorf("e2e: look for data-testid=%q: %w", id, err)
	}
	return ok, nil
}

// Location returns the URL of the current page.
func Location(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Location())
}

// PageHTML returns the current document's outer HTML.
func PageHTML(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
}

// Fill clears the input that the CSS selector sel finds and types value
// into it.
func Fill(ctx context.Context, sel, value string) error {
	// SetValue(sel, "") cannot clear: chromedp drops the empty argument and
	// the field then reads "undefined". Clear it from JavaScript instead.
	clear := fmt.Sprintf("document.querySelector(%q).value = ''", sel)
	if err := step(ctx,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](clear),
		chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible),
	); err != nil {
		return fmt.Errorf("e2e: fill %s: %w", sel, err)
	}
	return nil
}

// LoginError is returned by Login when the form answered with an error.
type LoginError struct {
	// Message is the text the form showed.
	Message string
}

func (e *LoginError) Error() string { return "e2e: login refused: " + e.Message }

// Login opens the portal's sign-in page, submits user and pass, and waits
// for the next page. It returns a *LoginError carrying the form's message
// when the portal refused, and nil once a signed-in page shows the current
// user.
func Login(ctx context.Context, p *Portal, user, pass string) error {
	if err := Visit(ctx, p.URL+"/login"); err != nil {
		return err
	}
	if err := step(ctx, chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		return fmt.Errorf("e2e: login form: %w", err)
	}
	if err := Fill(ctx, "#username", user); err != nil {
		return err
	}
	if err := Fill(ctx, "#password", pass); err != nil {
		return err
	}
	if err := ClickAndLoad(ctx, chromedp.CSS(`[data-testid="login-form"] button[type="submit"]`)); err != nil {
		return err
	}
	failed, err := HasTestID(ctx, "login-error")
	if err != nil {
		return err
	}
	if failed {
		msg, err := TextOf(ctx, "login-error")
		if err != nil {
			return err
		}
		return &LoginError{Message: msg}
	}
	return WaitTestID(ctx, "current-user")
}
