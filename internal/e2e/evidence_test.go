package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

// apiDeploy queues a deploy through the API with a bearer token.
func apiDeploy(t *testing.T, p *Portal, token, env string, buildID int64) {
	t.Helper()
	body := `{"build_id":` + strconv.FormatInt(buildID, 10) + `}`
	req, err := http.NewRequest(http.MethodPost, p.URL+"/api/v1/projects/shop/environments/"+env+"/deploys", strings.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("deploy to %s: %d", env, resp.StatusCode)
	}
}

// TestBrowserEvidenceAndGuardedDeploys: an open, idle staging page shows
// a deploy made elsewhere once it is live, without a reload; the promotion
// to production shows production's own configuration v3 with its two
// variables; the overview says a promotion waits and staging is ahead;
// a direct deploy into protected production of a build that never ran in
// staging asks for confirmation, warns, and keeps the reason.
func TestBrowserEvidenceAndGuardedDeploys(t *testing.T) {
	p := StartPortal(t, Options{})
	v1, v2 := seedDeployable(t, p)
	tok := p.CLI("token", "create", "--user", "admin")
	if tok.ExitCode != 0 {
		t.Fatalf("token create: %s", tok)
	}
	token := strings.TrimSpace(tok.Stdout)
	admin := NewBrowser(t)
	must(t, Login(admin, p, "admin", p.AdminPassword))

	// An idle staging page; the deploy happens elsewhere.
	must(t, Visit(admin, p.URL+"/projects/shop/environments/staging"))
	must(t, WaitTestID(admin, "no-live"))
	apiDeploy(t, p, token, "staging", v2)
	testkit.Eventually(t, 60*time.Second, func() bool {
		ok, err := HasTestID(admin, "live-sha")
		return err == nil && ok
	}, "the open staging page shows the new live release by itself")
	Screenshot(t, admin, "staging-updated-itself")

	// Production's configuration moves to v3 with two variables.
	ctx := context.Background()
	store, err := models.Open(ctx, models.Config{DataDir: p.DataDir})
	must(t, err)
	prod, err := store.EnvironmentByName(ctx, "shop", "production")
	must(t, err)
	must(t, store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "PAYMENTS_URL", Value: "https://pay.example"}))
	must(t, store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: prod.ID, Name: "REGION", Value: "eu"}))
	store.Close()

	must(t, Visit(admin, p.URL+"/projects/shop/environments/staging"))
	must(t, WaitTestID(admin, "promote"))
	must(t, ClickAndLoad(admin, TestID("promote")))
	must(t, WaitTestID(admin, "config-diff"))
	version, err := TextOf(admin, "config-deploys-version")
	must(t, err)
	if !strings.Contains(strings.ToLower(version), "config v3") {
		t.Errorf("the promotion's deploy column reads %q, want config v3", version)
	}
	for _, id := range []string{"config-PAYMENTS_URL", "config-REGION"} {
		if ok, err := HasTestID(admin, id); err != nil || !ok {
			t.Errorf("the promotion page does not show %s", id)
		}
	}
	Screenshot(t, admin, "promotion-evidence")

	must(t, Visit(admin, p.URL+"/environments"))
	must(t, WaitTestID(admin, "env-pending"))
	behind, err := TextOf(admin, "env-behind")
	must(t, err)
	if !strings.Contains(behind, "staging is ahead") {
		t.Errorf("the overview's production card reads %q", behind)
	}
	Screenshot(t, admin, "overview")

	// A direct deploy of v1, which never ran in staging, into production.
	must(t, Visit(admin, p.URL+"/projects/shop/environments/production"))
	must(t, WaitTestID(admin, "deploy-form"))
	_, err = chromedp.Run(admin, chromedp.SetValue(chromedp.ID("deploy-build"), strconv.FormatInt(v1, 10)))
	must(t, err)
	must(t, ClickAndLoad(admin, TestID("deploy-submit")))
	must(t, WaitTestID(admin, "confirm-deploy-form"))
	warn, err := TextOf(admin, "warning-gate")
	must(t, err)
	if !strings.Contains(warn, "never ran in staging") {
		t.Errorf("the confirmation warns %q", warn)
	}
	Screenshot(t, admin, "confirm-deploy")
	must(t, Fill(admin, "#f-deploy-reason", "Hotfix for INC-42: v1 fixes checkout"))
	must(t, ClickAndLoad(admin, TestID("confirm-deploy")))
	note, err := TextOf(admin, "release-note")
	must(t, err)
	if note != "Hotfix for INC-42: v1 fixes checkout" {
		t.Errorf("the release page shows the reason as %q", note)
	}
	loc, err := Location(admin)
	must(t, err)
	waitStatus(t, admin, "live")
	// The page reloads itself once the deploy ends; open it afresh so the
	// screenshot does not race that reload.
	must(t, Visit(admin, loc))
	must(t, WaitTestID(admin, "release-note"))
	Screenshot(t, admin, "release-with-reason")
}
