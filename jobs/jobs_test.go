package jobs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(mainWithTestApp(m)) }

func openStores(t *testing.T) map[string]*models.Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*models.Store{}
	for name, cfg := range map[string]func() models.Config{
		"sqlite":   func() models.Config { return models.Config{DataDir: t.TempDir()} },
		"postgres": func() models.Config { return models.Config{URL: testpg.NewDatabase(t)} },
	} {
		s, err := models.Open(ctx, cfg())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := Migrate(ctx, s); err != nil {
			t.Fatalf("%s: river migrate: %v", name, err)
		}
		if err := Migrate(ctx, s); err != nil {
			t.Fatalf("%s: second river migrate must be a no-op: %v", name, err)
		}
		out[name] = s
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
