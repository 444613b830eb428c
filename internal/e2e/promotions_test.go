package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testkit"
)

// addUser creates a user with the CLI.
func addUser(t *testing.T, p *Portal, name, role, password string) {
	t.Helper()
	if r := p.CLIInput(password+"\n", "user", "add", name, "--role", role, "--password-stdin"); r.ExitCode != 0 {
		t.Fatalf("user add %s: %s", name, r)
	}
}

// promotionJSON reads GET /api/v1/promotions/:id with a bearer token.
func promotionJSON(t *testing.T, p *Portal, token, id string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+"/api/v1/promotions/"+id, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("GET promotion %s: %d %s", id, resp.StatusCode, raw)
	}
	return out
}

// TestBrowserPromotionToProductionWithApproval: staging runs a build; a
// developer promotes it to production; a lead sees it arrive in the
// approvals count without a reload, reviews it from the inbox and
// approves; production goes live with the same artifact.
func TestBrowserPromotionToProductionWithApproval(t *testing.T) {
	p := StartPortal(t, Options{})
	_, v2 := seedDeployable(t, p)
	addUser(t, p, "dev1", "developer", "dev1-password-123")
	addUser(t, p, "lead1", "lead", "lead1-password-123")
	tok := p.CLI("token", "create", "--user", "admin")
	if tok.ExitCode != 0 {
		t.Fatalf("token create: %s", tok)
	}
	adminToken := strings.TrimSpace(tok.Stdout)

	admin := NewBrowser(t)
	must(t, Login(admin, p, "admin", p.AdminPassword))
	deployFromPage(t, admin, p.URL+"/projects/shop/environments/staging", v2)

	// The lead waits on the inbox with nothing to approve.
	lead := NewBrowser(t)
	must(t, Login(lead, p, "lead1", "lead1-password-123"))
	must(t, Visit(lead, p.URL+"/approvals"))
	if n, err := TextOf(lead, "approvals-count"); err != nil || n != "0" {
		t.Fatalf("the lead's count starts at %q (%v), want 0", n, err)
	}

	// The developer promotes staging's live release.
	dev := NewBrowser(t)
	must(t, Login(dev, p, "dev1", "dev1-password-123"))
	must(t, Visit(dev, p.URL+"/projects/shop/environments/staging"))
	must(t, WaitTestID(dev, "promote"))
	Screenshot(t, dev, "staging-offers-promote")
	must(t, ClickAndLoad(dev, TestID("promote")))
	status, err := TextOf(dev, "promotion-status")
	must(t, err)
	if !strings.Contains(status, "pending") {
		t.Fatalf("the new promotion reads %q, want pending", status)
	}
	refusal, err := TextOf(dev, "decide-refusal")
	must(t, err)
	if !strings.Contains(refusal, "lead or admin") {
		t.Errorf("the developer is told who approves: %q", refusal)
	}
	Screenshot(t, dev, "promotion-pending")
	loc, err := Location(dev)
	must(t, err)
	id := strings.TrimPrefix(loc, p.URL+"/promotions/")

	// Without a reload, the lead's count goes to 1 (htmx polls every 10 s).
	testkit.Eventually(t, 30*time.Second, func() bool {
		n, err := TextOf(lead, "approvals-count")
		return err == nil && n == "1"
	}, "the lead's approval count shows the new promotion")
	Screenshot(t, lead, "count-arrived-without-reload")
	must(t, Visit(lead, p.URL+"/approvals"))
	must(t, WaitTestID(lead, "review-"+id))
	Screenshot(t, lead, "inbox")
	must(t, ClickAndLoad(lead, TestID("review-"+id)))
	must(t, WaitTestID(lead, "decide-form"))
	must(t, Fill(lead, "#f-comment", "Checked the commits and the configuration."))
	Screenshot(t, lead, "promotion-evidence")
	must(t, ClickAndLoad(lead, TestID("approve")))

	testkit.Eventually(t, 60*time.Second, func() bool {
		got := promotionJSON(t, p, adminToken, id)
		if got["status"] == "failed" {
			t.Fatalf("the production deploy failed: %v", got["status_reason"])
		}
		return got["status"] == "deployed"
	}, "the promotion is deployed")
	must(t, Visit(lead, p.URL+"/promotions/"+id))
	status, err = TextOf(lead, "promotion-status")
	must(t, err)
	if !strings.Contains(status, "deployed") {
		t.Errorf("the promotion page reads %q, want deployed", status)
	}
	Screenshot(t, lead, "promotion-deployed")

	// Production serves the same artifact staging runs.
	must(t, Visit(lead, p.URL+"/projects/shop/environments/production"))
	prodSHA, err := TextOf(lead, "live-sha")
	must(t, err)
	if body := envBody(t, lead); !strings.HasPrefix(body, "v2") {
		t.Fatalf("production answers %q, want the v2 app", body)
	}
	must(t, Visit(lead, p.URL+"/projects/shop/environments/staging"))
	stagingSHA, err := TextOf(lead, "live-sha")
	must(t, err)
	if prodSHA != stagingSHA {
		t.Fatalf("production runs %s, staging %s: a promotion must move the same artifact", prodSHA, stagingSHA)
	}
	Screenshot(t, lead, "staging-after")
}
