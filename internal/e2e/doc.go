// Package e2e runs the real slipway binary for end-to-end tests: it builds
// ./cmd/slipway once per test binary, starts portals as processes on
// loopback with a fresh data directory, runs operator subcommands against
// them, and drives them with a headless Chromium through chromedp.
//
// A test package uses it like this:
//
//	func TestMain(m *testing.M) { os.Exit(e2e.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		p := e2e.StartPortal(t, e2e.Options{})
//		ctx := e2e.NewBrowser(t)
//		if err := e2e.Login(ctx, p, "admin", p.AdminPassword); err != nil {
//			t.Fatal(err)
//		}
//		e2e.Screenshot(t, ctx, "dashboard")
//	}
//
// Screenshots land in <module root>/e2e-screenshots/<TestName>/, which git
// ignores.
package e2e
