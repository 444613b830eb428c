package handlers

import (
	"errors"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/pipeline"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

const maxSearchHits = 50

// ideRef reads ?ref= (the default branch when absent) and resolves it in
// the project's repository; sha is "" when the branch has no commits yet.
func (h *Handler) ideRef(c echo.Context, p *models.Project) (branch, sha string, err error) {
	branch = strings.TrimSpace(c.QueryParam("ref"))
	if branch == "" {
		branch = p.DefaultBranch
	}
	if err := validBranchName(branch); err != nil {
		return "", "", echo.NewHTTPError(http.StatusBadRequest, "ref "+err.Error())
	}
	sha, err = gitrepo.RefSHA(c.Request().Context(), h.jobs.RepoDir(p), "refs/heads/"+branch)
	if err != nil {
		return "", "", err
	}
	return branch, sha, nil
}

func ideEntries(es []gitrepo.TreeEntry) []pages.IDEEntry {
	out := make([]pages.IDEEntry, 0, len(es))
	for _, e := range es {
		out = append(out, pages.IDEEntry{Name: e.Name, Path: e.Path, Dir: e.Type == "tree", Symlink: e.Symlink(), Submodule: e.Type == "commit"})
	}
	return out
}

// showIDE draws the IDE at a branch, with the root of the tree.
func (h *Handler) showIDE(c echo.Context) error {
	ctx := c.Request().Context()
	p := projectFrom(c)
	u := currentUser(c)
	branch, sha, err := h.ideRef(c, p)
	if err != nil {
		return err
	}
	v := pages.IDEPage{CSRF: csrfToken(c), Slug: p.Slug, Name: p.Name, Hosted: p.Hosted, Branch: branch, Default: p.DefaultBranch,
		BaseSHA: sha, ScriptURL: h.assets.URL("ide.js"), Empty: sha == ""}
	switch {
	case !auth.Can(roleOf(u), auth.PushCode):
		v.ReadOnlyReason = "Read-only: your role cannot commit."
	case !p.Hosted:
		v.ReadOnlyReason = "Read-only: this project links an external repository (commits through its deploy key are not supported yet)."
	default:
		v.CanCommit = true
	}
	if !p.Hosted && !isDirPath(h.jobs.RepoDir(p)) {
		v.Empty = true
	}
	if p.Hosted || isDirPath(h.jobs.RepoDir(p)) {
		refs, err := gitrepo.LocalRefs(ctx, h.jobs.RepoDir(p))
		if err != nil {
			return err
		}
		for b := range refs.Branches {
			v.Branches = append(v.Branches, b)
		}
	}
	if !contains(v.Branches, branch) {
		v.Branches = append(v.Branches, branch)
	}
	sort.Strings(v.Branches)
	if sha != "" {
		es, err := gitrepo.ListTree(ctx, h.jobs.RepoDir(p), sha, "")
		if err != nil {
			return err
		}
		v.Root = ideEntries(es)
	}
	status := http.StatusOK
	if sha == "" && branch != p.DefaultBranch && len(v.Root) == 0 && len(v.Branches) > 1 {
		// A branch that does not exist (a mistyped or deleted one), in a
		// repository that has others: say so rather than show it empty.
		status, v.Problem = http.StatusNotFound, "There is no branch “"+branch+"” in this repository. Pick one above; a commit to it would start it from nothing."
	}
	if fp := c.QueryParam("path"); fp != "" {
		clean, pathStatus, problem, err := h.idePath(c, p, sha, fp)
		if err != nil {
			return err
		}
		if problem == "" {
			v.Path = clean
			parts := strings.Split(clean, "/")
			for i := range parts {
				v.Crumbs = append(v.Crumbs, pages.IDECrumb{Name: parts[i], Path: strings.Join(parts[:i+1], "/")})
			}
		} else if v.Problem == "" {
			status, v.Problem = pathStatus, problem
		}
	}
	if _, envs, err := h.store.ProjectEnvironments(ctx, p.Slug); err == nil {
		for _, e := range envs {
			if e.AutoDeployBranch == branch {
				v.DevEnv = e.Name
				break
			}
		}
	}
	return h.renderStatus(c, status, p.Name+" · IDE", "projects", pages.IDE(v))
}

// idePath checks the IDE's ?path= at sha and returns it cleaned, or the
// page's status and the problem in words: an invalid path is 400, a
// missing file or a folder 404; the editor then opens nothing.
func (h *Handler) idePath(c echo.Context, p *models.Project, sha, fp string) (clean string, status int, problem string, err error) {
	clean, err = gitrepo.CleanPath(fp)
	if err != nil {
		return "", http.StatusBadRequest, "The path in the address is not valid: " + gitMessage(err) + ".", nil
	}
	if sha == "" {
		return clean, http.StatusOK, "", nil
	}
	_, err = gitrepo.ReadBlob(c.Request().Context(), h.jobs.RepoDir(p), sha, clean)
	switch {
	case err == nil:
		return clean, http.StatusOK, "", nil
	case errors.Is(err, gitrepo.ErrIsFolder):
		return "", http.StatusNotFound, "“" + clean + "” is a folder, not a file: open it in the tree on the left.", nil
	case errors.Is(err, gitrepo.ErrNotExist):
		return "", http.StatusNotFound, "There is no file “" + clean + "” on this branch.", nil
	}
	return "", 0, "", err
}

// ideTree answers one folder of the tree (an htmx fragment).
func (h *Handler) ideTree(c echo.Context) error {
	p := projectFrom(c)
	branch, sha, err := h.ideRef(c, p)
	if err != nil {
		return err
	}
	if sha == "" {
		return echo.NewHTTPError(http.StatusNotFound, "branch "+branch+" has no commits")
	}
	es, err := gitrepo.ListTree(c.Request().Context(), h.jobs.RepoDir(p), sha, c.QueryParam("path"))
	if err != nil {
		return gitReadError(err)
	}
	return h.renderComponent(c, http.StatusOK, pages.IDETreeFragment(pages.IDETree{Slug: p.Slug, Branch: branch, Entries: ideEntries(es)}))
}

// gitReadError turns a read of a path into 404 or 400, with the message
// of the path's problem alone: CleanPath's errors also wrap
// ErrInvalidChange for commits, whose text means nothing on a read.
func gitReadError(err error) error {
	msg := gitMessage(err)
	switch {
	case errors.Is(err, gitrepo.ErrIsFolder):
		return echo.NewHTTPError(http.StatusBadRequest, msg+": list a folder with the tree").WithInternal(err)
	case errors.Is(err, gitrepo.ErrNotExist), errors.Is(err, gitrepo.ErrUnknownRef):
		return echo.NewHTTPError(http.StatusNotFound, msg).WithInternal(err)
	case errors.Is(err, gitrepo.ErrInvalidChange):
		return echo.NewHTTPError(http.StatusBadRequest, msg).WithInternal(err)
	}
	return err
}

// gitMessage is a read error's text for people: without the package
// prefix, and without the "invalid change" that CleanPath's errors carry
// for commits.
func gitMessage(err error) string {
	return strings.TrimSuffix(strings.TrimPrefix(err.Error(), "gitrepo: "), ": "+gitrepo.ErrInvalidChange.Error())
}

// ideFileResponse is one file for the editor.
type ideFileResponse struct {
	Path     string `json:"path"`
	Content  string `json:"content"`
	Size     int64  `json:"size"`
	Binary   bool   `json:"binary"`
	TooLarge bool   `json:"too_large"`
	Symlink  bool   `json:"symlink"`
	// Executable keeps the file's mode on commit.
	Executable bool   `json:"executable"`
	SHA        string `json:"commit_sha"`
}

// ideFile answers one file's content as JSON (binary and large files
// without content, links as their target).
func (h *Handler) ideFile(c echo.Context) error {
	p := projectFrom(c)
	branch, sha, err := h.ideRef(c, p)
	if err != nil {
		return jsonError(c, err)
	}
	if sha == "" {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "branch " + branch + " has no commits"})
	}
	b, err := gitrepo.ReadBlob(c.Request().Context(), h.jobs.RepoDir(p), sha, c.QueryParam("path"))
	if err != nil {
		return jsonError(c, gitReadError(err))
	}
	return c.JSON(http.StatusOK, ideFileResponse{Path: b.Path, Content: string(b.Content), Size: b.Size, Binary: b.Binary,
		TooLarge: b.TooLarge, Symlink: b.Symlink, Executable: b.Mode == "100755", SHA: sha})
}

