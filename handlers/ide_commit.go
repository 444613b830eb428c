package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// maxCommitActions bounds the files of one commit.
const maxCommitActions = 500

// commitRequest is POST /projects/:slug/ide/commit and
// POST /api/v1/projects/:slug/commits (GitLab's commits API shape).
type commitRequest struct {
	Branch string `json:"branch"`
	// StartBranch, when set and different from Branch, makes Branch a new
	// branch starting at BaseSHA (which must be on StartBranch's history).
	StartBranch string         `json:"start_branch"`
	BaseSHA     string         `json:"base_sha"`
	Message     string         `json:"message"`
	Actions     []commitAction `json:"actions"`
}

type commitAction struct {
	Action       string `json:"action"`
	Path         string `json:"path"`
	PreviousPath string `json:"previous_path"`
	Content      string `json:"content"`
	// Encoding is "text" (default) or "base64".
	Encoding string `json:"encoding"`
}

// commitResponse is a commit made, with the build it started.
type commitResponse struct {
	SHA     string `json:"sha"`
	Parent  string `json:"parent"`
	Branch  string `json:"branch"`
	Rebased bool   `json:"rebased"`
	BuildID int64  `json:"build_id,omitempty"`
	// BuildNumber and BuildURL name the build; BuildError says why none
	// was started.
	BuildNumber int64  `json:"build_number,omitempty"`
	BuildURL    string `json:"build_url,omitempty"`
	BuildError  string `json:"build_error,omitempty"`
}

// ideCommit commits the IDE's edits as the signed-in user.
func (h *Handler) ideCommit(c echo.Context) error {
	var req commitRequest
	if err := bindJSON(c, &req); err != nil {
		return jsonError(c, err)
	}
	return h.commitFiles(c, req)
}

// apiCommit is ideCommit for API tokens.
func (h *Handler) apiCommit(c echo.Context) error {
	var req commitRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	return h.commitFiles(c, req)
}

// jsonError answers an HTTP error as {"error": …} (the IDE page talks JSON).
func jsonError(c echo.Context, err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		return c.JSON(he.Code, map[string]string{"error": msg})
	}
	return err
}

// commitFiles makes the commit, audits it and starts its build.
func (h *Handler) commitFiles(c echo.Context, req commitRequest) error {
	ctx := c.Request().Context()
	p := projectFrom(c)
	u := currentUser(c)
	if !p.Hosted {
		return c.JSON(http.StatusConflict, map[string]string{"error": "this project links an external repository: the IDE can browse it but not commit to it (pushing with the deploy key is not supported yet)"})
	}
	if len(req.Actions) > maxCommitActions {
		return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": "at most " + strconv.Itoa(maxCommitActions) + " files per commit"})
	}
	creq := gitrepo.CommitRequest{Branch: strings.TrimSpace(req.Branch), BaseSHA: strings.ToLower(strings.TrimSpace(req.BaseSHA)), Message: req.Message,
		Author: gitrepo.Signature{Name: u.Username, Email: u.Username + "@users.slipway.invalid"}}
	if req.StartBranch != "" && req.StartBranch != req.Branch {
		creq.NewBranch = true
	}
	if creq.Branch == "" {
		creq.Branch = p.DefaultBranch
	}
	if err := validBranchName(creq.Branch); err != nil {
		return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": "branch " + err.Error()})
	}
	if creq.Branch == p.DefaultBranch && !mayMoveDefaultBranch(roleOf(u), p) {
		return c.JSON(http.StatusForbidden, map[string]string{"error": "commits to the default branch " + p.DefaultBranch +
			" are limited to leads and admins in this project; commit to a new branch instead"})
	}
	for i, a := range req.Actions {
		ch := gitrepo.Change{Action: a.Action, Path: a.Path, PreviousPath: a.PreviousPath}
		switch a.Encoding {
		case "", "text":
			if a.Action != gitrepo.ActionDelete && !(a.Action == gitrepo.ActionMove && a.Content == "") {
				ch.Content = []byte(a.Content)
			}
		case "base64":
			b, err := base64.StdEncoding.DecodeString(a.Content)
			if err != nil {
				return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": "actions[" + strconv.Itoa(i) + "].content is not valid base64"})
			}
			ch.Content = b
		default:
			return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": "actions[" + strconv.Itoa(i) + "].encoding must be text or base64"})
		}
		creq.Changes = append(creq.Changes, ch)
	}
	res, err := gitrepo.CommitFiles(ctx, h.jobs.RepoDir(p), creq)
	var ce *gitrepo.ConflictError
	switch {
	case errors.As(err, &ce):
		return c.JSON(http.StatusConflict, map[string]any{"error": ce.Error(), "conflicts": ce.Paths, "head": ce.Head})
	case errors.Is(err, gitrepo.ErrBranchExists):
		return c.JSON(http.StatusConflict, map[string]string{"error": "branch " + creq.Branch + " already exists; pick another name or commit to it"})
	case errors.Is(err, gitrepo.ErrInvalidChange), errors.Is(err, gitrepo.ErrUnknownRef):
		return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": strings.TrimPrefix(err.Error(), "gitrepo: ")})
	case err != nil:
		return err
	}
	paths := make([]string, 0, len(creq.Changes))
	for _, ch := range creq.Changes {
		paths = append(paths, ch.Action+" "+ch.Path)
	}
	if err := h.store.AppendAudit(ctx, auditBy(c, models.AuditCommit, "project", p.Slug, map[string]any{
		"branch": creq.Branch, "sha": res.SHA, "parent": res.Parent, "rebased": res.Rebased, "files": paths,
	})); err != nil {
		h.log.Error("audit commit", "project", p.Slug, "err", err)
	}
	out := commitResponse{SHA: res.SHA, Parent: res.Parent, Branch: creq.Branch, Rebased: res.Rebased}
	h.buildCommit(ctx, c, p, u, creq.Branch, res.SHA, &out)
	return c.JSON(http.StatusCreated, out)
}

// buildCommit starts the build of a commit made in the portal, the same
// way a push does.
func (h *Handler) buildCommit(ctx context.Context, c echo.Context, p *models.Project, u *models.User, branch, sha string, out *commitResponse) {
	uid := u.ID
	b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{Project: p, Ref: "refs/heads/" + branch, CommitSHA: sha, Trigger: jobs.TriggerIDE, TriggeredByID: &uid})
	if err != nil {
		h.log.Error("build after commit", "project", p.Slug, "err", err)
		out.BuildError = "the commit was made, but its build could not be started"
		return
	}
	out.BuildID, out.BuildNumber, out.BuildURL = b.ID, b.Number, h.baseURL(c)+"/builds/"+strconv.FormatInt(b.ID, 10)
}
