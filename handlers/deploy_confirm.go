package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
	"github.com/slipway-ci/slipway/views/pages"
)

// confirmDeploy shows the confirmation of a direct deploy into a
// protected environment: what is live, what the artifact went through
// (the gate's warnings), and a reason to give. It changes nothing; its
// form posts the deploy again with the reason.
func (h *Handler) confirmDeploy(c echo.Context, env *models.Environment, buildID int64, sha string) error {
	ctx := c.Request().Context()
	b, err := h.delivery.Target(ctx, env, buildID, sha)
	if err != nil {
		return err
	}
	d, err := h.delivery.Gate(ctx, currentUser(c), env, b)
	if err != nil {
		return err
	}
	if !d.Allowed {
		// Refused now (a freeze): say so before the reason is typed.
		return d.Err()
	}
	v := pages.ConfirmDeployPage{Now: h.now(), CSRF: csrfToken(c), Project: env.Project.Slug, ProjectName: env.Project.Name, Env: env.Name,
		BuildID: b.ID, BuildNumber: b.Number, Ref: b.Ref, Commit: models.ShortSHA(b.CommitSHA), Warnings: h.warningViews(d.Warnings),
		FreezeReason: c.FormValue("freeze_override_reason"), Approvals: env.ApprovalsRequired}
	v.CommitMessage, _, _ = strings.Cut(b.CommitMessage, "\n")
	if b.ArtifactSHA256 != nil {
		v.ArtifactSHA256 = *b.ArtifactSHA256
	}
	live, err := h.store.LiveRelease(ctx, env.ID)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	if live != nil {
		v.LiveRelease, v.LiveSHA = live.ID, live.ArtifactSHA256
	}
	status := http.StatusOK
	if c.FormValue("confirm") != "" {
		status, v.Error = http.StatusUnprocessableEntity, "Say why this deploy cannot go through a promotion: the reason is kept with the release and in the audit trail."
	}
	return h.renderStatus(c, status, "Deploy to "+env.Name+"?", "environments", pages.ConfirmDeploy(v))
}

// warningViews words the gate's warnings for a page, with relative times.
func (h *Handler) warningViews(ws []delivery.Warning) []pages.DeployWarning {
	now := h.now()
	out := make([]pages.DeployWarning, len(ws))
	for i, w := range ws {
		out[i] = pages.DeployWarning{Kind: w.Kind, Href: w.Href, Text: w.Text(func(t time.Time) string { return components.Relative(t, now) })}
	}
	return out
}
