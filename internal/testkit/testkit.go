// Package testkit is the tests' shared harness: stores on a fresh SQLite
// or PostgreSQL database (internal/testpg), and polling for a condition.
// It is imported by tests only.
package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// DB names a kind of database the store tests run on.
type DB string

// The databases every store test runs on.
const (
	SQLite   DB = "sqlite"
	Postgres DB = "postgres"
)

// DBs lists SQLite and PostgreSQL, in the order tests run them.
var DBs = []DB{SQLite, Postgres}

// Config returns the configuration of a fresh, empty database of kind db:
// a SQLite file in a temporary directory, or a new database on the shared
// test PostgreSQL (which testpg starts, or skips the test without).
func (db DB) Config(t testing.TB) models.Config {
	t.Helper()
	switch db {
	case SQLite:
		return models.Config{DataDir: t.TempDir()}
	case Postgres:
		return models.Config{URL: testpg.NewDatabase(t)}
	}
	t.Fatalf("testkit: unknown database %q", db)
	return models.Config{}
}

type options struct {
	cfg        *models.Config
	migrations []func(context.Context, *models.Store) error
}

// Option changes how OpenStore opens a store.
type Option func(*options)

// On opens the store on cfg instead of a fresh SQLite database, for a
// database a test already made (several stores may share one, as
// several processes do).
func On(cfg models.Config) Option {
	return func(o *options) { o.cfg = &cfg }
}

// Migrations runs fns after the store's own migrations, such as
// jobs.Migrate for River's tables.
func Migrations(fns ...func(context.Context, *models.Store) error) Option {
	return func(o *options) { o.migrations = append(o.migrations, fns...) }
}

// OpenStore opens a migrated store, by default on a fresh SQLite database
// in a temporary directory, and closes it when the test ends.
func OpenStore(t testing.TB, opts ...Option) *models.Store {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg := models.Config{}
	if o.cfg != nil {
		cfg = *o.cfg
	} else {
		cfg = SQLite.Config(t)
	}
	ctx := context.Background()
	s, err := models.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range o.migrations {
		if err := m(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// OpenStoreOn opens a migrated store on a fresh database of kind db.
func OpenStoreOn(t testing.TB, db DB, opts ...Option) *models.Store {
	t.Helper()
	return OpenStore(t, append([]Option{On(db.Config(t))}, opts...)...)
}

// EachDB runs fn as a subtest per database ("sqlite", "postgres").
func EachDB(t *testing.T, fn func(t *testing.T, db DB)) {
	t.Helper()
	for _, db := range DBs {
		t.Run(string(db), func(t *testing.T) { fn(t, db) })
	}
}

// Eventually polls cond until it reports true, and fails the test with
// msg (formatted with args) when it still does not after timeout. The
// timeout is a safety net against a hang, not a timing assertion: give
// it room for a loaded machine. Polling starts fast and slows to 200 ms.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, fmt.Sprintf(msg, args...))
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}
