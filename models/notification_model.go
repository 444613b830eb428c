package models

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Notification endpoint kinds.
const (
	// EndpointWebhook posts the event as JSON signed per Standard Webhooks.
	EndpointWebhook = "webhook"
	// EndpointSlack posts a Slack-compatible message (Slack, Mattermost).
	EndpointSlack = "slack"
	// EndpointEmail mails the event to a list of addresses over SMTP.
	EndpointEmail = "email"
)

// Notification event types (the same strings as internal/notify's).
const (
	NotifyBuildFailed       = "build.failed"
	NotifyBuildFixed        = "build.fixed"
	NotifyDeployLive        = "deploy.live"
	NotifyDeployFailed      = "deploy.failed"
	NotifyPromotionWaiting  = "promotion.waiting"
	NotifyPromotionApproved = "promotion.approved"
	NotifyPromotionRejected = "promotion.rejected"
	NotifyRollback          = "rollback"
	NotifyLoadTestFailed    = "loadtest.failed"
	// NotifyTest is sent by "send test"; no subscription names it.
	NotifyTest = "test"
)

// NotifyEventTypes are the events an endpoint can subscribe to, in the
// order pages list them.
var NotifyEventTypes = []string{
	NotifyBuildFailed, NotifyBuildFixed, NotifyDeployLive, NotifyDeployFailed, NotifyRollback,
	NotifyPromotionWaiting, NotifyPromotionApproved, NotifyPromotionRejected, NotifyLoadTestFailed,
}

// Delivery statuses.
const (
	// DeliveryPending waits for its first or next attempt.
	DeliveryPending = "pending"
	// DeliverySucceeded got a 2xx answer (or the mail was accepted).
	DeliverySucceeded = "succeeded"
	// DeliveryFailed gave up: retries used up, the endpoint answered 410
	// or was disabled or deleted meanwhile.
	DeliveryFailed = "failed"
)

// NotificationEndpoint is where a project's notifications go, and which
// events it subscribes to. The URL (for webhooks and Slack, whose URL is
// itself a credential) and signing secrets are kept sealed; Target is
// what pages show.
type NotificationEndpoint struct {
	ID        int64
	ProjectID int64
	Project   Project
	// Key is random and fixed at creation; it binds the sealed values to
	// this row.
	Key  string
	Name string
	Kind string
	// Target is shown on pages: the URL's scheme, host and path (no
	// query), or the email addresses (comma-separated).
	Target    string
	URLSealed []byte
	// Events are the subscribed event types, comma-separated.
	Events string
	// SecretSealed signs webhooks; during a rotation OldSecretSealed signs
	// too, until OldSecretExpiresAt.
	SecretSealed       []byte
	OldSecretSealed    []byte
	OldSecretExpiresAt *time.Time
	Enabled            bool
	// DisabledReason says why the endpoint stopped (a 410 answer, a user).
	DisabledReason string
	// CreatedByID is who made it: loopback and private addresses are
	// reachable only while that user is an admin, and "promotion waiting
	// for me" goes only where that user may approve.
	CreatedByID *int64
	CreatedBy   *User
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// EventList returns the subscribed event types.
func (e *NotificationEndpoint) EventList() []string {
	var out []string
	for _, t := range strings.Split(e.Events, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// Subscribes reports whether the endpoint wants events of type t.
func (e *NotificationEndpoint) Subscribes(t string) bool {
	return slices.Contains(e.EventList(), t)
}

// SecretAD is the additional data the signing secrets are sealed with.
func (e *NotificationEndpoint) SecretAD() []byte {
	return []byte("notification_endpoints.secret:" + e.Key)
}

// URLAD is the additional data the URL is sealed with.
func (e *NotificationEndpoint) URLAD() []byte { return []byte("notification_endpoints.url:" + e.Key) }

// NotificationDelivery is one event sent (or to be sent) to one endpoint:
// the delivery log's row.
type NotificationDelivery struct {
	ID         int64
	EndpointID int64
	Endpoint   NotificationEndpoint
	EventType  string
	// MessageID is the webhook-id: the same on every attempt and on a
	// redelivery, so receivers can drop duplicates.
	MessageID      string
	Payload        string
	Status         string
	Attempts       int
	LastStatusCode int
	LastError      string
	LastResponse   string
	NextAttemptAt  *time.Time
	DeliveredAt    *time.Time
	JobID          int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// NotifyEvent is something that happened, as EnqueueNotifications takes
// it: the type, the project, and the payload's data.
type NotifyEvent struct {
	Type      string
	ProjectID int64
	At        time.Time
	Data      NotifyData
	// Promotion, for promotion.waiting, limits delivery to endpoints
	// whose creator may approve it.
	Promotion *Promotion
}

// NotifyData is the payload's data (the shape internal/notify reads).
type NotifyData struct {
	Project         string           `json:"project"`
	ProjectName     string           `json:"project_name,omitempty"`
	Path            string           `json:"path,omitempty"`
	Actor           string           `json:"actor,omitempty"`
	Environment     string           `json:"environment,omitempty"`
	FromEnvironment string           `json:"from_environment,omitempty"`
	Comment         string           `json:"comment,omitempty"`
	Build           *NotifyBuild     `json:"build,omitempty"`
	Release         *NotifyRelease   `json:"release,omitempty"`
	Promotion       *NotifyPromotion `json:"promotion,omitempty"`
	LoadTest        *NotifyLoadTest  `json:"load_test,omitempty"`
}

// NotifyBuild is a build in a payload.
type NotifyBuild struct {
	Number int64  `json:"number"`
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// NotifyRelease is a release in a payload.
type NotifyRelease struct {
	ID             int64  `json:"id"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	Reason         string `json:"reason,omitempty"`
	Error          string `json:"error,omitempty"`
}

// NotifyPromotion is a promotion in a payload.
type NotifyPromotion struct {
	ID             int64  `json:"id"`
	Status         string `json:"status"`
	ArtifactSHA256 string `json:"artifact_sha256"`
}

// NotifyLoadTest is a load test in a payload.
type NotifyLoadTest struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// NotifyHooks connect the store to the job system: EnqueueNotifications
// calls them inside the event's transaction.
type NotifyHooks struct {
	// Enqueue inserts the job that delivers delivery id, in tx (a Store
	// from Store.Tx), so the job exists exactly when the row does.
	Enqueue func(ctx context.Context, tx *Store, deliveryID int64) error
	// MayApprove reports whether u may approve p (its environments and
	// build loaded); nil means nobody gets promotion.waiting.
	MayApprove func(u *User, p *Promotion) bool
}

// Audit actions of notification endpoints.
const (
	AuditNotifyCreate = "notification.create"
	AuditNotifyUpdate = "notification.update"
	AuditNotifyRotate = "notification.rotate_secret"
	AuditNotifyDelete = "notification.delete"
)
