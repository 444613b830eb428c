package jobs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(mainWithTestApp(m)) }

func openStores(t *testing.T) map[string]*models.Store {
	t.Helper()
	out := map[string]*models.Store{}
	for _, db := range testkit.DBs {
		// River's migrations run twice: the second must be a no-op.
		out[string(db)] = testkit.OpenStoreOn(t, db, testkit.Migrations(Migrate, Migrate))
	}
	return out
}

func TestMaintenanceRemovesExpiredSessionsOnStart(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := &models.User{Username: "u", PasswordHash: "x", Role: "viewer"}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			for id, exp := range map[string]time.Time{"expired": now.Add(-time.Hour), "live": now.Add(time.Hour)} {
				if err := s.CreateSession(ctx, &models.Session{ID: id, UserID: u.ID, ExpiresAt: exp, LastSeenAt: now}); err != nil {
					t.Fatal(err)
				}
			}
			j, err := New(ctx, Deps{Store: s}, Options{Work: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := j.Stop(sctx); err != nil {
					t.Error(err)
				}
			}()
			deadline := time.Now().Add(20 * time.Second)
			for {
				n, err := s.CountSessions(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("maintenance did not run: %d sessions left", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := s.SessionByID(ctx, "live", now); err != nil {
				t.Fatalf("live session removed: %v", err)
			}
		})
	}
}
