package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"log/slog"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// MaxComment bounds an approval's comment.
const MaxComment = 4000

// PromotionState is a promotion weighed against its target's policy now.
type PromotionState struct {
	Policy    policy.Policy
	Candidate policy.Candidate
	Result    policy.Result
	// Rejections are the rejections given (at most one ends a promotion).
	Rejections []models.Approval
}

// Evaluate weighs p (loaded with Store.Promotion, so with its target,
// build and approvals) against its target's policy at now.
func (s *Service) Evaluate(ctx context.Context, p *models.Promotion, now time.Time) (*PromotionState, error) {
	pol, err := PolicyOf(&p.ToEnvironment)
	if err != nil {
		return nil, err
	}
	st := &PromotionState{Policy: pol, Candidate: CandidateOf(p, p.ToEnvironment.ConfigVersion)}
	in := policy.Input{Candidate: st.Candidate, Now: now, FreezeOverridden: p.FreezeOverrideByID != nil}
	for _, a := range p.Approvals {
		if a.Decision == models.DecisionReject {
			st.Rejections = append(st.Rejections, a)
			continue
		}
		in.Approvals = append(in.Approvals, policy.Approval{Approver: PersonOf(&a.User), ArtifactSHA256: a.ArtifactSHA256, ConfigVersion: a.ConfigVersion, At: a.CreatedAt})
	}
	if pol.RequireLoadTest {
		ok, reason, err := s.ltGate(ctx, p.FromEnvironmentID, p.ArtifactSHA256)
		if err != nil {
			s.log.Warn("load-test gate", slog.Int64("promotion", p.ID), slog.Any("err", err))
			ok, reason = false, "the load-test check failed: "+err.Error()
		}
		in.LoadTest = policy.LoadTest{Checked: true, OK: ok, Reason: reason}
	}
	st.Result = pol.Evaluate(in)
	return st, nil
}

// errPromotionMoved rolls back an attempt to deploy a promotion that
// someone else started, or whose target changed, meanwhile.
var errPromotionMoved = errors.New("delivery: promotion moved on")

// Advance deploys promotion id when its target's policy is met: in one
// transaction it creates a release of the same artifact digest (reason
// promotion, the target's own configuration) with its deploy job, moves
// the promotion to deploying, freezes its evidence and appends the deploy
// audit event. It returns the release, or nil when the promotion still
// waits (or is no longer pending).
func (s *Service) Advance(ctx context.Context, store *models.Store, pid int64) (*models.Release, error) {
	var rel *models.Release
	err := store.Tx(ctx, func(tx *models.Store) error {
		p, err := tx.Promotion(ctx, pid)
		if err != nil {
			return err
		}
		if p.Status != models.PromotionPending {
			return nil
		}
		st, err := s.Evaluate(ctx, p, s.now())
		if err != nil {
			return err
		}
		if !st.Result.Ready {
			return nil
		}
		r, err := s.queue.EnqueueDeploy(ctx, tx, DeployRequest{Env: &p.ToEnvironment, Build: p.Build, ArtifactSHA256: p.ArtifactSHA256,
			Reason: models.ReasonPromotion, By: p.RequestedByID})
		if err != nil {
			return err
		}
		if r.ConfigVersion != st.Candidate.ConfigVersion {
			// The target's configuration changed between the evaluation
			// and the snapshot: the approvals were for another version.
			return errPromotionMoved
		}
		ok, err := tx.StartPromotionDeploy(ctx, p.ID, r.ID)
		if err != nil {
			return err
		}
		if !ok {
			return errPromotionMoved
		}
		if err := tx.FreezePromotionEvidence(ctx, p.ID, s.evidenceOf(ctx, tx, p, st, r)); err != nil {
			return err
		}
		rel = r
		return tx.AppendAudit(ctx, models.NewAuditEvent(nil, models.AuditDeploy, "release", id(r.ID), map[string]any{
			"project": p.Project.Slug, "environment": p.ToEnvironment.Name, "promotion": p.ID, "artifact_sha256": r.ArtifactSHA256,
			"config_version": r.ConfigVersion, "from": p.FromEnvironment.Name,
		}))
	})
	if errors.Is(err, errPromotionMoved) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delivery: advance promotion %d: %w", pid, err)
	}
	return rel, nil
}