// ideSearch finds files by name.
func (h *Handler) ideSearch(c echo.Context) error {
	p := projectFrom(c)
	_, sha, err := h.ideRef(c, p)
	if err != nil {
		return jsonError(c, err)
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if sha == "" || q == "" {
		return c.JSON(http.StatusOK, []string{})
	}
	hits, err := gitrepo.FindPaths(c.Request().Context(), h.jobs.RepoDir(p), sha, q, maxSearchHits)
	if err != nil {
		return err
	}
	if hits == nil {
		hits = []string{}
	}
	return c.JSON(http.StatusOK, hits)
}

// diagnostic is one problem of a pipeline file, for the editor.
type diagnostic struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// maxValidateBody bounds a pipeline file sent for checking.
const maxValidateBody = 256 << 10

// ideValidate checks a .slipway.yml with the server's own parser and
// answers its problems with line and column.
func (h *Handler) ideValidate(c echo.Context) error {
	var req struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	if err := bindJSON(c, &req); err != nil {
		return jsonError(c, err)
	}
	if len(req.Content) > maxValidateBody {
		return c.JSON(http.StatusRequestEntityTooLarge, map[string]string{"error": "the file is too large to check"})
	}
	name := path.Base(req.Path)
	if name == "." || name == "/" || name == "" {
		name = ".slipway.yml"
	}
	out := []diagnostic{}
	if _, err := pipeline.Parse(name, []byte(req.Content)); err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			out = append(out, diagnostic{Line: pe.Line, Column: pe.Column, Message: pe.Msg})
		} else {
			out = append(out, diagnostic{Line: 1, Column: 1, Message: err.Error()})
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"diagnostics": out})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func isDirPath(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// treeEntryJSON is one entry of GET /api/v1/projects/:slug/tree.
type treeEntryJSON struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
	Mode string `json:"mode"`
	Size int64  `json:"size"`
}

