package models

import "time"

// Build statuses.
const (
	BuildQueued      = "queued"
	BuildRunning     = "running"
	BuildSucceeded   = "succeeded"
	BuildFailed      = "failed"
	BuildCanceled    = "canceled"
	BuildInterrupted = "interrupted"
)

// BuildFinished reports whether a build status is final.
func BuildFinished(status string) bool {
	switch status {
	case BuildSucceeded, BuildFailed, BuildCanceled, BuildInterrupted:
		return true
	}
	return false
}

// Build is one run of a project's pipeline for one commit.
type Build struct {
	ID                int64
	ProjectID         int64
	Project           Project
	Number            int64
	Ref               string
	RefType           string // branch | tag | commit
	CommitSHA         string
	CommitAuthor      string
	CommitAuthorEmail string
	CommitMessage     string
	Trigger           string // manual | api | webhook | poll
	TriggeredByID     *int64
	TriggeredBy       *User
	Status            string
	StatusReason      string
	// PipelineYAML is the .slipway.yml the build ran with; deploys read
	// its app section, so an artifact always runs the way it was built.
	PipelineYAML   string
	ArtifactSHA256 *string
	Artifact       *Artifact `gorm:"foreignKey:ArtifactSHA256;references:SHA256"`
	LogTruncated   bool
	JobID          int64
	// WorkerID names the process running the build (host/pid/start); with
	// HeartbeatAt it lets a restarted worker tell a build whose process
	// died from one still running elsewhere.
	WorkerID    string
	HeartbeatAt *time.Time
	// CancelRequestedAt is set by a cancel; the running worker polls it
	// as a fallback to River's cancel notification.
	CancelRequestedAt *time.Time
	CanceledByID      *int64
	CreatedAt         time.Time
	StartedAt         *time.Time
	FinishedAt        *time.Time
	Steps             []BuildStep `gorm:"foreignKey:BuildID"`
}

// LogStream names the build's log stream in internal/logs.
func (b *Build) LogStream() string { return BuildLogStream(b.ID) }

// Build step statuses (besides the runner's succeeded, failed, canceled,
// timed_out and skipped).
const (
	StepPending = "pending"
	StepRunning = "running"
)

// BuildStep is one step of a build (plus the synthetic "checkout",
// "config" and "artifact" steps).
type BuildStep struct {
	ID         int64
	BuildID    int64
	Position   int
	Name       string
	Status     string
	ExitCode   *int
	FirstLine  int
	LastLine   int
	StartedAt  *time.Time
	FinishedAt *time.Time
	DurationMS int64
}

// Artifact is an immutable, content-addressed build output.
type Artifact struct {
	SHA256    string `gorm:"primaryKey"`
	Size      int64
	CreatedAt time.Time
}