// advanceNow is Advance after an action: a promotion that cannot start
// (no secret key, say) stays pending and the sweep tries again.
func (s *Service) advanceNow(ctx context.Context, pid int64) *models.Release {
	rel, err := s.Advance(ctx, s.store, pid)
	if err != nil {
		s.log.Warn("advance promotion", slog.Int64("promotion", pid), slog.Any("err", err))
	}
	return rel
}

// Sweep reflects finished deploys on their promotions and advances every
// pending promotion (a freeze window closed, a load test passed); it
// returns how many started to deploy.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	if err := s.store.SyncPromotions(ctx); err != nil {
		return 0, err
	}
	pending, err := s.store.Promotions(ctx, models.PromotionFilter{Statuses: []string{models.PromotionPending}, Limit: 1000})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pending {
		rel, err := s.Advance(ctx, s.store, p.ID)
		if err != nil {
			s.log.Warn("promotion sweep", slog.Int64("promotion", p.ID), slog.Any("err", err))
			continue
		}
		if rel != nil {
			n++
		}
	}
	return n, nil
}

// Promote asks for the release live in from to go live in the next
// environment: one transaction creates the promotion (superseding a
// pending one) with its audit event. It then deploys at once when the
// target's policy is already met; otherwise it waits for approvals (or
// the end of a freeze, or a load test). It returns the promotion and the
// IDs of the promotions it superseded.
func (s *Service) Promote(ctx context.Context, actor *models.User, from *models.Environment) (*models.Promotion, []int64, error) {
	if !auth.Can(roleOf(actor), auth.Promote) {
		return nil, nil, refuse(ErrForbidden, "promoting needs the developer, lead or admin role")
	}
	to, err := s.store.NextEnvironment(ctx, from)
	if errors.Is(err, models.ErrNoNextEnvironment) {
		return nil, nil, refuse(ErrConflict, "%s is the last environment of %s: there is nothing to promote to", from.Name, from.Project.Slug)
	}
	if err != nil {
		return nil, nil, err
	}
	src, err := s.store.LiveRelease(ctx, from.ID)
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil, refuse(ErrConflict, "nothing is live in %s to promote: deploy a build there first", from.Name)
	}
	if err != nil {
		return nil, nil, err
	}
	p := &models.Promotion{ProjectID: from.ProjectID, FromEnvironmentID: from.ID, ToEnvironmentID: to.ID, SourceReleaseID: &src.ID,
		BuildID: src.BuildID, ArtifactSHA256: src.ArtifactSHA256, ConfigVersion: to.ConfigVersion, RequestedByID: &actor.ID}
	var superseded []int64
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if superseded, err = tx.CreatePromotion(ctx, p); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(actor, models.AuditPromotionCreate, "promotion", id(p.ID), map[string]any{
			"project": from.Project.Slug, "from": from.Name, "to": to.Name, "artifact_sha256": p.ArtifactSHA256,
			"source_release": src.ID, "superseded": superseded,
		}))
	})
	if err != nil {
		return nil, nil, err
	}
	s.advanceNow(ctx, p.ID)
	return p, superseded, nil
}

// NotPending is the conflict of a decision on a promotion that is over.
func NotPending(p *models.Promotion) error {
	msg := fmt.Sprintf("promotion #%d is %s: there is nothing left to decide", p.ID, p.Status)
	if p.Status == models.PromotionSuperseded && p.SupersededByID != nil {
		msg = fmt.Sprintf("promotion #%d was superseded by promotion #%d: decide on that one", p.ID, *p.SupersededByID)
	}
	return &Error{Kind: ErrConflict, Message: msg}
}

