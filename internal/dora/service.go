package dora

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

const (
	// MaxDays is the longest window: the rollup keeps this many days.
	MaxDays = 90
	// lookBack is how much history before a window is read, so a
	// failure shortly before it is still seen (recovery, rework).
	lookBack = 30 * day
	// maxCommits bounds the commits one deployment is said to bring.
	maxCommits = 1000
	// maxGraph bounds the commits read from the repository for one
	// environment's history.
	maxGraph = 100000
)

// Windows are the window lengths, in days, the API and page offer.
var Windows = []int{7, 30, 90}

// ValidWindow reports whether n is one of Windows.
func ValidWindow(n int) bool {
	for _, w := range Windows {
		if w == n {
			return true
		}
	}
	return false
}

// Service reads an environment's history from the store (and the
// project's repository for the commits of each deployment), computes
// days, writes the rollup and reads it back.
type Service struct {
	store *models.Store
	// repoDir is where a project's repository (mirror or hosted) lives;
	// nil, "" or a missing directory means head commits only.
	repoDir func(*models.Project) string
}

// NewService returns a service over store; repoDir may be nil.
func NewService(store *models.Store, repoDir func(*models.Project) string) *Service {
	return &Service{store: store, repoDir: repoDir}
}

// Days computes the environment's days from first to last (UTC dates)
// from its history.
func (s *Service) Days(ctx context.Context, env *models.Environment, first, last time.Time) ([]Day, error) {
	rels, err := s.store.DORAReleases(ctx, env.ID, date(first).Add(-lookBack))
	if err != nil {
		return nil, err
	}
	crashes, err := s.store.ReleaseCrashes(ctx, env.ID, date(first).Add(-lookBack))
	if err != nil {
		return nil, err
	}
	crashAt := map[int64][]time.Time{}
	for _, ev := range crashes {
		crashAt[ev.ReleaseID] = append(crashAt[ev.ReleaseID], ev.CreatedAt)
	}
	var ds []Deployment
	var heads []string // the commit of each deployment, "" where none
	for _, r := range rels {
		d := Deployment{ID: r.ID, At: r.FinishedAt.UTC(), Failed: r.Status == models.ReleaseFailed,
			RolledBack: r.Status == models.ReleaseRolledBack || r.Rejected, Rollback: r.Reason == models.ReasonRollback}
		for _, at := range crashAt[r.ID] {
			if !d.Failed && !at.Before(d.At) && at.Sub(d.At) <= BakeWindow {
				d.Crashed = true
			}
		}
		sha := ""
		if r.Build != nil {
			d.Ref, sha = r.Build.Ref, r.Build.CommitSHA
		}
		ds = append(ds, d)
		heads = append(heads, sha)
	}
	s.newCommits(ctx, &env.Project, ds, heads)
	var all []string
	for _, d := range ds {
		all = append(all, d.Commits...)
	}
	seen, err := s.store.CommitSightings(ctx, env.ProjectID, all)
	if err != nil {
		return nil, err
	}
	firstSeen := make(map[string]time.Time, len(seen))
	for sha, cs := range seen {
		firstSeen[sha] = cs.FirstSeenAt.UTC()
	}
	return Compute(ds, firstSeen, first, last), nil
}

// newCommits fills in each deployment's commits new to the environment:
// those reachable from its commit and from no earlier deployment that
// went live, read from the project's repository in one git run. The first
// deployment that went live, and every one when the repository cannot
// tell, brings its head commit only. Failed deploys and rollbacks bring
// none.
func (s *Service) newCommits(ctx context.Context, p *models.Project, ds []Deployment, heads []string) {
	first := -1
	var wanted []string
	for i, d := range ds {
		if d.Failed || heads[i] == "" {
			continue
		}
		if first < 0 {
			first = i
		} else {
			wanted = append(wanted, heads[i])
		}
	}
	if first < 0 {
		return
	}
	var graph map[string][]string
	if dir := s.repoDir; dir != nil && p != nil && len(wanted) > 0 {
		if d := dir(p); d != "" {
			g, err := gitrepo.Parents(ctx, d, wanted, heads[first], maxGraph)
			if err == nil {
				graph = g
			}
		}
	}
	live := map[string]bool{}
	for i := range ds {
		d := &ds[i]
		sha := heads[i]
		if d.Failed || sha == "" {
			continue
		}
		var found []string
		switch {
		case i == first || graph == nil:
			if !live[sha] {
				found = []string{sha}
			}
		default:
			// Walk back from the commit until what was live before (or
			// older than the first live commit: outside the graph).
			queue := []string{sha}
			for len(queue) > 0 {
				c := queue[0]
				queue = queue[1:]
				parents, ok := graph[c]
				if live[c] || !ok {
					continue
				}
				live[c] = true
				found = append(found, c)
				queue = append(queue, parents...)
			}
		}
		for _, c := range found {
			live[c] = true
		}
		if !d.Rollback {
			if len(found) > maxCommits {
				found = found[:maxCommits]
			}
			d.Commits = found
		}
	}
}

