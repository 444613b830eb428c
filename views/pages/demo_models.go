package pages

import (
	"strconv"
	"time"
)

// DemoPage is the demo project's guide.
type DemoPage struct {
	CSRF string
	Now  time.Time
	// CanCreate is false when the portal has no demo directory.
	CanCreate bool
	// Exists is true once the demo project is linked; the rest is empty
	// until then.
	Exists bool
	Slug   string
	Name   string
	// RepoDir is the linked repository of a demo made before the demo was
	// hosted; Hosted and CloneURL describe a hosted one.
	RepoDir  string
	Hosted   bool
	CloneURL string
	// Version is what the demo repository has committed ("v1").
	Version string
	// RepoProblem says why the version cannot be read (the repository was
	// moved or edited by hand).
	RepoProblem string
	// LeadName and LeadPassword are set on the one view right after the
	// demo was created.
	LeadName, LeadPassword string
	Steps                  []DemoStep
}

// DemoStep is one stage of the demo journey.
type DemoStep struct {
	TestID   string
	Title    string
	Text     string
	Href     string
	LinkText string
	// Status is the build status for the build step.
	Status string
	Done   bool
	// Ship puts the "Ship a change" button in the step.
	Ship bool
}

// current reports whether step i is the first one not done.
func (p DemoPage) current(i int) bool {
	for j, s := range p.Steps {
		if !s.Done {
			return j == i
		}
	}
	return false
}

// stepBadgeClass colours a step's number: done steps are green and carry
// a check mark, so colour is never the only sign.
func stepBadgeClass(done bool) string {
	if done {
		return "bg-emerald-600 text-white"
	}
	return "bg-slate-200 text-slate-700"
}

// nextVersion is the version after v ("v1" → "v2"), or "".
func nextVersion(v string) string {
	if len(v) < 2 || v[0] != 'v' {
		return ""
	}
	n, err := strconv.Atoi(v[1:])
	if err != nil {
		return ""
	}
	return "v" + strconv.Itoa(n+1)
}
