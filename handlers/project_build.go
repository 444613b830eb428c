package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// runProjectBuild starts a build of the ref the form names (a branch, tag
// or commit SHA) and shows it.
func (h *Handler) runProjectBuild(c echo.Context) error {
	p := projectFrom(c)
	u := currentUser(c)
	ref := strings.TrimSpace(c.FormValue("ref"))
	back := models.Path("projects", p.Slug)
	if ref == "" {
		return h.redirectWith(c, back, "error", "Name a branch, tag or commit SHA to build.")
	}
	if len(ref) > 255 {
		return h.redirectWith(c, back, "error", "That ref is longer than 255 characters.")
	}
	b, err := h.jobs.CreateBuild(c.Request().Context(), h.store, jobs.CreateBuildRequest{
		Project: p, Ref: ref, Trigger: jobs.TriggerManual, TriggeredByID: &u.ID,
	})
	if _, msg, ok := createBuildError(err); ok {
		return h.redirectWith(c, back, "error", "Cannot build “"+ref+"”: "+msg)
	}
	if err != nil {
		return err
	}
	h.refs.forget(p)
	return c.Redirect(http.StatusSeeOther, "/builds/"+strconv.FormatInt(b.ID, 10))
}
