package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// PolicyOf reads an environment's stored policy. Direct deploys,
// rollbacks and promotions all decide with it (freeze windows through
// policy.Policy.CheckDeploy).
func PolicyOf(env *models.Environment) (policy.Policy, error) {
	p, err := policy.FromSettings(env.Name, policy.Settings{Protected: env.Protected, ApprovalsRequired: env.ApprovalsRequired,
		ApproverRoles: env.ApproverRoles, AllowSelfApproval: env.AllowSelfApproval, RequireLoadTest: env.RequireLoadTest,
		FreezeWindows: env.FreezeWindows})
	if err != nil {
		return policy.Policy{}, fmt.Errorf("jobs: policy of %s: %w", env.Name, err)
	}
	return p, nil
}

// PersonOf is a user as the policy sees them; a disabled user holds no
// role, so their approvals stop counting.
func PersonOf(u *models.User) policy.Person {
	if u == nil {
		return policy.Person{}
	}
	role := u.Role
	if u.Disabled {
		role = ""
	}
	return policy.Person{ID: u.ID, Username: u.Username, Role: role}
}

// CandidateOf is what promotion p would put live in its target, whose
// configuration version is now targetConfig.
func CandidateOf(p *models.Promotion, targetConfig int64) policy.Candidate {
	c := policy.Candidate{ArtifactSHA256: p.ArtifactSHA256, ConfigVersion: targetConfig}
	if p.RequestedByID != nil {
		c.RequesterID = *p.RequestedByID
	}
	if b := p.Build; b != nil {
		c.CommitSHA, c.CommitAuthorName, c.CommitAuthorEmail = b.CommitSHA, b.CommitAuthor, b.CommitAuthorEmail
	}
	return c
}

// PromotionState is a promotion weighed against its target's policy now.
type PromotionState struct {
	Policy    policy.Policy
	Candidate policy.Candidate
	Result    policy.Result
	// Rejections are the rejections given (at most one ends a promotion).
	Rejections []models.Approval
}

// loadTestGate is the configured gate, or the default that passes.
func (j *Jobs) loadTestGate() policy.LoadTestGate {
	if j.deps.LoadTestGate != nil {
		return j.deps.LoadTestGate
	}
	return policy.NoLoadTestGate
}

// EvaluatePromotion weighs p (loaded with Store.Promotion, so with its
// target, build and approvals) against its target's policy now.
func (j *Jobs) EvaluatePromotion(ctx context.Context, p *models.Promotion, now time.Time) (*PromotionState, error) {
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
		ok, reason, err := j.loadTestGate()(ctx, p.FromEnvironmentID, p.ArtifactSHA256)
		if err != nil {
			j.log.Warn("load-test gate", slog.Int64("promotion", p.ID), slog.Any("err", err))
			ok, reason = false, "the load-test check failed: "+err.Error()
		}
		in.LoadTest = policy.LoadTest{Checked: true, OK: ok, Reason: reason}
	}
	st.Result = pol.Evaluate(in)
	return st, nil
}

// errPromotionMoved rolls back an attempt to deploy a promotion that
// someone else started, or whose target changed, meanwhile.
var errPromotionMoved = errors.New("jobs: promotion moved on")

