package models

import "time"

// Project is a linked repository.
type Project struct {
	ID            int64
	Slug          string
	Name          string
	RepoURL       string
	DefaultBranch string
	// Hosted means Slipway hosts the repository itself (a bare repository
	// under the data dir, served over smart HTTP at /git/<slug>.git);
	// RepoURL is then empty and nothing is ever fetched.
	Hosted bool
	// ProtectDefaultBranch limits moving the default branch (a push or a
	// commit made in the portal) to leads and admins; otherwise developers
	// and up may. AllowForcePush lets a push rewrite the default branch
	// (non-fast-forward); it is refused by default. The default branch can
	// never be deleted.
	ProtectDefaultBranch bool
	AllowForcePush       bool
	// WebhookSecretSealed and DeployKeySealed are encrypted with the
	// portal's secret key; only internal/secretbox opens them.
	WebhookSecretSealed []byte
	DeployKeySealed     []byte
	// PollInterval in seconds; 0 means no polling.
	PollInterval    int64
	LastPolledAt    *time.Time
	CreatedByID     *int64
	NextBuildNumber int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// WebhookDelivery records a processed webhook delivery ID, so a repeated
// delivery creates nothing new.
type WebhookDelivery struct {
	ID         int64
	ProjectID  int64
	DeliveryID string
	Event      string
	BuildID    *int64
	CreatedAt  time.Time
}
