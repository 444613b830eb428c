package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrNoNextEnvironment is returned when an environment is the last of its
// chain: there is nothing to promote to.
var ErrNoNextEnvironment = errors.New("no next environment")

// NextEnvironment returns the environment after env in its project's
// chain, or ErrNoNextEnvironment.
func (s *Store) NextEnvironment(ctx context.Context, env *Environment) (*Environment, error) {
	var next Environment
	err := s.db.WithContext(ctx).Preload("Project").
		Where("project_id = ? AND (position > ? OR (position = ? AND id > ?))", env.ProjectID, env.Position, env.Position, env.ID).
		Order("position, id").First(&next).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNoNextEnvironment
	}
	if err != nil {
		return nil, wrap("next environment", err)
	}
	return &next, nil
}

// CreatePromotion inserts p as pending and supersedes every older pending
// promotion to the same environment, pointing them at p. It returns the
// IDs it superseded. Call it on a Tx store to add the audit event.
func (s *Store) CreatePromotion(ctx context.Context, p *Promotion) ([]int64, error) {
	var superseded []int64
	err := s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		now := time.Now().UTC()
		p.Status, p.CreatedAt, p.UpdatedAt = PromotionPending, now, now
		if err := db.Omit(clause.Associations).Create(p).Error; err != nil {
			return wrap("create promotion", err)
		}
		if err := db.Model(&Promotion{}).Where("to_environment_id = ? AND status = ? AND id <> ?", p.ToEnvironmentID, PromotionPending, p.ID).
			Order("id").Pluck("id", &superseded).Error; err != nil {
			return wrap("create promotion", err)
		}
		if len(superseded) == 0 {
			return nil
		}
		return wrap("create promotion", db.Model(&Promotion{}).Where("id IN ? AND status = ?", superseded, PromotionPending).Updates(map[string]any{
			"status": PromotionSuperseded, "superseded_by_id": p.ID, "finished_at": now, "updated_at": now,
			"status_reason": "superseded by promotion " + p.Ref() + ", a newer promotion to the same environment",
		}).Error)
	})
	if err != nil {
		return nil, err
	}
	return superseded, nil
}

// Promotion returns the promotion with id, with its environments, build
// (and steps), releases, requester and approvals (oldest first, with
// their users). A deploy that finished since is reflected first.
func (s *Store) Promotion(ctx context.Context, id int64) (*Promotion, error) {
	if err := s.SyncPromotions(ctx); err != nil {
		return nil, err
	}
	var p Promotion
	err := s.db.WithContext(ctx).Preload("Project").Preload("FromEnvironment").Preload("ToEnvironment").
		Preload("Build.Steps", func(db *gorm.DB) *gorm.DB { return db.Order("position") }).
		Preload("SourceRelease").Preload("Release").Preload("RequestedBy").Preload("FreezeOverrideBy").
		Preload("Approvals", func(db *gorm.DB) *gorm.DB { return db.Order("id") }).Preload("Approvals.User").
		First(&p, id).Error
	if err != nil {
		return nil, wrap("promotion", err)
	}
	p.FromEnvironment.Project, p.ToEnvironment.Project = p.Project, p.Project
	return &p, nil
}

// PromotionFilter narrows Promotions.
type PromotionFilter struct {
	// Statuses keeps these statuses only (all when empty).
	Statuses []string
	// EnvironmentID keeps promotions from or to this environment.
	EnvironmentID int64
	ProjectID     int64
	// IDs keeps these promotions only (when not empty).
	IDs []int64
	// RequestedByID keeps the promotions this user asked for.
	RequestedByID int64
	// ArtifactSHA256 keeps the promotions of this artifact.
	ArtifactSHA256 string
	Limit          int
}

