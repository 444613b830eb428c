package dora

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
	// nil or a missing directory means head commits only.
	repoDir func(*models.Project) string

	mu sync.Mutex
	// commits caches rev-list answers: a range never changes.
	commits map[string][]string
}

// NewService returns a service over store; repoDir may be nil.
func NewService(store *models.Store, repoDir func(*models.Project) string) *Service {
	return &Service{store: store, repoDir: repoDir, commits: map[string][]string{}}
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
	var all []string
	prevSHA := ""
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
		if !d.Failed && !d.Rollback && sha != "" {
			d.Commits = s.newCommits(ctx, &env.Project, prevSHA, sha)
			all = append(all, d.Commits...)
		}
		if !d.Failed && sha != "" {
			prevSHA = sha
		}
		ds = append(ds, d)
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

// newCommits lists the commits in prev..sha (git rev-list on the
// project's repository), or sha alone when there is no previous release,
// no repository, or git cannot tell.
func (s *Service) newCommits(ctx context.Context, p *models.Project, prev, sha string) []string {
	switch {
	case prev == sha:
		return nil
	case prev == "" || s.repoDir == nil || p == nil || p.ID == 0:
		return []string{sha}
	}
	key := fmt.Sprintf("%d %s..%s", p.ID, prev, sha)
	s.mu.Lock()
	cached, ok := s.commits[key]
	s.mu.Unlock()
	if ok {
		return cached
	}
	dir := s.repoDir(p)
	if dir == "" {
		return []string{sha}
	}
	log, err := gitrepo.Log(ctx, dir, prev, sha, maxCommits)
	if err != nil || len(log) == 0 {
		return []string{sha}
	}
	out := make([]string, len(log))
	for i, c := range log {
		out[i] = c.SHA
	}
	s.mu.Lock()
	if len(s.commits) > 10000 {
		clear(s.commits)
	}
	s.commits[key] = out
	s.mu.Unlock()
	return out
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
