package handlers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// A push of several commits to a hosted repository records each of them,
// not only the new head, as first seen by the push.
func TestAPushToAHostedRepositoryRecordsEveryPushedCommit(t *testing.T) {
	ts := newTestServer(t)
	devTok, _ := ts.token(ts.user("dev", auth.Developer))
	p := ts.hostProject("shop", devTok)
	g := newGitClient(t)
	work := filepath.Join(t.TempDir(), "work")
	g.must("", "clone", "--quiet", ts.gitURL("shop", devTok), work)
	commit := func(v string) string {
		if err := os.WriteFile(filepath.Join(work, "VERSION"), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		g.must(work, "add", "VERSION")
		g.must(work, "commit", "--quiet", "-m", v)
		return g.must(work, "rev-parse", "HEAD")
	}
	first := commit("1")
	g.must(work, "push", "--quiet", "origin", "HEAD:main")
	second, third := commit("2"), commit("3")
	g.must(work, "push", "--quiet", "origin", "HEAD:main")

	got, err := ts.store.CommitSightings(t.Context(), p.ID, []string{first, second, third})
	if err != nil {
		t.Fatal(err)
	}
	for name, sha := range map[string]string{"first": first, "second": second, "third": third} {
		if c, ok := got[sha]; !ok || c.Source != models.SightingPush {
			t.Errorf("%s commit: sighting %+v (%v), want one by the push", name, c, ok)
		}
	}
}
