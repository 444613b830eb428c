package handlers

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showBuild is the build page.
func (h *Handler) showBuild(c echo.Context) error {
	b := buildFrom(c)
	role := roleOf(currentUser(c))
	p := pages.BuildPage{
		CSRF:              csrfToken(c),
		Now:               h.now(),
		Build:             buildRow(b),
		StatusReason:      b.StatusReason,
		CommitAuthorEmail: b.CommitAuthorEmail,
		RepoURL:           gitrepo.RedactURL(b.Project.RepoURL),
		CanCancel:         !models.BuildFinished(b.Status) && auth.Can(role, auth.CancelBuild),
		CanRun:            auth.Can(role, auth.RunBuild),
	}
	if b.StartedAt != nil {
		p.StartedAt = *b.StartedAt
	}
	if b.FinishedAt != nil {
		p.FinishedAt = *b.FinishedAt
	}
	if b.ArtifactSHA256 != nil {
		p.ArtifactSHA256 = *b.ArtifactSHA256
		if b.Artifact != nil {
			p.ArtifactSize = b.Artifact.Size
		}
	}
	for _, s := range b.Steps {
		p.Steps = append(p.Steps, pages.BuildStepRow{Name: s.Name, Status: s.Status, ExitCode: s.ExitCode,
			Duration: time.Duration(s.DurationMS) * time.Millisecond, FirstLine: s.FirstLine, LastLine: s.LastLine})
	}
	log, err := h.logView(c, h.buildLogTarget(b), buildLogState(b, h.now()))
	if err != nil {
		return err
	}
	log.Truncated = log.Truncated || b.LogTruncated
	p.Log = log
	title := b.Project.Name + " #" + idText(b.Number)
	return h.render(c, title, "builds", pages.Build(p))
}
