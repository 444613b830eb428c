// Package delivery owns the rules of delivery: the actions that put an
// artifact live (deploy, rollback, promote, approve, reject, cancel,
// freeze override, auto-deploy, the promotion sweep) and the one gate
// that both enforces those rules and tells pages what to offer and why.
// Each action is one transaction with its audit event; a refused action
// writes nothing. It knows nothing of HTTP: refusals are typed errors
// (errors.go) that handlers map to a status once.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// DeployRequest says what to deploy where, for Queue.EnqueueDeploy.
type DeployRequest struct {
	Env *models.Environment
	// Build (with its artifact) or ArtifactSHA256 names what to deploy.
	Build          *models.Build
	ArtifactSHA256 string
	// Reason is models.ReasonDeploy, ReasonAuto, ReasonRollback or
	// ReasonPromotion.
	Reason string
	By     *int64
	// Source, for a rollback (or a promotion), is the release whose
	// artifact and configuration are taken as they were.
	Source *models.Release
	// RollbackOf is the release a rollback replaces (rejected once the
	// rollback is live).
	RollbackOf *int64
	// Note is the reason a person gave for the deploy.
	Note string
}

// Queue creates a pending release with its deploy job in the caller's
// transaction (River's InsertTx); jobs implements it. It returns
// ErrNoSecretKey (wrapped) when the release's secrets cannot be sealed.
type Queue interface {
	EnqueueDeploy(ctx context.Context, tx *models.Store, req DeployRequest) (*models.Release, error)
}

// Deps are the service's collaborators.
type Deps struct {
	Store *models.Store
	Queue Queue
	// Logger gets what an action decides without a caller to tell.
	Logger *slog.Logger
	// LoadTestGate checks a promotion's load-test requirement; nil means
	// Store.LoadTestGate.
	LoadTestGate policy.LoadTestGate
	// MirrorDir is the bare repository of a project, where auto-deploy
	// asks git whether one commit descends from another.
	MirrorDir func(projectID int64) string
	// Now is the clock (default time.Now in UTC).
	Now func() time.Time
}

// Service runs the delivery actions.
type Service struct {
	store  *models.Store
	queue  Queue
	log    *slog.Logger
	ltGate policy.LoadTestGate
	mirror func(int64) string
	now    func() time.Time
}

// New builds the service.
func New(d Deps) *Service {
	s := &Service{store: d.Store, queue: d.Queue, log: d.Logger, ltGate: d.LoadTestGate, mirror: d.MirrorDir, now: d.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.ltGate == nil && s.store != nil {
		s.ltGate = s.store.LoadTestGate
	}
	if s.ltGate == nil {
		s.ltGate = policy.NoLoadTestGate
	}
	if s.queue == nil {
		s.queue = noQueue{}
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	if s.mirror == nil {
		s.mirror = func(int64) string { return "" }
	}
	return s
}

// noQueue is the queue of a service built without one (a read-only
// portal process): every deploy is refused with a clear error.
type noQueue struct{}

func (noQueue) EnqueueDeploy(context.Context, *models.Store, DeployRequest) (*models.Release, error) {
	return nil, errors.New("delivery: this process has no job queue to deploy with")
}

// PolicyOf reads an environment's stored policy.
func PolicyOf(env *models.Environment) (policy.Policy, error) {
	p, err := policy.FromSettings(env.Name, policy.Settings{Protected: env.Protected, ApprovalsRequired: env.ApprovalsRequired,
		ApproverRoles: env.ApproverRoles, AllowSelfApproval: env.AllowSelfApproval, RequireLoadTest: env.RequireLoadTest,
		FreezeWindows: env.FreezeWindows})
	if err != nil {
		return policy.Policy{}, fmt.Errorf("delivery: policy of %s: %w", env.Name, err)
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

func shortSHA(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}
