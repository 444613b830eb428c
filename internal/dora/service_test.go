package dora_test

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/dora"
	"github.com/slipway-ci/slipway/internal/dora/doratest"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// eachDB runs fn on a migrated SQLite store and a migrated PostgreSQL one.
func eachDB(t *testing.T, fn func(t *testing.T, s *models.Store)) {
	for name, cfg := range map[string]func() models.Config{
		"sqlite":   func() models.Config { return models.Config{DataDir: t.TempDir()} },
		"postgres": func() models.Config { return models.Config{URL: testpg.NewDatabase(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := models.Open(context.Background(), cfg())
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
}

func dayOf(t *testing.T, days []dora.Day, date string) dora.Day {
	t.Helper()
	for _, d := range days {
		if d.Date == date {
			return d
		}
	}
	t.Fatalf("no day %s in %+v", date, days)
	return dora.Day{}
}

func TestSeededHistoryGivesTheHandWorkedMetricsOnBothDatabases(t *testing.T) {
	eachDB(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f := doratest.Seed(t, s, "shop")
		svc := dora.NewService(s, func(*models.Project) string { return f.RepoDir })

		days, err := svc.Days(ctx, f.Production, doratest.Now.AddDate(0, 0, -6), doratest.Now)
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 7 || days[0].Date != "2026-11-28" || days[6].Date != "2026-12-04" {
			t.Fatalf("days %+v", days)
		}
		want2 := dora.Day{Date: "2026-12-02", Deployments: 3, Failures: 1, Reworks: 1,
			LeadTimes: []float64{3600, 1800, 3600}, RecoveryTimes: []float64{1200}}
		want3 := dora.Day{Date: "2026-12-03", Deployments: 2, Failures: 1, Reworks: 2,
			LeadTimes: []float64{10800, 3600}, RecoveryTimes: []float64{7200}}
		if got := dayOf(t, days, "2026-12-02"); !reflect.DeepEqual(got, want2) {
			t.Errorf("Dec 2:\n got %+v\nwant %+v", got, want2)
		}
		if got := dayOf(t, days, "2026-12-03"); !reflect.DeepEqual(got, want3) {
			t.Errorf("Dec 3:\n got %+v\nwant %+v", got, want3)
		}

		// The rollup stores 90 complete days; the report reads them and
		// computes today live.
		if n, err := svc.Rollup(ctx, doratest.Now); err != nil || n != 3 {
			t.Fatalf("rollup: %d environments, %v", n, err)
		}
		rows, err := s.DORADays(ctx, f.Production.ID, "2026-01-01", "2026-12-31")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 90 || rows[0].Day != "2026-09-05" || rows[89].Day != "2026-12-03" {
			t.Fatalf("rollup rows: %d from %s to %s, want 90 from 2026-09-05 to 2026-12-03", len(rows), rows[0].Day, rows[len(rows)-1].Day)
		}
		if r := rows[88]; r.Day != "2026-12-02" || r.Deployments != 3 || r.Failures != 1 || r.Reworks != 1 ||
			r.LeadTimes != "[3600,1800,3600]" || r.RecoveryTimes != "[1200]" {
			t.Fatalf("stored Dec 2 = %+v", r)
		}
		rep, err := svc.Report(ctx, f.Production, 7, doratest.Now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Live != 1 || len(rep.Days) != 7 {
			t.Fatalf("report: %d days, %d live; want 7 and only today live", len(rep.Days), rep.Live)
		}
		check := func(metric string, value float64, band string) {
			t.Helper()
			v := rep.Summary[metric]
			if !v.Ok || v.Value != value || v.Band != band {
				t.Errorf("%s = %+v, want %v %q", metric, v, value, band)
			}
		}
		check(dora.DeploymentFrequency, 5.0/7, dora.High)
		check(dora.LeadTime, 3600, dora.Elite)
		check(dora.ChangeFailureRate, 0.4, dora.Low)
		check(dora.RecoveryTime, 4200, dora.High)
		check(dora.ReworkRate, 0.6, dora.NoBand)

		// The report reads what the rollup stored: change a stored day and
		// the report follows.
		rows[88].Deployments = 13
		if err := s.SaveDORADays(ctx, f.Production.ID, "2026-12-02", "2026-12-02", rows[88:89]); err != nil {
			t.Fatal(err)
		}
		rep, err = svc.Report(ctx, f.Production, 7, doratest.Now)
		if err != nil {
			t.Fatal(err)
		}
		if got := dayOf(t, rep.Days, "2026-12-02").Deployments; got != 13 {
			t.Fatalf("report Dec 2 deployments = %d, want the stored 13", got)
		}

		// A day the rollup lacks is computed live, with everything after it.
		if err := s.SaveDORADays(ctx, f.Production.ID, "2026-12-03", "2026-12-03", nil); err != nil {
			t.Fatal(err)
		}
		rep, err = svc.Report(ctx, f.Production, 7, doratest.Now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Live != 2 || !reflect.DeepEqual(dayOf(t, rep.Days, "2026-12-03"), want3) {
			t.Fatalf("missing Dec 3: %d live, %+v", rep.Live, dayOf(t, rep.Days, "2026-12-03"))
		}

		// An environment without deploys: an empty window.
		staging, err := s.EnvironmentByName(ctx, "shop", "staging")
		if err != nil {
			t.Fatal(err)
		}
		rep, err = svc.Report(ctx, staging, 30, doratest.Now)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Days) != 30 || rep.Summary[dora.DeploymentFrequency].Value != 0 || len(rep.Summary) != 1 {
			t.Fatalf("empty window: %d days, summary %+v", len(rep.Days), rep.Summary)
		}
	})
}

func TestWithoutTheRepositoryOnlyHeadCommitsCount(t *testing.T) {
	eachDB(t, func(t *testing.T, s *models.Store) {
		f := doratest.Seed(t, s, "shop")
		svc := dora.NewService(s, nil)
		days, err := svc.Days(context.Background(), f.Production, doratest.Now.AddDate(0, 0, -2), doratest.Now)
		if err != nil {
			t.Fatal(err)
		}
		if got := dayOf(t, days, "2026-12-02").LeadTimes; !reflect.DeepEqual(got, []float64{3600, 1800}) {
			t.Errorf("Dec 2 head-only lead times %v, want k1 3600 and k3 1800", got)
		}
		if got := dayOf(t, days, "2026-12-03").LeadTimes; !reflect.DeepEqual(got, []float64{10800}) {
			t.Errorf("Dec 3 head-only lead times %v, want k5 10800", got)
		}
	})
}

func TestTheFirstSightingWins(t *testing.T) {
	eachDB(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f := doratest.Seed(t, s, "shop")
		k1 := f.Commits["k1"]
		later := doratest.Now
		if err := s.RecordCommitSightings(ctx, f.Project.ID, []string{k1, k1, "newsha"}, models.SightingBuild, later); err != nil {
			t.Fatal(err)
		}
		got, err := s.CommitSightings(ctx, f.Project.ID, []string{k1, "newsha", "never"})
		if err != nil {
			t.Fatal(err)
		}
		if c := got[k1]; c.Source != models.SightingWebhook || !c.FirstSeenAt.Equal(time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)) {
			t.Errorf("k1 sighting moved: %+v", c)
		}
		if c := got["newsha"]; c.Source != models.SightingBuild || !c.FirstSeenAt.Equal(later) {
			t.Errorf("new sighting %+v", c)
		}
		if _, ok := got["never"]; ok || len(got) != 2 {
			t.Errorf("sightings %+v", got)
		}
	})
}
