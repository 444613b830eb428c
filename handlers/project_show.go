package handlers

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/demo"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

const (
	ctxProject = "slipway.project"
	// buildsPerBranch and maxBranchesShown keep the project page short.
	buildsPerBranch  = 5
	maxBranchesShown = 50
)

// loadProject loads the project named by :slug for the handler; it runs
// after the permission check, so a denied user learns nothing about it.
func (h *Handler) loadProject(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := h.store.ProjectBySlug(c.Request().Context(), c.Param("slug"))
		if errors.Is(err, models.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "There is no project called “"+c.Param("slug")+"”.").WithInternal(err)
		}
		if err != nil {
			return err
		}
		c.Set(ctxProject, p)
		return next(c)
	}
}

// projectFrom returns the project loadProject loaded.
func projectFrom(c echo.Context) *models.Project {
	p, _ := c.Get(ctxProject).(*models.Project)
	return p
}

// baseURL is the portal's external address: SLIPWAY_PUBLIC_URL, else
// what the request was sent to.
func (h *Handler) baseURL(c echo.Context) string {
	if h.cfg.PublicURL != "" {
		return strings.TrimRight(h.cfg.PublicURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// webhookURL is where a forge sends a project's push events.
func (h *Handler) webhookURL(c echo.Context, p *models.Project) string {
	return h.baseURL(c) + "/hooks/" + p.Slug
}

// showProject draws a project's screen; its branches load separately.
func (h *Handler) showProject(c echo.Context) error {
	p := projectFrom(c)
	role := roleOf(currentUser(c))
	vm := pages.ProjectPage{
		CSRF: csrfToken(c), Now: h.now(), Slug: p.Slug, Name: p.Name, RepoURL: gitrepo.RedactURL(p.RepoURL), Hosted: p.Hosted, CloneURL: h.cloneURL(c, p),
		DefaultBranch: p.DefaultBranch, PollInterval: p.PollInterval, HasDeployKey: len(p.DeployKeySealed) > 0,
		CreatedAt: p.CreatedAt, WebhookURL: h.webhookURL(c, p),
		CanSeeSecret: auth.Can(role, auth.ViewWebhookSecret), CanRunBuild: auth.Can(role, auth.RunBuild),
		ProtectDefaultBranch: p.ProtectDefaultBranch, AllowForcePush: p.AllowForcePush, CanManage: auth.Can(role, auth.ManageProject),
	}
	if auth.Can(role, auth.ManageDemo) && h.isDemo(p) {
		vm.IsDemo = true
		vm.DemoVersion, _ = demo.Version(c.Request().Context(), h.demoRepo(p))
	}
	if vm.CanSeeSecret {
		secret, err := h.webhookSecret(p)
		if err != nil {
			return err
		}
		vm.WebhookSecret = string(secret)
	}
	return h.render(c, p.Name, "projects", pages.Project(vm))
}

// showProjectBranches is the fragment with the project's branches (from
// the remote, through a short cache) and each branch's newest builds.
func (h *Handler) showProjectBranches(c echo.Context) error {
	ctx := c.Request().Context()
	p := projectFrom(c)
	builds, err := h.store.RecentBuildsByBranch(ctx, p.ID, buildsPerBranch)
	if err != nil {
		return err
	}
	vm := pages.BranchesFragment{CSRF: csrfToken(c), Now: h.now(), Slug: p.Slug,
		CanRunBuild: auth.Can(roleOf(currentUser(c)), auth.RunBuild)}
	refs, err := h.projectRefs(ctx, p)
	if err != nil {
		var ge *gitrepo.Error
		if errors.As(err, &ge) {
			vm.Error = ge.Msg
		} else {
			vm.Error = "git did not answer: " + strings.TrimPrefix(err.Error(), "gitrepo: ")
		}
		h.log.Info("list project branches", "project", p.Slug, "err", err)
	}
	vm.Branches, vm.More = branchRows(p.DefaultBranch, refs.Branches, builds, err == nil)
	return h.renderComponent(c, http.StatusOK, pages.Branches(vm))
}

// branchRows merges the remote's branches with those that have builds:
// the default branch first, then the most recently built, then by name.
func branchRows(def string, heads map[string]string, builds map[string][]models.Build, remoteKnown bool) ([]pages.BranchRow, int) {
	rows := map[string]*pages.BranchRow{}
	for name, sha := range heads {
		rows[name] = &pages.BranchRow{Name: name, HeadSHA: sha}
	}
	for name, bs := range builds {
		r, ok := rows[name]
		if !ok {
			r = &pages.BranchRow{Name: name, Gone: remoteKnown}
			rows[name] = r
		}
		for _, b := range bs {
			r.Builds = append(r.Builds, buildChip(b))
		}
	}
	out := make([]pages.BranchRow, 0, len(rows))
	for _, r := range rows {
		r.IsDefault = r.Name == def
		out = append(out, *r)
	}
	newest := func(r pages.BranchRow) int64 {
		if len(r.Builds) == 0 {
			return 0
		}
		return r.Builds[0].ID
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.IsDefault != b.IsDefault {
			return a.IsDefault
		}
		if na, nb := newest(a), newest(b); na != nb {
			return na > nb
		}
		return a.Name < b.Name
	})
	more := 0
	if len(out) > maxBranchesShown {
		more = len(out) - maxBranchesShown
		out = out[:maxBranchesShown]
	}
	return out, more
}
