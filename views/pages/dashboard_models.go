package pages

import (
	"strconv"
	"time"
)

// DashboardHome is the part of the dashboard that fits the user's role:
// a lead sees what waits for their approval and what is live where, QA
// their plans and runs, a developer their builds; admins see it all,
// viewers what is live where. Each list is short and links "see all".
type DashboardHome struct {
	// ShowApprovals: Waiting are the first promotions this user may
	// decide; WaitingTotal counts them all.
	ShowApprovals bool
	Waiting       []PromotionSummary
	WaitingTotal  int
	// ShowLive: what is live in each project's environments.
	ShowLive     bool
	Live         []LiveProject
	MoreProjects int
	// ShowLoadTests: the plans this user saved and the last runs they
	// started or that ran their plans.
	ShowLoadTests bool
	Plans         []LoadTestPlanRow
	Runs          []LoadTestRunRow
	// ShowBuilds: the builds this user started, and recent failures in
	// the projects they build.
	ShowBuilds bool
	MyBuilds   []BuildRow
	Failures   []BuildRow
}

// LiveProject is one project's environments on the dashboard, in
// promotion order.
type LiveProject struct {
	Slug, Name string
	Envs       []LiveEnv
}

// LiveEnv is one environment and its live release, if any.
type LiveEnv struct {
	Name string
	Live *ReleaseView
}

// liveSince is when a live release went live (its creation if unknown).
func liveSince(r ReleaseView) time.Time {
	if !r.FinishedAt.IsZero() {
		return r.FinishedAt
	}
	return r.CreatedAt
}

// seeAllText is the approvals link: it says how many more wait.
func seeAllText(total, shown int, text string) string {
	if total > shown {
		return "See all " + strconv.Itoa(total) + " waiting"
	}
	return text
}

// moreProjectsText is the environments link.
func moreProjectsText(more int) string {
	if more > 0 {
		return "See all environments (" + strconv.Itoa(more) + " more projects)"
	}
	return "All environments"
}

// buildBy names who or what started a build.
func buildBy(b BuildRow) string {
	if b.TriggeredBy != "" {
		return b.TriggeredBy
	}
	return b.Trigger
}
