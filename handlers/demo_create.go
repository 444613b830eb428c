package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/examples"
	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/demo"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// The demo project's fixed choices.
const (
	demoName     = "Hello (demo)"
	demoSlug     = "hello"
	demoLead     = "lead"
	demoPlanName = "Staging smoke test"
	// demoLeadCookie carries the demo lead's name and password to the one
	// view of /demo that shows them.
	demoLeadCookie = "slipway_demo_lead"
)

// demoPlanSpec is the staging load test the demo saves: a few seconds at a
// low rate, with thresholds any healthy local app meets.
var demoPlanSpec = loadtest.Spec{
	Targets:    "GET /\nGET /healthz",
	Pacer:      loadtest.PacerConstant,
	Rate:       20,
	Duration:   5 * time.Second,
	Timeout:    2 * time.Second,
	MaxWorkers: 8,
	Thresholds: loadtest.Thresholds{P95: 500 * time.Millisecond, P99: time.Second, MinSuccessRatio: 0.99, MinThroughput: 10},
}

// createDemo is POST /demo: it creates a project with a repository
// Slipway hosts (the same path as the new-project form's "hosted"),
// commits the sample app into it server-side, so the IDE edits and commits
// it like any hosted project, marks it as the demo, configures the environments for the demo journey,
// saves a staging load test, adds a lead user whose password the next
// page shows once, and starts the first build. A second click finds the
// project and creates nothing.
func (h *Handler) createDemo(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	fail := func(msg string) error {
		return h.redirectWith(c, "/", "error", "The demo project was not created: "+msg)
	}
	if p, err := h.demoProject(ctx); err == nil {
		return h.redirectWith(c, "/demo", "info", "The demo project "+p.Name+" exists already; nothing new was created.")
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	}
	if h.cfg.DemoDir == "" {
		return fail(errNoDemoDir.Error() + ".")
	}
	files, err := demo.Files(examples.HelloApp())
	if err != nil {
		return fail(strings.TrimPrefix(err.Error(), "demo: ") + ".")
	}
	slug, err := h.freeSlug(ctx, demoSlug)
	if err != nil {
		return fail(err.Error() + ".")
	}
	in := projectInput{Name: demoName, Slug: slug, DefaultBranch: demo.Branch, Hosted: true}
	in.normalize()
	if err := in.validate(roleOf(u)); err != nil {
		return fail(err.Error() + ".")
	}
	pr, _, err := h.newProject(in, u.ID)
	if err != nil {
		return fail(strings.TrimPrefix(err.Error(), "handlers: ") + ".")
	}
	lead, err := h.freeUsername(ctx, demoLead)
	if err != nil {
		return fail(err.Error() + ".")
	}
	password := auth.NewPassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	leadUser := &models.User{Username: lead, PasswordHash: hash, Role: string(auth.Lead)}
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := insertProject(c, tx, pr); err != nil {
			return err
		}
		// In the transaction: a repository that cannot be made or
		// filled leaves no project behind.
		if err := h.jobs.InitHostedRepo(ctx, pr); err != nil {
			return &demoRepoError{err}
		}
		if err := h.commitDemoApp(ctx, pr, files); err != nil {
			return &demoRepoError{err}
		}
		if err := tx.CreateUser(ctx, leadUser); err != nil {
			return err
		}
		if err := tx.AppendAudit(ctx, auditBy(c, models.AuditUserCreate, "user", idString(leadUser.ID),
			map[string]any{"username": lead, "role": auth.Lead, "generated_password": true, "via": "demo"})); err != nil {
			return err
		}
		if err := h.configureDemo(c, tx, pr); err != nil {
			return err
		}
		if err := h.writeDemoMarker(pr); err != nil {
			return &demoRepoError{err}
		}
		return nil
	})
	if errors.Is(err, models.ErrConflict) {
		// Another click won the race: its project stands.
		if p, perr := h.demoProject(ctx); perr == nil {
			return h.redirectWith(c, "/demo", "info", "The demo project "+p.Name+" exists already; nothing new was created.")
		}
		return fail("a project or user of the same name appeared meanwhile; try again.")
	}
	var re *demoRepoError
	if errors.As(err, &re) {
		h.log.Warn("create the demo repository", "err", re.err)
		return fail("could not write its repository: " + strings.TrimPrefix(strings.TrimPrefix(re.err.Error(), "handlers: "), "jobs: ") + ".")
	}
	var fe fieldErrors
	if errors.As(err, &fe) {
		return fail("its load test does not fit this portal's load-test limits (" + fe.String() + "); raise them under Load tests → Limits.")
	}
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: demoLeadCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(lead + "\n" + password)),
		Path: "/demo", MaxAge: 300, HttpOnly: true, Secure: h.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})

	b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{
		Project: pr, Ref: demo.Branch, Trigger: jobs.TriggerManual, TriggeredByID: &u.ID,
	})
	if _, msg, ok := createBuildError(err); ok {
		return h.redirectWith(c, "/demo", "error", "The demo project is ready, but its first build could not start: "+msg+". Run a build from the project page.")
	}
	if err != nil {
		return err
	}
	return h.redirectWith(c, "/demo", "success", "Demo project "+pr.Name+" created; build #"+strconv.FormatInt(b.Number, 10)+" is running.")
}