// CheckComment validates a decision's comment (trimmed): a rejection
// must say why, and a comment has a length cap.
func CheckComment(decision, comment string) error {
	if len(comment) > MaxComment {
		return Invalid("comment", fmt.Sprintf("the comment is longer than %d characters", MaxComment))
	}
	if decision == models.DecisionReject && comment == "" {
		return Invalid("comment", "a rejection needs a comment saying why")
	}
	return nil
}

// MayDecide says whether actor may approve or reject p now (nil), or why
// not: the approve permission, then the target's approver rules.
func MayDecide(actor *models.User, p *models.Promotion, st *PromotionState) error {
	if !auth.Can(roleOf(actor), auth.Approve) {
		role := ""
		if actor != nil {
			role = actor.Role
		}
		return refuse(ErrForbidden, "approvals for %s come from %s; your role is %s", p.ToEnvironment.Name, st.Policy.RolesText(), role)
	}
	if err := st.Policy.MayApprove(PersonOf(actor), st.Candidate); err != nil {
		return &Error{Kind: ErrForbidden, Message: err.Error(), Cause: err}
	}
	return nil
}

// Approve records actor's approval of p with its audit event in one
// transaction; when the approval meets the policy the promotion deploys,
// and the release is returned.
func (s *Service) Approve(ctx context.Context, actor *models.User, p *models.Promotion, comment string) (*models.Release, error) {
	if err := s.decide(ctx, actor, p, models.DecisionApprove, comment); err != nil {
		return nil, err
	}
	return s.advanceNow(ctx, p.ID), nil
}

// Reject records actor's rejection of p (a comment is required) with its
// audit event in one transaction; the promotion ends.
func (s *Service) Reject(ctx context.Context, actor *models.User, p *models.Promotion, comment string) error {
	return s.decide(ctx, actor, p, models.DecisionReject, comment)
}

func (s *Service) decide(ctx context.Context, u *models.User, p *models.Promotion, decision, comment string) error {
	if p.Status != models.PromotionPending {
		return NotPending(p)
	}
	comment = strings.TrimSpace(comment)
	if err := CheckComment(decision, comment); err != nil {
		return err
	}
	st, err := s.Evaluate(ctx, p, s.now())
	if err != nil {
		return err
	}
	if err := MayDecide(u, p, st); err != nil {
		return err
	}
	a := &models.Approval{PromotionID: p.ID, UserID: u.ID, Decision: decision, Comment: comment,
		ArtifactSHA256: p.ArtifactSHA256, ConfigVersion: st.Candidate.ConfigVersion}
	reason, action := "", models.AuditApprove
	if decision == models.DecisionReject {
		reason, action = "rejected by "+u.Username+": "+comment, models.AuditReject
	}
	ok := false
	err = s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if ok, err = tx.AddApproval(ctx, a, reason); err != nil || !ok {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(u, action, "promotion", id(p.ID), map[string]any{
			"comment": comment, "artifact_sha256": a.ArtifactSHA256, "environment": p.ToEnvironment.Name, "config_version": a.ConfigVersion,
		}))
	})
	if err != nil {
		return err
	}
	if !ok {
		cur, err := s.store.Promotion(ctx, p.ID)
		if err != nil {
			return err
		}
		return NotPending(cur)
	}
	return nil
}

// MayCancel: the requester, or someone who may approve, may cancel a
// pending promotion.
func MayCancel(u *models.User, p *models.Promotion) bool {
	if u == nil {
		return false
	}
	return (p.RequestedByID != nil && *p.RequestedByID == u.ID) || auth.Can(roleOf(u), auth.Approve)
}

