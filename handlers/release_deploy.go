package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
)

// deployRequest is the body of POST …/deploys.
type deployRequest struct {
	BuildID        int64  `json:"build_id"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	// FreezeOverrideReason lets an admin deploy during a freeze window.
	FreezeOverrideReason string `json:"freeze_override_reason"`
	// Reason says why; a protected environment requires it.
	Reason string `json:"reason"`
}

// apiDeploy queues a deploy: 201 with the pending release.
func (h *Handler) apiDeploy(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	var req deployRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	r, err := h.delivery.Deploy(c.Request().Context(), delivery.DeployInput{Actor: currentUser(c), Env: env, BuildID: req.BuildID,
		ArtifactSHA256: req.ArtifactSHA256, Note: req.Reason, FreezeReason: req.FreezeOverrideReason})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toReleaseJSON(r, env))
}

// deployFromForm queues a deploy from the environment page's form or a
// build page's "Deploy to…" box and opens the new release's page, where
// its log streams live. Into a protected environment it first shows a
// confirmation with what an approver should know and asks for a reason.
func (h *Handler) deployFromForm(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	buildID, _ := strconv.ParseInt(c.FormValue("build_id"), 10, 64)
	sha, note := c.FormValue("artifact_sha256"), strings.TrimSpace(c.FormValue("reason"))
	if env.Protected && note == "" {
		return h.confirmDeploy(c, env, buildID, sha)
	}
	r, err := h.delivery.Deploy(c.Request().Context(), delivery.DeployInput{Actor: currentUser(c), Env: env, BuildID: buildID,
		ArtifactSHA256: sha, Note: note, FreezeReason: c.FormValue("freeze_override_reason")})
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/releases/"+strconv.FormatInt(r.ID, 10), "success",
		fmt.Sprintf("Release #%d to %s is queued.", r.ID, env.Name))
}

// deployGate is the gate's answer for the forms that offer a deploy
// without naming a build yet: refusal is why not ("" when allowed), and
// needsReason says a deploy goes through only with a reason overriding
// an active freeze.
func (h *Handler) deployGate(c echo.Context, env *models.Environment) (refusal string, needsReason bool, err error) {
	d, err := h.delivery.Gate(c.Request().Context(), currentUser(c), env, nil)
	if err != nil {
		return "", false, err
	}
	return d.Refusal, d.FreezeOverridable, nil
}
