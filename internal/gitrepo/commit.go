package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/models"
)

// Commit actions, in the shape of GitLab's commits API.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionMove   = "move"
)

const (
	// maxCommitAttempts bounds the compare-and-swap retries of one commit
	// when other commits keep landing on the branch.
	maxCommitAttempts = 8
	// MaxCommitMessage caps a commit message.
	MaxCommitMessage = 64 << 10
	maxPath          = 4096
)

// Sentinels of server-side commits.
var (
	// ErrInvalidChange means the change list itself is wrong (bad path,
	// creating a file that exists, nothing changed); the message says what.
	ErrInvalidChange = errors.New("invalid change")
	// ErrBranchExists means a new branch was asked for under a taken name.
	ErrBranchExists = errors.New("branch already exists")
)

// Change is one file action of a commit.
type Change struct {
	// Action is ActionCreate, ActionUpdate, ActionDelete or ActionMove.
	Action string
	Path   string
	// PreviousPath is the old path of a move.
	PreviousPath string
	// Content is the new content (create, update; for a move, nil keeps
	// the old content).
	Content []byte
}

// Signature names the author (and committer) of a commit.
type Signature struct {
	Name, Email string
}

// CommitRequest asks for one commit made without a work tree.
type CommitRequest struct {
	// Branch receives the commit.
	Branch string
	// NewBranch means Branch must not exist yet; it starts at BaseSHA.
	NewBranch bool
	// BaseSHA is the commit the edits were made on; "" only for the first
	// commit of an empty repository.
	BaseSHA string
	Message string
	Author  Signature
	Changes []Change
}

// CommitResult is a commit made.
type CommitResult struct {
	SHA    string
	Parent string
	// Rebased is set when the branch had moved past BaseSHA without
	// touching any changed file, and the edit was applied on its new head.
	Rebased bool
}

// ConflictError says the branch moved since BaseSHA and changed files the
// commit touches too; the user has to reload them.
type ConflictError struct {
	Branch string
	// Head is where the branch is now.
	Head  string
	Paths []string
}

// Error lists the files.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("gitrepo: %s moved to %s and changed %s since your edit started", e.Branch, models.ShortSHA(e.Head), strings.Join(e.Paths, ", "))
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("gitrepo: %s: %w", fmt.Sprintf(format, a...), ErrInvalidChange)
}

// CleanPath checks a repository path the user gave: relative, no "." or
// ".." parts, no ".git" part, no NUL or control characters, valid UTF-8.
// It returns the path without a leading "./" or trailing "/".
func CleanPath(p string) (string, error) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")
	switch {
	case p == "":
		return "", invalid("empty path")
	case len(p) > maxPath:
		return "", invalid("path longer than %d bytes", maxPath)
	case !utf8.ValidString(p):
		return "", invalid("path %q is not valid UTF-8", p)
	case strings.HasPrefix(p, "/"):
		return "", invalid("path %q is absolute", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", invalid("path %q contains control characters", p)
		}
	}
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "" || part == "." || part == "..":
			return "", invalid("path %q has an empty, . or .. part", p)
		case strings.EqualFold(part, ".git"):
			return "", invalid("path %q is inside .git", p)
		}
	}
	return p, nil
}

// entry is one path of a tree: its mode and object.
type entry struct{ mode, sha string }

// treeEntries returns mode and object of each path at commit (missing
// paths are absent from the map).
func treeEntries(ctx context.Context, inv invocation, commit string, paths []string) (map[string]entry, error) {
	out := map[string]entry{}
	if commit == "" || len(paths) == 0 {
		return out, nil
	}
	args := append([]string{"ls-tree", "-z", "--full-tree", "--end-of-options", commit, "--"}, paths...)
	b, err := inv.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	for _, rec := range bytes.Split(b, []byte{0}) {
		meta, p, ok := strings.Cut(string(rec), "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) == 3 {
			out[p] = entry{mode: f[0], sha: f[2]}
		}
	}
	return out, nil
}

