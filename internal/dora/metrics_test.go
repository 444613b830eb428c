package dora

import (
	"reflect"
	"testing"
	"time"
)

// at is a time on day n of December 2026 (n = 1 is 2026-12-01), UTC.
func at(n, hour, minute int) time.Time {
	return time.Date(2026, 12, n, hour, minute, 0, 0, time.UTC)
}

// history is a hand-made three days of production, with every answer
// worked out by hand in the test below.
//
//	Dec 1 10:00 A  main     c1 (seen 08:00), c2 (09:00)       good
//	Dec 1 12:00 B  main     c3 (seen 11:30)                   rolled back: failure
//	Dec 1 12:30 R  rollback of B                              rework; recovers B after 30 min
//	Dec 2 09:00 C  main     c4 (seen Dec 1 23:00)             deploy failed: failure, no lead time
//	Dec 2 10:00 E  main     c4, c5 (seen 09:30)               rework (after a failure); recovers C after 1 h
//	Dec 3 08:00 G  main     c6 (seen 07:00)                   followed by a hotfix within 24 h: failure
//	Dec 3 09:00 H  hotfix/login  c7 (seen 08:40)              rework; recovers G after 1 h
//	Dec 3 10:00 I  main     c8 (seen 09:30)                   crashed 5 min after going live: failure, never recovered
func history() ([]Deployment, map[string]time.Time) {
	ds := []Deployment{
		{ID: 1, At: at(1, 10, 0), Ref: "main", Commits: []string{"c1", "c2"}},
		{ID: 2, At: at(1, 12, 0), Ref: "main", Commits: []string{"c3"}, RolledBack: true},
		{ID: 3, At: at(1, 12, 30), Ref: "main", Rollback: true},
		{ID: 4, At: at(2, 9, 0), Ref: "main", Commits: []string{"c4"}, Failed: true},
		{ID: 5, At: at(2, 10, 0), Ref: "main", Commits: []string{"c4", "c5"}},
		{ID: 6, At: at(3, 8, 0), Ref: "main", Commits: []string{"c6"}},
		{ID: 7, At: at(3, 9, 0), Ref: "hotfix/login", Commits: []string{"c7"}},
		{ID: 8, At: at(3, 10, 0), Ref: "main", Commits: []string{"c8"}, Crashed: true},
	}
	seen := map[string]time.Time{
		"c1": at(1, 8, 0), "c2": at(1, 9, 0), "c3": at(1, 11, 30), "c4": at(1, 23, 0),
		"c5": at(2, 9, 30), "c6": at(3, 7, 0), "c7": at(3, 8, 40), "c8": at(3, 9, 30),
	}
	return ds, seen
}

