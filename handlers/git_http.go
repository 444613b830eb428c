package handlers

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// maxGitBody caps one smart-HTTP request body after decompression; the
// pack inside is capped again by git (gitrepo.MaxPushInput).
const maxGitBody = gitrepo.MaxPushInput + 16<<20

// gitPre serves Git smart HTTP under /git/ ahead of the router. These
// requests are not the browser UI's: they are authenticated by an API
// token in HTTP Basic auth only (a session cookie is never looked at, so
// there is nothing for CSRF to forge), their bodies are streamed packs far
// over the UI's 1 MiB limit, and their errors are plain text for the git
// client. So they skip the UI's session, CSRF and body-limit middleware;
// metrics and panic recovery still apply.
func (h *Handler) gitPre(next echo.HandlerFunc) echo.HandlerFunc {
	serve := h.metrics.middleware(h.recoverPanics(h.serveGit))
	return func(c echo.Context) error {
		if strings.HasPrefix(c.Request().URL.Path, "/git/") {
			return serve(c)
		}
		return next(c)
	}
}

// gitRequest is a parsed /git/ URL.
type gitRequest struct {
	slug    string
	service string // gitrepo.UploadPack or ReceivePack
	refs    bool   // GET info/refs, else POST of the service
}

// parseGitPath understands /git/<slug>.git/info/refs?service=… and
// /git/<slug>.git/git-{upload,receive}-pack (".git" optional).
func parseGitPath(r *http.Request) (gitRequest, bool) {
	rest := strings.TrimPrefix(r.URL.Path, "/git/")
	slug, tail, ok := strings.Cut(rest, "/")
	if !ok {
		return gitRequest{}, false
	}
	slug = strings.TrimSuffix(slug, ".git")
	if !slugRE.MatchString(slug) {
		return gitRequest{}, false
	}
	g := gitRequest{slug: slug}
	switch {
	case tail == "info/refs" && r.Method == http.MethodGet:
		g.refs, g.service = true, r.URL.Query().Get("service")
	case (tail == gitrepo.UploadPack || tail == gitrepo.ReceivePack) && r.Method == http.MethodPost:
		g.service = tail
	default:
		return gitRequest{}, false
	}
	return g, g.service == gitrepo.UploadPack || g.service == gitrepo.ReceivePack
}

