package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// TestEnvironmentsShowFailuresRollbacksAndWhatWaits: the overview says
// that staging's last deploy failed, that staging runs a newer build than
// production, that a promotion into production waits and that production
// was rolled back; the environment and build pages show the failure.
func TestEnvironmentsShowFailuresRollbacksAndWhatWaits(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	st := f.ts.store
	prod, staging := f.envs["production"], f.envs["staging"]
	lena := f.users["lena"]
	now := time.Now().UTC()
	// Production: build 2 went bad, lena rolled back to build 1.
	bad := &models.Release{EnvironmentID: prod.ID, BuildID: &f.build.ID, ArtifactSHA256: *f.build.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseRolledBack, Rejected: true, Reason: models.ReasonDeploy, CreatedAt: now.Add(-time.Hour)}
	must(t, st.CreateRelease(ctx, bad))
	back := &models.Release{EnvironmentID: prod.ID, BuildID: f.devRel.BuildID, ArtifactSHA256: f.devRel.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonRollback, RollbackOfID: &bad.ID, CreatedByID: &lena.ID, FinishedAt: &now}
	must(t, st.CreateRelease(ctx, back))
	_, _, pid := f.promote(t, viaAPI, "dora", "staging")
	// Staging: a redeploy of build 2 failed after it went live.
	failed := &models.Release{EnvironmentID: staging.ID, BuildID: &f.build.ID, ArtifactSHA256: *f.build.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseFailed, Reason: models.ReasonDeploy, Error: "health check: GET / answered 500", FinishedAt: &now}
	must(t, st.CreateRelease(ctx, failed))

	doc := f.page(t, "vic", "/environments")
	card := func(name string) string {
		return strings.Join(strings.Fields(doc.Find(`[data-testid="env-project-shop"] [data-testid="env-card-`+name+`"]`).Text()), " ")
	}
	if got := card("staging"); !strings.Contains(got, "Deploy of release #"+itoa(failed.ID)+" failed") || !strings.Contains(got, "answered 500") {
		t.Errorf("the staging card does not show the failed deploy: %q", got)
	}
	if got := card("production"); !strings.Contains(got, "Rolled back by lena") {
		t.Errorf("the production card does not say it was rolled back: %q", got)
	}
	if got := card("production"); !strings.Contains(got, "staging is ahead: it runs build #2") {
		t.Errorf("the production card does not say staging is ahead: %q", got)
	}
	if got := card("production"); !strings.Contains(got, "Promotion #"+itoa(pid)+" from staging waits") || !strings.Contains(got, "0 of 1 approvals") {
		t.Errorf("the production card does not link the waiting promotion: %q", got)
	}
	if got := card("staging"); strings.Contains(got, "ahead") || strings.Contains(got, "Rolled back") {
		t.Errorf("staging, which runs the newest build, is flagged: %q", got)
	}

	envDoc := f.page(t, "vic", "/projects/shop/environments/staging")
	if got := testID(envDoc, "env-failed"); !strings.Contains(got, "The last deploy failed") || !strings.Contains(got, "is still live") {
		t.Errorf("the staging page does not show the failed deploy: %q", got)
	}
	buildDoc := f.page(t, "vic", "/builds/"+itoa(f.build.ID))
	if got := testID(buildDoc, "deploy-failed-staging"); !strings.Contains(got, "failed") || !strings.Contains(got, "release #"+itoa(failed.ID)) {
		t.Errorf("the build page does not show its failed deploy to staging: %q", got)
	}
	if has(buildDoc, "deploy-failed-production") {
		t.Error("the build page shows a failure in production, where it was rolled back, not failed")
	}
}

// TestEnvironmentStatePollReloadsOnChange: the environment page polls its
// deploy state; the answer is "no change" (204) until a deploy is queued
// or ends, then an htmx refresh.
func TestEnvironmentStatePollReloadsOnChange(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	doc := f.page(t, "vic", "/projects/shop/environments/staging")
	href := doc.Find(`[data-testid="env-state-poll"]`).AttrOr("hx-get", "")
	if !strings.HasPrefix(href, "/projects/shop/environments/staging/state?since=") {
		t.Fatalf("the page does not poll its state: %q", href)
	}
	poll := func() (int, string) {
		resp, _ := f.ts.do(http.MethodGet, href, reqOpts{session: f.session["vic"]})
		return resp.StatusCode, resp.Header.Get("HX-Refresh")
	}
	if code, refresh := poll(); code != http.StatusNoContent || refresh != "" {
		t.Fatalf("nothing changed, yet the poll answers %d (HX-Refresh %q)", code, refresh)
	}
	now := time.Now().UTC()
	r := &models.Release{EnvironmentID: f.envs["staging"].ID, BuildID: f.devRel.BuildID, ArtifactSHA256: f.devRel.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleasePending, Reason: models.ReasonDeploy, CreatedAt: now}
	must(t, f.ts.store.CreateRelease(ctx, r))
	if code, refresh := poll(); code != http.StatusOK || refresh != "true" {
		t.Fatalf("a new deploy: the poll answers %d (HX-Refresh %q), want a refresh", code, refresh)
	}
	if resp, _ := f.ts.do(http.MethodGet, href, reqOpts{}); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusSeeOther {
		t.Errorf("an anonymous poll: %d", resp.StatusCode)
	}
}
