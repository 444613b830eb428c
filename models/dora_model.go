package models

import "time"

// Sources of a commit sighting: how Slipway first learned of a commit.
const (
	// SightingWebhook is a forge's push webhook (every commit it lists).
	SightingWebhook = "webhook"
	// SightingPush is a push to a repository Slipway hosts.
	SightingPush = "push"
	// SightingPoll is the repository poller finding a new head.
	SightingPoll = "poll"
	// SightingIDE is a commit made in the portal (IDE or commits API).
	SightingIDE = "ide"
	// SightingBuild is a build's creation, the fallback for every other
	// way a commit reaches Slipway (a manual or API build).
	SightingBuild = "build"
)

// CommitSighting records when Slipway first saw a commit of a project.
// The first sighting wins: later ones never move FirstSeenAt. Change lead
// time runs from here to the commit going live in production.
type CommitSighting struct {
	ID          int64
	ProjectID   int64
	SHA         string `gorm:"column:sha"`
	FirstSeenAt time.Time
	Source      string
}

// DORADay is the hourly rollup of one environment's DORA events on one
// UTC day. The samples behind the medians are kept, so a window's median
// is the median of all its samples, never a median of daily medians.
type DORADay struct {
	ID            int64
	EnvironmentID int64
	// Day is the UTC date, "2026-12-01".
	Day string
	// Deployments went live (or failed) that day; Failures and Reworks
	// count those of them that were change failures and unplanned work.
	Deployments int
	Failures    int
	Reworks     int
	// LeadTimes and RecoveryTimes are JSON arrays of seconds: one per
	// commit that went live that day, one per failure recovered that day.
	LeadTimes     string
	RecoveryTimes string
	ComputedAt    time.Time
}

// TableName keeps the rollup's table name short and singular-free.
func (DORADay) TableName() string { return "dora_daily" }
