package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// Roles the policy speaks of (the same names as internal/auth's roles).
const (
	RoleAdmin = "admin"
	RoleLead  = "lead"
)

// DefaultApproverRoles may approve when a policy names no roles.
var defaultApproverRoles = []string{RoleAdmin, RoleLead}

// DefaultApproverRoles returns the roles that approve when a policy names
// none: lead and admin.
func DefaultApproverRoles() []string { return slices.Clone(defaultApproverRoles) }

// Sentinels a DeniedError wraps, for callers that branch on the cause.
var (
	// ErrRole: the user's role is not among the policy's approver roles.
	ErrRole = errors.New("policy: role may not approve")
	// ErrSelfApproval: the requester or the commit author tried to approve
	// and the policy does not allow it.
	ErrSelfApproval = errors.New("policy: self-approval not allowed")
)

// DeniedError is a refusal with a message fit to show the user as is.
type DeniedError struct {
	Cause   error
	Message string
}

func (e *DeniedError) Error() string { return e.Message }

// Unwrap returns the sentinel (ErrRole or ErrSelfApproval).
func (e *DeniedError) Unwrap() error { return e.Cause }

func denied(cause error, format string, args ...any) error {
	return &DeniedError{Cause: cause, Message: fmt.Sprintf(format, args...)}
}

// Settings are an environment's policy as stored: the columns of the
// environments table.
type Settings struct {
	Protected         bool
	ApprovalsRequired int
	ApproverRoles     string // comma-separated
	AllowSelfApproval bool
	RequireLoadTest   bool
	FreezeWindows     string // JSON, see EncodeWindows
}

// Policy guards deploys into one environment.
type Policy struct {
	// Env names the environment in messages.
	Env       string
	Protected bool
	// ApprovalsRequired is N; a protected environment needs at least one.
	ApprovalsRequired int
	// ApproverRoles may approve; empty means DefaultApproverRoles.
	ApproverRoles []string
	// AllowSelfApproval lets the requester and the commit author approve.
	AllowSelfApproval bool
	// RequireLoadTest asks for a passing load test of the same artifact in
	// the previous environment (see LoadTestGate).
	RequireLoadTest bool
	Freeze          []Window
}

// FromSettings reads a stored policy for the environment named env.
func FromSettings(env string, s Settings) (Policy, error) {
	ws, err := DecodeWindows(s.FreezeWindows)
	if err != nil {
		return Policy{}, err
	}
	return Policy{Env: env, Protected: s.Protected, ApprovalsRequired: s.ApprovalsRequired, ApproverRoles: SplitRoles(s.ApproverRoles),
		AllowSelfApproval: s.AllowSelfApproval, RequireLoadTest: s.RequireLoadTest, Freeze: ws}, nil
}

// Settings writes the policy in its stored form.
func (p Policy) Settings() Settings {
	return Settings{Protected: p.Protected, ApprovalsRequired: p.ApprovalsRequired, ApproverRoles: strings.Join(p.ApproverRoles, ","),
		AllowSelfApproval: p.AllowSelfApproval, RequireLoadTest: p.RequireLoadTest, FreezeWindows: EncodeWindows(p.Freeze)}
}

// SplitRoles parses a comma-separated role list, dropping blanks and
// duplicates.
func SplitRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.ToLower(strings.TrimSpace(r))
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Required is how many approvals a promotion into the environment needs:
// ApprovalsRequired, and at least one when the environment is protected —
// nothing reaches a protected environment without an approval.
func (p Policy) Required() int {
	if p.Protected && p.ApprovalsRequired < 1 {
		return 1
	}
	return max(p.ApprovalsRequired, 0)
}

// Roles are the roles that may approve.
func (p Policy) Roles() []string {
	if len(p.ApproverRoles) == 0 {
		return DefaultApproverRoles()
	}
	return p.ApproverRoles
}

// RolesText words the approver roles: "lead or admin".
func (p Policy) RolesText() string {
	rs := p.Roles()
	if len(rs) == 1 {
		return rs[0]
	}
	return strings.Join(rs[:len(rs)-1], ", ") + " or " + rs[len(rs)-1]
}

// Person is a user as the policy sees them.
type Person struct {
	ID       int64
	Username string
	Role     string
}

// Candidate is what a promotion would put live in the target.
type Candidate struct {
	ArtifactSHA256 string
	// ConfigVersion is the target environment's configuration version now.
	ConfigVersion int64
	RequesterID   int64
	// CommitSHA, CommitAuthorName and CommitAuthorEmail describe the
	// commit the artifact was built from.
	CommitSHA         string
	CommitAuthorName  string
	CommitAuthorEmail string
}

// IsCommitAuthor reports whether who wrote the candidate's commit: their
// username equals (case-insensitively) the author's name, email, or the
// email's local part. Slipway users have no email of their own, so this is
// the closest honest match; a policy that must be strict also forbids the
// requester.
func IsCommitAuthor(who Person, c Candidate) bool {
	u := strings.ToLower(strings.TrimSpace(who.Username))
	if u == "" {
		return false
	}
	email := strings.ToLower(strings.TrimSpace(c.CommitAuthorEmail))
	local, _, _ := strings.Cut(email, "@")
	return u == strings.ToLower(strings.TrimSpace(c.CommitAuthorName)) || (email != "" && (u == email || u == local))
}