// Promotions lists promotions newest first, with their environments,
// project, build, requester and approvals.
func (s *Store) Promotions(ctx context.Context, f PromotionFilter) ([]Promotion, error) {
	if err := s.SyncPromotions(ctx); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := s.db.WithContext(ctx).Preload("Project").Preload("FromEnvironment").Preload("ToEnvironment").Preload("Build").
		Preload("RequestedBy").Preload("Approvals", func(db *gorm.DB) *gorm.DB { return db.Order("id") }).Preload("Approvals.User")
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", f.Statuses)
	}
	if f.EnvironmentID != 0 {
		q = q.Where("from_environment_id = ? OR to_environment_id = ?", f.EnvironmentID, f.EnvironmentID)
	}
	if f.ProjectID != 0 {
		q = q.Where("project_id = ?", f.ProjectID)
	}
	if len(f.IDs) > 0 {
		q = q.Where("id IN ?", f.IDs)
	}
	if f.RequestedByID != 0 {
		q = q.Where("requested_by_id = ?", f.RequestedByID)
	}
	if f.ArtifactSHA256 != "" {
		q = q.Where("artifact_sha256 = ?", f.ArtifactSHA256)
	}
	var ps []Promotion
	if err := q.Order("id DESC").Limit(f.Limit).Find(&ps).Error; err != nil {
		return nil, wrap("promotions", err)
	}
	return ps, nil
}

// AddApproval records an approver's decision. When it is a rejection the
// promotion, if still pending, becomes rejected with the comment as its
// reason; it reports false when the promotion was no longer pending (and
// records nothing).
func (s *Store) AddApproval(ctx context.Context, a *Approval, rejectReason string) (bool, error) {
	ok := false
	err := s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		now := time.Now().UTC()
		// Touching the row first serializes decisions on one promotion
		// (a row lock on PostgreSQL, the write lock on SQLite).
		res := db.Model(&Promotion{}).Where("id = ? AND status = ?", a.PromotionID, PromotionPending).Update("updated_at", now)
		if res.Error != nil {
			return wrap("add approval", res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		a.CreatedAt = now
		if err := db.Omit(clause.Associations).Create(a).Error; err != nil {
			return wrap("add approval", err)
		}
		if a.Decision == DecisionReject {
			if err := db.Model(&Promotion{}).Where("id = ?", a.PromotionID).Updates(map[string]any{
				"status": PromotionRejected, "status_reason": rejectReason, "finished_at": now,
			}).Error; err != nil {
				return wrap("add approval", err)
			}
		}
		ok = true
		return nil
	})
	return ok, err
}

// FinishPromotion moves a promotion from one of the statuses in from to a
// final status with a reason. It reports false when it was in none of
// them.
func (s *Store) FinishPromotion(ctx context.Context, id int64, from []string, status, reason string) (bool, error) {
	now := time.Now().UTC()
	res := s.db.WithContext(ctx).Model(&Promotion{}).Where("id = ? AND status IN ?", id, from).Updates(map[string]any{
		"status": status, "status_reason": reason, "finished_at": now, "updated_at": now,
	})
	return res.RowsAffected == 1, wrap("finish promotion", res.Error)
}

// StartPromotionDeploy moves a pending promotion to deploying with the
// release that deploys it. It reports false when the promotion was no
// longer pending: another approval or sweep started it first, or it was
// rejected, canceled or superseded meanwhile. Call it in the transaction
// that creates the release.
func (s *Store) StartPromotionDeploy(ctx context.Context, id, releaseID int64) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Promotion{}).Where("id = ? AND status = ?", id, PromotionPending).Updates(map[string]any{
		"status": PromotionDeploying, "release_id": releaseID, "updated_at": time.Now().UTC(),
	})
	return res.RowsAffected == 1, wrap("start promotion deploy", res.Error)
}

// FreezePromotionEvidence keeps ev as what promotion id was decided on.
func (s *Store) FreezePromotionEvidence(ctx context.Context, id int64, ev PromotionEvidence) error {
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("models: freeze promotion evidence: %w", err)
	}
	res := s.db.WithContext(ctx).Model(&Promotion{}).Where("id = ?", id).Update("evidence", string(raw))
	return wrap("freeze promotion evidence", res.Error)
}

// FrozenEvidence is the evidence the promotion was decided on, or nil
// while it was not frozen (pending, or decided before evidence was kept).
func (p *Promotion) FrozenEvidence() *PromotionEvidence {
	if p.Evidence == "" {
		return nil
	}
	var ev PromotionEvidence
	if json.Unmarshal([]byte(p.Evidence), &ev) != nil {
		return nil
	}
	return &ev
}

