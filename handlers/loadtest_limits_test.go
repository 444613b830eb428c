package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

func TestLoadTestLimitChangesAreAudited(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	root := ts.user("root", auth.Admin)
	sess := ts.session(root)
	save := func(rate, dur, conc, workers string) (*http.Response, string) {
		return ts.do(http.MethodPost, "/admin/loadtests", reqOpts{session: sess, csrf: true, form: url.Values{
			"max_rate": {rate}, "max_duration": {dur}, "max_concurrent": {conc}, "max_workers": {workers}}})
	}
	events := func() []models.AuditEvent {
		t.Helper()
		es, err := ts.store.AuditEvents(ctx, models.AuditFilter{Action: models.AuditLoadTestLimits})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	type caps struct {
		MaxRate       float64 `json:"max_rate"`
		MaxDuration   string  `json:"max_duration"`
		MaxConcurrent int     `json:"max_concurrent"`
		MaxWorkers    int64   `json:"max_workers"`
	}
	details := func(e models.AuditEvent) (before, after caps) {
		t.Helper()
		var d struct{ Before, After caps }
		if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
			t.Fatalf("details %q: %v", e.Details, err)
		}
		return d.Before, d.After
	}

	t.Run("the first change records the defaults it replaced and the new caps", func(t *testing.T) {
		if resp, body := save("200", "5m", "3", "128"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d %s", resp.StatusCode, body)
		}
		es := events()
		if len(es) != 1 {
			t.Fatalf("%d audit events, want 1", len(es))
		}
		e := es[0]
		if e.ActorName != "root" || e.ActorID == nil || *e.ActorID != root.ID || e.ObjectType != "loadtest_limits" {
			t.Errorf("event by %q (%v) on %s", e.ActorName, e.ActorID, e.ObjectType)
		}
		before, after := details(e)
		d := models.DefaultLoadTestLimits()
		if before != (caps{d.MaxRate, d.MaxDuration.String(), d.MaxConcurrent, d.MaxWorkers}) {
			t.Errorf("before = %+v, want the defaults", before)
		}
		if after != (caps{200, "5m0s", 3, 128}) {
			t.Errorf("after = %+v", after)
		}
	})
	t.Run("the next change records the previous caps as before", func(t *testing.T) {
		if resp, body := save("50", "1m", "1", "16"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("save: %d %s", resp.StatusCode, body)
		}
		es := events()
		if len(es) != 2 {
			t.Fatalf("%d audit events, want 2", len(es))
		}
		before, after := details(es[0]) // newest first
		if before != (caps{200, "5m0s", 3, 128}) || after != (caps{50, "1m0s", 1, 16}) {
			t.Errorf("before %+v after %+v", before, after)
		}
	})
	t.Run("a refused change is neither saved nor audited", func(t *testing.T) {
		resp, body := save("0", "1m", "1", "16")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `data-testid="error-max_rate"`) {
			t.Fatalf("save of a zero rate: %d", resp.StatusCode)
		}
		if n := len(events()); n != 2 {
			t.Errorf("%d audit events after a refused change, want 2", n)
		}
		l, err := ts.store.LoadTestLimits(ctx)
		if err != nil || l.MaxRate != 50 {
			t.Errorf("limits after a refused change = %+v, %v", l, err)
		}
	})
	t.Run("the change shows on the audit page", func(t *testing.T) {
		resp, body := ts.do(http.MethodGet, "/audit?action=loadtest.limits", reqOpts{session: sess})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "loadtest.limits") {
			t.Fatalf("audit page: %d", resp.StatusCode)
		}
	})
}
