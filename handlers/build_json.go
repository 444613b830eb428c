package handlers

import (
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// buildJSON is a build as the API lists it.
type buildJSON struct {
	ID            int64         `json:"id"`
	Number        int64         `json:"number"`
	Project       string        `json:"project"`
	Ref           string        `json:"ref"`
	RefType       string        `json:"ref_type"`
	CommitSHA     string        `json:"commit_sha"`
	CommitAuthor  string        `json:"commit_author"`
	CommitMessage string        `json:"commit_message"`
	Trigger       string        `json:"trigger"`
	TriggeredBy   string        `json:"triggered_by,omitempty"`
	Status        string        `json:"status"`
	StatusReason  string        `json:"status_reason,omitempty"`
	LogTruncated  bool          `json:"log_truncated"`
	CreatedAt     time.Time     `json:"created_at"`
	StartedAt     *time.Time    `json:"started_at"`
	FinishedAt    *time.Time    `json:"finished_at"`
	DurationMS    int64         `json:"duration_ms"`
	Artifact      *artifactJSON `json:"artifact"`
	URL           string        `json:"url"`
	LogURL        string        `json:"log_url"`
}

// buildDetailJSON is one build with its steps.
type buildDetailJSON struct {
	buildJSON
	Steps []stepJSON `json:"steps"`
}

type stepJSON struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	ExitCode   *int   `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	FirstLine  int    `json:"first_line"`
	LastLine   int    `json:"last_line"`
}

type artifactJSON struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

func toBuildJSON(b *models.Build) buildJSON {
	out := buildJSON{
		ID: b.ID, Number: b.Number, Project: b.Project.Slug, Ref: b.Ref, RefType: b.RefType,
		CommitSHA: b.CommitSHA, CommitAuthor: b.CommitAuthor, CommitMessage: b.CommitMessage,
		Trigger: b.Trigger, Status: b.Status, StatusReason: b.StatusReason, LogTruncated: b.LogTruncated,
		CreatedAt: b.CreatedAt, StartedAt: b.StartedAt, FinishedAt: b.FinishedAt,
		DurationMS: buildDuration(b).Milliseconds(),
		URL:        "/builds/" + idText(b.ID), LogURL: "/api/v1/builds/" + idText(b.ID) + "/log",
	}
	if b.TriggeredBy != nil {
		out.TriggeredBy = b.TriggeredBy.Username
	}
	if b.ArtifactSHA256 != nil {
		a := &artifactJSON{SHA256: *b.ArtifactSHA256, URL: "/api/v1/artifacts/" + *b.ArtifactSHA256}
		if b.Artifact != nil {
			a.Size = b.Artifact.Size
		}
		out.Artifact = a
	}
	return out
}

func toBuildDetailJSON(b *models.Build) buildDetailJSON {
	out := buildDetailJSON{buildJSON: toBuildJSON(b), Steps: []stepJSON{}}
	for _, s := range b.Steps {
		out.Steps = append(out.Steps, stepJSON{Name: s.Name, Status: s.Status, ExitCode: s.ExitCode,
			DurationMS: s.DurationMS, FirstLine: s.FirstLine, LastLine: s.LastLine})
	}
	return out
}

// buildDuration is how long a finished build ran (zero before the end).
func buildDuration(b *models.Build) time.Duration {
	if b.StartedAt == nil || b.FinishedAt == nil {
		return 0
	}
	return b.FinishedAt.Sub(*b.StartedAt)
}

func idText(id int64) string { return strconv.FormatInt(id, 10) }
