package models

import (
	"strconv"
	"time"
)

// Load-test run statuses.
const (
	LoadTestQueued   = "queued"
	LoadTestRunning  = "running"
	LoadTestPassed   = "passed"
	LoadTestFailed   = "failed"
	LoadTestCanceled = "canceled"
	// LoadTestError means the run could not attack at all (nothing
	// deployed, an invalid stored spec).
	LoadTestError = "error"
	// LoadTestInterrupted means the process running the attack stopped
	// before the end (a crash, kill -9, a shutdown). The run keeps the
	// windows published until then; its Error says why, and it never passes.
	LoadTestInterrupted = "interrupted"
)

// LoadTestFinished reports whether a run status is final.
func LoadTestFinished(status string) bool {
	return status != LoadTestQueued && status != LoadTestRunning
}

// LoadTestPlan is a saved, reusable load test of one environment of a
// project. Durations are stored in nanoseconds; a zero threshold is unset.
type LoadTestPlan struct {
	ID              int64
	ProjectID       int64
	Project         Project
	EnvironmentID   int64
	Environment     Environment
	Name            string
	Targets         string
	Pacer           string
	Rate            float64
	RateTo          float64
	Duration        time.Duration
	Timeout         time.Duration
	MaxWorkers      int64
	ThresholdP95    time.Duration
	ThresholdP99    time.Duration
	MinSuccessRatio float64
	MinThroughput   float64
	CreatedByID     *int64
	CreatedBy       *User
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// LoadTest is one run of a load test against an environment, from a plan
// or an inline spec. The spec, the report and the per-second windows are
// JSON written by the jobs layer (shapes of internal/loadtest); the models
// package keeps them as text.
type LoadTest struct {
	ID            int64
	ProjectID     int64
	Project       Project
	PlanID        *int64
	Plan          *LoadTestPlan
	EnvironmentID int64
	Environment   Environment
	// ReleaseID and ArtifactSHA256 are what was live in the environment
	// when the run started: what the run actually tested.
	ReleaseID      *int64
	ArtifactSHA256 string
	// BaseURL is the environment URL the targets resolved against.
	BaseURL string
	Spec    string
	// Duration is the spec's duration, kept for the progress bar.
	Duration        time.Duration
	Status          string
	Verdict         string
	Report          string
	Windows         string
	Error           string
	CancelRequested bool
	JobID           int64
	CreatedByID     *int64
	CreatedBy       *User
	CreatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
}

// Ref names the run as users see it ("#7").
func (l *LoadTest) Ref() string { return "#" + strconv.FormatInt(l.ID, 10) }

// LogStream names the run's live window stream in internal/logs.
func (l *LoadTest) LogStream() string { return LoadTestLogStream(l.ID) }

// ShortSHA is the tested artifact digest's first 12 characters.
func (l *LoadTest) ShortSHA() string { return ShortDigest(l.ArtifactSHA256) }

// LoadTestLimits are the admin caps every run is checked against when it is
// created. A zero field is no cap, except MaxConcurrent, where zero means
// DefaultLoadTestLimits' value.
type LoadTestLimits struct {
	ID int64
	// MaxRate caps the request rate (and a ramp's final rate), per second.
	MaxRate float64
	// MaxDuration caps a run's duration and its request timeout.
	MaxDuration time.Duration
	// MaxConcurrent caps runs queued or running at once, portal-wide.
	MaxConcurrent int
	// MaxWorkers caps the concurrent requests of one run.
	MaxWorkers  int64
	UpdatedByID *int64
	UpdatedBy   *User
	UpdatedAt   time.Time
}

// DefaultLoadTestLimits returns the caps in force until an admin changes
// them.
func DefaultLoadTestLimits() LoadTestLimits {
	return LoadTestLimits{MaxRate: 1000, MaxDuration: 10 * time.Minute, MaxConcurrent: 2, MaxWorkers: 256}
}
