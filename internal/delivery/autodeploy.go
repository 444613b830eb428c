package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// AutoDeploy deploys a succeeded build into every environment of its
// project whose auto-deploy branch is the build's branch, unless
// auto-deploy is paused there (after a rollback), the environment is
// protected or frozen, or the build's commit does not move the
// environment forward (AutoDeploySkip; recorded as deploy.skipped). Each
// environment is one transaction: the release, its job and its deploy
// audit event, or the deploy.skipped event. store may be the build
// worker's transaction.
func (s *Service) AutoDeploy(ctx context.Context, store *models.Store, b *models.Build) error {
	if b.Status != models.BuildSucceeded || b.RefType != "branch" || b.ArtifactSHA256 == nil {
		return nil
	}
	envs, err := store.AutoDeployEnvironments(ctx, b.ProjectID, b.Ref)
	if err != nil {
		return err
	}
	for i := range envs {
		env := &envs[i]
		switch {
		case env.AutoDeployPaused:
			s.log.Info("auto-deploy skipped: paused", slog.String("env", env.Name), slog.Int64("build", b.ID), slog.String("reason", env.AutoDeployPausedReason))
			continue
		case env.Protected:
			s.log.Info("auto-deploy skipped: environment is protected", slog.String("env", env.Name), slog.Int64("build", b.ID))
			continue
		case s.frozen(env):
			s.log.Info("auto-deploy skipped: frozen", slog.String("env", env.Name), slog.Int64("build", b.ID))
			continue
		}
		err := store.Tx(ctx, func(tx *models.Store) error {
			// Never put an older commit live: compare with what the
			// environment runs or is about to (see AutoDeploySkip).
			head, err := tx.HeadRelease(ctx, env.ID)
			switch {
			case errors.Is(err, models.ErrNotFound):
				head = nil
			case err != nil:
				return err
			}
			if head != nil {
				if why := s.AutoDeploySkip(ctx, head, b); why != "" {
					s.log.Info("auto-deploy skipped", slog.String("env", env.Name), slog.Int64("build", b.ID), slog.String("reason", why))
					return recordSkip(ctx, tx, env, b, head, why)
				}
			}
			r, err := s.queue.EnqueueDeploy(ctx, tx, DeployRequest{Env: env, Build: b, Reason: models.ReasonAuto})
			if err != nil {
				return err
			}
			return tx.AppendAudit(ctx, models.NewAuditEvent(nil, models.AuditDeploy, "release", id(r.ID), map[string]any{
				"project": env.Project.Slug, "environment": env.Name, "build_id": b.ID, "build_number": b.Number,
				"artifact_sha256": r.ArtifactSHA256, "config_version": r.ConfigVersion, "auto": true,
			}))
		})
		if err != nil {
			return fmt.Errorf("delivery: auto-deploy build %d to %s: %w", b.ID, env.Name, err)
		}
	}
	return nil
}

// frozen reports whether a freeze window of env is active now (an
// unreadable policy counts as frozen: better no auto-deploy than a wrong
// one). Auto-deploy has no one to override a freeze.
func (s *Service) frozen(env *models.Environment) bool {
	pol, err := PolicyOf(env)
	if err != nil {
		return true
	}
	_, active := policy.ActiveFreeze(pol.Freeze, s.now())
	return active
}

// AutoDeploySkip says why build b must not auto-deploy over release head
// (what is live in the environment, or queued to be), or "" when it may.
//
// The rule: a build deploys when its commit descends from head's commit
// (git merge-base --is-ancestor in the project's mirror), so a build that
// finishes late never puts an older commit back. When neither commit
// descends from the other (the branch was force-pushed) or the mirror
// cannot tell (it lacks a commit), push order decides: only a build
// created after head's build deploys. A build of the commit already there
// deploys only if it is the newer build.
func (s *Service) AutoDeploySkip(ctx context.Context, head *models.Release, b *models.Build) string {
	hb := head.Build
	if hb == nil || hb.ID == b.ID {
		if hb != nil {
			return fmt.Sprintf("build #%d is already release #%d here", b.Number, head.ID)
		}
		return "" // an artifact deployed by digest: nothing to compare with
	}
	what := fmt.Sprintf("release #%d (build #%d, commit %s, %s)", head.ID, hb.Number, shortSHA(hb.CommitSHA), head.Status)
	newer := b.ID > hb.ID
	if hb.CommitSHA == b.CommitSHA {
		if newer {
			return ""
		}
		return fmt.Sprintf("%s is a newer build of the same commit", what)
	}
	mirror := s.mirror(b.ProjectID)
	forward, err := gitrepo.IsAncestor(ctx, mirror, hb.CommitSHA, b.CommitSHA)
	if err == nil && forward {
		return ""
	}
	if err == nil {
		back, berr := gitrepo.IsAncestor(ctx, mirror, b.CommitSHA, hb.CommitSHA)
		if berr == nil && back {
			return fmt.Sprintf("commit %s is older than %s: it is an ancestor of that commit", shortSHA(b.CommitSHA), what)
		}
		err = berr
	}
	if err != nil {
		s.log.Warn("auto-deploy: ancestry unknown, push order decides", slog.Int64("build", b.ID), slog.Any("err", err))
	}
	if newer {
		return "" // history was rewritten (force push): the later push wins
	}
	if err != nil {
		return fmt.Sprintf("the mirror cannot tell whether commit %s descends from %s, and build #%d was created before build #%d",
			shortSHA(b.CommitSHA), what, b.Number, hb.Number)
	}
	return fmt.Sprintf("commit %s does not descend from %s (the branch was rewritten), and build #%d was created before build #%d",
		shortSHA(b.CommitSHA), what, b.Number, hb.Number)
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
	return store.AppendAudit(ctx, models.NewAuditEvent(nil, models.AuditDeploySkipped, "build", id(b.ID), details))
}

// RecheckAuto is the deploy worker's last look at an auto release before
// it starts: two builds that finished at once may both have been queued
// against the same head, so the release must still descend from what is
// live now. It reports true when the release was skipped (the skip and
// its deploy.skipped event in one transaction).
func (s *Service) RecheckAuto(ctx context.Context, rel *models.Release) (bool, error) {
	if rel.Reason != models.ReasonAuto || rel.Build == nil {
		return false, nil
	}
	live, err := s.store.LiveRelease(ctx, rel.EnvironmentID)
	if errors.Is(err, models.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	why := s.AutoDeploySkip(ctx, live, rel.Build)
	if why == "" {
		return false, nil
	}
	return true, s.store.Tx(ctx, func(tx *models.Store) error {
		skipped, err := tx.SkipRelease(ctx, rel.ID, s.now(), "auto-deploy skipped: "+why)
		if err != nil || !skipped {
			return err
		}
		return recordSkip(ctx, tx, &rel.Environment, rel.Build, live, why)
	})
}