// CommitFiles makes one commit of req.Changes on req.Branch without a work
// tree: a temporary index is loaded from the parent (read-tree), the new
// blobs written (hash-object -w), the index edited (update-index), and a
// tree and commit made (write-tree, commit-tree). The branch is then moved
// with update-ref NEW OLD, a compare-and-swap: if another commit or push
// landed meanwhile, nothing is overwritten. When the branch has moved past
// BaseSHA, the edit is replayed on the new head if none of the touched
// paths changed in between, else a *ConflictError names them.
func CommitFiles(ctx context.Context, dir string, req CommitRequest) (CommitResult, error) {
	if err := checkRef(req.Branch); err != nil || strings.HasPrefix(req.Branch, "refs/") || strings.HasSuffix(req.Branch, ".lock") ||
		strings.HasSuffix(req.Branch, "/") || strings.HasPrefix(req.Branch, "/") || strings.Contains(req.Branch, "//") {
		return CommitResult{}, invalid("%q is not a valid branch name", req.Branch)
	}
	msg := strings.TrimSpace(strings.ReplaceAll(req.Message, "\r\n", "\n"))
	switch {
	case msg == "":
		return CommitResult{}, invalid("the commit message is empty")
	case len(msg) > MaxCommitMessage || strings.ContainsRune(msg, 0) || !utf8.ValidString(msg):
		return CommitResult{}, invalid("the commit message is too long or not valid UTF-8 text")
	case len(req.Changes) == 0:
		return CommitResult{}, invalid("no changes")
	case req.BaseSHA != "" && !isHex(req.BaseSHA):
		return CommitResult{}, invalid("base %q is not a full commit SHA", req.BaseSHA)
	}
	touched, err := normalizeChanges(req.Changes)
	if err != nil {
		return CommitResult{}, err
	}
	inv := readInv(dir)
	if req.BaseSHA != "" {
		if _, err := ResolveRef(ctx, dir, req.BaseSHA); err != nil {
			return CommitResult{}, err
		}
	}
	ref := "refs/heads/" + req.Branch
	for attempt := 0; attempt < maxCommitAttempts; attempt++ {
		head, err := RefSHA(ctx, dir, ref)
		if err != nil {
			return CommitResult{}, fmt.Errorf("gitrepo: commit: %w", err)
		}
		parent, rebased := req.BaseSHA, false
		switch {
		case req.NewBranch && head != "":
			return CommitResult{}, fmt.Errorf("gitrepo: %s: %w", req.Branch, ErrBranchExists)
		case req.NewBranch:
		case head == "" && req.BaseSHA != "":
			return CommitResult{}, fmt.Errorf("gitrepo: branch %s: %w", req.Branch, ErrUnknownRef)
		case head != req.BaseSHA:
			if req.BaseSHA == "" {
				return CommitResult{}, &ConflictError{Branch: req.Branch, Head: head, Paths: touched}
			}
			conflicts, err := changedBetween(ctx, inv, req.BaseSHA, head, touched)
			if err != nil {
				return CommitResult{}, err
			}
			if len(conflicts) > 0 {
				return CommitResult{}, &ConflictError{Branch: req.Branch, Head: head, Paths: conflicts}
			}
			parent, rebased = head, true
		}
		sha, err := makeCommit(ctx, dir, parent, msg, req.Author, req.Changes)
		if err != nil {
			return CommitResult{}, err
		}
		old := parent
		if req.NewBranch || parent == "" {
			old = ZeroSHA
		}
		if _, err := inv.run(ctx, "update-ref", "-m", "slipway: commit", ref, sha, old); err != nil {
			if ctx.Err() != nil {
				return CommitResult{}, ctx.Err()
			}
			continue // the branch moved under us: look again
		}
		return CommitResult{SHA: sha, Parent: parent, Rebased: rebased}, nil
	}
	return CommitResult{}, fmt.Errorf("gitrepo: commit: %s kept moving; try again", req.Branch)
}

