package delivery

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/slipway-ci/slipway/models"
)

// MaxNote bounds the reason given for a deploy or a freeze override.
const MaxNote = 1000

// DeployInput is a direct deploy: a build (by ID) or an artifact (by
// digest) into an environment.
type DeployInput struct {
	Actor          *models.User
	Env            *models.Environment
	BuildID        int64
	ArtifactSHA256 string
	// Note says why; a protected environment requires it.
	Note string
	// FreezeReason lets someone allowed to override a freeze deploy
	// during one.
	FreezeReason string
}

// Target resolves what a deploy names: a build by ID or the build that
// made an artifact, by digest.
func (s *Service) Target(ctx context.Context, env *models.Environment, buildID int64, sha string) (*models.Build, error) {
	switch {
	case buildID > 0 && sha != "":
		return nil, Invalid("build_id", "give build_id or artifact_sha256, not both")
	case buildID > 0:
		b, err := s.store.DeployableBuild(ctx, env.ProjectID, buildID)
		if errors.Is(err, models.ErrNotFound) {
			return nil, refuse(ErrNotFound, "no build %d in project %s", buildID, env.Project.Slug)
		}
		if errors.Is(err, models.ErrNotDeployable) {
			return nil, refuse(ErrConflict, "build #%d cannot be deployed: it is %s and kept no artifact", b.Number, b.Status)
		}
		return b, err
	case sha != "":
		if raw, derr := hex.DecodeString(sha); derr != nil || len(raw) != 32 {
			return nil, Invalid("artifact_sha256", "artifact_sha256 must be 64 hexadecimal characters")
		}
		b, err := s.store.BuildForArtifact(ctx, env.ProjectID, sha)
		if errors.Is(err, models.ErrNotFound) {
			return nil, refuse(ErrNotFound, "no succeeded build of project %s made artifact %s", env.Project.Slug, sha)
		}
		return b, err
	}
	return nil, Invalid("build_id", "say what to deploy: build_id or artifact_sha256")
}

// CheckNote validates a direct deploy's note (trimmed): bounded, and
// required into a protected environment.
func CheckNote(env *models.Environment, note string) error {
	if len(note) > MaxNote {
		return Invalid("reason", fmt.Sprintf("the reason is too long: at most %d characters", MaxNote))
	}
	if env.Protected && note == "" {
		return Invalid("reason", fmt.Sprintf("%s is protected: a direct deploy needs a reason (the JSON field reason)", env.Name))
	}
	return nil
}

// Deploy queues a direct deploy after the gate lets it through. In one
// transaction it creates the release with its deploy job, the deploy
// audit event and, when a freeze was overridden, the freeze.override
// event; a refused deploy writes neither.
func (s *Service) Deploy(ctx context.Context, in DeployInput) (*models.Release, error) {
	env, u := in.Env, in.Actor
	if err := MayDeploy(u, env); err != nil {
		return nil, err
	}
	note := strings.TrimSpace(in.Note)
	if err := CheckNote(env, note); err != nil {
		return nil, err
	}
	b, err := s.Target(ctx, env, in.BuildID, in.ArtifactSHA256)
	if err != nil {
		return nil, err
	}
	d, err := s.Gate(ctx, u, env, b)
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, d.Err()
	}
	freezeReason := strings.TrimSpace(in.FreezeReason)
	if d.FreezeOverridable {
		if freezeReason == "" {
			return nil, Invalid("freeze_override_reason", fmt.Sprintf("%s is %s: give a reason to override the freeze", env.Name, d.Frozen))
		}
		if len(freezeReason) > MaxNote {
			return nil, Invalid("freeze_override_reason", fmt.Sprintf("the freeze override reason is too long: at most %d characters", MaxNote))
		}
	}
	var r *models.Release
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if r, err = s.queue.EnqueueDeploy(ctx, tx, DeployRequest{Env: env, Build: b, Reason: models.ReasonDeploy, By: &u.ID, Note: note}); err != nil {
			return err
		}
		if d.FreezeOverridable {
			// The override is recorded with the release it let through.
			if err := tx.AppendAudit(ctx, models.NewAuditEvent(u, models.AuditFreezeOverride, "environment", id(env.ID), map[string]any{
				"environment": env.Name, "project": env.Project.Slug, "reason": freezeReason, "action": "deploy", "release": r.ID,
			})); err != nil {
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
		if len(d.Warnings) > 0 {
			texts := make([]string, len(d.Warnings))
			for i, w := range d.Warnings {
				texts[i] = w.Text(Stamp)
			}
			details["warnings"] = texts
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(u, models.AuditDeploy, "release", id(r.ID), details))
	})
	if errors.Is(err, ErrNoSecretKey) {
		return nil, &Error{Kind: ErrConflict, Message: env.Name + " has secrets, but this portal has no secret key to open them", Cause: err}
	}
	if err != nil {
		return nil, err
	}
	r.CreatedBy = u
	return r, nil
}

