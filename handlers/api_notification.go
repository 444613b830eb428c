package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// apiEndpoint is an endpoint in the API: never its URL token or secrets.
type apiEndpoint struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	Kind           string     `json:"kind"`
	Target         string     `json:"target"`
	Events         []string   `json:"events"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	CreatedBy      string     `json:"created_by,omitempty"`
	PreviousSecret *time.Time `json:"previous_secret_valid_until,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	// Secret is set only in the response that made it.
	Secret string `json:"secret,omitempty"`
}

func toAPIEndpoint(e *models.NotificationEndpoint) apiEndpoint {
	a := apiEndpoint{ID: e.ID, Name: e.Name, Kind: e.Kind, Target: e.Target, Events: e.EventList(), Enabled: e.Enabled,
		DisabledReason: e.DisabledReason, CreatedAt: e.CreatedAt.UTC()}
	if a.Events == nil {
		a.Events = []string{}
	}
	if e.CreatedBy != nil {
		a.CreatedBy = e.CreatedBy.Username
	}
	if e.OldSecretExpiresAt != nil && e.OldSecretExpiresAt.After(time.Now()) {
		t := e.OldSecretExpiresAt.UTC()
		a.PreviousSecret = &t
	}
	return a
}

// apiDelivery is a delivery-log row in the API.
type apiDelivery struct {
	ID            int64      `json:"id"`
	Event         string     `json:"event"`
	MessageID     string     `json:"message_id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	StatusCode    int        `json:"response_code,omitempty"`
	Error         string     `json:"error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
}

func toAPIDelivery(d *models.NotificationDelivery) apiDelivery {
	a := apiDelivery{ID: d.ID, Event: d.EventType, MessageID: d.MessageID, Status: d.Status, Attempts: d.Attempts,
		StatusCode: d.LastStatusCode, Error: d.LastError, NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt.UTC()}
	if d.Status != models.DeliveryPending {
		a.NextAttemptAt = nil
	}
	return a
}

func unprocessable(err error) error {
	return echo.NewHTTPError(http.StatusUnprocessableEntity, inputMessage(err))
}

// apiNotificationEndpoints is GET /api/v1/projects/:slug/notifications.
func (h *Handler) apiNotificationEndpoints(c echo.Context) error {
	es, err := h.store.NotificationEndpoints(c.Request().Context(), projectFrom(c).ID)
	if err != nil {
		return err
	}
	out := make([]apiEndpoint, 0, len(es))
	for i := range es {
		out = append(out, toAPIEndpoint(&es[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// apiCreateNotificationEndpoint is POST /api/v1/projects/:slug/notifications:
// 201 with the endpoint and, for a webhook, its secret (shown this once).
func (h *Handler) apiCreateNotificationEndpoint(c echo.Context) error {
	var in endpointInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	e, secret, err := h.buildEndpoint(c, projectFrom(c), in)
	if err != nil {
		return unprocessable(err)
	}
	if err := h.createEndpoint(c, e); err != nil {
		if isInputError(err) {
			return unprocessable(err)
		}
		return err
	}
	a := toAPIEndpoint(e)
	a.CreatedBy, a.Secret = currentUser(c).Username, secret
	return c.JSON(http.StatusCreated, a)
}

// apiNotificationEndpoint is GET /api/v1/projects/:slug/notifications/:id.
func (h *Handler) apiNotificationEndpoint(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIEndpoint(e))
}

// apiUpdateNotificationEndpoint is PUT /api/v1/projects/:slug/notifications/:id.
func (h *Handler) apiUpdateNotificationEndpoint(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	var in struct {
		Name    *string  `json:"name"`
		Events  []string `json:"events"`
		Enabled *bool    `json:"enabled"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	name, events, enabled := e.Name, e.EventList(), e.Enabled
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if in.Events != nil {
		events = in.Events
	}
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	if err := h.saveEndpoint(c, e, name, events, enabled); err != nil {
		if isInputError(err) {
			return unprocessable(err)
		}
		return err
	}
	if e, err = h.loadEndpoint(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIEndpoint(e))
}

// apiDeleteNotificationEndpoint is DELETE /api/v1/projects/:slug/notifications/:id.
func (h *Handler) apiDeleteNotificationEndpoint(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	if err := h.removeEndpoint(c, e); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiRotateNotificationSecret is POST …/notifications/:id/rotate-secret.
func (h *Handler) apiRotateNotificationSecret(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	secret, err := h.rotateEndpointSecret(c, e)
	if err != nil {
		return err
	}
	if e, err = h.loadEndpoint(c); err != nil {
		return err
	}
	a := toAPIEndpoint(e)
	a.Secret = secret
	return c.JSON(http.StatusOK, a)
}

// apiTestNotification is POST …/notifications/:id/test: 202 with the delivery.
func (h *Handler) apiTestNotification(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	d, err := h.sendTest(c, e)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toAPIDelivery(d))
}

// apiNotificationDeliveries is GET …/notifications/:id/deliveries.
func (h *Handler) apiNotificationDeliveries(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	ds, err := h.store.NotificationDeliveries(c.Request().Context(), e.ID, 100)
	if err != nil {
		return err
	}
	out := make([]apiDelivery, 0, len(ds))
	for i := range ds {
		out = append(out, toAPIDelivery(&ds[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// apiRedeliverNotification is POST …/deliveries/:delivery/redeliver.
func (h *Handler) apiRedeliverNotification(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	d, err := h.redeliver(c, e)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toAPIDelivery(d))
}
