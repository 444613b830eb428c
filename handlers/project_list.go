package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showProjects lists the linked repositories.
func (h *Handler) showProjects(c echo.Context) error {
	ctx := c.Request().Context()
	ps, err := h.store.Projects(ctx)
	if err != nil {
		return err
	}
	latest, err := h.store.LatestBuildPerProject(ctx)
	if err != nil {
		return err
	}
	p := pages.ProjectsPage{Now: h.now(), CanCreate: auth.Can(roleOf(currentUser(c)), auth.CreateProject)}
	for _, pr := range ps {
		row := pages.ProjectRow{Slug: pr.Slug, Name: pr.Name, RepoURL: gitrepo.RedactURL(pr.RepoURL),
			DefaultBranch: pr.DefaultBranch, PollInterval: pr.PollInterval, CreatedAt: pr.CreatedAt}
		if b, ok := latest[pr.ID]; ok {
			chip := buildChip(b)
			row.LastBuild = &chip
		}
		p.Projects = append(p.Projects, row)
	}
	return h.render(c, "Projects", "projects", pages.Projects(p))
}

// buildChip is a build as the project screens show it.
func buildChip(b models.Build) pages.BuildChip {
	return pages.BuildChip{ID: b.ID, Number: b.Number, Status: b.Status, Ref: b.Ref, CommitSHA: b.CommitSHA,
		Trigger: b.Trigger, CreatedAt: b.CreatedAt}
}
