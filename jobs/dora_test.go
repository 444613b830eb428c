package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/internal/dora/doratest"
	"github.com/slipway-ci/slipway/models"
)

func TestDORARollupRunsOnStartAndStoresNinetyDays(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := doratest.Seed(t, s, "shop")
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
			yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(dora.DateLayout)
			deadline := time.Now().Add(30 * time.Second)
			for {
				rows, err := s.DORADays(ctx, f.Production.ID, "2000-01-01", "2999-12-31")
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) == 90 && rows[89].Day == yesterday {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the rollup did not run on start: %d rows", len(rows))
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func TestDORARollupWorkerWritesTheSeededDays(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := doratest.Seed(t, s, "shop")
			w := &DORARollupWorker{svc: dora.NewService(s, func(*models.Project) string { return f.RepoDir }),
				log: slog.Default(), now: func() time.Time { return doratest.Now }}
			if err := w.Work(ctx, &river.Job[DORARollupArgs]{}); err != nil {
				t.Fatal(err)
			}
			rows, err := s.DORADays(ctx, f.Production.ID, "2026-12-02", "2026-12-04")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || rows[0].Deployments != 3 || rows[1].Deployments != 2 || rows[1].Reworks != 2 || rows[1].LeadTimes != "[10800,3600]" {
				t.Fatalf("rows %+v: want Dec 2 and Dec 3 (today is never stored) as seeded", rows)
			}
			if got := DORARollupEvery; got != time.Hour {
				t.Fatalf("rollup period %s, want hourly", got)
			}
		})
	}
}
