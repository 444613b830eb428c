package models

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"

	"github.com/slipway-ci/slipway/internal/testpg"
)

// Builds made before migration 0011 give their commits a sighting at
// their first build.
func TestMigrationBackfillsSightingsFromBuilds(t *testing.T) {
	eachDBUnmigrated(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		m := gormigrate.New(s.db.WithContext(ctx), &gormigrate.Options{TableName: "schema_migrations", IDColumnName: "id",
			IDColumnSize: 64, UseTransaction: true}, migrations())
		if err := m.MigrateTo("0010_branch_protection"); err != nil {
			t.Fatal(err)
		}
		p := &Project{Slug: "old", Name: "old", RepoURL: "file:///x", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 4}
		if err := s.insertFixture(ctx, p); err != nil {
			t.Fatal(err)
		}
		a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
		t1 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		for i, bc := range []struct {
			sha string
			at  time.Time
		}{{a, t1.Add(time.Hour)}, {a, t1}, {b, t1.Add(2 * time.Hour)}} {
			if err := s.insertFixture(ctx, &Build{ProjectID: p.ID, Number: int64(i + 1), Ref: "main", RefType: "branch", CommitSHA: bc.sha,
				Trigger: "manual", Status: BuildSucceeded, CreatedAt: bc.at}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.CommitSightings(ctx, p.ID, []string{a, b})
		if err != nil {
			t.Fatal(err)
		}
		if c := got[a]; !c.FirstSeenAt.Equal(t1) || c.Source != SightingBuild {
			t.Errorf("a: %+v, want its first build's time %s", c, t1)
		}
		if c := got[b]; !c.FirstSeenAt.Equal(t1.Add(2*time.Hour)) || len(got) != 2 {
			t.Errorf("b: %+v (of %d)", c, len(got))
		}
	})
}

// eachDBUnmigrated runs fn on a fresh, unmigrated SQLite store and a
// fresh, unmigrated PostgreSQL one.
func eachDBUnmigrated(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	for name, cfg := range map[string]func() Config{
		"sqlite":   func() Config { return Config{DataDir: t.TempDir()} },
		"postgres": func() Config { return Config{URL: testpg.NewDatabase(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(context.Background(), cfg())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}
