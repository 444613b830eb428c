package handlers

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// Notification endpoints belong to a project and are managed by leads and
// admins (auth.ManageProject): a webhook's URL, the Slack token in its URL
// and the email addresses are project settings, not something every
// developer should redirect. Secrets are shown once, in the response that
// creates them.

// secretRotationOverlap is how long the previous signing secret keeps
// signing after a rotation.
const secretRotationOverlap = 24 * time.Hour

// newSecretCookie carries a just-made signing secret to the one view of
// the endpoint page that shows it.
const newSecretCookie = "slipway_new_secret"

// endpointInput is a new endpoint as a form or the API sends it.
type endpointInput struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	URL       string   `json:"url"`
	Addresses string   `json:"addresses"`
	Events    []string `json:"events"`
}

// checkEvents checks a subscription list: known types, at least one.
func checkEvents(events []string) (string, error) {
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if !slices.Contains(models.NotifyEventTypes, e) {
			return "", errors.New("unknown event " + strconv.Quote(e) + "; the events are " + strings.Join(models.NotifyEventTypes, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return "", errors.New("pick at least one event")
	}
	return strings.Join(out, ","), nil
}

func checkEndpointName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		return errors.New("give the endpoint a name of 1–64 characters")
	}
	return nil
}

// displayTarget is what pages show of a URL: scheme, host and path for a
// webhook (its query may carry a token), scheme and host only for Slack
// (the path is the token).
func displayTarget(kind string, u *url.URL) string {
	if kind == models.EndpointSlack {
		return u.Scheme + "://" + u.Host + "/…"
	}
	t := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		t += "?…"
	}
	return t
}

// buildEndpoint validates in and returns the endpoint to create (sealed
// URL and secret) and the secret to show once ("" for other kinds). Its
// error is the message for the user.
func (h *Handler) buildEndpoint(c echo.Context, p *models.Project, in endpointInput) (*models.NotificationEndpoint, string, error) {
	e, secret, err := h.buildEndpointChecked(c, p, in)
	if err != nil {
		return nil, "", inputError{err.Error()}
	}
	return e, secret, nil
}

func (h *Handler) buildEndpointChecked(c echo.Context, p *models.Project, in endpointInput) (*models.NotificationEndpoint, string, error) {
	in.Name = strings.TrimSpace(in.Name)
	if err := checkEndpointName(in.Name); err != nil {
		return nil, "", err
	}
	events, err := checkEvents(in.Events)
	if err != nil {
		return nil, "", err
	}
	if h.secrets == nil {
		return nil, "", errors.New("this server has no secret key to seal endpoint secrets with; an admin sets SLIPWAY_SECRET_KEY")
	}
	u := currentUser(c)
	e := &models.NotificationEndpoint{ProjectID: p.ID, Key: models.NewNotifyKey(), Name: in.Name, Kind: in.Kind,
		Events: events, Enabled: true, CreatedByID: &u.ID}
	secret := ""
	switch in.Kind {
	case models.EndpointEmail:
		to, err := notify.ParseAddresses(in.Addresses)
		if err != nil {
			return nil, "", errors.New(strings.TrimPrefix(err.Error(), "notify: "))
		}
		e.Target = strings.Join(to, ", ")
	case models.EndpointWebhook, models.EndpointSlack:
		raw := strings.TrimSpace(in.URL)
		pu, err := notify.CheckURL(raw)
		if err != nil {
			return nil, "", errors.New(strings.TrimPrefix(err.Error(), "notify: "))
		}
		// The dial-time check is what protects; this one only says early
		// that an address written into the URL will be refused.
		if a, err := netip.ParseAddr(strings.Trim(pu.Hostname(), "[]")); err == nil && !h.jobs.NotifyNetworkFor(roleOf(u)).Allows(a) {
			return nil, "", errors.New("loopback, private and link-local addresses are for endpoints an admin creates (or networks an admin allows with --notify-allow-networks)")
		}
		e.Target = displayTarget(in.Kind, pu)
		e.URLSealed = h.secrets.Seal([]byte(raw), e.URLAD())
		if in.Kind == models.EndpointWebhook {
			secret = notify.NewSecret()
			e.SecretSealed = h.secrets.Seal([]byte(secret), e.SecretAD())
		}
	default:
		return nil, "", errors.New("kind must be webhook, slack or email")
	}
	return e, secret, nil
}

// createEndpoint stores e with its audit event.
func (h *Handler) createEndpoint(c echo.Context, e *models.NotificationEndpoint) error {
	ctx := c.Request().Context()
	return h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.CreateNotificationEndpoint(ctx, e); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditNotifyCreate, "notification_endpoint", idString(e.ID),
			map[string]any{"project": projectFrom(c).Slug, "name": e.Name, "kind": e.Kind, "events": e.EventList()}))
	})
}

// loadEndpoint loads the :id endpoint of the project loadProject loaded.
func (h *Handler) loadEndpoint(c echo.Context) (*models.NotificationEndpoint, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound, "There is no such notification endpoint.")
	}
	e, err := h.store.NotificationEndpoint(c.Request().Context(), projectFrom(c).ID, id)
	if errors.Is(err, models.ErrNotFound) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "There is no such notification endpoint.").WithInternal(err)
	}
	return e, err
}