// Cancel withdraws p, with its audit event, in one transaction.
func (s *Service) Cancel(ctx context.Context, actor *models.User, p *models.Promotion) error {
	if !MayCancel(actor, p) {
		return refuse(ErrForbidden, "only the requester, a lead or an admin can cancel a promotion")
	}
	if p.Status != models.PromotionPending {
		return NotPending(p)
	}
	ok := false
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		var err error
		if ok, err = tx.FinishPromotion(ctx, p.ID, []string{models.PromotionPending}, models.PromotionCanceled, "canceled by "+actor.Username); err != nil || !ok {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(actor, models.AuditPromotionCancel, "promotion", id(p.ID), map[string]any{"environment": p.ToEnvironment.Name}))
	})
	if err != nil {
		return err
	}
	if !ok {
		return NotPending(p)
	}
	return nil
}

// MayOverride says whether actor may override the active freeze of p's
// target now.
func (s *Service) MayOverride(actor *models.User, p *models.Promotion, st *PromotionState) bool {
	return p.Status == models.PromotionPending && st.Result.Freeze != nil && p.FreezeOverrideByID == nil && auth.Can(roleOf(actor), auth.OverrideFreeze)
}

// OverrideFreeze lets actor (holding auth.OverrideFreeze) deploy p during
// a freeze of its target, with a reason: the override and its audit event
// in one transaction. Its approvals are still needed; when they are met
// the promotion deploys and the release is returned.
func (s *Service) OverrideFreeze(ctx context.Context, actor *models.User, p *models.Promotion, reason string) (*models.Release, error) {
	if p.Status != models.PromotionPending {
		return nil, NotPending(p)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, Invalid("reason", "give a reason to override the freeze: it is kept in the audit trail")
	}
	if len(reason) > MaxNote {
		return nil, Invalid("reason", fmt.Sprintf("the reason is longer than %d characters", MaxNote))
	}
	d := s.gate(actor, &p.ToEnvironment, s.now())
	if d.Frozen == "" {
		return nil, refuse(ErrConflict, "%s is not frozen now: there is nothing to override", p.ToEnvironment.Name)
	}
	if !auth.Can(roleOf(actor), auth.OverrideFreeze) {
		return nil, refuse(ErrFrozen, "%s", freezeRefusal(&p.ToEnvironment, d.Frozen))
	}
	err := s.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetPromotionFreezeOverride(ctx, p.ID, actor.ID, reason); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(actor, models.AuditFreezeOverride, "promotion", id(p.ID), map[string]any{"environment": p.ToEnvironment.Name, "reason": reason}))
	})
	if err != nil {
		return nil, err
	}
	return s.advanceNow(ctx, p.ID), nil
}

// evidenceOf is what promotion p is decided on as it starts deploying
// release r: the policy's count, the approvals that counted, the load-test
// gate's answer and the configuration version the release took.
func (s *Service) evidenceOf(ctx context.Context, store *models.Store, p *models.Promotion, st *PromotionState, r *models.Release) models.PromotionEvidence {
	ev := models.PromotionEvidence{Required: st.Result.Required, ApproverRoles: st.Policy.RolesText(), ConfigVersion: r.ConfigVersion,
		LoadTestRequired: st.Policy.RequireLoadTest, LoadTestOK: st.Result.LoadTest.OK, LoadTestReason: st.Result.LoadTest.Reason,
		At: s.now()}
	counted := map[int64]time.Time{}
	for _, a := range st.Result.Counted {
		counted[a.Approver.ID] = a.At
	}
	for _, a := range p.Approvals {
		if at, ok := counted[a.UserID]; ok && a.Decision == models.DecisionApprove && at.Equal(a.CreatedAt) {
			ev.Counted = append(ev.Counted, a.ID)
			delete(counted, a.UserID)
		}
	}
	if ev.LoadTestRequired && ev.LoadTestOK {
		if l, err := store.PassedLoadTest(ctx, p.FromEnvironmentID, p.ArtifactSHA256); err == nil {
			ev.LoadTestID = l.ID
		}
	}
	return ev
}
