package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// createProjectRequest is POST /api/v1/projects.
type createProjectRequest struct {
	Name          string `json:"name"`
	Slug          string `json:"slug"`
	RepoURL       string `json:"repo_url"`
	DefaultBranch string `json:"default_branch"`
	DeployKey     string `json:"deploy_key"`
	// PollInterval in seconds; 0 or absent is off.
	PollInterval int64 `json:"poll_interval"`
	// Hosted asks Slipway to host the repository (repo_url stays empty).
	Hosted bool `json:"hosted"`
}

// projectResponse is a project as the API shows it. The webhook secret is
// only in the answer to the create call.
type projectResponse struct {
	Slug          string    `json:"slug"`
	Name          string    `json:"name"`
	RepoURL       string    `json:"repo_url"`
	DefaultBranch string    `json:"default_branch"`
	PollInterval  int64     `json:"poll_interval"`
	HasDeployKey  bool      `json:"has_deploy_key"`
	WebhookURL    string    `json:"webhook_url"`
	WebhookSecret string    `json:"webhook_secret,omitempty"`
	URL           string    `json:"url"`
	CreatedAt     time.Time `json:"created_at"`
	Hosted        bool      `json:"hosted"`
	// CloneURL is the smart-HTTP URL of a hosted repository.
	CloneURL string `json:"clone_url,omitempty"`
}

func (h *Handler) projectJSON(c echo.Context, p *models.Project) projectResponse {
	return projectResponse{
		Slug: p.Slug, Name: p.Name, RepoURL: gitrepo.RedactURL(p.RepoURL), DefaultBranch: p.DefaultBranch,
		PollInterval: p.PollInterval, HasDeployKey: len(p.DeployKeySealed) > 0, WebhookURL: h.webhookURL(c, p),
		URL: h.baseURL(c) + models.Path("projects", p.Slug), CreatedAt: p.CreatedAt,
		Hosted: p.Hosted, CloneURL: h.cloneURL(c, p),
	}
}

// apiFieldError answers a validation error naming the field.
func apiFieldError(c echo.Context, status int, fe *fieldError) error {
	return apiError(c, status, fe.Error(), fe.Field, nil)
}

// apiCreateProject links a repository for automation; the answer holds
// the webhook secret, once, so a script can configure the forge.
func (h *Handler) apiCreateProject(c echo.Context) error {
	var req createProjectRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	u := currentUser(c)
	in := projectInput{Name: req.Name, Slug: req.Slug, RepoURL: req.RepoURL, DefaultBranch: req.DefaultBranch,
		DeployKey: req.DeployKey, PollInterval: req.PollInterval, Hosted: req.Hosted}
	in.normalize()
	var fe *fieldError
	if err := in.validate(roleOf(u)); errors.As(err, &fe) {
		if fe.Forbidden {
			return apiFieldError(c, http.StatusForbidden, fe)
		}
		return apiFieldError(c, http.StatusUnprocessableEntity, fe)
	}
	if fe := h.checkRepoAddress(c.Request().Context(), in, roleOf(u)); fe != nil {
		return apiFieldError(c, http.StatusUnprocessableEntity, fe)
	}
	p, secret, err := h.newProject(in, u.ID)
	if err != nil {
		return err
	}
	err = h.saveProject(c, p)
	if errors.Is(err, models.ErrConflict) {
		return apiFieldError(c, http.StatusConflict, &fieldError{Field: "slug", Msg: "“" + in.Slug + "” is taken by another project"})
	}
	if err != nil {
		return err
	}
	resp := h.projectJSON(c, p)
	resp.WebhookSecret = secret
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/projects/"+p.Slug)
	return c.JSON(http.StatusCreated, resp)
}

// apiProjects lists every project.
func (h *Handler) apiProjects(c echo.Context) error {
	ps, err := h.store.Projects(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]projectResponse, 0, len(ps))
	for i := range ps {
		out = append(out, h.projectJSON(c, &ps[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// apiProject shows one project (never its secret).
func (h *Handler) apiProject(c echo.Context) error {
	return c.JSON(http.StatusOK, h.projectJSON(c, projectFrom(c)))
}
