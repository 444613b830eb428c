package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// environmentParam loads the environment named by the :slug and :env
// route parameters.
func (h *Handler) environmentParam(c echo.Context) (*models.Environment, error) {
	env, err := h.store.EnvironmentByName(c.Request().Context(), c.Param("slug"), c.Param("env"))
	if errors.Is(err, models.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "no environment "+c.Param("env")+" in project "+c.Param("slug"))
	}
	return env, err
}

// releaseParam loads the release named by the :id route parameter.
func (h *Handler) releaseParam(c echo.Context) (*models.Release, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, echo.NewHTTPError(http.StatusNotFound, "no such release")
	}
	r, err := h.store.Release(c.Request().Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "no such release")
	}
	return r, err
}

// releaseView maps a release for the pages.
func releaseView(r *models.Release, project, env string) pages.ReleaseView {
	v := pages.ReleaseView{ID: r.ID, Project: project, Env: env, Status: r.Status, Reason: r.Reason, Note: r.Note, Rejected: r.Rejected,
		ArtifactSHA256: r.ArtifactSHA256, ConfigVersion: r.ConfigVersion, CreatedAt: r.CreatedAt, Error: r.Error}
	if b := r.Build; b != nil {
		v.BuildID, v.BuildNumber, v.Ref, v.Commit = b.ID, b.Number, b.Ref, models.ShortSHA(b.CommitSHA)
		v.CommitMessage, _, _ = strings.Cut(b.CommitMessage, "\n")
	}
	if r.CreatedBy != nil {
		v.By = r.CreatedBy.Username
	}
	if r.StartedAt != nil {
		v.StartedAt = *r.StartedAt
	}
	if r.FinishedAt != nil {
		v.FinishedAt = *r.FinishedAt
	}
	if r.RollbackOfID != nil {
		v.RollbackOf = *r.RollbackOfID
	}
	if r.SourceReleaseID != nil {
		v.Source = *r.SourceReleaseID
	}
	return v
}

// releaseJSON is a release in the API.
type releaseJSON struct {
	ID              int64   `json:"id"`
	Project         string  `json:"project,omitempty"`
	Environment     string  `json:"environment"`
	Status          string  `json:"status"`
	Reason          string  `json:"reason"`
	Note            string  `json:"note,omitempty"`
	ArtifactSHA256  string  `json:"artifact_sha256"`
	BuildID         *int64  `json:"build_id"`
	ConfigVersion   int64   `json:"config_version"`
	Rejected        bool    `json:"rejected"`
	CreatedBy       string  `json:"created_by,omitempty"`
	RollbackOf      *int64  `json:"rollback_of,omitempty"`
	SourceReleaseID *int64  `json:"source_release_id,omitempty"`
	WaitingFor      int64   `json:"waiting_for,omitempty"`
	CreatedAt       string  `json:"created_at"`
	StartedAt       *string `json:"started_at"`
	FinishedAt      *string `json:"finished_at"`
	Error           string  `json:"error,omitempty"`
	Output          string  `json:"output,omitempty"`
	// LogURL is the deploy log as plain text.
	LogURL string `json:"log_url"`
}

func toReleaseJSON(r *models.Release, env *models.Environment) releaseJSON {
	const layout = "2006-01-02T15:04:05.000Z07:00"
	j := releaseJSON{ID: r.ID, Environment: env.Name, Project: env.Project.Slug, Status: r.Status, Reason: r.Reason, Note: r.Note,
		ArtifactSHA256: r.ArtifactSHA256, BuildID: r.BuildID, ConfigVersion: r.ConfigVersion, Rejected: r.Rejected,
		RollbackOf: r.RollbackOfID, SourceReleaseID: r.SourceReleaseID, CreatedAt: r.CreatedAt.UTC().Format(layout),
		Error: r.Error, Output: r.Output, LogURL: "/api/v1/releases/" + idString(r.ID) + "/log"}
	if r.CreatedBy != nil {
		j.CreatedBy = r.CreatedBy.Username
	}
	if r.StartedAt != nil {
		s := r.StartedAt.UTC().Format(layout)
		j.StartedAt = &s
	}
	if r.FinishedAt != nil {
		s := r.FinishedAt.UTC().Format(layout)
		j.FinishedAt = &s
	}
	return j
}

func errorsIsNotFound(err error) bool { return errors.Is(err, models.ErrNotFound) }