// Rollback queues a rollback of env to release to (0: the previous good
// release), with its audit event, in one transaction. The release live
// now is marked rejected once the rollback is live, and auto-deploy
// pauses. A freeze does not hold a rollback back: undoing a bad release
// is what a freeze protects, not what it prevents.
func (s *Service) Rollback(ctx context.Context, actor *models.User, env *models.Environment, to int64) (*models.Release, error) {
	if err := MayDeploy(actor, env); err != nil {
		return nil, err
	}
	live, err := s.store.LiveRelease(ctx, env.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, refuse(ErrConflict, "nothing is live in %s, so there is nothing to roll back", env.Name)
	}
	if err != nil {
		return nil, err
	}
	var target *models.Release
	if to == 0 {
		target, err = s.store.PreviousGoodRelease(ctx, env.ID)
		if errors.Is(err, models.ErrNotFound) {
			return nil, refuse(ErrConflict, "%s has no earlier good release to roll back to", env.Name)
		}
		if err != nil {
			return nil, err
		}
	} else {
		target, err = s.store.Release(ctx, to)
		if errors.Is(err, models.ErrNotFound) || (err == nil && target.EnvironmentID != env.ID) {
			return nil, refuse(ErrNotFound, "release %d is not a release of %s", to, env.Name)
		}
		if err != nil {
			return nil, err
		}
		if msg := RollbackRefusal(target, live); msg != "" {
			return nil, refuse(ErrConflict, "%s", msg)
		}
	}
	var r *models.Release
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if r, err = s.queue.EnqueueDeploy(ctx, tx, DeployRequest{Env: env, Source: target, RollbackOf: &live.ID,
			Reason: models.ReasonRollback, By: &actor.ID}); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(actor, models.AuditRollback, "release", id(r.ID), map[string]any{
			"project": env.Project.Slug, "environment": env.Name, "rolled_back_release": live.ID, "restored_release": target.ID,
			"artifact_sha256": r.ArtifactSHA256, "config_version": r.ConfigVersion,
		}))
	})
	if err != nil {
		return nil, err
	}
	r.CreatedBy = actor
	return r, nil
}

// RollbackRefusal says why target is no rollback target while live runs,
// or "" when it is one.
func RollbackRefusal(target, live *models.Release) string {
	ref := fmt.Sprintf("release #%d", target.ID)
	switch {
	case target.ID == live.ID || (target.ArtifactSHA256 == live.ArtifactSHA256 && target.ConfigVersion == live.ConfigVersion):
		return ref + " is what runs now"
	case target.Rejected:
		return ref + " was rolled back here and is rejected; deploy its build again if you really want it"
	case target.Status != models.ReleaseSuperseded:
		return ref + " never went live (it is " + target.Status + ")"
	}
	return ""
}

func id(n int64) string { return strconv.FormatInt(n, 10) }