// normalizeChanges cleans every path in place and returns the sorted set of
// paths the commit touches. A path may be touched once only.
func normalizeChanges(cs []Change) ([]string, error) {
	seen := map[string]bool{}
	add := func(p string) error {
		if seen[p] {
			return invalid("%s is changed twice in one commit", p)
		}
		seen[p] = true
		return nil
	}
	for i := range cs {
		c := &cs[i]
		p, err := CleanPath(c.Path)
		if err != nil {
			return nil, err
		}
		c.Path = p
		switch c.Action {
		case ActionCreate, ActionUpdate, ActionDelete:
		case ActionMove:
			pp, err := CleanPath(c.PreviousPath)
			if err != nil {
				return nil, err
			}
			c.PreviousPath = pp
			if err := add(pp); err != nil {
				return nil, err
			}
		default:
			return nil, invalid("unknown action %q (create, update, delete or move)", c.Action)
		}
		if err := add(p); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

// changedBetween lists the paths whose entry differs between two commits.
func changedBetween(ctx context.Context, inv invocation, a, b string, paths []string) ([]string, error) {
	ea, err := treeEntries(ctx, inv, a, paths)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: commit: %w", err)
	}
	eb, err := treeEntries(ctx, inv, b, paths)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: commit: %w", err)
	}
	var out []string
	for _, p := range paths {
		if ea[p] != eb[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

// makeCommit writes the objects of one commit on parent ("" for a root
// commit) and returns its SHA; no ref is touched.
func makeCommit(ctx context.Context, dir, parent, msg string, author Signature, cs []Change) (string, error) {
	tmp, err := os.MkdirTemp("", "slipway-commit-")
	if err != nil {
		return "", fmt.Errorf("gitrepo: commit: %w", err)
	}
	defer os.RemoveAll(tmp)
	inv := readInv(dir)
	inv.env = []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	if parent != "" {
		_, err = inv.run(ctx, "read-tree", "--end-of-options", parent)
	} else {
		_, err = inv.run(ctx, "read-tree", "--empty")
	}
	if err != nil {
		return "", fmt.Errorf("gitrepo: commit: read-tree: %w", err)
	}
	// The parent folders of new paths are looked up too: a file cannot be
	// made under a file (update-index would silently drop the file).
	var paths []string
	newPaths := map[string]bool{}
	for _, c := range cs {
		paths = append(paths, c.Path)
		if c.Action == ActionMove {
			paths = append(paths, c.PreviousPath)
		}
		if c.Action == ActionCreate || c.Action == ActionMove {
			newPaths[c.Path] = true
			for d := path.Dir(c.Path); d != "."; d = path.Dir(d) {
				paths = append(paths, d)
			}
		}
	}
	have, err := treeEntries(ctx, inv, parent, paths)
	if err != nil {
		return "", fmt.Errorf("gitrepo: commit: %w", err)
	}
	isFile := func(p string) bool {
		e, ok := have[p]
		return ok && (e.mode == "100644" || e.mode == "100755")
	}
	for p := range newPaths {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if isFile(d) || newPaths[d] {
				return "", invalid("%s cannot be made: %s is a file", p, d)
			}
		}
	}
	var info bytes.Buffer // update-index --index-info input
	for _, c := range cs {
		switch c.Action {
		case ActionCreate:
			if _, ok := have[c.Path]; ok {
				return "", invalid("%s already exists", c.Path)
			}
		case ActionUpdate:
			if !isFile(c.Path) {
				return "", invalid("%s does not exist (create it instead)", c.Path)
			}
		case ActionDelete:
			if !isFile(c.Path) {
				return "", invalid("%s does not exist", c.Path)
			}
			fmt.Fprintf(&info, "0 %s\t%s\x00", ZeroSHA, c.Path)
			continue
		case ActionMove:
			if !isFile(c.PreviousPath) {
				return "", invalid("%s does not exist", c.PreviousPath)
			}
			if _, ok := have[c.Path]; ok {
				return "", invalid("%s already exists", c.Path)
			}
			fmt.Fprintf(&info, "0 %s\t%s\x00", ZeroSHA, c.PreviousPath)
			if c.Content == nil {
				old := have[c.PreviousPath]
				fmt.Fprintf(&info, "%s %s\t%s\x00", old.mode, old.sha, c.Path)
				continue
			}
		}
		mode := "100644"
		if e, ok := have[c.Path]; ok && e.mode == "100755" {
			mode = e.mode
		} else if e, ok := have[c.PreviousPath]; ok && c.Action == ActionMove && e.mode == "100755" {
			mode = e.mode
		}
		blobInv := inv
		blobInv.stdin = bytes.NewReader(c.Content)
		out, err := blobInv.run(ctx, "hash-object", "-w", "--stdin")
		if err != nil {
			return "", fmt.Errorf("gitrepo: commit: hash-object: %w", err)
		}
		fmt.Fprintf(&info, "%s %s\t%s\x00", mode, strings.TrimSpace(string(out)), c.Path)
	}
	idx := inv
	idx.stdin = &info
	if _, err := idx.run(ctx, "update-index", "-z", "--index-info"); err != nil {
		return "", invalid("the changes do not fit the tree (a file where a folder is, or the reverse)")
	}
	treeOut, err := inv.run(ctx, "write-tree")
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) {
			return "", invalid("the changes do not fit the tree: %s", detail(ge.Stderr))
		}
		return "", fmt.Errorf("gitrepo: commit: write-tree: %w", err)
	}
	tree := strings.TrimSpace(string(treeOut))
	args := []string{"commit-tree", tree}
	if parent != "" {
		ptree, err := inv.run(ctx, "rev-parse", "--verify", "--end-of-options", parent+"^{tree}")
		if err != nil {
			return "", fmt.Errorf("gitrepo: commit: %w", err)
		}
		if strings.TrimSpace(string(ptree)) == tree {
			return "", invalid("the changes leave every file as it was: nothing to commit")
		}
		args = append(args, "-p", parent)
	}
	name, email := identity(author)
	ci := readInv(dir)
	ci.env = []string{"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email}
	ci.stdin = strings.NewReader(msg + "\n")
	out, err := ci.run(ctx, args...)
	if err != nil {
		return "", fmt.Errorf("gitrepo: commit: commit-tree: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// identity makes a name and email git accepts: no angle brackets or line
// breaks, never empty.
func identity(s Signature) (string, string) {
	clean := func(v string) string {
		v = strings.Map(func(r rune) rune {
			if r == '<' || r == '>' || r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, v)
		return strings.TrimSpace(v)
	}
	name, email := clean(s.Name), clean(s.Email)
	if name == "" {
		name = "Slipway user"
	}
	if email == "" {
		email = "noreply@slipway.invalid"
	}
	return name, email
}
