package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// notificationsPage is the list page's view model.
func (h *Handler) notificationsPage(c echo.Context) (pages.NotificationsPage, error) {
	p := projectFrom(c)
	es, err := h.store.NotificationEndpoints(c.Request().Context(), p.ID)
	if err != nil {
		return pages.NotificationsPage{}, err
	}
	vm := pages.NotificationsPage{CSRF: csrfToken(c), Slug: p.Slug, ProjectName: p.Name, Now: h.now(),
		Events:         eventOptions([]string{models.NotifyBuildFailed, models.NotifyBuildFixed, models.NotifyDeployFailed}),
		MailConfigured: h.jobs.MailConfigured()}
	for i := range es {
		vm.Endpoints = append(vm.Endpoints, endpointRow(&es[i]))
	}
	return vm, nil
}

// showNotifications lists a project's endpoints.
func (h *Handler) showNotifications(c echo.Context) error {
	vm, err := h.notificationsPage(c)
	if err != nil {
		return err
	}
	return h.render(c, "Notifications · "+vm.ProjectName, "projects", pages.Notifications(vm))
}

// createNotificationEndpoint adds an endpoint from the form; a webhook's
// secret rides once to the endpoint page.
func (h *Handler) createNotificationEndpoint(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		return badRequest("the form could not be read")
	}
	f := c.Request().PostForm
	in := endpointInput{Name: f.Get("name"), Kind: f.Get("kind"), URL: f.Get("url"), Addresses: f.Get("addresses"), Events: f["events"]}
	p := projectFrom(c)
	e, secret, err := h.buildEndpoint(c, p, in)
	if err == nil {
		err = h.createEndpoint(c, e)
		if err != nil && !isInputError(err) {
			return err
		}
	}
	if err != nil {
		vm, verr := h.notificationsPage(c)
		if verr != nil {
			return verr
		}
		vm.FormName, vm.FormKind, vm.FormURL, vm.FormAddresses = in.Name, in.Kind, in.URL, in.Addresses
		vm.Events, vm.FormError = eventOptions(in.Events), inputMessage(err)
		return h.renderStatus(c, http.StatusUnprocessableEntity, "Notifications · "+p.Name, "projects", pages.Notifications(vm))
	}
	return h.showSecretOnce(c, e, secret, "Endpoint "+e.Name+" added. Send a test to check the receiver.")
}

// showSecretOnce redirects to e's page, carrying secret (when not empty)
// in a short-lived cookie scoped to that page, so a reload neither shows
// it again nor repeats the action.
func (h *Handler) showSecretOnce(c echo.Context, e *models.NotificationEndpoint, secret, msg string) error {
	path := pages.EndpointPath(projectFrom(c).Slug, e.ID)
	if secret != "" {
		c.SetCookie(&http.Cookie{Name: newSecretCookie, Value: secret, Path: path, MaxAge: 120,
			HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	return h.redirectWith(c, path, "success", msg)
}

// showNotificationEndpoint shows one endpoint and its delivery log.
func (h *Handler) showNotificationEndpoint(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	p := projectFrom(c)
	ds, err := h.store.NotificationDeliveries(c.Request().Context(), e.ID, 50)
	if err != nil {
		return err
	}
	vm := pages.NotificationEndpointPage{CSRF: csrfToken(c), Slug: p.Slug, ProjectName: p.Name, Now: h.now(),
		Endpoint: endpointRow(e), Events: eventOptions(e.EventList())}
	if ck, err := c.Cookie(newSecretCookie); err == nil && strings.HasPrefix(ck.Value, "whsec_") {
		vm.NewSecret = ck.Value
		c.SetCookie(&http.Cookie{Name: newSecretCookie, Value: "", Path: pages.EndpointPath(p.Slug, e.ID), MaxAge: -1,
			HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	for _, d := range ds {
		row := pages.DeliveryRow{ID: d.ID, Event: d.EventType, MessageID: d.MessageID, Status: d.Status, Attempts: d.Attempts,
			StatusCode: d.LastStatusCode, Error: d.LastError, Response: d.LastResponse, Created: d.CreatedAt}
		if d.NextAttemptAt != nil {
			row.NextTry = *d.NextAttemptAt
		}
		if d.DeliveredAt != nil {
			row.Delivered = *d.DeliveredAt
		}
		vm.Deliveries = append(vm.Deliveries, row)
	}
	return h.render(c, e.Name+" · Notifications", "projects", pages.NotificationEndpoint(vm))
}

// updateNotificationEndpoint saves name, events and enabled.
func (h *Handler) updateNotificationEndpoint(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return badRequest("the form could not be read")
	}
	f := c.Request().PostForm
	back := pages.EndpointPath(projectFrom(c).Slug, e.ID)
	if err := h.saveEndpoint(c, e, strings.TrimSpace(f.Get("name")), f["events"], f.Get("enabled") == "true"); err != nil {
		if isInputError(err) {
			return h.redirectWith(c, back, "error", inputMessage(err))
		}
		return err
	}
	return h.redirectWith(c, back, "success", "Endpoint saved.")
}

// rotateNotificationSecret makes a new signing secret and shows it once.
func (h *Handler) rotateNotificationSecret(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	secret, err := h.rotateEndpointSecret(c, e)
	if err != nil {
		return err
	}
	return h.showSecretOnce(c, e, secret, "New signing secret made; the previous one signs too for 24 hours.")
}

// sendTestNotification queues a test event.
func (h *Handler) sendTestNotification(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	if _, err := h.sendTest(c, e); err != nil {
		return err
	}
	return h.redirectWith(c, pages.EndpointPath(projectFrom(c).Slug, e.ID), "success", "Test queued; it shows in the delivery log in a moment.")
}

// redeliverNotification queues a delivery again.
func (h *Handler) redeliverNotification(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	back := pages.EndpointPath(projectFrom(c).Slug, e.ID)
	if _, err := h.redeliver(c, e); err != nil {
		var he *echo.HTTPError
		if asHTTPError(err, &he) && he.Code == http.StatusConflict {
			return h.redirectWith(c, back, "error", "The endpoint is disabled: enable it first.")
		}
		return err
	}
	return h.redirectWith(c, back, "success", "Redelivery queued.")
}

// deleteNotificationEndpoint deletes an endpoint and its log.
func (h *Handler) deleteNotificationEndpoint(c echo.Context) error {
	e, err := h.loadEndpoint(c)
	if err != nil {
		return err
	}
	if err := h.removeEndpoint(c, e); err != nil {
		return err
	}
	return h.redirectWith(c, "/projects/"+projectFrom(c).Slug+"/notifications", "success", "Endpoint "+e.Name+" deleted.")
}
