package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// runBuildForm fills the "Run build" form: every project to choose from,
// the chosen one preselected and its default branch as the ref.
func (h *Handler) runBuildForm(c echo.Context, project, ref string) (pages.RunBuildFormData, error) {
	f := pages.RunBuildFormData{CSRF: csrfToken(c), Project: project, Ref: ref}
	ps, err := h.store.BuildProjects(c.Request().Context())
	if err != nil {
		return f, err
	}
	for _, p := range ps {
		f.Projects = append(f.Projects, pages.ProjectOption{Slug: p.Slug, Name: p.Name})
	}
	if f.Ref == "" && project != "" {
		if p, err := h.store.ProjectForBuilds(c.Request().Context(), project); err == nil {
			f.Ref = p.DefaultBranch
		}
	}
	return f, nil
}

// showNewBuild is the "Run build" page (?project=slug&ref=…).
func (h *Handler) showNewBuild(c echo.Context) error {
	f, err := h.runBuildForm(c, c.QueryParam("project"), c.QueryParam("ref"))
	if err != nil {
		return err
	}
	return h.render(c, "Run a build", "builds", pages.NewBuild(f))
}

// createBuild starts a build from the form and shows it.
func (h *Handler) createBuild(c echo.Context) error {
	ctx := c.Request().Context()
	slug := strings.TrimSpace(c.FormValue("project"))
	ref := strings.TrimSpace(c.FormValue("ref"))
	fail := func(status int, msg string) error {
		f, err := h.runBuildForm(c, slug, ref)
		if err != nil {
			return err
		}
		f.Error = msg
		return h.renderStatus(c, status, "Run a build", "builds", pages.NewBuild(f))
	}
	p, err := h.store.ProjectForBuilds(ctx, slug)
	if errors.Is(err, models.ErrNotFound) {
		return fail(http.StatusUnprocessableEntity, "Choose a project to build.")
	}
	if err != nil {
		return err
	}
	if ref == "" {
		return fail(http.StatusUnprocessableEntity, "Enter a branch, tag or commit SHA to build.")
	}
	u := currentUser(c)
	b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{Project: p, Ref: ref, Trigger: jobs.TriggerManual, TriggeredByID: &u.ID})
	if err != nil {
		if status, msg, ok := createBuildError(err); ok {
			return fail(status, msg)
		}
		return err
	}
	return h.redirectWith(c, "/builds/"+idText(b.ID), "success", "Build #"+idText(b.Number)+" of "+p.Name+" is queued.")
}
