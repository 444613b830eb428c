package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/demo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// shipDemoChange is POST /demo/ship: it commits the next version to the
// demo repository and builds it, so the newcomer has a second release to
// take to production and roll back from.
func (h *Handler) shipDemoChange(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	p, err := h.demoProject(ctx)
	if errors.Is(err, models.ErrNotFound) {
		return h.redirectWith(c, "/demo", "error", "There is no demo project to ship a change to; create it first.")
	}
	if err != nil {
		return err
	}
	back := "/demo"
	if strings.HasPrefix(c.FormValue("back"), "/projects/"+p.Slug) {
		back = "/projects/" + p.Slug
	}
	ch, err := demo.Ship(ctx, p.RepoURL)
	if err != nil {
		h.log.Warn("ship a demo change", "dir", p.RepoURL, "err", err)
		return h.redirectWith(c, back, "error", "No change was shipped: "+strings.TrimPrefix(err.Error(), "demo: ship: ")+".")
	}
	b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{
		Project: p, Ref: demo.Branch, CommitSHA: ch.SHA, Trigger: jobs.TriggerManual, TriggeredByID: &u.ID,
	})
	if _, msg, ok := createBuildError(err); ok {
		return h.redirectWith(c, back, "error", "Committed “"+ch.Message+"”, but its build could not start: "+msg+".")
	}
	if err != nil {
		return err
	}
	h.refs.forget(p)
	h.flash(c, "success", "Committed “"+ch.Message+"” to the demo repository (VERSION "+ch.From+" → "+ch.To+
		"). Build #"+strconv.FormatInt(b.Number, 10)+" runs it; when it succeeds, dev deploys "+ch.To+" by itself.")
	return c.Redirect(http.StatusSeeOther, "/builds/"+strconv.FormatInt(b.ID, 10))
}