// AdvancePromotion deploys promotion id when its target's policy is met:
// in one transaction it creates a release of the same artifact digest
// (reason promotion, the target's own configuration) with its deploy job,
// and moves the promotion to deploying. It returns the release, or nil
// when the promotion still waits (or is no longer pending). Handlers call
// it after a promotion or an approval; the periodic sweep calls it for
// what waits on a freeze or a load test.
func (j *Jobs) AdvancePromotion(ctx context.Context, store *models.Store, id int64) (*models.Release, error) {
	var rel *models.Release
	err := store.Tx(ctx, func(tx *models.Store) error {
		p, err := tx.Promotion(ctx, id)
		if err != nil {
			return err
		}
		if p.Status != models.PromotionPending {
			return nil
		}
		st, err := j.EvaluatePromotion(ctx, p, time.Now().UTC())
		if err != nil {
			return err
		}
		if !st.Result.Ready {
			return nil
		}
		r, err := j.EnqueueDeploy(ctx, tx, DeployRequest{Env: &p.ToEnvironment, Build: p.Build, ArtifactSHA256: p.ArtifactSHA256,
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
		if err := tx.FreezePromotionEvidence(ctx, p.ID, evidenceOf(ctx, tx, p, st, r)); err != nil {
			return err
		}
		rel = r
		return tx.AppendAudit(ctx, models.NewAuditEvent(nil, models.AuditDeploy, "release", strconv.FormatInt(r.ID, 10), map[string]any{
			"project": p.Project.Slug, "environment": p.ToEnvironment.Name, "promotion": p.ID, "artifact_sha256": r.ArtifactSHA256,
			"config_version": r.ConfigVersion, "from": p.FromEnvironment.Name,
		}))
	})
	if errors.Is(err, errPromotionMoved) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: advance promotion %d: %w", id, err)
	}
	return rel, nil
}

// PromotionSweepArgs is the periodic job that deploys pending promotions
// whose wait ended by itself (a freeze window closed, a load test passed)
// and reflects finished deploys on their promotions.
type PromotionSweepArgs struct{}

// Kind names the job for River.
func (PromotionSweepArgs) Kind() string { return "promotion_sweep" }

// InsertOpts keeps a single sweep pending at a time.
func (PromotionSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: 30 * time.Second}}
}

// PromotionSweepEvery is how often the sweep runs.
const PromotionSweepEvery = 30 * time.Second

// PromotionSweepWorker runs PromotionSweepArgs.
type PromotionSweepWorker struct {
	river.WorkerDefaults[PromotionSweepArgs]
	jobs *Jobs
}

// Timeout bounds one sweep.
func (w *PromotionSweepWorker) Timeout(*river.Job[PromotionSweepArgs]) time.Duration {
	return 2 * time.Minute
}

// Work advances every pending promotion.
func (w *PromotionSweepWorker) Work(ctx context.Context, job *river.Job[PromotionSweepArgs]) error {
	_, err := w.jobs.SweepPromotions(ctx)
	return err
}

// SweepPromotions reflects finished deploys on their promotions and
// advances every pending promotion; it returns how many started to deploy.
func (j *Jobs) SweepPromotions(ctx context.Context) (int, error) {
	store := j.deps.Store
	if err := store.SyncPromotions(ctx); err != nil {
		return 0, err
	}
	pending, err := store.Promotions(ctx, models.PromotionFilter{Statuses: []string{models.PromotionPending}, Limit: 1000})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pending {
		rel, err := j.AdvancePromotion(ctx, store, p.ID)
		if err != nil {
			j.log.Warn("promotion sweep", slog.Int64("promotion", p.ID), slog.Any("err", err))
			continue
		}
		if rel != nil {
			n++
		}
	}
	return n, nil
}

func promotionSweepJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(PromotionSweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return PromotionSweepArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// frozen reports whether a freeze window of env is active now (an
// unreadable policy counts as frozen: better no auto-deploy than a wrong one).
func frozen(env *models.Environment) bool {
	pol, err := PolicyOf(env)
	if err != nil {
		return true
	}
	_, active := policy.ActiveFreeze(pol.Freeze, time.Now().UTC())
	return active
}

// evidenceOf is what promotion p is decided on as it starts deploying
// release r: the policy's count, the approvals that counted, the load-test
// gate's answer and the configuration version the release took.
func evidenceOf(ctx context.Context, store *models.Store, p *models.Promotion, st *PromotionState, r *models.Release) models.PromotionEvidence {
	ev := models.PromotionEvidence{Required: st.Result.Required, ApproverRoles: st.Policy.RolesText(), ConfigVersion: r.ConfigVersion,
		LoadTestRequired: st.Policy.RequireLoadTest, LoadTestOK: st.Result.LoadTest.OK, LoadTestReason: st.Result.LoadTest.Reason,
		At: time.Now().UTC()}
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