// rotateEndpointSecret gives a webhook endpoint a new signing secret; the
// old one keeps signing for secretRotationOverlap.
func (h *Handler) rotateEndpointSecret(c echo.Context, e *models.NotificationEndpoint) (string, error) {
	if e.Kind != models.EndpointWebhook {
		return "", badRequest("only webhook endpoints have a signing secret")
	}
	if h.secrets == nil {
		return "", echo.NewHTTPError(http.StatusServiceUnavailable, "this server has no secret key to seal endpoint secrets with")
	}
	secret := notify.NewSecret()
	ctx := c.Request().Context()
	err := h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.RotateNotificationSecret(ctx, e.ID, h.secrets.Seal([]byte(secret), e.SecretAD()), h.now().Add(secretRotationOverlap)); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditNotifyRotate, "notification_endpoint", idString(e.ID),
			map[string]any{"project": projectFrom(c).Slug, "name": e.Name}))
	})
	return secret, err
}

// sendTest queues a test event to e, whatever it subscribes to.
func (h *Handler) sendTest(c echo.Context, e *models.NotificationEndpoint) (*models.NotificationDelivery, error) {
	p := projectFrom(c)
	payload := models.NotifyPayload(models.NotifyTest, h.now(), models.NotifyData{Project: p.Slug, ProjectName: p.Name,
		Actor: currentUser(c).Username, Path: pages.EndpointPath(p.Slug, e.ID)})
	return h.store.QueueDelivery(c.Request().Context(), e, models.NotifyTest, "", payload)
}

// redeliver queues delivery :delivery of e again, with the same message id
// (receivers drop a duplicate they already processed).
func (h *Handler) redeliver(c echo.Context, e *models.NotificationEndpoint) (*models.NotificationDelivery, error) {
	id, err := strconv.ParseInt(c.Param("delivery"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound, "There is no such delivery.")
	}
	d, err := h.store.NotificationDelivery(c.Request().Context(), id)
	if errors.Is(err, models.ErrNotFound) || (err == nil && d.EndpointID != e.ID) {
		return nil, echo.NewHTTPError(http.StatusNotFound, "There is no such delivery.")
	}
	if err != nil {
		return nil, err
	}
	if !e.Enabled {
		return nil, echo.NewHTTPError(http.StatusConflict, "the endpoint is disabled: enable it first")
	}
	return h.store.QueueDelivery(c.Request().Context(), e, d.EventType, d.MessageID, d.Payload)
}

// endpointRow is e as pages show it.
func endpointRow(e *models.NotificationEndpoint) pages.EndpointRow {
	r := pages.EndpointRow{ID: e.ID, Name: e.Name, Kind: e.Kind, Target: e.Target, Events: e.EventList(), Enabled: e.Enabled,
		DisabledReason: e.DisabledReason}
	if e.CreatedBy != nil {
		r.CreatedBy = e.CreatedBy.Username
	}
	if e.OldSecretExpiresAt != nil {
		r.OldSecretUntil = *e.OldSecretExpiresAt
	}
	return r
}

// eventOptions lists every event type, checked when in selected.
func eventOptions(selected []string) []pages.EventOption {
	labels := map[string]string{
		models.NotifyBuildFailed: "Build failed", models.NotifyBuildFixed: "Build fixed", models.NotifyDeployLive: "Deploy live",
		models.NotifyDeployFailed: "Deploy failed", models.NotifyRollback: "Rollback", models.NotifyPromotionWaiting: "Promotion waiting for me",
		models.NotifyPromotionApproved: "Promotion approved", models.NotifyPromotionRejected: "Promotion rejected",
		models.NotifyLoadTestFailed: "Load test failed",
	}
	out := make([]pages.EventOption, 0, len(models.NotifyEventTypes))
	for _, t := range models.NotifyEventTypes {
		out = append(out, pages.EventOption{Value: t, Label: labels[t], Checked: slices.Contains(selected, t)})
	}
	return out
}

// inputError is a message for the user about what they sent.
type inputError struct{ msg string }

func (e inputError) Error() string { return e.msg }

func isInputError(err error) bool {
	var ie inputError
	return errors.As(err, &ie) || errors.Is(err, models.ErrTooManyEndpoints)
}

// inputMessage is the user-facing text of a validation error.
func inputMessage(err error) string {
	if errors.Is(err, models.ErrTooManyEndpoints) {
		return "a project has at most " + strconv.Itoa(models.MaxNotificationEndpoints) + " endpoints"
	}
	return err.Error()
}

func asHTTPError(err error, he **echo.HTTPError) bool { return errors.As(err, he) }

// saveEndpoint applies a settings change with its audit event.
func (h *Handler) saveEndpoint(c echo.Context, e *models.NotificationEndpoint, name string, events []string, enabled bool) error {
	if err := checkEndpointName(name); err != nil {
		return inputError{err.Error()}
	}
	list, err := checkEvents(events)
	if err != nil {
		return inputError{err.Error()}
	}
	changes := settingsChanges(
		map[string]any{"name": e.Name, "events": e.Events, "enabled": e.Enabled},
		map[string]any{"name": name, "events": list, "enabled": enabled})
	e.Name, e.Events, e.Enabled = name, list, enabled
	ctx := c.Request().Context()
	return h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.UpdateNotificationEndpoint(ctx, e); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditNotifyUpdate, "notification_endpoint", idString(e.ID),
			map[string]any{"project": projectFrom(c).Slug, "changes": changes}))
	})
}

// removeEndpoint deletes e with its audit event.
func (h *Handler) removeEndpoint(c echo.Context, e *models.NotificationEndpoint) error {
	ctx := c.Request().Context()
	return h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.DeleteNotificationEndpoint(ctx, e.ProjectID, e.ID); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, auditBy(c, models.AuditNotifyDelete, "notification_endpoint", idString(e.ID),
			map[string]any{"project": projectFrom(c).Slug, "name": e.Name}))
	})
}