// gitFail answers a git client with a status and a one-line reason.
func gitFail(c echo.Context, status int, msg string) error {
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="Slipway", charset="UTF-8"`)
	}
	return c.String(status, msg+"\n")
}

// gitUser authenticates Basic auth: any user name, an API token as the
// password. It returns nil when the credentials are missing or wrong.
func (h *Handler) gitUser(c echo.Context) (*models.User, error) {
	_, pass, ok := c.Request().BasicAuth()
	if !ok || pass == "" {
		return nil, nil
	}
	ctx := c.Request().Context()
	t, err := h.store.APITokenByHash(ctx, auth.HashSecret(pass))
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case t.User.Disabled:
		return nil, nil
	}
	if err := h.store.TouchAPIToken(ctx, t.ID, h.now()); err != nil {
		h.log.Warn("touch api token", "err", err)
	}
	u := t.User
	return &u, nil
}

// serveGit answers one smart-HTTP request for a hosted repository.
func (h *Handler) serveGit(c echo.Context) error {
	req := c.Request()
	g, ok := parseGitPath(req)
	if !ok {
		return gitFail(c, http.StatusNotFound, "not a git smart-HTTP URL: use "+h.baseURL(c)+"/git/<project>.git")
	}
	u, err := h.gitUser(c)
	if err != nil {
		return err
	}
	if u == nil {
		return gitFail(c, http.StatusUnauthorized, "authentication required: any user name, an API token (from your profile) as the password")
	}
	need := auth.ViewProjects
	if g.service == gitrepo.ReceivePack {
		need = auth.PushCode
	}
	if !auth.Can(roleOf(u), need) {
		return gitFail(c, http.StatusForbidden, fmt.Sprintf("your role (%s) cannot %s this repository", u.Role, map[bool]string{true: "push to", false: "read"}[need == auth.PushCode]))
	}
	ctx := req.Context()
	p, err := h.store.ProjectBySlug(ctx, g.slug)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !p.Hosted) {
		return gitFail(c, http.StatusNotFound, "no repository hosted by Slipway is called "+g.slug)
	}
	if err != nil {
		return err
	}
	svc := gitrepo.Service{Dir: h.jobs.RepoDir(p), Name: g.service, Protocol: req.Header.Get("Git-Protocol"), DefaultBranch: p.DefaultBranch,
		MayPushDefault: mayMoveDefaultBranch(roleOf(u), p), AllowForcePush: p.AllowForcePush}
	if g.service == gitrepo.ReceivePack {
		svc.HooksDir = h.jobs.HooksDir()
		if err := gitrepo.InstallHooks(svc.HooksDir); err != nil {
			return err
		}
	}
	res := c.Response()
	res.Header().Set("Cache-Control", "no-cache, max-age=0, must-revalidate")
	if g.refs {
		res.Header().Set(echo.HeaderContentType, "application/x-"+g.service+"-advertisement")
		res.WriteHeader(http.StatusOK)
		return h.gitStreamErr(c, svc.AdvertiseRefs(ctx, flushWriter{res}))
	}

	// A browser form cannot send this content type cross-site without a
	// preflight, which this endpoint never answers.
	if req.Header.Get(echo.HeaderContentType) != "application/x-"+g.service+"-request" {
		return gitFail(c, http.StatusUnsupportedMediaType, "expected Content-Type application/x-"+g.service+"-request")
	}
	var body io.Reader = http.MaxBytesReader(res, req.Body, maxGitBody)
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return gitFail(c, http.StatusBadRequest, "the gzip request body is corrupt")
		}
		defer zr.Close()
		body = &capReader{r: zr, left: maxGitBody}
	default:
		return gitFail(c, http.StatusUnsupportedMediaType, "unsupported Content-Encoding "+enc)
	}
	sniff := &gitrepo.CommandSniffer{R: body}
	if g.service == gitrepo.ReceivePack {
		body = sniff
	}
	res.Header().Set(echo.HeaderContentType, "application/x-"+g.service+"-result")
	res.WriteHeader(http.StatusOK)
	if err := h.gitStreamErr(c, svc.RPC(ctx, body, flushWriter{res})); err != nil {
		return err
	}
	if g.service == gitrepo.ReceivePack {
		h.buildPushed(ctx, p, u, sniff.Updates())
	}
	return nil
}

// mayMoveDefaultBranch says whether role may move p's default branch, by
// a push or a commit made in the portal: developers and up, or only leads
// and admins when the project protects it.
func mayMoveDefaultBranch(role auth.Role, p *models.Project) bool {
	if !auth.Can(role, auth.PushCode) {
		return false
	}
	return !p.ProtectDefaultBranch || auth.Can(role, auth.PushProtectedBranch)
}

// gitStreamErr logs a failure after the response has started: the status
// is sent, so the git client sees a cut stream and reports it.
func (h *Handler) gitStreamErr(c echo.Context, err error) error {
	if err != nil && c.Request().Context().Err() == nil {
		h.log.Warn("git smart http", slog.String("path", c.Request().URL.Path), slog.Any("err", err))
	}
	return nil
}

// buildPushed starts a build of every branch or tag the push moved, the
// way a forge's push webhook does. A ref is built only if it now points
// at what the push asked for: a refused or raced update builds nothing.
func (h *Handler) buildPushed(ctx context.Context, p *models.Project, u *models.User, ups []gitrepo.RefUpdate) {
	dir := h.jobs.RepoDir(p)
	for _, up := range ups {
		if up.New == gitrepo.ZeroSHA || (!strings.HasPrefix(up.Ref, "refs/heads/") && !strings.HasPrefix(up.Ref, "refs/tags/")) {
			continue
		}
		if sha, err := gitrepo.RefSHA(ctx, dir, up.Ref); err != nil || sha != up.New {
			continue
		}
		h.recordPushedSightings(ctx, p, dir, up)
		uid := u.ID
		b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{Project: p, Ref: up.Ref, CommitSHA: up.New, Trigger: jobs.TriggerPush, TriggeredByID: &uid})
		if err != nil {
			h.log.Error("build after push", slog.String("project", p.Slug), slog.String("ref", up.Ref), slog.Any("err", err))
			continue
		}
		h.log.Info("build after push", slog.String("project", p.Slug), slog.String("ref", up.Ref), slog.Int64("build", b.ID))
	}
}

// flushWriter sends every write at once, so git's progress reaches the
// client while a long fetch or push is still running.
type flushWriter struct{ r *echo.Response }

func (w flushWriter) Write(p []byte) (int, error) {
	n, err := w.r.Write(p)
	w.r.Flush()
	return n, err
}

// capReader fails once more than left bytes were read (a gzip bomb).
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("request body too large")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