// SetPromotionFreezeOverride records that an admin overrode the target's
// freeze for this promotion, with a reason.
func (s *Store) SetPromotionFreezeOverride(ctx context.Context, id, adminID int64, reason string) error {
	res := s.db.WithContext(ctx).Model(&Promotion{}).Where("id = ? AND status = ?", id, PromotionPending).Updates(map[string]any{
		"freeze_override_by_id": adminID, "freeze_override_reason": reason, "updated_at": time.Now().UTC(),
	})
	if res.Error != nil {
		return wrap("set promotion freeze override", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("set promotion freeze override", gorm.ErrRecordNotFound)
	}
	return nil
}

// SyncPromotions reflects finished deploys on their promotions: a release
// that went live (or has been replaced since) makes its promotion
// deployed, a failed one makes it failed with the deploy's error.
func (s *Store) SyncPromotions(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	var n int64
	finished := []string{ReleaseLive, ReleaseSuperseded, ReleaseRolledBack, ReleaseFailed}
	if err := db.Model(&Promotion{}).Joins("JOIN releases ON releases.id = promotions.release_id").
		Where("promotions.status = ? AND releases.status IN ?", PromotionDeploying, finished).Count(&n).Error; err != nil {
		return wrap("sync promotions", err)
	}
	if n == 0 { // the common case stays a read
		return nil
	}
	return s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		var rows []struct {
			ID         int64
			Status     string
			Error      string
			FinishedAt *time.Time
		}
		if err := db.Model(&Promotion{}).Select("promotions.id, releases.status, releases.error, releases.finished_at").
			Joins("JOIN releases ON releases.id = promotions.release_id").
			Where("promotions.status = ? AND releases.status IN ?", PromotionDeploying, finished).Scan(&rows).Error; err != nil {
			return wrap("sync promotions", err)
		}
		now := time.Now().UTC()
		for _, r := range rows {
			st, reason := PromotionDeployed, ""
			if r.Status == ReleaseFailed {
				st, reason = PromotionFailed, "the deploy failed: "+r.Error
			}
			at := now
			if r.FinishedAt != nil {
				at = *r.FinishedAt
			}
			if err := db.Model(&Promotion{}).Where("id = ? AND status = ?", r.ID, PromotionDeploying).Updates(map[string]any{
				"status": st, "status_reason": reason, "finished_at": at, "updated_at": now,
			}).Error; err != nil {
				return wrap("sync promotions", err)
			}
		}
		return nil
	})
}

// UpdateEnvironmentPolicy saves an environment's policy columns.
func (s *Store) UpdateEnvironmentPolicy(ctx context.Context, e *Environment) error {
	e.UpdatedAt = time.Now().UTC()
	res := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", e.ID).Updates(map[string]any{
		"protected":           e.Protected,
		"approvals_required":  e.ApprovalsRequired,
		"approver_roles":      e.ApproverRoles,
		"allow_self_approval": e.AllowSelfApproval,
		"require_load_test":   e.RequireLoadTest,
		"freeze_windows":      e.FreezeWindows,
		"updated_at":          e.UpdatedAt,
	})
	if res.Error != nil {
		return wrap("update environment policy", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("update environment policy", gorm.ErrRecordNotFound)
	}
	return nil
}

// PendingPromotions lists pending promotions with their target
// environment and build, in one query: what the approvals count needs.
func (s *Store) PendingPromotions(ctx context.Context) ([]Promotion, error) {
	var ps []Promotion
	err := s.db.WithContext(ctx).Joins("ToEnvironment").Joins("Build").
		Where("promotions.status = ?", PromotionPending).Order("promotions.id").Find(&ps).Error
	return ps, wrap("pending promotions", err)
}

// UserApprovals lists the approvals (not rejections) userID gave on the
// promotions ids.
func (s *Store) UserApprovals(ctx context.Context, userID int64, ids []int64) ([]Approval, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var as []Approval
	err := s.db.WithContext(ctx).Where("user_id = ? AND decision = ? AND promotion_id IN ?", userID, DecisionApprove, ids).
		Order("id").Find(&as).Error
	return as, wrap("user approvals", err)
}
