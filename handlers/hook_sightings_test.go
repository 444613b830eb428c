package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

func TestAPushWebhookRecordsEveryCommitItListsAsFirstSeen(t *testing.T) {
	ts := newTestServer(t)
	repo := newGitFixture(t)
	c0 := repo.commit("zero")
	c1 := repo.commit("one")
	c2 := repo.commit("two")
	p, secret := ts.linkProject("seen", repo.Dir)
	ctx := context.Background()

	// c0 was built by hand an hour before the push: that sighting stays.
	// c1 is neither built nor the head: only the payload's list names it.
	early := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if err := ts.store.RecordCommitSightings(ctx, p.ID, []string{c0}, models.SightingBuild, early); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": c2, "commits": []any{
		map[string]any{"id": c0}, map[string]any{"id": c1, "message": "one"}, map[string]any{"id": c2, "message": "two"},
		map[string]any{"id": "not-a-sha"}, map[string]any{"id": strings.Repeat("0", 40)},
	}})
	if status, got := ts.hook("seen", body, forges[0].headers(secret, body, "push", "sightings-1")); status != http.StatusCreated {
		t.Fatalf("got %d %v", status, got)
	}
	got, err := ts.store.CommitSightings(ctx, p.ID, []string{c0, c1, c2, "not-a-sha", strings.Repeat("0", 40)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("sightings %+v: want c0, c1 and c2 only", got)
	}
	if s := got[c0]; s.Source != models.SightingBuild || !s.FirstSeenAt.Equal(early) {
		t.Errorf("c0 %+v: the earlier sighting must win", s)
	}
	for name, sha := range map[string]string{"c1": c1, "c2": c2} {
		if s := got[sha]; s.Source != models.SightingWebhook || time.Since(s.FirstSeenAt) > time.Minute {
			t.Errorf("%s %+v: want seen by the webhook just now", name, s)
		}
	}
}