// Rollup recomputes every environment's last MaxDays complete days (up to
// yesterday, UTC) and stores them. Every day is recomputed, because a
// later event (a rollback, a hotfix, a recovery) changes earlier days.
func (s *Service) Rollup(ctx context.Context, now time.Time) (int, error) {
	envs, err := s.store.AllEnvironments(ctx)
	if err != nil {
		return 0, err
	}
	last := date(now).AddDate(0, 0, -1)
	first := last.AddDate(0, 0, -(MaxDays - 1))
	var errs []error
	n := 0
	for i := range envs {
		if err := s.rollupEnv(ctx, &envs[i], first, last, now); err != nil {
			errs = append(errs, fmt.Errorf("dora: rollup %s/%s: %w", envs[i].Project.Slug, envs[i].Name, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Service) rollupEnv(ctx context.Context, env *models.Environment, first, last, now time.Time) error {
	days, err := s.Days(ctx, env, first, last)
	if err != nil {
		return err
	}
	rows := make([]models.DORADay, len(days))
	for i, d := range days {
		lt, _ := json.Marshal(d.LeadTimes)
		rt, _ := json.Marshal(d.RecoveryTimes)
		rows[i] = models.DORADay{Day: d.Date, Deployments: d.Deployments, Failures: d.Failures, Reworks: d.Reworks,
			LeadTimes: string(lt), RecoveryTimes: string(rt), ComputedAt: now.UTC()}
	}
	return s.store.SaveDORADays(ctx, env.ID, first.Format(DateLayout), last.Format(DateLayout), rows)
}

// Report is an environment's days over a window ending today, and the
// metrics over the whole window.
type Report struct {
	Days    []Day
	Summary Summary
	// Live is how many of the days (today, and any the rollup has not
	// reached yet) were computed on the spot.
	Live int
}

// Report reads the window of n days ending today (UTC, today included)
// from the rollup, and computes today — and any day the rollup lacks —
// from the history.
func (s *Service) Report(ctx context.Context, env *models.Environment, n int, now time.Time) (Report, error) {
	today := date(now)
	first := today.AddDate(0, 0, -(n - 1))
	rows, err := s.store.DORADays(ctx, env.ID, first.Format(DateLayout), today.Format(DateLayout))
	if err != nil {
		return Report{}, err
	}
	stored := map[string]Day{}
	for _, r := range rows {
		d := Day{Date: r.Day, Deployments: r.Deployments, Failures: r.Failures, Reworks: r.Reworks}
		if json.Unmarshal([]byte(r.LeadTimes), &d.LeadTimes) != nil || json.Unmarshal([]byte(r.RecoveryTimes), &d.RecoveryTimes) != nil {
			continue // unreadable: compute it again
		}
		stored[r.Day] = d
	}
	// Everything from the first day the rollup lacks is computed live
	// (normally today alone).
	liveFrom := today
	for d := first; d.Before(today); d = d.AddDate(0, 0, 1) {
		if _, ok := stored[d.Format(DateLayout)]; !ok {
			liveFrom = d
			break
		}
	}
	live, err := s.Days(ctx, env, liveFrom, today)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Live: len(live)}
	for d := first; d.Before(liveFrom); d = d.AddDate(0, 0, 1) {
		rep.Days = append(rep.Days, stored[d.Format(DateLayout)])
	}
	rep.Days = append(rep.Days, live...)
	for i := range rep.Days {
		if rep.Days[i].LeadTimes == nil {
			rep.Days[i].LeadTimes = []float64{}
		}
		if rep.Days[i].RecoveryTimes == nil {
			rep.Days[i].RecoveryTimes = []float64{}
		}
	}
	rep.Summary = Summarize(rep.Days)
	return rep, nil
}
