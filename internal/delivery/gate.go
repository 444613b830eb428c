package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
)

// Decision is the gate's answer to "may this person deploy into this
// environment now?" — the rule Deploy enforces, and what a page shows on
// its Deploy button.
type Decision struct {
	// Allowed says a deploy may go through (with the confirmation and
	// reasons asked for below).
	Allowed bool
	// Refusal says why not, as the person is told; Kind is ErrForbidden
	// or ErrFrozen.
	Refusal string
	Kind    error
	// NeedsConfirmation: the environment is protected, so a direct deploy
	// is confirmed first and needs a note saying why it skips promotion.
	NeedsConfirmation bool
	// Frozen describes the active freeze window ("" when none).
	Frozen string
	// FreezeOverridable: a freeze is active and the actor holds
	// auth.OverrideFreeze, so a deploy goes through with a freeze reason.
	FreezeOverridable bool
	// Warnings are what should make the person look twice at the build
	// (only when the gate was asked about a build).
	Warnings []Warning
}

// Err is the refusal as an error (nil when allowed).
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &Error{Kind: d.Kind, Message: d.Refusal}
}

// Warning is one reason to look twice at a deploy: Kind is
// "rolled-back", "failed", "rejected" or "gate".
type Warning struct {
	Kind string
	Href string
	// The sentence is Before, then when it happened (At, if set), then After.
	Before string
	At     time.Time
	After  string
}

// Text words the warning, with when formatting At (a page says
// "5 minutes ago"; the audit trail a timestamp).
func (w Warning) Text(when func(time.Time) string) string {
	if w.At.IsZero() {
		return w.Before + w.After
	}
	return w.Before + " " + when(w.At) + w.After
}

// Stamp formats a time for the audit trail.
func Stamp(t time.Time) string { return "at " + t.UTC().Format("2006-01-02 15:04 UTC") }

// roleOf is the actor's role; a disabled user has none.
func roleOf(u *models.User) auth.Role {
	if u == nil || u.Disabled {
		return ""
	}
	return auth.Role(u.Role)
}

// MayDeploy is the role part of the gate, which rollbacks share: the
// actor may deploy at all, and into a protected environment only with
// auth.DeployProtected.
func MayDeploy(actor *models.User, env *models.Environment) error {
	if !auth.Can(roleOf(actor), auth.DeployUnprotected) {
		return refuse(ErrForbidden, "deploying needs the developer, lead or admin role")
	}
	if env.Protected && !auth.Can(roleOf(actor), auth.DeployProtected) {
		return refuse(ErrForbidden, "%s is protected: deploying and rolling back there needs the lead or admin role", env.Name)
	}
	return nil
}

// Gate decides whether actor may deploy into env now: the role, the
// environment's protection and its freeze windows. When b is given it
// also gathers the warnings about b's artifact (which reads the store).
func (s *Service) Gate(ctx context.Context, actor *models.User, env *models.Environment, b *models.Build) (Decision, error) {
	d := s.gate(actor, env, s.now())
	if b != nil && d.Allowed {
		ws, err := s.warnings(ctx, env, b)
		if err != nil {
			return d, err
		}
		d.Warnings = ws
	}
	return d, nil
}

func (s *Service) gate(actor *models.User, env *models.Environment, now time.Time) Decision {
	d := Decision{NeedsConfirmation: env.Protected}
	pol, perr := PolicyOf(env)
	if perr == nil {
		if f, frozen := policy.ActiveFreeze(pol.Freeze, now); frozen {
			d.Frozen = f.Describe()
		}
	}
	var e *Error
	if err := MayDeploy(actor, env); errors.As(err, &e) {
		d.Refusal, d.Kind = e.Message, e.Kind
		return d
	}
	if perr != nil {
		d.Refusal, d.Kind = "its policy cannot be read: "+perr.Error(), ErrForbidden
		return d
	}
	if d.Frozen != "" {
		// Who may override a freeze is the permission table's to say, not
		// a role name written here.
		if !auth.Can(roleOf(actor), auth.OverrideFreeze) {
			d.Refusal, d.Kind = freezeRefusal(env, d.Frozen), ErrFrozen
			return d
		}
		d.FreezeOverridable = true
	}
	d.Allowed = true
	return d
}

func freezeRefusal(env *models.Environment, frozen string) string {
	return fmt.Sprintf("%s is %s: only an admin can deploy during a freeze, with a reason", env.Name, frozen)
}

// warnings is what should make someone deploying build b into env look
// twice: the artifact was rolled back or its promotion rejected
// somewhere, it never ran in the environment before env, or it has not
// passed the load test env's policy asks for.
func (s *Service) warnings(ctx context.Context, env *models.Environment, b *models.Build) ([]Warning, error) {
	if b.ArtifactSHA256 == nil {
		return nil, nil
	}
	sha := *b.ArtifactSHA256
	rels, err := s.store.ArtifactReleases(ctx, env.ProjectID, sha, 50)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(rels))
	for i, r := range rels {
		ids[i] = r.ID
	}
	rollbacks, err := s.store.RollbacksOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []Warning
	ranIn := map[int64]bool{}
	for _, r := range rels {
		href := "/releases/" + strconv.FormatInt(r.ID, 10)
		switch rb := rollbacks[r.ID]; {
		case rb != nil:
			out = append(out, Warning{Kind: "rolled-back", Href: href, Before: "This artifact was rolled back from " + r.Environment.Name,
				At: rb.CreatedAt, After: fmt.Sprintf("%s (release %s).", byUser(rb.CreatedBy), r.Ref())})
		case r.Rejected || r.Status == models.ReleaseRolledBack:
			out = append(out, Warning{Kind: "rolled-back", Href: href, Before: fmt.Sprintf("This artifact was rolled back from %s (release %s).", r.Environment.Name, r.Ref())})
		case r.Status == models.ReleaseFailed:
			at := r.CreatedAt
			if r.FinishedAt != nil {
				at = *r.FinishedAt
			}
			out = append(out, Warning{Kind: "failed", Href: href, Before: "Its deploy to " + r.Environment.Name + " failed", At: at,
				After: fmt.Sprintf(" (release %s).", r.Ref())})
		}
		if r.Status == models.ReleaseLive || r.Status == models.ReleaseSuperseded {
			ranIn[r.EnvironmentID] = true
		}
	}
	proms, err := s.store.Promotions(ctx, models.PromotionFilter{ProjectID: env.ProjectID, ArtifactSHA256: sha, Statuses: []string{models.PromotionRejected}, Limit: 20})
	if err != nil {
		return nil, err
	}
	for _, p := range proms {
		for _, a := range p.Approvals {
			if a.Decision == models.DecisionReject {
				out = append(out, Warning{Kind: "rejected", Href: "/promotions/" + strconv.FormatInt(p.ID, 10),
					Before: fmt.Sprintf("%s rejected promotion %s of this artifact to %s", a.User.Username, p.Ref(), p.ToEnvironment.Name),
					At:     a.CreatedAt, After: ": " + a.Comment})
			}
		}
	}
	prev, err := s.store.PreviousEnvironment(ctx, env)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	if prev != nil {
		if !ranIn[prev.ID] {
			out = append(out, Warning{Kind: "gate", Before: fmt.Sprintf("It never ran in %s: a direct deploy skips the chain and the promotion's checks.", prev.Name)})
		}
		if env.RequireLoadTest {
			ok, reason, err := s.store.LoadTestGate(ctx, prev.ID, sha)
			if err != nil {
				return nil, err
			}
			if !ok {
				out = append(out, Warning{Kind: "gate", Before: "It did not pass the load-test gate of " + env.Name + ": " + reason + "."})
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
