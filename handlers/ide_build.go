package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/slipway-ci/slipway/models"
)

// ideBuildResponse is the IDE's build panel: the build, then what it
// deployed into the environment that follows its branch.
type ideBuildResponse struct {
	ID        int64  `json:"id"`
	Number    int64  `json:"number"`
	Status    string `json:"status"`
	URL       string `json:"url"`
	SocketURL string `json:"socket_url"`
	// HasArtifact says the build made an artifact (only those deploy).
	HasArtifact bool `json:"has_artifact"`
	// Deploy is the release of this build in Env, once there is one.
	Env     string      `json:"env,omitempty"`
	Deploy  *ideRelease `json:"deploy,omitempty"`
	EnvPage string      `json:"env_page,omitempty"`
}

type ideRelease struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	URL    string `json:"url"`
	AppURL string `json:"app_url,omitempty"`
}

// ideBuild reports a build of the project and its deploy in the
// environment that auto-deploys the build's branch (dev by default).
func (h *Handler) ideBuild(c echo.Context) error {
	ctx := c.Request().Context()
	p := projectFrom(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no such build"})
	}
	b, err := h.store.Build(ctx, id)
	if err != nil || b.ProjectID != p.ID {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no such build"})
	}
	out := ideBuildResponse{ID: b.ID, Number: b.Number, Status: b.Status, URL: "/builds/" + strconv.FormatInt(b.ID, 10),
		SocketURL: "/builds/" + strconv.FormatInt(b.ID, 10) + "/log/ws", HasArtifact: b.ArtifactSHA256 != nil}
	_, envs, err := h.store.ProjectEnvironments(ctx, p.Slug)
	if err != nil {
		return err
	}
	for _, e := range envs {
		if b.RefType != "branch" || e.AutoDeployBranch != b.Ref {
			continue
		}
		out.Env, out.EnvPage = e.Name, models.Path("projects", p.Slug, "environments", e.Name)
		rs, err := h.store.Releases(ctx, e.ID, 20)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.BuildID != nil && *r.BuildID == b.ID {
				out.Deploy = &ideRelease{ID: r.ID, Status: r.Status, URL: "/releases/" + strconv.FormatInt(r.ID, 10), AppURL: e.URL()}
				break
			}
		}
		break
	}
	return c.JSON(http.StatusOK, out)
}