func TestComputeGivesTheHandWorkedDays(t *testing.T) {
	ds, seen := history()
	got := Compute(ds, seen, at(1, 0, 0), at(4, 23, 59))
	want := []Day{
		{Date: "2026-12-01", Deployments: 3, Failures: 1, Reworks: 1, LeadTimes: []float64{7200, 3600, 1800}, RecoveryTimes: []float64{1800}},
		{Date: "2026-12-02", Deployments: 2, Failures: 1, Reworks: 1, LeadTimes: []float64{39600, 1800}, RecoveryTimes: []float64{3600}},
		{Date: "2026-12-03", Deployments: 3, Failures: 2, Reworks: 1, LeadTimes: []float64{3600, 1200, 1800}, RecoveryTimes: []float64{3600}},
		{Date: "2026-12-04", LeadTimes: []float64{}, RecoveryTimes: []float64{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("days:\n got %+v\nwant %+v", got, want)
	}

	s := Summarize(got)
	check := func(metric string, value float64, band string, samples int) {
		t.Helper()
		v, ok := s[metric]
		if !ok || !v.Ok || v.Value != value || v.Band != band || v.Samples != samples {
			t.Errorf("%s = %+v (present %v), want %v %q from %d", metric, v, ok, value, band, samples)
		}
	}
	check(DeploymentFrequency, 2, Elite, 8) // 8 deployments over 4 days
	check(LeadTime, 2700, Elite, 8)         // 1200 1800 1800 1800 | 3600 3600 7200 39600: (1800+3600)/2
	check(ChangeFailureRate, 0.5, Low, 8)   // B, C, G, I
	check(RecoveryTime, 3600, High, 3)      // 1800 3600 3600
	check(ReworkRate, 0.375, NoBand, 8)     // R, E, H

	if v, ok := Daily(LeadTime, got[1]); !ok || v != 20700 {
		t.Errorf("Dec 2 lead time median of an even count = %v %v, want (1800+39600)/2 = 20700", v, ok)
	}
	if _, ok := Daily(ChangeFailureRate, got[3]); ok {
		t.Error("a day without deployments has no change failure rate")
	}
}

func TestAWindowBeforeTheHistoryIsEmpty(t *testing.T) {
	ds, seen := history()
	days := Compute(ds, seen, at(20, 0, 0), at(26, 0, 0))
	if len(days) != 7 {
		t.Fatalf("%d days, want 7", len(days))
	}
	s := Summarize(days)
	if v := s[DeploymentFrequency]; !v.Ok || v.Value != 0 || v.Band != NoBand {
		t.Errorf("deployment frequency of an empty window = %+v, want 0 without a band", v)
	}
	for _, m := range []string{LeadTime, ChangeFailureRate, RecoveryTime, ReworkRate} {
		if v, ok := s[m]; ok {
			t.Errorf("%s of an empty window = %+v, want no value", m, v)
		}
	}
}

func TestAFailureBeforeTheWindowIsRecoveredInIt(t *testing.T) {
	ds, seen := history()
	// Only Dec 2: C failed that day, E recovered it; B's recovery (Dec 1)
	// stays out, A's commits too.
	days := Compute(ds, seen, at(2, 0, 0), at(2, 0, 0))
	if len(days) != 1 || days[0].Deployments != 2 || !reflect.DeepEqual(days[0].RecoveryTimes, []float64{3600}) {
		t.Fatalf("got %+v", days)
	}
}

func TestACommitIsCountedOnceAtItsFirstLiveDeployment(t *testing.T) {
	ds := []Deployment{
		{At: at(1, 10, 0), Commits: []string{"x"}},
		{At: at(1, 11, 0), Commits: []string{"x", "y"}},
	}
	days := Compute(ds, map[string]time.Time{"x": at(1, 9, 0), "y": at(1, 10, 30)}, at(1, 0, 0), at(1, 0, 0))
	if !reflect.DeepEqual(days[0].LeadTimes, []float64{3600, 1800}) {
		t.Fatalf("lead times %v, want [3600 1800]", days[0].LeadTimes)
	}
}

func TestAHotfixAfterMoreThanADayIsNoFailureOfThePrevious(t *testing.T) {
	cs := Classify([]Deployment{
		{At: at(1, 10, 0), Ref: "main"},
		{At: at(2, 10, 1), Ref: "hotfix-db"},
	})
	if cs[0].Failure {
		t.Error("a hotfix 24 h and 1 min later must not fail the previous release")
	}
	if !cs[1].Rework {
		t.Error("a hotfix is rework whenever it comes")
	}
	cs = Classify([]Deployment{
		{At: at(1, 10, 0), Ref: "main"},
		{At: at(1, 11, 0), Ref: "hotfix/db", Failed: true},
	})
	if cs[0].Failure || !cs[1].Failure {
		t.Error("a hotfix whose deploy failed never went live: it fails itself, not the release before it")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{5}, 5, true},
		{[]float64{9, 1, 5}, 5, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
		{[]float64{10, 0}, 5, true},
	} {
		in := append([]float64(nil), tc.in...)
		got, ok := Median(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Median(%v) = %v %v, want %v %v", in, got, ok, tc.want, tc.ok)
		}
		if !reflect.DeepEqual(in, tc.in) {
			t.Errorf("Median sorted its input: %v", tc.in)
		}
	}
}

func TestBandsAtTheirLimits(t *testing.T) {
	const h, d = 3600.0, 86400.0
	for _, tc := range []struct {
		metric string
		v      float64
		want   string
	}{
		{DeploymentFrequency, 1, Elite},
		{DeploymentFrequency, 0.99, High},
		{DeploymentFrequency, 1.0 / 7, High},
		{DeploymentFrequency, 0.1, Medium},
		{DeploymentFrequency, 1.0 / 31, Low},
		{LeadTime, d - 1, Elite},
		{LeadTime, d, High},
		{LeadTime, 7 * d, High},
		{LeadTime, 7*d + 1, Medium},
		{LeadTime, 30 * d, Medium},
		{LeadTime, 30*d + 1, Low},
		{ChangeFailureRate, 0, Elite},
		{ChangeFailureRate, 0.05, Elite},
		{ChangeFailureRate, 0.06, High},
		{ChangeFailureRate, 0.15, Medium},
		{ChangeFailureRate, 0.16, Low},
		{RecoveryTime, h - 1, Elite},
		{RecoveryTime, h, High},
		{RecoveryTime, d, Medium},
		{RecoveryTime, 7 * d, Medium},
		{RecoveryTime, 7*d + 1, Low},
		{ReworkRate, 0.9, NoBand},
	} {
		if got := BandOf(tc.metric, tc.v); got != tc.want {
			t.Errorf("BandOf(%s, %v) = %q, want %q", tc.metric, tc.v, got, tc.want)
		}
	}
}

func TestIsHotfixRef(t *testing.T) {
	for ref, want := range map[string]bool{
		"hotfix/a": true, "hotfix-1.2.3": true, "refs/heads/hotfix/x": true, "refs/tags/hotfix-9": true,
		"main": false, "feature/hotfix/x": false, "hotfixes": false, "": false,
	} {
		if got := IsHotfixRef(ref); got != want {
			t.Errorf("IsHotfixRef(%q) = %v", ref, got)
		}
	}
}
