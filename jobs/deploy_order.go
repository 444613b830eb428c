package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// autoDeploySkip says why build b must not auto-deploy over release head
// (what is live in the environment, or queued to be), or "" when it may.
//
// The rule: a build deploys when its commit descends from head's commit
// (git merge-base --is-ancestor in the project's mirror), so a build that
// finishes late never puts an older commit back. When neither commit
// descends from the other (the branch was force-pushed) or the mirror
// cannot tell (it lacks a commit), push order decides: only a build
// created after head's build deploys. A build of the commit already there
// deploys only if it is the newer build.
func autoDeploySkip(ctx context.Context, deps Deps, head *models.Release, b *models.Build) string {
	hb := head.Build
	if hb == nil || hb.ID == b.ID {
		if hb != nil {
			return fmt.Sprintf("build #%d is already release #%d here", b.Number, head.ID)
		}
		return "" // an artifact deployed by digest: nothing to compare with
	}
	what := fmt.Sprintf("release #%d (build #%d, commit %s, %s)", head.ID, hb.Number, models.ShortSHA(hb.CommitSHA), head.Status)
	newer := b.ID > hb.ID
	if hb.CommitSHA == b.CommitSHA {
		if newer {
			return ""
		}
		return fmt.Sprintf("%s is a newer build of the same commit", what)
	}
	mirror := mirrorDir(deps, b.ProjectID)
	forward, err := gitrepo.IsAncestor(ctx, mirror, hb.CommitSHA, b.CommitSHA)
	if err == nil && forward {
		return ""
	}
	if err == nil {
		back, berr := gitrepo.IsAncestor(ctx, mirror, b.CommitSHA, hb.CommitSHA)
		if berr == nil && back {
			return fmt.Sprintf("commit %s is older than %s: it is an ancestor of that commit", models.ShortSHA(b.CommitSHA), what)
		}
		err = berr
	}
	if err != nil {
		deps.Logger.Warn("auto-deploy: ancestry unknown, push order decides", slog.Int64("build", b.ID), slog.Any("err", err))
	}
	if newer {
		return "" // history was rewritten (force push): the later push wins
	}
	if err != nil {
		return fmt.Sprintf("the mirror cannot tell whether commit %s descends from %s, and build #%d was created before build #%d",
			models.ShortSHA(b.CommitSHA), what, b.Number, hb.Number)
	}
	return fmt.Sprintf("commit %s does not descend from %s (the branch was rewritten), and build #%d was created before build #%d",
		models.ShortSHA(b.CommitSHA), what, b.Number, hb.Number)
}

// recordSkip writes the deploy.skipped audit event of an auto-deploy the
// portal declined: the build page and the audit trail show it.
func recordSkip(ctx context.Context, store *models.Store, env *models.Environment, b *models.Build, head *models.Release, why string) error {
	details := map[string]any{
		"project": env.Project.Slug, "environment": env.Name, "build_number": b.Number, "commit": b.CommitSHA, "reason": why,
	}
	if head != nil {
		details["release"] = head.ID
	}
	return store.AppendAudit(ctx, models.NewAuditEvent(nil, models.AuditDeploySkipped, "build", strconv.FormatInt(b.ID, 10), details))
}

// recheckAuto is the deploy worker's last look at an auto release before
// it starts: two builds that finished at once may both have been queued
// against the same head, so the release must still descend from what is
// live now. It reports true when the release was skipped.
func (w *DeployWorker) recheckAuto(ctx context.Context, rel *models.Release) (bool, error) {
	if rel.Reason != models.ReasonAuto || rel.Build == nil {
		return false, nil
	}
	store := w.deps.Store
	live, err := store.LiveRelease(ctx, rel.EnvironmentID)
	if errors.Is(err, models.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	why := autoDeploySkip(ctx, w.deps, live, rel.Build)
	if why == "" {
		return false, nil
	}
	return true, store.Tx(ctx, func(tx *models.Store) error {
		skipped, err := tx.SkipRelease(ctx, rel.ID, time.Now().UTC(), "auto-deploy skipped: "+why)
		if err != nil || !skipped {
			return err
		}
		return recordSkip(ctx, tx, &rel.Environment, rel.Build, live, why)
	})
}