// apiTree lists one folder of a branch.
func (h *Handler) apiTree(c echo.Context) error {
	p := projectFrom(c)
	branch, sha, err := h.ideRef(c, p)
	if err != nil {
		return err
	}
	if sha == "" {
		return echo.NewHTTPError(http.StatusNotFound, "branch "+branch+" has no commits")
	}
	es, err := gitrepo.ListTree(c.Request().Context(), h.jobs.RepoDir(p), sha, c.QueryParam("path"))
	if err != nil {
		return gitReadError(err)
	}
	out := make([]treeEntryJSON, 0, len(es))
	for _, e := range es {
		out = append(out, treeEntryJSON{Name: e.Name, Path: e.Path, Type: e.Type, Mode: e.Mode, Size: e.Size})
	}
	return c.JSON(http.StatusOK, map[string]any{"ref": branch, "commit_sha": sha, "entries": out})
}

// apiFile answers one file's raw bytes (up to gitrepo.MaxFileSize).
func (h *Handler) apiFile(c echo.Context) error {
	p := projectFrom(c)
	branch, sha, err := h.ideRef(c, p)
	if err != nil {
		return err
	}
	if sha == "" {
		return echo.NewHTTPError(http.StatusNotFound, "branch "+branch+" has no commits")
	}
	name, err := gitrepo.CleanPath(c.QueryParam("path"))
	if err != nil {
		return gitReadError(err)
	}
	data, err := gitrepo.ReadFile(c.Request().Context(), h.jobs.RepoDir(p), sha, name)
	if err != nil {
		return gitReadError(err)
	}
	c.Response().Header().Set("X-Commit-SHA", sha)
	return c.Blob(http.StatusOK, "application/octet-stream", data)
}
