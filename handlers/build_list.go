package handlers

import (
	"errors"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// buildsPerPage is how many builds the list shows at once.
const buildsPerPage = 50

// showBuilds lists builds, filtered by project, ref and status.
func (h *Handler) showBuilds(c echo.Context) error {
	ctx := c.Request().Context()
	p := pages.BuildsPage{
		Now:      h.now(),
		Statuses: buildStatuses,
		Filter:   pages.BuildsFilter{Project: c.QueryParam("project"), Ref: c.QueryParam("ref"), Status: c.QueryParam("status")},
		CanRun:   auth.Can(roleOf(currentUser(c)), auth.RunBuild),
	}
	projects, err := h.store.BuildProjects(ctx)
	if err != nil {
		return err
	}
	for _, pr := range projects {
		p.Projects = append(p.Projects, pages.ProjectOption{Slug: pr.Slug, Name: pr.Name})
	}
	f := models.BuildFilter{Ref: p.Filter.Ref, Limit: buildsPerPage + 1}
	if !slices.Contains(buildStatuses, p.Filter.Status) {
		p.Filter.Status = ""
	}
	f.Status = p.Filter.Status
	if p.Filter.Project != "" {
		pr, err := h.store.ProjectForBuilds(ctx, p.Filter.Project)
		switch {
		case errors.Is(err, models.ErrNotFound):
			f.ProjectID = -1 // no such project: nothing matches
		case err != nil:
			return err
		default:
			f.ProjectID = pr.ID
		}
	}
	if before, ok := queryID(c, "before"); ok {
		f.BeforeID = before
	}
	bs, err := h.store.Builds(ctx, f)
	if err != nil {
		return err
	}
	if len(bs) > buildsPerPage {
		bs = bs[:buildsPerPage]
		q := url.Values{"before": {idText(bs[len(bs)-1].ID)}}
		for k, v := range map[string]string{"project": p.Filter.Project, "ref": p.Filter.Ref, "status": p.Filter.Status} {
			if v != "" {
				q.Set(k, v)
			}
		}
		p.OlderURL = "/builds?" + q.Encode()
	}
	for i := range bs {
		p.Builds = append(p.Builds, buildRow(&bs[i]))
	}
	return h.render(c, "Builds", "builds", pages.Builds(p))
}

// buildRow maps a build to its list row.
func buildRow(b *models.Build) pages.BuildRow {
	r := pages.BuildRow{
		ID: b.ID, Number: b.Number, ProjectSlug: b.Project.Slug, ProjectName: b.Project.Name,
		Ref: b.Ref, RefType: b.RefType, CommitSHA: b.CommitSHA, CommitMessage: b.CommitMessage,
		CommitAuthor: b.CommitAuthor, Trigger: b.Trigger, Status: b.Status, CreatedAt: b.CreatedAt,
		Duration: buildDuration(b),
	}
	if b.TriggeredBy != nil {
		r.TriggeredBy = b.TriggeredBy.Username
	}
	return r
}

// queryID reads a positive ID from the query string.
func queryID(c echo.Context, name string) (int64, bool) {
	n, err := strconv.ParseInt(c.QueryParam(name), 10, 64)
	return n, err == nil && n > 0
}
