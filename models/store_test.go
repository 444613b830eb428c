package models

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// eachDB runs fn against a freshly migrated SQLite store and a freshly
// migrated PostgreSQL store.
func eachDB(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		s, err := Open(context.Background(), Config{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		url := testpg.NewDatabase(t)
		s, err := Open(context.Background(), Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
}

func TestUsersSessionsAndTokens(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u := &User{Username: "ada", PasswordHash: "x", Role: "developer"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, &User{Username: "ada", PasswordHash: "y", Role: "qa"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate username: got %v, want ErrConflict", err)
		}
		if _, err := s.UserByName(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing user: got %v, want ErrNotFound", err)
		}
		if err := s.SetUserRole(ctx, 9999, "qa"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("role of missing user: got %v, want ErrNotFound", err)
		}

		now := time.Now().UTC()
		live := &Session{ID: "live", UserID: u.ID, ExpiresAt: now.Add(time.Hour), LastSeenAt: now}
		old := &Session{ID: "old", UserID: u.ID, ExpiresAt: now.Add(-time.Minute), LastSeenAt: now}
		for _, ss := range []*Session{live, old} {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.SessionByID(ctx, "live", now)
		if err != nil || got.User.Username != "ada" {
			t.Fatalf("session: %v %+v", err, got)
		}
		if _, err := s.SessionByID(ctx, "old", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired session must not load, got %v", err)
		}
		n, err := s.DeleteExpiredSessions(ctx, now)
		if err != nil || n != 1 {
			t.Fatalf("delete expired: n=%d err=%v", n, err)
		}

		tok := &APIToken{UserID: u.ID, Name: "ci", Hash: "h1", Prefix: "slp_abc"}
		if err := s.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if got, err := s.APITokenByHash(ctx, "h1"); err != nil || got.User.ID != u.ID {
			t.Fatalf("token by hash: %v", err)
		}
		if err := s.RevokeAPIToken(ctx, u.ID+1, tok.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoking another user's token must fail, got %v", err)
		}
		if err := s.RevokeAPIToken(ctx, u.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.APITokenByHash(ctx, "h1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoked token must not load, got %v", err)
		}

		if err := s.SetUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByID(ctx, "live", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("disabling a user must end their sessions, got %v", err)
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		v, err := s.SchemaVersion(context.Background())
		if err != nil || v == "" {
			t.Fatalf("schema version %q: %v", v, err)
		}
	})
}

func TestTxRollsBack(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := s.Tx(ctx, func(tx *Store) error {
			if _, ok := tx.SQLTx(); !ok {
				t.Error("SQLTx must expose the transaction")
			}
			if err := tx.CreateUser(ctx, &User{Username: "ghost", PasswordHash: "x", Role: "qa"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		if _, err := s.UserByName(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("rolled back user exists: %v", err)
		}
	})
}
