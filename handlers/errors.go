package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// handleError is the one error path: it maps an error to a status and a
// safe public message, logs the cause of server errors, and renders an
// error page (HTML) or {"error": …} (API).
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. The error was logged."
	var (
		he     *echo.HTTPError
		de     *delivery.Error
		ve     *delivery.ValidationError
		fields map[string]string
	)
	switch {
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(status)
		}
		if status == http.StatusRequestEntityTooLarge && msg == http.StatusText(status) {
			msg = "request body too large"
		}
	case errors.As(err, &ve):
		status, msg, fields = http.StatusBadRequest, ve.Error(), ve.Fields
	case errors.As(err, &de):
		status, msg = deliveryStatus(de.Kind), de.Message
	case errors.Is(err, models.ErrNotFound):
		status, msg = http.StatusNotFound, "That does not exist, or you cannot see it."
	}
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		h.log.Error("request failed", slog.String("method", c.Request().Method), slog.String("path", c.Path()),
			slog.String("request_id", reqID), slog.Any("err", err))
	}
	if isAPI(c) || isHook(c) || c.Request().URL.Path == "/healthz" {
		field := ""
		if ve != nil && len(fields) == 1 {
			field, fields = ve.Field(), nil
		}
		_ = apiError(c, status, msg, field, fields)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if status == http.StatusUnauthorized {
		_ = c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	p := pages.ErrorPage{Status: status, Title: errorTitle(status), Message: msg}
	if status >= 500 {
		p.RequestID = reqID
	}
	if rerr := h.renderStatus(c, status, p.Title, "", pages.Error(p)); rerr != nil {
		h.log.Error("render error page", slog.Any("err", rerr))
		_ = c.String(status, msg)
	}
}

// deliveryStatus is the HTTP status of a delivery refusal's kind.
func deliveryStatus(kind error) int {
	switch kind {
	case delivery.ErrForbidden, delivery.ErrFrozen:
		return http.StatusForbidden
	case delivery.ErrConflict:
		return http.StatusConflict
	case delivery.ErrNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// apiError is the one shape of an API error: {"error": msg}, plus
// "field" naming the one input field at fault, or "fields" (field →
// message) for a request checked as a whole.
func apiError(c echo.Context, status int, msg, field string, fields map[string]string) error {
	switch {
	case field != "":
		return c.JSON(status, map[string]string{"error": msg, "field": field})
	case len(fields) > 0:
		return c.JSON(status, map[string]any{"error": msg, "fields": fields})
	}
	return c.JSON(status, map[string]string{"error": msg})
}

func errorTitle(status int) string {
	switch status {
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusForbidden:
		return "Not allowed"
	case http.StatusBadRequest:
		return "Bad request"
	case http.StatusTooManyRequests:
		return "Too many requests"
	case http.StatusRequestEntityTooLarge:
		return "Too large"
	}
	if status >= 500 {
		return "Server error"
	}
	return http.StatusText(status)
}

// isHook reports whether the request is a forge's webhook delivery, which
// is answered in JSON like the API.
func isHook(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/hooks/")
}

// notFound answers unknown routes.
func (h *Handler) notFound(c echo.Context) error {
	return echo.NewHTTPError(http.StatusNotFound, "There is no page at this address.")
}

// badRequest is a 400 with a message that names the problem.
func badRequest(msg string) error { return echo.NewHTTPError(http.StatusBadRequest, msg) }
