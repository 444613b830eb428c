package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestDashboardHomeRefreshesItself: the dashboard's sections poll
// /dashboard/home with the signature they show; the answer is 204 while
// nothing changed and the new sections once a promotion starts waiting.
func TestDashboardHomeRefreshesItself(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	sig := func(body string) string {
		t.Helper()
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		must(t, err)
		el := doc.Find(`#dashboard-home`)
		s, _ := el.Attr("data-signature")
		if get, _ := el.Attr("hx-get"); s == "" || get != "/dashboard/home?since="+s {
			t.Fatalf("the sections carry signature %q and poll %q", s, get)
		}
		return s
	}
	poll := func(since string) (int, string) {
		resp, body := f.ts.do(http.MethodGet, "/dashboard/home?since="+since, reqOpts{session: f.session["lena"]})
		return resp.StatusCode, body
	}

	_, page := f.ts.do(http.MethodGet, "/", reqOpts{session: f.session["lena"]})
	before := sig(page)
	if code, body := poll(before); code != http.StatusNoContent || body != "" {
		t.Fatalf("nothing changed, the poll answered %d %q, want 204", code, body)
	}

	_, _, promo := f.promote(t, viaAPI, "dora", "staging")
	code, body := poll(before)
	if code != http.StatusOK || !strings.Contains(body, `data-testid="home-promotion-`+itoa(promo)+`"`) || strings.Contains(body, "<html") {
		t.Fatalf("after a promotion the poll answered %d, want the sections with it: %s", code, body)
	}
	after := sig(body)
	if after == before {
		t.Fatal("the signature did not change with the sections")
	}
	if code, _ := poll(after); code != http.StatusNoContent {
		t.Errorf("polling with the new signature answered %d, want 204", code)
	}

	// Signed out, the poll is refused like any page.
	resp, _ := f.ts.do(http.MethodGet, "/dashboard/home?since="+after, reqOpts{})
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent {
		t.Errorf("a signed-out poll answered %d", resp.StatusCode)
	}
}
