package models

import (
	"strconv"
	"time"
)

// Promotion statuses. A promotion waits (pending) until its target's
// policy is met, then deploys by itself (deploying → deployed | failed);
// it can instead be rejected by an approver, canceled by its requester or
// an admin, or superseded by a newer promotion to the same environment.
const (
	PromotionPending    = "pending"
	PromotionDeploying  = "deploying"
	PromotionDeployed   = "deployed"
	PromotionFailed     = "failed"
	PromotionRejected   = "rejected"
	PromotionCanceled   = "canceled"
	PromotionSuperseded = "superseded"
)

// PromotionFinished reports whether a promotion status is final.
func PromotionFinished(status string) bool {
	return status != PromotionPending && status != PromotionDeploying
}

// Approval decisions.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// Promotion asks for the artifact live in one environment to go live in
// the next one of the chain, with the same digest: a promotion never
// rebuilds and never copies bytes.
type Promotion struct {
	ID                int64
	ProjectID         int64
	Project           Project
	FromEnvironmentID int64
	FromEnvironment   Environment
	ToEnvironmentID   int64
	ToEnvironment     Environment
	// SourceReleaseID is the release live in the source when it was asked.
	SourceReleaseID *int64
	SourceRelease   *Release
	BuildID         *int64
	Build           *Build
	ArtifactSHA256  string
	// ConfigVersion is the target's configuration version when it was
	// asked (approvals bind to the version current when they are given).
	ConfigVersion int64
	Status        string
	// StatusReason says why it ended the way it did (the rejection's
	// comment, the deploy's error, who canceled it).
	StatusReason   string
	RequestedByID  *int64
	RequestedBy    *User
	SupersededByID *int64
	// ReleaseID is the release it created in the target.
	ReleaseID            *int64
	Release              *Release
	FreezeOverrideByID   *int64
	FreezeOverrideBy     *User
	FreezeOverrideReason string
	// Evidence is the PromotionEvidence it was decided on, as JSON, frozen
	// when it starts deploying; "" while it waits.
	Evidence   string
	Approvals  []Approval `gorm:"foreignKey:PromotionID"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// Ref names the promotion as users see it ("#7").
func (p *Promotion) Ref() string { return "#" + strconv.FormatInt(p.ID, 10) }

// ShortSHA is the artifact digest's first 12 characters.
func (p *Promotion) ShortSHA() string { return ShortDigest(p.ArtifactSHA256) }

// Approval is one approver's decision on a promotion, bound to the
// artifact digest and the target's configuration version they saw.
type Approval struct {
	ID             int64
	PromotionID    int64
	UserID         int64
	User           User
	Decision       string
	Comment        string
	ArtifactSHA256 string
	ConfigVersion  int64
	CreatedAt      time.Time
}

// PromotionEvidence is what a promotion was decided on, frozen when it
// starts deploying: its page shows this instead of weighing the approvals
// against a policy or configuration that changed afterwards.
type PromotionEvidence struct {
	// Required and ApproverRoles are the target's policy then.
	Required      int    `json:"required"`
	ApproverRoles string `json:"approver_roles"`
	// Counted are the IDs of the approvals that counted.
	Counted []int64 `json:"counted"`
	// ConfigVersion is the target configuration the release took.
	ConfigVersion int64 `json:"config_version"`
	// LoadTestRequired, LoadTestOK and LoadTestReason are the load-test
	// gate's answer; LoadTestID is the run it named, 0 for none.
	LoadTestRequired bool      `json:"load_test_required"`
	LoadTestOK       bool      `json:"load_test_ok"`
	LoadTestReason   string    `json:"load_test_reason,omitempty"`
	LoadTestID       int64     `json:"load_test_id,omitempty"`
	At               time.Time `json:"at"`
}
