package handlers

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// startDeploy queues a deploy of a build (or of an artifact, by digest)
// into env for the current user. A protected environment needs a reason
// (note), kept on the release and in the audit event.
func (h *Handler) startDeploy(c echo.Context, env *models.Environment, buildID int64, sha, note string) (*models.Release, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	if err := mayDeploy(u, env); err != nil {
		return nil, err
	}
	note = strings.TrimSpace(note)
	if err := checkDeployNote(env, note); err != nil {
		return nil, err
	}
	b, err := h.deployableBuild(c, env, buildID, sha)
	if err != nil {
		return nil, err
	}
	override, err := h.checkFreeze(c, env)
	if err != nil {
		return nil, err
	}
	warnings, err := h.deployWarnings(ctx, env, b)
	if err != nil {
		return nil, err
	}
	var r *models.Release
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if r, err = h.jobs.EnqueueDeploy(ctx, tx, jobs.DeployRequest{Env: env, Build: b, Reason: models.ReasonDeploy, By: &u.ID, Note: note}); err != nil {
			return err
		}
		if override != nil {
			// The override is recorded with the release it let through.
			override["release"] = r.ID
			if err := tx.AppendAudit(ctx, auditBy(c, models.AuditFreezeOverride, "environment", idString(env.ID), override)); err != nil {
				return err
			}
		}
		details := map[string]any{
			"project": env.Project.Slug, "environment": env.Name, "build_id": b.ID, "build_number": b.Number,
			"artifact_sha256": r.ArtifactSHA256, "config_version": r.ConfigVersion,
		}
		if note != "" {
			details["reason"] = note
		}
		if len(warnings) > 0 {
			texts := make([]string, len(warnings))
			for i, w := range warnings {
				texts[i] = w.Text
			}
			details["warnings"] = texts
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditDeploy, "release", idString(r.ID), details))
	})
	if errors.Is(err, jobs.ErrNoSecretBox) {
		return nil, echo.NewHTTPError(http.StatusConflict, env.Name+" has secrets, but this portal has no secret key to open them")
	}
	if err != nil {
		return nil, err
	}
	r.CreatedBy = u
	return r, nil
}

// deployableBuild resolves what a deploy names: a build by ID or the
// build that made an artifact, by digest.
func (h *Handler) deployableBuild(c echo.Context, env *models.Environment, buildID int64, sha string) (*models.Build, error) {
	ctx := c.Request().Context()
	var (
		b   *models.Build
		err error
	)
	switch {
	case buildID > 0 && sha != "":
		return nil, badRequest("give build_id or artifact_sha256, not both")
	case buildID > 0:
		b, err = h.store.DeployableBuild(ctx, env.ProjectID, buildID)
		if errors.Is(err, models.ErrNotFound) {
			return nil, echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no build %d in project %s", buildID, env.Project.Slug))
		}
		if errors.Is(err, models.ErrNotDeployable) {
			return nil, echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("build #%d cannot be deployed: it is %s and kept no artifact", b.Number, b.Status))
		}
	case sha != "":
		if raw, derr := hex.DecodeString(sha); derr != nil || len(raw) != 32 {
			return nil, badRequest("artifact_sha256 must be 64 hexadecimal characters")
		}
		b, err = h.store.BuildForArtifact(ctx, env.ProjectID, sha)
		if errors.Is(err, models.ErrNotFound) {
			return nil, echo.NewHTTPError(http.StatusNotFound, "no succeeded build of project "+env.Project.Slug+" made artifact "+sha)
		}
	default:
		return nil, badRequest("say what to deploy: build_id or artifact_sha256")
	}
	return b, err
}

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
	c.Set(ctxFreezeReason, req.FreezeOverrideReason)
	r, err := h.startDeploy(c, env, req.BuildID, req.ArtifactSHA256, req.Reason)
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
	r, err := h.startDeploy(c, env, buildID, sha, note)
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/releases/"+strconv.FormatInt(r.ID, 10), "success",
		fmt.Sprintf("Release #%d to %s is queued.", r.ID, env.Name))
}

// deployGate says whether u may deploy into env now, by the rules
// startDeploy enforces (the role, protection, freeze windows), for the
// forms that offer a deploy: refusal is why not ("" when allowed), and
// needsReason says an admin may deploy only with a reason to override an
// active freeze.
func (h *Handler) deployGate(u *models.User, env *models.Environment) (refusal string, needsReason bool) {
	if !auth.Can(roleOf(u), auth.DeployUnprotected) {
		return "deploying needs the developer, lead or admin role", false
	}
	var he *echo.HTTPError
	if err := mayDeploy(u, env); errors.As(err, &he) {
		return fmt.Sprint(he.Message), false
	}
	pol, err := jobs.PolicyOf(env)
	if err != nil {
		return "its policy cannot be read: " + err.Error(), false
	}
	_, err = pol.CheckDeploy(jobs.PersonOf(u), h.now(), "")
	var de *policy.DeniedError
	switch {
	case errors.Is(err, policy.ErrOverrideReason):
		return "", true
	case errors.As(err, &de):
		return de.Message, false
	case err != nil:
		return err.Error(), false
	}
	return "", false
}