// demoRepoError is a failure to make, fill or mark the demo repository;
// the page names it instead of answering 500.
type demoRepoError struct{ err error }

func (e *demoRepoError) Error() string { return e.err.Error() }
func (e *demoRepoError) Unwrap() error { return e.err }

// commitDemoApp makes the first commit of the hosted demo repository: the
// sample app's files, by the demo author, through the same server-side
// commit as the IDE.
func (h *Handler) commitDemoApp(ctx context.Context, p *models.Project, files map[string][]byte) error {
	req := gitrepo.CommitRequest{Branch: p.DefaultBranch, Message: demo.FirstCommitMessage,
		Author: gitrepo.Signature{Name: demo.AuthorName, Email: demo.AuthorEmail}}
	for name, data := range files {
		req.Changes = append(req.Changes, gitrepo.Change{Action: gitrepo.ActionCreate, Path: name, Content: data})
	}
	sort.Slice(req.Changes, func(i, j int) bool { return req.Changes[i].Path < req.Changes[j].Path })
	if _, err := gitrepo.CommitFiles(ctx, h.jobs.RepoDir(p), req); err != nil {
		return fmt.Errorf("handlers: commit the demo app: %w", err)
	}
	return nil
}

// configureDemo sets the demo's policies and load test in tx: production
// (protected, one approval from a lead or admin by default) also needs a
// passing load test of the artifact in staging, and staging gets a saved
// plan to run.
func (h *Handler) configureDemo(c echo.Context, tx *models.Store, pr *models.Project) error {
	ctx := c.Request().Context()
	_, envs, err := tx.ProjectEnvironments(ctx, pr.Slug)
	if err != nil {
		return err
	}
	var staging *models.Environment
	for i := range envs {
		env := &envs[i]
		env.Project = *pr
		switch env.Name {
		case "staging":
			staging = env
		case "production":
			old, err := delivery.PolicyOf(env)
			if err != nil {
				return err
			}
			pol := old
			pol.RequireLoadTest = true
			env.RequireLoadTest = true
			if err := tx.UpdateEnvironmentPolicy(ctx, env); err != nil {
				return err
			}
			if err := h.audit(ctx, tx, c, models.AuditPolicyUpdate, "environment", env.ID, map[string]any{
				"project": pr.Slug, "environment": env.Name, "before": policyDetails(old), "after": policyDetails(pol), "via": "demo",
			}); err != nil {
				return err
			}
		}
	}
	if staging == nil {
		return fmt.Errorf("handlers: configure demo: %s has no staging environment", pr.Slug)
	}
	limits, err := tx.LoadTestLimits(ctx)
	if err != nil {
		return err
	}
	fe := fieldErrors{}
	checkSpec(demoPlanSpec, staging, limits, fe)
	if len(fe) > 0 {
		return fe
	}
	plan := &models.LoadTestPlan{ProjectID: pr.ID, EnvironmentID: staging.ID, Name: demoPlanName, CreatedByID: &currentUser(c).ID}
	applySpec(plan, demoPlanSpec)
	return tx.CreateLoadTestPlan(ctx, plan)
}

// Error makes fieldErrors an error, so a transaction can return them.
func (fe fieldErrors) Error() string { return fe.String() }

// freeSlug returns base, or base-demo, base-demo-2, … : the first slug no
// project uses.
func (h *Handler) freeSlug(ctx context.Context, base string) (string, error) {
	return firstFree(base, func(s string) (bool, error) {
		_, err := h.store.ProjectBySlug(ctx, s)
		if errors.Is(err, models.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
}

// freeUsername is freeSlug for usernames.
func (h *Handler) freeUsername(ctx context.Context, base string) (string, error) {
	return firstFree(base, func(s string) (bool, error) {
		_, err := h.store.UserByName(ctx, s)
		if errors.Is(err, models.ErrNotFound) {
			return true, nil
		}
		return false, err
	})
}

// firstFree tries base, base-demo, base-demo-2 … base-demo-20.
func firstFree(base string, free func(string) (bool, error)) (string, error) {
	for i := 1; i <= 20; i++ {
		name := base
		switch {
		case i == 2:
			name = base + "-demo"
		case i > 2:
			name = base + "-demo-" + strconv.Itoa(i-1)
		}
		ok, err := free(name)
		if err != nil {
			return "", err
		}
		if ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("every name from %s to %s-demo-19 is taken", base, base)
}
