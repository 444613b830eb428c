package pages

import (
	"time"

	"github.com/slipway-ci/slipway/views/components"
)

// ProjectOption is a project in a select.
type ProjectOption struct {
	Slug, Name string
}

// BuildRow is one build as lists show it.
type BuildRow struct {
	ID, Number    int64
	ProjectSlug   string
	ProjectName   string
	Ref, RefType  string
	CommitSHA     string
	CommitMessage string
	CommitAuthor  string
	Trigger       string
	TriggeredBy   string
	Status        string
	CreatedAt     time.Time
	// Duration is zero until the build finished.
	Duration time.Duration
}

// BuildsFilter is what the builds list is narrowed to.
type BuildsFilter struct {
	Project, Ref, Status string
}

// BuildsPage is the builds list.
type BuildsPage struct {
	Now      time.Time
	Builds   []BuildRow
	Projects []ProjectOption
	Statuses []string
	Filter   BuildsFilter
	// CanRun shows the "Run build" button.
	CanRun bool
	// More is set when older builds exist; OlderURL lists them.
	OlderURL string
}

// BuildStepRow is one step on the build page.
type BuildStepRow struct {
	Name      string
	Status    string
	ExitCode  *int
	Duration  time.Duration
	FirstLine int
	LastLine  int
}

// BuildPage is one build.
type BuildPage struct {
	CSRF              string
	Now               time.Time
	Build             BuildRow
	StatusReason      string
	CommitAuthorEmail string
	RepoURL           string
	StartedAt         time.Time
	FinishedAt        time.Time
	Steps             []BuildStepRow
	ArtifactSHA256    string
	ArtifactSize      int64
	// CanCancel shows the cancel button (unfinished build, allowed role).
	CanCancel bool
	// CanRun shows "Run again".
	CanRun bool
	// Deploy is the "Deploy to…" box of a succeeded build with an
	// artifact; nil otherwise.
	Deploy *DeployButtonsView
	// AutoDeploySkips says which environments following the build's
	// branch did not take it, and why (an older commit than what is live).
	AutoDeploySkips []AutoDeploySkip
	// Log is the live log viewer (components.LogViewer).
	Log components.LogView
}

// AutoDeploySkip is one auto-deploy the portal declined for a build.
type AutoDeploySkip struct {
	Environment string
	Reason      string
}

// RunBuildFormData is the "Run build" form; the project page embeds it
// with a fixed Project, the /builds/new page with a project select.
type RunBuildFormData struct {
	CSRF string
	// Project is the chosen project's slug; with Projects empty it is
	// sent as a hidden field.
	Project  string
	Projects []ProjectOption
	// Ref is pre-filled (the default branch, or what was typed).
	Ref   string
	Error string
}
