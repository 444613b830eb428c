package pages

import "time"

// LoadTestRunRow is one run in a list.
type LoadTestRunRow struct {
	ID          int64
	Ref         string
	Project     string
	Environment string
	Plan        string
	Status      string
	Verdict     string
	Artifact    string
	By          string
	CreatedAt   time.Time
}

// LoadTestPlanRow is one saved plan in a list.
type LoadTestPlanRow struct {
	ID          int64
	Name        string
	Project     string
	Environment string
	// Load summarizes rate, pacer and duration ("50 req/s for 30s").
	Load string
	// Deployed says whether the environment has something to attack.
	Deployed bool
}

// LoadTestsPage is the load-test area: recent runs and saved plans.
type LoadTestsPage struct {
	CSRF   string
	Now    time.Time
	CanRun bool
	// HasEnvironments says whether any project has an environment to plan for.
	HasEnvironments bool
	Runs            []LoadTestRunRow
	Plans           []LoadTestPlanRow
	// Limits describes the admin caps in force.
	Limits string
	// IsAdmin shows the link to the limits page.
	IsAdmin bool
}

// EnvironmentOption is one environment a plan can target.
type EnvironmentOption struct {
	ID       int64
	Project  string
	Name     string
	Deployed bool
}

// LoadTestPlanForm is the form to create or edit a plan. Values hold what
// was typed, Errors the message of each invalid field by form name.
type LoadTestPlanForm struct {
	CSRF string
	// ID is 0 for a new plan.
	ID           int64
	Environments []EnvironmentOption
	Values       map[string]string
	Errors       map[string]string
	// FormError is a problem with the form as a whole.
	FormError string
	// Caps describe the admin limits next to the fields they bound.
	MaxRate, MaxDuration, MaxWorkers string
}

// MetricRow is one labelled value in a metrics table.
type MetricRow struct {
	Label, Value string
}

// CheckRow is one threshold of a verdict.
type CheckRow struct {
	Name, Want, Got string
	Pass            bool
}

// HistogramBar is one bucket of the latency histogram.
type HistogramBar struct {
	Label string
	Count uint64
	// Percent is the share of all requests, 0..100, for the bar width.
	Percent float64
}

// CountRow is a key with a count (status codes).
type CountRow struct {
	Key   string
	Count int
}

// TargetRow is one target's share of a run: its requests, errors and the
// most frequent error messages and status codes.
type TargetRow struct {
	// Target reads like a target line ("GET /healthz").
	Target   string
	Requests uint64
	Errors   uint64
	// ErrorPercent is Errors as a share of Requests, formatted ("12.5 %").
	ErrorPercent string
	// TopErrors are the most frequent error messages with their counts.
	TopErrors []CountRow
	// Codes are the status codes, the most frequent first.
	Codes []CountRow
}

// CompareOption is another run of the same plan.
type CompareOption struct {
	ID    int64
	Label string
}

// LoadTestRunPage is one run: live while it runs, the full result after.
type LoadTestRunPage struct {
	CSRF        string
	Now         time.Time
	ID          int64
	Ref         string
	Project     string
	Environment string
	PlanID      int64
	Plan        string
	Status      string
	Verdict     string
	Error       string
	Artifact    string
	ReleaseRef  string
	BaseURL     string
	By          string
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	// DurationSeconds is the planned duration, for the progress bar.
	DurationSeconds int
	// Spec lines describe what was asked.
	Spec    []MetricRow
	Targets string
	Running bool
	// CanCancel is set for a queued or running run the user may stop.
	CanCancel bool
	CanRun    bool
	// Finished results (empty while running).
	HasReport   bool
	Latencies   []MetricRow
	Summary     []MetricRow
	StatusCodes []CountRow
	Errors      []string
	// PerTarget breaks the run down per target (empty for old reports).
	PerTarget []TargetRow
	Histogram []HistogramBar
	Checks    []CheckRow
	// HasWindows is set for a finished run without a report (interrupted)
	// that kept the windows measured until it stopped; Summary then holds
	// totals summed from them.
	HasWindows bool
	// WindowsJSON is the per-second series as JSON for the chart.
	WindowsJSON string
	// ThresholdsJSON holds the thresholds the chart draws as lines:
	// {"p95","p99" (ms),"max_error_pct","min_throughput"}, unset ones left out.
	ThresholdsJSON string
	Compare        []CompareOption
	// Assets for the chart.
	ChartJS, ChartCSS string
}

// DeltaRow is one metric of a comparison.
type DeltaRow struct {
	Label, A, B, Abs, Rel string
	// Better and Worse say which way B moved against A; neither when equal.
	Better, Worse bool
	// Incomparable marks a delta between runs that sent different load.
	Incomparable bool
	// Neutral marks a metric that has no better direction (what was sent).
	Neutral bool
}

// LoadTestComparePage puts two runs of a plan side by side.
type LoadTestComparePage struct {
	Plan   string
	A, B   LoadTestRunRow
	Deltas []DeltaRow
	// ChecksA and ChecksB are each run's verdict checks.
	ChecksA, ChecksB []CheckRow
	// LoadDiffers lists how the two runs' load differed; when it is not
	// empty no delta is called better or worse.
	LoadDiffers []string
	// AWindowsJSON and BWindowsJSON are each run's per-second series for
	// the overlaid chart; ADurationSeconds and BDurationSeconds their
	// planned durations.
	AWindowsJSON, BWindowsJSON         string
	ADurationSeconds, BDurationSeconds int
	// Assets for the chart.
	ChartJS, ChartCSS string
}

// LoadTestLimitsPage is the admin page of load-test caps.
type LoadTestLimitsPage struct {
	CSRF      string
	Values    map[string]string
	Errors    map[string]string
	UpdatedAt time.Time
	Now       time.Time
}
