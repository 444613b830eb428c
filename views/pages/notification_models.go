package pages

import (
	"strconv"
	"time"
)

// EventOption is one event type an endpoint can subscribe to.
type EventOption struct {
	Value, Label string
	Checked      bool
}

// EndpointRow is a notification endpoint as pages show it (never its URL
// token or secret).
type EndpointRow struct {
	ID             int64
	Name           string
	Kind           string
	Target         string
	Events         []string
	Enabled        bool
	DisabledReason string
	CreatedBy      string
	// OldSecretUntil is when the previous signing secret stops signing
	// (zero when no rotation is under way).
	OldSecretUntil time.Time
}

// NotificationsPage lists a project's endpoints with the form for a new one.
type NotificationsPage struct {
	CSRF, Slug, ProjectName string
	Now                     time.Time
	Endpoints               []EndpointRow
	Events                  []EventOption
	// The new-endpoint form as last submitted, and what was wrong with it.
	FormName, FormKind, FormURL, FormAddresses string
	FormError                                  string
	// MailConfigured says whether the server can send email.
	MailConfigured bool
}

// DeliveryRow is one row of an endpoint's delivery log.
type DeliveryRow struct {
	ID         int64
	Event      string
	MessageID  string
	Status     string
	Attempts   int
	StatusCode int
	Error      string
	Response   string
	Created    time.Time
	NextTry    time.Time
	Delivered  time.Time
}

// NotificationEndpointPage is one endpoint: its settings, the secret just
// made (shown once), its actions and delivery log.
type NotificationEndpointPage struct {
	CSRF, Slug, ProjectName string
	Now                     time.Time
	Endpoint                EndpointRow
	Events                  []EventOption
	// NewSecret is set only on the one view right after creation or
	// rotation.
	NewSecret  string
	Deliveries []DeliveryRow
}

// EndpointPath is the page of endpoint id of project slug.
func EndpointPath(slug string, id int64) string {
	return "/projects/" + slug + "/notifications/" + strconv.FormatInt(id, 10)
}
