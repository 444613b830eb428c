// Package dora computes the five DORA metrics — deployment frequency,
// change lead time, change fail rate, failed deployment recovery time and
// deployment rework rate — from an environment's own history: its
// releases, their crash events and when Slipway first saw each commit.
// The arithmetic (medians included) is plain Go, so SQLite and
// PostgreSQL give the same answers. docs/dora.md states every rule.
package dora

import (
	"sort"
	"strings"
	"time"
)

const (
	// BakeWindow is how long after going live a crash still counts as
	// the release failing its health: a failed change.
	BakeWindow = 15 * time.Minute
	// HotfixWindow is how soon after a release a hotfix release makes it
	// a failed change, and how soon after a failure the next deployment
	// counts as the fix (rework).
	HotfixWindow = 24 * time.Hour
	// DateLayout is how days are named: UTC dates.
	DateLayout = "2006-01-02"
)

// Deployment is one deploy into the environment that reached an end:
// went live (and maybe later was superseded or rolled back) or failed.
type Deployment struct {
	ID int64
	// At is when it went live, or when its deploy failed.
	At time.Time
	// Failed: the deploy itself failed (health check, start); it never
	// served, the previous release kept serving.
	Failed bool
	// RolledBack: a rollback replaced it (status rolled_back, rejected).
	RolledBack bool
	// Rollback: this deployment is itself a rollback.
	Rollback bool
	// Crashed: its instance crashed within BakeWindow of going live.
	Crashed bool
	// Ref is the branch or tag its build was made from.
	Ref string
	// Commits are the commits new to the environment with this
	// deployment (empty for rollbacks and redeploys).
	Commits []string
}

// Day holds one UTC day's events and samples.
type Day struct {
	Date        string
	Deployments int
	Failures    int
	Reworks     int
	// LeadTimes are seconds from first sighting to live, one per commit
	// that went live this day.
	LeadTimes []float64
	// RecoveryTimes are seconds from a failure to the next good
	// deployment, one per failure episode recovered this day.
	RecoveryTimes []float64
}

// IsHotfixRef reports whether a build's ref names a hotfix:
// hotfix/… or hotfix-… (a branch or tag).
func IsHotfixRef(ref string) bool {
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
	return strings.HasPrefix(ref, "hotfix/") || strings.HasPrefix(ref, "hotfix-")
}

// Classified is a deployment with what the rules made of it.
type Classified struct {
	Deployment
	// Failure: a change failure (rolled back, failed, crashed in the bake
	// window, or followed by a hotfix within HotfixWindow).
	Failure bool
	// Rework: unplanned (a rollback, a hotfix, or the deployment right
	// after a failure within HotfixWindow).
	Rework bool
}

// Classify applies the change-failure and rework rules to deployments,
// which must be in the order they happened.
func Classify(ds []Deployment) []Classified {
	out := make([]Classified, len(ds))
	for i, d := range ds {
		c := Classified{Deployment: d}
		c.Failure = d.Failed || d.RolledBack || d.Crashed
		if !c.Failure && !d.Rollback && i+1 < len(ds) {
			n := ds[i+1]
			if IsHotfixRef(n.Ref) && !n.Rollback && !n.Failed && n.At.Sub(d.At) <= HotfixWindow {
				c.Failure = true
			}
		}
		out[i] = c
	}
	for i := range out {
		d := &out[i]
		d.Rework = d.Rollback || IsHotfixRef(d.Ref)
		if !d.Rework && i > 0 && out[i-1].Failure && d.At.Sub(out[i-1].At) <= HotfixWindow {
			d.Rework = true
		}
	}
	return out
}

// Compute turns a history into one Day per UTC date from first to last
// (inclusive; both truncated to dates). ds is every deployment known, in
// order, including some before first so rules that look back (previous
// failure, recovery) see them; firstSeen maps a commit to when Slipway
// first saw it. A commit is counted once, at its first deployment here.
func Compute(ds []Deployment, firstSeen map[string]time.Time, first, last time.Time) []Day {
	first, last = date(first), date(last)
	var days []Day
	index := map[string]int{}
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		index[d.Format(DateLayout)] = len(days)
		days = append(days, Day{Date: d.Format(DateLayout), LeadTimes: []float64{}, RecoveryTimes: []float64{}})
	}
	dayOf := func(t time.Time) *Day {
		if i, ok := index[t.UTC().Format(DateLayout)]; ok {
			return &days[i]
		}
		return nil
	}
	cs := Classify(ds)
	counted := map[string]bool{}
	var episode *time.Time // start of the unrecovered failure episode
	for _, c := range cs {
		day := dayOf(c.At)
		if day != nil {
			day.Deployments++
			if c.Failure {
				day.Failures++
			}
			if c.Rework {
				day.Reworks++
			}
		}
		if !c.Failed && !c.Rollback {
			for _, sha := range c.Commits {
				if counted[sha] {
					continue
				}
				counted[sha] = true
				seen, ok := firstSeen[sha]
				if !ok || seen.After(c.At) || day == nil {
					continue
				}
				day.LeadTimes = append(day.LeadTimes, c.At.Sub(seen).Seconds())
			}
		}
		switch {
		case c.Failure && episode == nil:
			at := c.At
			episode = &at
		case !c.Failure && episode != nil:
			if day != nil {
				day.RecoveryTimes = append(day.RecoveryTimes, c.At.Sub(*episode).Seconds())
			}
			episode = nil
		}
	}
	return days
}

func date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Median returns the median of xs (the mean of the two middle values for
// an even count) and false when xs is empty. xs is not modified.
func Median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}
