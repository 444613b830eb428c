package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
	"github.com/slipway-ci/slipway/views/pages"
)

// maxDeployNote bounds the reason given for a deploy.
const maxDeployNote = 1000

// checkDeployNote: a direct deploy into a protected environment says why.
func checkDeployNote(env *models.Environment, note string) error {
	if len(note) > maxDeployNote {
		return badRequest(fmt.Sprintf("the reason is too long: at most %d characters", maxDeployNote))
	}
	if env.Protected && note == "" {
		return badRequest(fmt.Sprintf("%s is protected: a direct deploy needs a reason (the JSON field reason)", env.Name))
	}
	return nil
}

// confirmDeploy shows the confirmation of a direct deploy into a
// protected environment: what is live, what the artifact went through,
// and a reason to give. It changes nothing; its form posts the deploy
// again with the reason.
func (h *Handler) confirmDeploy(c echo.Context, env *models.Environment, buildID int64, sha string) error {
	ctx := c.Request().Context()
	if err := mayDeploy(currentUser(c), env); err != nil {
		return err
	}
	b, err := h.deployableBuild(c, env, buildID, sha)
	if err != nil {
		return err
	}
	warnings, err := h.deployWarnings(ctx, env, b)
	if err != nil {
		return err
	}
	v := pages.ConfirmDeployPage{Now: h.now(), CSRF: csrfToken(c), Project: env.Project.Slug, ProjectName: env.Project.Name, Env: env.Name,
		BuildID: b.ID, BuildNumber: b.Number, Ref: b.Ref, Commit: models.ShortSHA(b.CommitSHA), Warnings: warnings,
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

// deployWarnings is what should make someone deploying build b into env
// look twice: the artifact was rolled back or its promotion rejected
// somewhere, it never ran in the environment before env, or it has not
// passed the load test env's policy asks for.
func (h *Handler) deployWarnings(ctx context.Context, env *models.Environment, b *models.Build) ([]pages.DeployWarning, error) {
	if b.ArtifactSHA256 == nil {
		return nil, nil
	}
	sha, now := *b.ArtifactSHA256, h.now()
	rels, err := h.store.ArtifactReleases(ctx, env.ProjectID, sha, 50)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(rels))
	for i, r := range rels {
		ids[i] = r.ID
	}
	rollbacks, err := h.store.RollbacksOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []pages.DeployWarning
	ranIn := map[int64]bool{}
	for _, r := range rels {
		href := "/releases/" + strconv.FormatInt(r.ID, 10)
		switch rb := rollbacks[r.ID]; {
		case rb != nil:
			out = append(out, pages.DeployWarning{Kind: "rolled-back", Href: href, Text: fmt.Sprintf("This artifact was rolled back from %s %s%s (release %s).",
				r.Environment.Name, components.Relative(rb.CreatedAt, now), byUser(rb.CreatedBy), r.Ref())})
		case r.Rejected || r.Status == models.ReleaseRolledBack:
			out = append(out, pages.DeployWarning{Kind: "rolled-back", Href: href, Text: fmt.Sprintf("This artifact was rolled back from %s (release %s).", r.Environment.Name, r.Ref())})
		case r.Status == models.ReleaseFailed:
			out = append(out, pages.DeployWarning{Kind: "failed", Href: href, Text: fmt.Sprintf("Its deploy to %s failed %s (release %s).",
				r.Environment.Name, components.Relative(timeOr(r.FinishedAt, r.CreatedAt), now), r.Ref())})
		}
		if r.Status == models.ReleaseLive || r.Status == models.ReleaseSuperseded {
			ranIn[r.EnvironmentID] = true
		}
	}
	proms, err := h.store.Promotions(ctx, models.PromotionFilter{ProjectID: env.ProjectID, ArtifactSHA256: sha, Statuses: []string{models.PromotionRejected}, Limit: 20})
	if err != nil {
		return nil, err
	}
	for _, p := range proms {
		for _, a := range p.Approvals {
			if a.Decision == models.DecisionReject {
				out = append(out, pages.DeployWarning{Kind: "rejected", Href: "/promotions/" + strconv.FormatInt(p.ID, 10),
					Text: fmt.Sprintf("%s rejected promotion %s of this artifact to %s %s: %s", a.User.Username, p.Ref(), p.ToEnvironment.Name,
						components.Relative(a.CreatedAt, now), a.Comment)})
			}
		}
	}
	prev, err := h.store.PreviousEnvironment(ctx, env)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	if prev != nil {
		if !ranIn[prev.ID] {
			out = append(out, pages.DeployWarning{Kind: "gate", Text: fmt.Sprintf("It never ran in %s: a direct deploy skips the chain and the promotion's checks.", prev.Name)})
		}
		if env.RequireLoadTest {
			ok, reason, err := h.store.LoadTestGate(ctx, prev.ID, sha)
			if err != nil {
				return nil, err
			}
			if !ok {
				out = append(out, pages.DeployWarning{Kind: "gate", Text: "It did not pass the load-test gate of " + env.Name + ": " + reason + "."})
			}
		}
	}
	return out, nil
}

func byUser(u *models.User) string {
	if u == nil {
		return ""
	}
	return " by " + u.Username
}

func timeOr(t *time.Time, or time.Time) time.Time {
	if t == nil {
		return or
	}
	return *t
}
