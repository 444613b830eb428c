package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/slipway-ci/slipway/models"
)

// deployForm posts the environment page's deploy form as who.
func (f *promoFixture) deployForm(t *testing.T, who, env string, form url.Values) (*http.Response, *goquery.Document) {
	t.Helper()
	resp, body := f.ts.do(http.MethodPost, "/projects/"+f.slug+"/environments/"+env+"/deploys", reqOpts{session: f.session[who], csrf: true, form: form})
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp, doc
}

// TestProtectedDeployAsksForAReasonAndWarns: a lead deploys straight into
// protected production a build that was rolled back there five minutes
// ago, whose promotion a lead rejected and that has not passed the
// load-test gate. The first post only asks (nothing deploys, nothing is
// audited) and says all three; without a reason the deploy is refused on
// the same page; with one, the release and its audit event keep it.
func TestProtectedDeployAsksForAReasonAndWarns(t *testing.T) {
	f := newPromoServer(t).project(t, "shop")
	ctx := context.Background()
	st := f.ts.store
	prod := f.envs["production"]
	lena := f.users["lena"]
	sha := *f.build.ArtifactSHA256
	bad := &models.Release{EnvironmentID: prod.ID, BuildID: &f.build.ID, ArtifactSHA256: sha, ConfigVersion: 1, Status: models.ReleaseRolledBack,
		Rejected: true, Reason: models.ReasonDeploy, CreatedAt: time.Now().UTC().Add(-20 * time.Minute)}
	must(t, st.CreateRelease(ctx, bad))
	back := &models.Release{EnvironmentID: prod.ID, BuildID: f.devRel.BuildID, ArtifactSHA256: f.devRel.ArtifactSHA256, ConfigVersion: 1,
		Status: models.ReleaseLive, Reason: models.ReasonRollback, RollbackOfID: &bad.ID, CreatedByID: &lena.ID, CreatedAt: time.Now().UTC().Add(-5 * time.Minute)}
	must(t, st.CreateRelease(ctx, back))
	_, _, pid := f.promote(t, viaAPI, "dora", "staging")
	if code, body := f.decide(t, viaAPI, "leo", pid, "reject", "error rate up on checkout"); code != http.StatusOK {
		t.Fatalf("reject: %d %s", code, body)
	}
	f.setPolicy(t, "production", func(e *models.Environment) { e.RequireLoadTest = true })
	before := len(f.productionReleases(t))
	audits := func() int {
		evs, err := st.AuditEvents(ctx, models.AuditFilter{Action: models.AuditDeploy})
		must(t, err)
		return len(evs)
	}
	auditsBefore := audits()

	resp, doc := f.deployForm(t, "lena", "production", url.Values{"build_id": {itoa(f.build.ID)}})
	if resp.StatusCode != http.StatusOK || !has(doc, "confirm-deploy-form") {
		t.Fatalf("the first post does not ask for confirmation: %d", resp.StatusCode)
	}
	for id, want := range map[string]string{
		"warning-rolled-back": "rolled back from production 5 minutes ago by lena",
		"warning-rejected":    "leo rejected promotion #" + itoa(pid) + " of this artifact to production",
		"warning-gate":        "load-test gate of production",
	} {
		if got := testID(doc, id); !strings.Contains(got, want) {
			t.Errorf("warning %s reads %q, want %q", id, got, want)
		}
	}
	if got := len(f.productionReleases(t)); got != before || audits() != auditsBefore {
		t.Fatal("asking for confirmation deployed or audited something")
	}

	resp, doc = f.deployForm(t, "lena", "production", url.Values{"build_id": {itoa(f.build.ID)}, "confirm": {"1"}, "reason": {"   "}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !has(doc, "confirm-error") || len(f.productionReleases(t)) != before {
		t.Fatalf("a blank reason: %d, error shown %v", resp.StatusCode, has(doc, "confirm-error"))
	}

	resp, _ = f.deployForm(t, "lena", "production", url.Values{"build_id": {itoa(f.build.ID)}, "confirm": {"1"}, "reason": {"Hotfix for INC-42"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the confirmed deploy: %d", resp.StatusCode)
	}
	rels := f.productionReleases(t)
	if len(rels) != before+1 || rels[0].Note != "Hotfix for INC-42" {
		t.Fatalf("the release does not keep the reason: %+v", rels[0])
	}
	evs, err := st.AuditEvents(ctx, models.AuditFilter{Action: models.AuditDeploy})
	must(t, err)
	last := evs[0]
	for _, e := range evs {
		if e.ID > last.ID {
			last = e
		}
	}
	if !strings.Contains(last.Details, `"reason":"Hotfix for INC-42"`) || !strings.Contains(last.Details, "rolled back from production") {
		t.Errorf("the audit event lacks the reason or the warnings: %s", last.Details)
	}
	doc = f.page(t, "vic", "/releases/"+itoa(rels[0].ID))
	if got := testID(doc, "release-note"); got != "Hotfix for INC-42" {
		t.Errorf("the release page shows the reason as %q", got)
	}

	// An older build that never ran in staging: the confirmation says so.
	_, doc = f.deployForm(t, "lena", "production", url.Values{"build_id": {itoa(*f.devRel.BuildID)}})
	if got := testID(doc, "warning-gate"); !strings.Contains(got, "never ran in staging") {
		t.Errorf("a build that skipped staging is not flagged: %q", got)
	}
	// Unprotected staging deploys at once, with no confirmation.
	resp, _ = f.deployForm(t, "dora", "staging", url.Values{"build_id": {itoa(f.build.ID)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a deploy to unprotected staging: %d, want it queued at once", resp.StatusCode)
	}
	// A developer, who may not deploy to production, is not even asked.
	if resp, _ := f.deployForm(t, "dora", "production", url.Values{"build_id": {itoa(f.build.ID)}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a developer's confirmation page: %d, want 403", resp.StatusCode)
	}
}
