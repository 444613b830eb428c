package e2e

import (
	"fmt"
	"github.com/slipway-ci/slipway/internal/testkit"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBrowserLeadDashboardShowsWaitingPromotion: staging runs a build and
// a promotion to protected production waits for a lead. The lead signs in
// and the dashboard itself lists that promotion, linked to its page, and
// shows what is live where.
func TestBrowserLeadDashboardShowsWaitingPromotion(t *testing.T) {
	p := StartPortal(t, Options{})
	_, b2 := seedDeployable(t, p)
	a := newAPIClient(t, p)
	var rel struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	a.do(http.MethodPost, "/api/v1/projects/shop/environments/staging/deploys", map[string]any{"build_id": b2}, &rel, http.StatusCreated)
	Until(t, "the staging release goes live", 90*time.Second, 200*time.Millisecond, func() (bool, string, error) {
		a.do(http.MethodGet, "/api/v1/releases/"+strconv.FormatInt(rel.ID, 10), nil, &rel, http.StatusOK)
		if rel.Status == "failed" {
			return false, "", fmt.Errorf("the staging deploy failed")
		}
		return rel.Status == "live", "status " + rel.Status, nil
	})
	// The lead's dashboard is open, scrolled down a little, with nothing
	// waiting; then a promotion is created in the background.
	addUser(t, p, "lead1", "lead", "lead1-password-123")
	lead := NewBrowser(t)
	must(t, Login(lead, p, "lead1", "lead1-password-123"))
	must(t, Visit(lead, p.URL+"/"))
	must(t, WaitTestID(lead, "home-empty"))
	if n, err := TextOf(lead, "approvals-count"); err != nil || n != "0" {
		t.Fatalf("the lead's count starts at %q (%v), want 0", n, err)
	}
	scrolled := evalJS[int](t, lead, `(() => { document.body.style.minHeight = "3000px"; window.__notReloaded = true; window.scrollTo(0, 120); return Math.round(window.scrollY); })()`)
	var promo struct {
		ID int64 `json:"id"`
	}
	a.do(http.MethodPost, "/api/v1/projects/shop/environments/staging/promote", nil, &promo, http.StatusCreated)
	id := strconv.FormatInt(promo.ID, 10)
	testkit.Eventually(t, 30*time.Second, func() bool {
		ok, err := HasTestID(lead, "home-promotion-"+id)
		n, _ := TextOf(lead, "approvals-count")
		return err == nil && ok && n == "1"
	}, "the open dashboard lists the new promotion and the nav counts it")
	if !evalJS[bool](t, lead, `window.__notReloaded === true`) {
		t.Error("the dashboard reloaded to show the promotion")
	}
	if y := evalJS[int](t, lead, `Math.round(window.scrollY)`); y != scrolled || scrolled == 0 {
		t.Errorf("the refresh moved the page from scroll %d to %d", scrolled, y)
	}
	Screenshot(t, lead, "promotion-arrived-without-reload")
	row, err := TextOf(lead, "home-promotion-"+id)
	must(t, err)
	if !strings.Contains(row, "staging → production") || !strings.Contains(row, "0 of 1 approvals") {
		t.Errorf("the dashboard's waiting promotion reads %q", row)
	}
	live, err := TextOf(lead, "home-env-shop-staging")
	must(t, err)
	if !strings.Contains(live, "build #2") {
		t.Errorf("what is live in staging reads %q, want build #2", live)
	}
	for _, gone := range []string{"home-builds", "home-loadtests"} {
		if ok, err := HasTestID(lead, gone); err != nil || ok {
			t.Errorf("a lead's dashboard shows %s (%v)", gone, err)
		}
	}
	Screenshot(t, lead, "lead-dashboard")
	phone(t, lead)
	must(t, Visit(lead, p.URL+"/"))
	Screenshot(t, lead, "lead-dashboard-phone")
	must(t, ClickAndLoad(lead, TestID("home-review-"+id)))
	loc, err := Location(lead)
	must(t, err)
	if loc != p.URL+"/promotions/"+id {
		t.Fatalf("Review led to %s, want the promotion", loc)
	}
	must(t, WaitTestID(lead, "decide-form"))
}
