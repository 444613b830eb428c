package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/demo"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// shipDemoChange is POST /demo/ship: it commits the next version to the
// demo repository and builds it, so the newcomer has a second release to
// take to production and roll back from. A hosted demo gets the commit
// the IDE would make (server-side, by the signed-in user, built as an IDE
// commit); a demo linked to a repository on this machine (made before the
// demo was hosted) gets a commit in that work tree, as before.
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
	if strings.HasPrefix(c.FormValue("back"), models.Path("projects", p.Slug)) {
		back = models.Path("projects", p.Slug)
	}
	req := jobs.CreateBuildRequest{Project: p, Ref: demo.Branch, Trigger: jobs.TriggerManual, TriggeredByID: &u.ID}
	var ch demo.Change
	if p.Hosted {
		ch, err = h.shipHostedDemo(c, p, u)
		req.Ref, req.Trigger = "refs/heads/"+p.DefaultBranch, jobs.TriggerIDE
	} else {
		ch, err = demo.Ship(ctx, p.RepoURL)
	}
	if err != nil {
		h.log.Warn("ship a demo change", "project", p.Slug, "err", err)
		return h.redirectWith(c, back, "error", "No change was shipped: "+strings.TrimPrefix(strings.TrimPrefix(err.Error(), "demo: ship: "), "gitrepo: ")+".")
	}
	req.CommitSHA = ch.SHA
	b, err := h.jobs.CreateBuild(ctx, h.store, req)
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

// shipHostedDemo commits the next VERSION to the hosted demo repository
// through the IDE's server-side commit, on the head it read the version
// from (a commit that moved VERSION meanwhile is a conflict, not
// overwritten), and audits it like an IDE commit.
func (h *Handler) shipHostedDemo(c echo.Context, p *models.Project, u *models.User) (demo.Change, error) {
	ctx := c.Request().Context()
	dir := h.jobs.RepoDir(p)
	head, err := gitrepo.ResolveRef(ctx, dir, "refs/heads/"+p.DefaultBranch)
	if err != nil {
		return demo.Change{}, err
	}
	from, err := demo.Version(ctx, dir)
	if err != nil {
		return demo.Change{}, err
	}
	ch := demo.Next(from)
	res, err := gitrepo.CommitFiles(ctx, dir, gitrepo.CommitRequest{Branch: p.DefaultBranch, BaseSHA: head, Message: ch.Message,
		Author:  gitrepo.Signature{Name: u.Username, Email: u.Username + "@users.slipway.invalid"},
		Changes: []gitrepo.Change{{Action: gitrepo.ActionUpdate, Path: demo.VersionFile, Content: []byte(ch.To + "\n")}}})
	if err != nil {
		return demo.Change{}, err
	}
	ch.SHA = res.SHA
	h.auditDemoCommit(ctx, c, p, res)
	return ch, nil
}

// auditDemoCommit records the commit as the IDE records its own.
func (h *Handler) auditDemoCommit(ctx context.Context, c echo.Context, p *models.Project, res gitrepo.CommitResult) {
	if err := h.store.AppendAudit(ctx, auditBy(c, models.AuditCommit, "project", p.Slug, map[string]any{
		"branch": p.DefaultBranch, "sha": res.SHA, "parent": res.Parent, "rebased": res.Rebased,
		"files": []string{gitrepo.ActionUpdate + " " + demo.VersionFile}, "via": "demo",
	})); err != nil {
		h.log.Error("audit commit", "project", p.Slug, "err", err)
	}
}
