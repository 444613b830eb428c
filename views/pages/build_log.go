package pages

import "github.com/slipway-ci/slipway/views/components"

// BuildLogPage is a build's log on a page of its own.
type BuildLogPage struct {
	BuildID   int64
	Number    int64
	Project   string
	Ref       string
	CommitSHA string
	Log       components.LogView
}
