package handlers

import (
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
	"github.com/slipway-ci/slipway/views/pages"
)

// buildPageLogLines is how many lines (the last ones) the build page
// shows; the raw download has them all.
const buildPageLogLines = 5000

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
	page, err := h.logs.Tail(c.Request().Context(), b.LogStream(), buildPageLogLines)
	if err != nil {
		return err
	}
	p.Log = buildLogView(b, page)
	title := b.Project.Name + " #" + idText(b.Number)
	return h.render(c, title, "builds", pages.Build(p))
}

func buildLogView(b *models.Build, page logs.Page) components.BuildLogView {
	v := components.BuildLogView{
		BuildID: b.ID, Total: page.Total, Truncated: page.Truncated || b.LogTruncated,
		Running: !models.BuildFinished(b.Status), RawURL: "/builds/" + idText(b.ID) + "/log?download=1",
	}
	for i, l := range page.Lines {
		if i == 0 {
			v.FirstLine = l.Line
		}
		v.Lines = append(v.Lines, components.LogLine{N: l.Line, Text: l.Text})
	}
	return v
}
