package handlers

import (
	"encoding/json"
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
	deploy, err := h.deployButtons(c, b)
	if err != nil {
		return err
	}
	p.Deploy = deploy
	if deploy != nil {
		if p.AutoDeploySkips, err = h.autoDeploySkips(c, b); err != nil {
			return err
		}
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

// deployButtons is the build page's "Deploy to…" box: one button per
// environment of the project, each disabled with the reason when the
// user may not deploy there now (deployGate, as the environment page's
// form). Only a succeeded build with an artifact gets one.
func (h *Handler) deployButtons(c echo.Context, b *models.Build) (*pages.DeployButtonsView, error) {
	if b.Status != models.BuildSucceeded || b.ArtifactSHA256 == nil {
		return nil, nil
	}
	ctx := c.Request().Context()
	_, envs, err := h.store.ProjectEnvironments(ctx, b.Project.Slug)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(envs))
	for i := range envs {
		ids[i] = envs[i].ID
	}
	live, err := h.store.LiveReleases(ctx, ids)
	if err != nil {
		return nil, err
	}
	rels, err := h.store.ArtifactReleases(ctx, b.ProjectID, *b.ArtifactSHA256, 100)
	if err != nil {
		return nil, err
	}
	lastOfArtifact := map[int64]*models.Release{} // newest first
	for i := range rels {
		if lastOfArtifact[rels[i].EnvironmentID] == nil {
			lastOfArtifact[rels[i].EnvironmentID] = &rels[i]
		}
	}
	v := &pages.DeployButtonsView{Now: h.now(), CSRF: csrfToken(c), Project: b.Project.Slug, BuildID: b.ID, ArtifactSHA256: *b.ArtifactSHA256}
	for i := range envs {
		env := &envs[i]
		t := pages.DeployTarget{Name: env.Name, Protected: env.Protected}
		if t.Refusal, t.NeedsReason, err = h.deployGate(c, env); err != nil {
			return nil, err
		}
		if r := live[env.ID]; r != nil {
			t.LiveSHA = r.ArtifactSHA256
		}
		if r := lastOfArtifact[env.ID]; r != nil && r.Status == models.ReleaseFailed {
			rv := releaseView(r, b.Project.Slug, env.Name)
			t.Failed = &rv
		}
		v.Targets = append(v.Targets, t)
	}
	return v, nil
}

// autoDeploySkips reads the build's deploy.skipped audit events: the
// environments that did not auto-deploy it, and why, newest first.
func (h *Handler) autoDeploySkips(c echo.Context, b *models.Build) ([]pages.AutoDeploySkip, error) {
	evs, err := h.store.AuditEvents(c.Request().Context(), models.AuditFilter{Action: models.AuditDeploySkipped, ObjectType: "build", ObjectID: idString(b.ID), Limit: 20})
	if err != nil {
		return nil, err
	}
	var out []pages.AutoDeploySkip
	seen := map[string]bool{}
	for _, e := range evs {
		var d struct {
			Environment string `json:"environment"`
			Reason      string `json:"reason"`
		}
		if json.Unmarshal([]byte(e.Details), &d) != nil || seen[d.Environment] {
			continue
		}
		seen[d.Environment] = true
		out = append(out, pages.AutoDeploySkip{Environment: d.Environment, Reason: d.Reason})
	}
	return out, nil
}
