package handlers

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/loadtest"
)

// apiLoadTest is a run as the API shows it.
type apiLoadTest struct {
	ID          int64  `json:"id"`
	Project     string `json:"project"`
	Environment string `json:"environment"`
	PlanID      *int64 `json:"plan_id"`
	Status      string `json:"status"`
	// Verdict is "pass" or "fail" once finished, "" before.
	Verdict string `json:"verdict"`
	Error   string `json:"error,omitempty"`
	// StatusReason says why a run ended as it did when that is not its
	// verdict (interrupted, error, canceled); the same text as Error, named
	// like the builds' and promotions' field.
	StatusReason   string            `json:"status_reason,omitempty"`
	ArtifactSHA256 string            `json:"artifact_sha256,omitempty"`
	ReleaseID      *int64            `json:"release_id,omitempty"`
	BaseURL        string            `json:"base_url,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	StartedAt      *time.Time        `json:"started_at,omitempty"`
	FinishedAt     *time.Time        `json:"finished_at,omitempty"`
	Metrics        *apiMetrics       `json:"metrics"`
	Thresholds     []loadtest.Check  `json:"thresholds"`
	Windows        []loadtest.Window `json:"windows"`
}

// apiMetrics are Vegeta's metrics of a finished run; latencies in ms.
type apiMetrics struct {
	Requests    uint64             `json:"requests"`
	Rate        float64            `json:"rate"`
	Throughput  float64            `json:"throughput"`
	Success     float64            `json:"success"`
	Latencies   loadtest.Latencies `json:"latencies"`
	BytesIn     uint64             `json:"bytes_in"`
	BytesOut    uint64             `json:"bytes_out"`
	StatusCodes map[string]int     `json:"status_codes"`
	Errors      []string           `json:"errors"`
	Histogram   []loadtest.Bucket  `json:"histogram"`
	DurationMS  float64            `json:"duration_ms"`
	Canceled    bool               `json:"canceled"`
	// Targets breaks requests and errors down per target; empty for runs
	// recorded before the breakdown existed.
	Targets []loadtest.TargetStats `json:"targets"`
}

// apiShowLoadTest returns a run's status, verdict, metrics and threshold
// checks (metrics null and thresholds empty until it finishes).
func (h *Handler) apiShowLoadTest(c echo.Context) error {
	l, err := h.loadTestFrom(c)
	if err != nil {
		return err
	}
	out := apiLoadTest{ID: l.ID, Project: l.Project.Slug, Environment: l.Environment.Name, PlanID: l.PlanID, Status: l.Status,
		Verdict: l.Verdict, Error: l.Error, StatusReason: l.Error, ArtifactSHA256: l.ArtifactSHA256, ReleaseID: l.ReleaseID, BaseURL: l.BaseURL,
		CreatedAt: l.CreatedAt, StartedAt: l.StartedAt, FinishedAt: l.FinishedAt, Thresholds: []loadtest.Check{}, Windows: []loadtest.Window{}}
	if rep := reportOf(l); rep != nil {
		out.Metrics = &apiMetrics{Requests: rep.Requests, Rate: rep.Rate, Throughput: rep.Throughput, Success: rep.Success,
			Latencies: rep.Latencies, BytesIn: rep.BytesIn, BytesOut: rep.BytesOut, StatusCodes: rep.StatusCodes, Errors: rep.Errors,
			Histogram: rep.Histogram, DurationMS: float64(rep.Duration) / float64(time.Millisecond), Canceled: rep.Canceled, Targets: rep.Targets}
		if out.Metrics.Targets == nil {
			out.Metrics.Targets = []loadtest.TargetStats{}
		}
		out.Thresholds, out.Windows = rep.Checks, rep.Windows
	} else if l.Windows != "" {
		_ = json.Unmarshal([]byte(l.Windows), &out.Windows)
	}
	return c.JSON(http.StatusOK, out)
}
