package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/demo"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// showDemo is GET /demo: the demo project's guide, one step per stage of
// the journey with what to click and whether it is done; right after
// creation it also shows the lead's password, once.
func (h *Handler) showDemo(c echo.Context) error {
	ctx := c.Request().Context()
	vm := pages.DemoPage{CSRF: csrfToken(c), Now: h.now(), CanCreate: h.cfg.DemoDir != ""}
	if ck, err := c.Cookie(demoLeadCookie); err == nil {
		if raw, err := base64.RawURLEncoding.DecodeString(ck.Value); err == nil {
			vm.LeadName, vm.LeadPassword, _ = strings.Cut(string(raw), "\n")
		}
		c.SetCookie(&http.Cookie{Name: demoLeadCookie, Value: "", Path: "/demo", MaxAge: -1,
			HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	p, err := h.demoProject(ctx)
	if errors.Is(err, models.ErrNotFound) {
		return h.render(c, "Demo", "dashboard", pages.Demo(vm))
	}
	if err != nil {
		return err
	}
	vm.Exists, vm.Slug, vm.Name, vm.RepoDir, vm.Hosted, vm.CloneURL = true, p.Slug, p.Name, p.RepoURL, p.Hosted, h.cloneURL(c, p)
	if v, err := demo.Version(ctx, h.demoRepo(p)); err == nil {
		vm.Version = v
	} else {
		vm.RepoProblem = strings.TrimPrefix(err.Error(), "demo: version: ")
	}
	if vm.Steps, err = h.demoSteps(c, p); err != nil {
		return err
	}
	for i := range vm.Steps {
		if vm.Steps[i].Ship {
			// The first commit is v1: a later version was shipped.
			vm.Steps[i].Done = vm.Version != "" && vm.Version != "v1"
		}
	}
	return h.render(c, "Demo", "dashboard", pages.Demo(vm))
}

// demoSteps reads how far the journey has come.
func (h *Handler) demoSteps(c echo.Context, p *models.Project) ([]pages.DemoStep, error) {
	ctx := c.Request().Context()
	base := models.Path("projects", p.Slug, "environments") + "/"
	_, envs, err := h.store.ProjectEnvironments(ctx, p.Slug)
	if err != nil {
		return nil, err
	}
	byName := map[string]*models.Environment{}
	ids := make([]int64, 0, len(envs))
	for i := range envs {
		byName[envs[i].Name] = &envs[i]
		ids = append(ids, envs[i].ID)
	}
	live, err := h.store.LiveReleases(ctx, ids)
	if err != nil {
		return nil, err
	}
	liveIn := func(name string) *models.Release {
		if e := byName[name]; e != nil {
			return live[e.ID]
		}
		return nil
	}
	build := pages.DemoStep{TestID: "demo-step-build", Title: "Build the app",
		Text: "Slipway compiles the app from the demo repository. Open the build to follow its live log.",
		Href: "/builds?project=" + p.Slug, LinkText: "Builds"}
	if b, err := h.store.LatestBuildForRef(ctx, p.ID, p.DefaultBranch); err == nil {
		build.Href, build.LinkText = "/builds/"+strconv.FormatInt(b.ID, 10), "Open build #"+strconv.FormatInt(b.Number, 10)
		build.Status = b.Status
		build.Done = b.Status == models.BuildSucceeded
	} else if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	steps := []pages.DemoStep{build,
		{TestID: "demo-step-dev", Title: "dev deploys by itself",
			Text: "A successful build of " + p.DefaultBranch + " goes live in dev without a click. Open dev, then its URL: the app shows its version.",
			Href: base + "dev", LinkText: "Open dev", Done: liveIn("dev") != nil},
		{TestID: "demo-step-staging", Title: "Promote to staging",
			Text: "On dev's page, click “Promote to staging”. The same artifact moves on; nothing is rebuilt.",
			Href: base + "dev", LinkText: "Open dev", Done: liveIn("staging") != nil},
	}
	lt := pages.DemoStep{TestID: "demo-step-loadtest", Title: "Load-test staging",
		Text: "On Load tests, click Run next to “" + demoPlanName + "”: 5 seconds at 20 requests per second. Production accepts only an artifact that passed it in staging.",
		Href: "/loadtests", LinkText: "Open load tests"}
	if r := liveIn("staging"); r != nil {
		if _, err := h.store.PassedLoadTest(ctx, r.EnvironmentID, r.ArtifactSHA256); err == nil {
			lt.Done = true
		} else if !errors.Is(err, models.ErrNotFound) {
			return nil, err
		}
	}
	steps = append(steps, lt,
		pages.DemoStep{TestID: "demo-step-production", Title: "Promote to production, with a lead's approval",
			Text: "On staging's page, click “Promote to production”. Production is protected: the promotion waits until a lead approves it. Sign in as the lead in a private window, open Approvals, and approve.",
			Href: base + "staging", LinkText: "Open staging", Done: liveIn("production") != nil},
		demoShipStep(p),
		pages.DemoStep{TestID: "demo-step-rollback", Title: "Roll back production",
			Text: "With the new version live in production, click “Roll back” on production's page: the previous release serves again at once.",
			Href: base + "production", LinkText: "Open production"},
	)
	if prod := byName["production"]; prod != nil {
		rs, err := h.store.Releases(ctx, prod.ID, 50)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Reason == models.ReasonRollback {
				steps[len(steps)-1].Done = true
			}
		}
	}
	return steps, nil
}

// demoShipStep is "Ship a change": the button commits the next VERSION.
// The demo repository is hosted, so VERSION can also be edited in the IDE
// (the commit builds, and dev deploys it); a demo made before the demo was
// hosted links a repository on this machine, which opens there read-only,
// since the IDE commits only to repositories Slipway hosts.
func demoShipStep(p *models.Project) pages.DemoStep {
	st := pages.DemoStep{TestID: "demo-step-ship", Title: "Ship a change", Ship: true,
		Href: models.Path("projects", p.Slug, "ide") + "?path=VERSION"}
	if p.Hosted {
		st.Text = "Edit VERSION in the IDE and commit, or let the button commit the next version; either way it builds, dev deploys it, and you take it through staging and production the same way."
		st.LinkText = "Edit in the IDE"
		return st
	}
	st.Text = "Commit the next version to the demo repository and build it, then take it through dev, staging and production the same way. " +
		"The demo links a repository on this machine, so the IDE shows its code read-only; a project hosted by Slipway is edited and committed there."
	st.LinkText = "Read the code in the IDE"
	return st
}