// MayApprove says whether who may approve (or reject) the candidate, with
// a message naming the rule when not.
func (p Policy) MayApprove(who Person, c Candidate) error {
	if !slices.Contains(p.Roles(), who.Role) {
		return denied(ErrRole, "approvals for %s come from %s; your role is %s", p.Env, p.RolesText(), who.Role)
	}
	if p.AllowSelfApproval {
		return nil
	}
	if who.ID != 0 && who.ID == c.RequesterID {
		return denied(ErrSelfApproval, "you requested this promotion, and the policy of %s does not let the requester approve it: ask another %s", p.Env, p.RolesText())
	}
	if IsCommitAuthor(who, c) {
		return denied(ErrSelfApproval, "you wrote the commit being promoted (%s), and the policy of %s does not let its author approve it: ask another %s", models.ShortSHA(c.CommitSHA), p.Env, p.RolesText())
	}
	return nil
}

// Approval is one recorded approval of a promotion.
type Approval struct {
	Approver Person
	// ArtifactSHA256 and ConfigVersion are what the approver saw.
	ArtifactSHA256 string
	ConfigVersion  int64
	At             time.Time
}

// Stale is an approval that no longer counts, and why.
type Stale struct {
	Approval Approval
	Why      string
}

// LoadTestGate checks the load-test requirement: whether a passing load
// test of artifactSHA ran in the environment envID (the promotion's
// source). ok with a reason explains a pass ("run #12 passed"); a refusal's
// reason says what is missing. It is only called when the policy requires
// a load test.
type LoadTestGate func(ctx context.Context, envID int64, artifactSHA string) (ok bool, reason string, err error)

// NoLoadTestGate is the gate until load tests can gate promotions: it
// passes, saying so.
func NoLoadTestGate(context.Context, int64, string) (bool, string, error) {
	return true, "no load-test gate is configured in this Slipway yet, so the requirement passes", nil
}

// LoadTest is the load-test gate's answer for one candidate.
type LoadTest struct {
	// Checked is false when the policy requires no load test.
	Checked bool
	OK      bool
	Reason  string
}

// Input is everything Evaluate weighs.
type Input struct {
	Candidate Candidate
	// Approvals as recorded, with each approver's current role.
	Approvals []Approval
	LoadTest  LoadTest
	Now       time.Time
	// FreezeOverridden is set when an admin overrode the freeze for this
	// promotion, with a reason.
	FreezeOverridden bool
}

// Result is the policy's verdict on a promotion.
type Result struct {
	Required int
	// Counted are the approvals that count (one per approver).
	Counted []Approval
	// Stale are approvals that no longer count: bound to another artifact
	// or configuration version, or from someone who may not approve (any
	// more).
	Stale        []Stale
	ApprovalsMet bool
	LoadTest     LoadTest
	// Freeze is the active freeze window, if any.
	Freeze *Freeze
	// Ready means the promotion may deploy now.
	Ready bool
	// Waiting says, in words, what it waits for.
	Waiting []string
}

// Evaluate decides whether a promotion may deploy.
func (p Policy) Evaluate(in Input) Result {
	r := Result{Required: p.Required(), LoadTest: in.LoadTest}
	seen := map[int64]bool{}
	for _, a := range in.Approvals {
		switch {
		case a.ArtifactSHA256 != in.Candidate.ArtifactSHA256:
			r.Stale = append(r.Stale, Stale{a, "given for another artifact"})
		case a.ConfigVersion != in.Candidate.ConfigVersion:
			r.Stale = append(r.Stale, Stale{a, fmt.Sprintf("given for configuration v%d of %s; it is v%d now", a.ConfigVersion, p.Env, in.Candidate.ConfigVersion)})
		case seen[a.Approver.ID]:
			// one approver counts once
		default:
			if err := p.MayApprove(a.Approver, in.Candidate); err != nil {
				r.Stale = append(r.Stale, Stale{a, "does not count: " + err.Error()})
				continue
			}
			seen[a.Approver.ID] = true
			r.Counted = append(r.Counted, a)
		}
	}
	r.ApprovalsMet = len(r.Counted) >= r.Required
	if !r.ApprovalsMet {
		n := r.Required - len(r.Counted)
		noun := "approvals"
		if n == 1 {
			noun = "approval"
		}
		r.Waiting = append(r.Waiting, fmt.Sprintf("%s more %s from %s", itoa(n), noun, p.RolesText()))
	}
	if p.RequireLoadTest && in.LoadTest.Checked && !in.LoadTest.OK {
		r.Waiting = append(r.Waiting, "a passing load test: "+in.LoadTest.Reason)
	}
	if p.RequireLoadTest && !in.LoadTest.Checked {
		r.Waiting = append(r.Waiting, "a passing load test (not checked yet)")
	}
	if f, ok := ActiveFreeze(p.Freeze, in.Now); ok {
		r.Freeze = &f
		if !in.FreezeOverridden {
			r.Waiting = append(r.Waiting, "the end of the freeze: "+p.Env+" is "+f.Describe())
		}
	}
	r.Ready = len(r.Waiting) == 0
	return r
}

// MaxApprovals bounds ApprovalsRequired.
const MaxApprovals = 10

// Validate reports what is wrong with a policy an admin submitted;
// approverRoles are the roles that can approve at all (those holding the
// approve permission).
func (p Policy) Validate(approverRoles []string) error {
	if p.ApprovalsRequired < 0 || p.ApprovalsRequired > MaxApprovals {
		return fmt.Errorf("approvals needed must be between 0 and %d", MaxApprovals)
	}
	for _, r := range p.ApproverRoles {
		if !slices.Contains(approverRoles, r) {
			return fmt.Errorf("role %q cannot approve promotions (choose from %s)", r, strings.Join(approverRoles, ", "))
		}
	}
	for i, w := range p.Freeze {
		if err := w.Validate(); err != nil {
			return fmt.Errorf("freeze window %d: %w", i+1, err)
		}
	}
	return nil
}
