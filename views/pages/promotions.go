package pages

import (
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// PromotionSummary is one promotion in lists (the inbox, an environment).
type PromotionSummary struct {
	ID             int64
	Project        string
	ProjectName    string
	From, To       string
	Status         string
	ArtifactSHA256 string
	BuildNumber    int64
	Ref            string
	Commit         string
	CommitMessage  string
	RequestedBy    string
	CreatedAt      time.Time
	// Approvals counts those that count now, out of Required.
	Approvals, Required int
	// Waiting says what it waits for, in words.
	Waiting []string
}

// Href is the promotion page.
func (p PromotionSummary) Href() string { return "/promotions/" + strconv.FormatInt(p.ID, 10) }

// ShortSHA is the artifact digest's first 12 characters.
func (p PromotionSummary) ShortSHA() string { return models.ShortDigest(p.ArtifactSHA256) }

// ApprovalView is one approval or rejection on the promotion page.
type ApprovalView struct {
	By             string
	Role           string
	Decision       string
	Comment        string
	ArtifactSHA256 string
	ConfigVersion  int64
	At             time.Time
	// Counts is true for an approval that counts now; Stale says why one
	// no longer does.
	Counts bool
	Stale  string
}

// CommitView is one commit between what is live and the candidate.
type CommitView struct {
	SHA, Author, Subject string
	At                   time.Time
}

// ConfigRowView compares one variable between the source's release and
// the target's live release. Secret values are never in it.
type ConfigRowView struct {
	Name        string
	Secret      bool
	Left, Right string
	// Status is "same", "differs", "only-left", "only-right" or "unknown".
	Status string
}

// StepView is one build step.
type StepView struct {
	Name     string
	Status   string
	Duration string
}

// PromotionPage is the evidence an approver signs off on, and the forms
// to decide.
type PromotionPage struct {
	Now  time.Time
	CSRF string
	PromotionSummary
	// DecideError says why the decision was refused (a rejection without
	// a comment); Comment keeps what was typed.
	DecideError, Comment string
	StatusReason         string
	SupersededBy         int64
	// Source and target releases.
	SourceRelease int64
	TargetLive    int64
	Release       int64 // the release this promotion created
	BuildID       int64
	BuildStatus   string
	Steps         []StepView
	// Policy, in words.
	Protected        bool
	ApproverRoles    string
	SelfApproval     bool
	ConfigVersion    int64
	Decisions        []ApprovalView
	Freeze           string
	FreezeOverride   string
	LoadTestRequired bool
	LoadTestOK       bool
	LoadTestReason   string
	Commits          []CommitView
	CommitsNote      string
	Config           []ConfigRowView
	ConfigNote       string
	// ConfigBaseLabel names the left side of the diff (what is or was
	// live in the target); ConfigBase and ConfigDeploys are the versions
	// of both sides (0 for none).
	ConfigBaseLabel string
	ConfigBase      int64
	ConfigDeploys   int64
	// Frozen is when the evidence was frozen (the promotion started
	// deploying); zero while it is weighed live.
	Frozen time.Time
	// LoadTest is the run of the artifact in the source environment.
	LoadTest *LoadTestEvidence
	// RunPlans and NewPlanHref offer a load test when the gate is closed;
	// LoadTestBlocked says why none can be run for this artifact.
	RunPlans        []PlanAction
	NewPlanHref     string
	LoadTestBlocked string
	// History is where the artifact went: deploys, rollbacks, rejections.
	History []HistoryItem
	// Actions the viewer may take, and why not when they may not approve.
	CanDecide     bool
	DecideRefusal string
	CanCancel     bool
	CanOverride   bool
	Pending       bool
}

// ApprovalsPage is the inbox: what waits for the current user, and the
// promotions they asked for.
type ApprovalsPage struct {
	Now        time.Time
	Waiting    []PromotionSummary
	Mine       []PromotionSummary
	Recent     []PromotionSummary
	CanApprove bool
}

// PolicyPage is an environment's policy form (admins).
type PolicyPage struct {
	CSRF              string
	Project, Env      string
	Protected         bool
	ApprovalsRequired int
	Roles             []RoleChoice
	AllowSelfApproval bool
	RequireLoadTest   bool
	FreezeWindows     string
	Error             string
	ActiveFreeze      string
}

// RoleChoice is one approver role checkbox.
type RoleChoice struct {
	Role    string
	Checked bool
}

// Base is the environment's address.
func (p PolicyPage) Base() string { return models.Path("projects", p.Project, "environments", p.Env) }

// PromoteView is the "Promote to <next>" control on an environment page.
type PromoteView struct {
	Action string // form action
	To     string
	// Pending links a promotion to the next environment that waits.
	Pending int64
}

// Href is the promotion page.
func (p PromotionPage) Href() string { return p.PromotionSummary.Href() }

func reasonClass(status string) string {
	switch status {
	case "rejected", "failed":
		return "border-red-300 bg-red-50 text-red-900"
	case "deployed":
		return "border-emerald-300 bg-emerald-50 text-emerald-900"
	}
	return "border-slate-300 bg-slate-50 text-slate-800"
}

func configSide(v string, missing bool) string {
	if missing {
		return "—"
	}
	if v == "" {
		return `""`
	}
	return v
}

// LoadTestEvidence is one load-test run with the numbers an approver
// weighs.
type LoadTestEvidence struct {
	ID        int64
	Status    string
	ShortSHA  string
	At        time.Time
	HasReport bool
	Requests  uint64
	Rate      float64
	Success   float64
	P95, P99  time.Duration
	Duration  time.Duration
}

// Href is the run's page.
func (l LoadTestEvidence) Href() string { return "/loadtests/" + strconv.FormatInt(l.ID, 10) }

// PlanAction is a saved load-test plan that can run now.
type PlanAction struct {
	ID   int64
	Name string
}

// RunHref is where the plan's run form posts.
func (p PlanAction) RunHref() string {
	return "/loadtests/plans/" + strconv.FormatInt(p.ID, 10) + "/run"
}

// HistoryItem is one thing that happened to an artifact: a deploy, a
// failure, a rollback, a rejected promotion.
type HistoryItem struct {
	At     time.Time
	Env    string
	Kind   string
	By     string
	Detail string
	Href   string
	Ref    string
	// Bad marks what should make an approver look twice.
	Bad bool
}

func historyClass(bad bool) string {
	if bad {
		return "border-red-200 bg-red-50"
	}
	return "border-slate-100"
}

func percent(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + " %" }

func configChange(status string) string {
	switch status {
	case "same":
		return "unchanged"
	case "differs":
		return "changes"
	case "only-left":
		return "removed"
	case "only-right":
		return "added"
	}
	return "cannot compare (no secret key)"
}

func configChangeClass(status string) string {
	switch status {
	case "differs", "only-left", "only-right":
		return "font-medium text-amber-800"
	}
	return "text-slate-500"
}
