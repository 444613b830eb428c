package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// TestOpenStoreOnEachDB: every store is migrated, on its own database,
// and runs the extra migrations it is given.
func TestOpenStoreOnEachDB(t *testing.T) {
	EachDB(t, func(t *testing.T, db DB) {
		ran := 0
		extra := func(ctx context.Context, s *models.Store) error { ran++; return nil }
		a := OpenStoreOn(t, db, Migrations(extra))
		b := OpenStoreOn(t, db)
		if ran != 1 {
			t.Fatalf("the extra migration ran %d times, want once", ran)
		}
		want := models.SQLite
		if db == Postgres {
			want = models.Postgres
		}
		if a.Dialect() != want {
			t.Fatalf("dialect %v, want %v", a.Dialect(), want)
		}
		ctx := context.Background()
		if err := a.CreateUser(ctx, &models.User{Username: "ada", PasswordHash: "x", Role: "viewer"}); err != nil {
			t.Fatalf("the store is not migrated: %v", err)
		}
		if _, err := b.UserByName(ctx, "ada"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("two stores share a database: %v", err)
		}
	})
}

// TestOpenStoreOnASharedDatabase: On opens a second store on the first
// one's database, as a second process would.
func TestOpenStoreOnASharedDatabase(t *testing.T) {
	cfg := SQLite.Config(t)
	a := OpenStore(t, On(cfg))
	b := OpenStore(t, On(cfg))
	ctx := context.Background()
	if err := a.CreateUser(ctx, &models.User{Username: "ada", PasswordHash: "x", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UserByName(ctx, "ada"); err != nil {
		t.Fatalf("the second store does not see the first one's row: %v", err)
	}
}

// recorder is a testing.TB that records a failure instead of ending the
// test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func TestEventually(t *testing.T) {
	t.Run("returns once the condition holds", func(t *testing.T) {
		var n atomic.Int32
		Eventually(t, time.Minute, func() bool { return n.Add(1) >= 3 }, "three polls")
		if n.Load() != 3 {
			t.Fatalf("polled %d times, want 3", n.Load())
		}
	})
	t.Run("fails naming what it waited for", func(t *testing.T) {
		r := &recorder{TB: t}
		func() {
			defer func() {
				if p := recover(); p != r {
					panic(p)
				}
			}()
			Eventually(r, 20*time.Millisecond, func() bool { return false }, "the %s", "build")
		}()
		if !strings.Contains(r.failed, "waiting for the build") {
			t.Fatalf("failure message %q", r.failed)
		}
	})
}

// TestInsertFixtureKeepsRowsAsGiven: a fixture keeps the ID and status it
// was given (CreateProject would number it and a Store method would set
// the status), and the store reads it back at once, on both databases.
func TestInsertFixtureKeepsRowsAsGiven(t *testing.T) {
	EachDB(t, func(t *testing.T, db DB) {
		s := OpenStoreOn(t, db)
		ctx := context.Background()
		p := &models.Project{ID: 42, Slug: "shop", Name: "Shop", RepoURL: "file:///shop", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 7}
		if err := InsertFixture(ctx, s, p, &models.Artifact{SHA256: strings.Repeat("a", 64), Size: 1}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ProjectBySlug(ctx, "shop")
		if err != nil || got.ID != 42 || got.NextBuildNumber != 7 {
			t.Fatalf("project = %+v (%v), want ID 42 and next build 7", got, err)
		}
		if _, err := s.Artifact(ctx, strings.Repeat("a", 64)); err != nil {
			t.Fatalf("artifact: %v", err)
		}
		if err := InsertFixture(ctx, s, &models.Project{ID: 42, Slug: "again"}); err == nil {
			t.Fatal("a second row with the same ID was accepted")
		}
	})
}
