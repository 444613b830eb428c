package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// pollOptions are the poll intervals the form offers.
var pollOptions = []pages.PollOption{
	{Seconds: 0, Label: "Off — webhooks only"},
	{Seconds: 60, Label: "Every minute"},
	{Seconds: 300, Label: "Every 5 minutes"},
	{Seconds: 900, Label: "Every 15 minutes"},
	{Seconds: 3600, Label: "Every hour"},
}

// newProjectPage is the form's view model.
func (h *Handler) newProjectPage(c echo.Context, f pages.ProjectForm) pages.NewProjectPage {
	return pages.NewProjectPage{CSRF: csrfToken(c), Form: f, PollOptions: pollOptions,
		CanLinkLocal: auth.Can(roleOf(currentUser(c)), auth.LinkLocalRepo)}
}

// showNewProject draws the form that links a repository.
func (h *Handler) showNewProject(c echo.Context) error {
	return h.render(c, "Link a repository", "projects", pages.NewProject(h.newProjectPage(c, pages.ProjectForm{DefaultBranch: "main"})))
}

// projectFormInput reads the new-project form.
func projectFormInput(c echo.Context) (projectInput, error) {
	in := projectInput{Name: c.FormValue("name"), Slug: c.FormValue("slug"), RepoURL: c.FormValue("repo_url"),
		DefaultBranch: c.FormValue("default_branch"), DeployKey: c.FormValue("deploy_key"),
		Hosted: c.FormValue("source") == "hosted"}
	if v := c.FormValue("poll_interval"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return in, &fieldError{Field: "poll_interval", Msg: "must be a number of seconds"}
		}
		in.PollInterval = n
	}
	return in, nil
}

// createProject links a repository from the form.
func (h *Handler) createProject(c echo.Context) error {
	u := currentUser(c)
	in, err := projectFormInput(c)
	if err == nil {
		in.normalize()
		err = in.validate(roleOf(u))
	}
	if err == nil {
		if fe := h.checkRepoAddress(c.Request().Context(), in, roleOf(u)); fe != nil {
			err = fe
		}
	}
	fail := func(status int, fe *fieldError) error {
		p := h.newProjectPage(c, pages.ProjectForm{Name: in.Name, Slug: in.Slug, RepoURL: in.RepoURL,
			DefaultBranch: in.DefaultBranch, PollInterval: in.PollInterval, Hosted: in.Hosted})
		p.Error, p.ErrorField, p.HadDeployKey = fe.sentence(fieldLabel(fe.Field)), fe.Field, in.DeployKey != ""
		return h.renderStatus(c, status, "Link a repository", "projects", pages.NewProject(p))
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		if fe.Forbidden {
			return fail(http.StatusForbidden, fe)
		}
		return fail(http.StatusUnprocessableEntity, fe)
	}
	pr, _, err := h.newProject(in, u.ID)
	if err != nil {
		return err
	}
	err = h.saveProject(c, pr)
	if errors.Is(err, models.ErrConflict) {
		return fail(http.StatusConflict, &fieldError{Field: "slug", Msg: "“" + in.Slug + "” is taken by another project; pick another"})
	}
	if err != nil {
		return err
	}
	if pr.Hosted {
		return h.redirectWith(c, models.Path("projects", pr.Slug), "success", "Project "+pr.Name+" created with a hosted repository. Push to it, or open the IDE.")
	}
	return h.redirectWith(c, models.Path("projects", pr.Slug), "success", "Project "+pr.Name+" linked. Add the webhook below to your forge, or run a build.")
}

// fieldLabel names a field the way the form labels it.
func fieldLabel(field string) string {
	switch field {
	case "name":
		return "Name"
	case "slug":
		return "Slug"
	case "repo_url":
		return "Repository URL"
	case "default_branch":
		return "Default branch"
	case "deploy_key":
		return "Deploy key"
	case "poll_interval":
		return "Poll interval"
	}
	return field
}
