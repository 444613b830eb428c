package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxFileSize caps ReadFile: it reads small config files, not assets.
	MaxFileSize = 16 << 20
	// DefaultLogMax is the cap Log uses when given max <= 0.
	DefaultLogMax = 1000
)

var (
	hexRE = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)
	// Fields of one commit, NUL-separated: sha, author name, email,
	// author date (strict ISO 8601), subject.
	commitFormat = "--format=%H%x00%an%x00%ae%x00%aI%x00%s"
)

// readInv is the invocation used for every read of a mirror. Reads never
// touch the network: protocol.allow=never makes sure of it.
func readInv(mirrorDir string) invocation {
	return invocation{gitDir: mirrorDir, config: []string{"protocol.allow=never"}}
}

// checkRef rejects names git could take as an option or that cannot be a
// ref, before they reach the command line.
func checkRef(ref string) error {
	if ref == "" || strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, " \t\n\r\x00~^:?*[\\") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "@{") {
		return fmt.Errorf("%q: %w", ref, ErrUnknownRef)
	}
	for _, c := range []byte(ref) {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%q: %w", ref, ErrUnknownRef)
		}
	}
	return nil
}

// ResolveRef turns a branch, a tag, a full ref ("refs/heads/main") or a
// full or abbreviated (at least 4 hex digits) commit SHA into the full
// commit SHA, using the mirror only. Names are tried in git's own order:
// a full object ID, refs/<ref>, tags, then branches, then abbreviated
// object IDs. A missing,
// ambiguous or non-commit ref gives an error wrapping ErrUnknownRef.
func ResolveRef(ctx context.Context, mirrorDir, ref string) (string, error) {
	if err := checkRef(ref); err != nil {
		return "", fmt.Errorf("gitrepo: resolve: %w", err)
	}
	candidates := []string{"refs/tags/" + ref, "refs/heads/" + ref}
	switch {
	case strings.HasPrefix(ref, "refs/"):
		candidates = []string{ref}
	case len(ref) == 40 || len(ref) == 64:
		// A full object name is taken as such before any ref of the same
		// name, as git itself does; it also spares two git runs on the
		// hot path of every build.
		if hexRE.MatchString(ref) {
			candidates = append([]string{strings.ToLower(ref)}, candidates...)
		}
	case hexRE.MatchString(ref):
		candidates = append(candidates, strings.ToLower(ref))
	}
	inv := readInv(mirrorDir)
	for _, c := range candidates {
		out, err := inv.run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", c+"^{commit}")
		if err == nil {
			return strings.TrimSpace(string(out)), nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("gitrepo: resolve %q: %w", ref, ctx.Err())
		}
		var ge *gitError
		if !errors.As(err, &ge) {
			return "", fmt.Errorf("gitrepo: resolve %q: %w", ref, err)
		}
		if strings.Contains(ge.Stderr, "not a git repository") {
			return "", fmt.Errorf("gitrepo: resolve %q: %s: %w", ref, mirrorDir, ErrNotMirror)
		}
	}
	return "", fmt.Errorf("gitrepo: resolve %q: %w", ref, ErrUnknownRef)
}

// CommitInfo returns the author, subject and author date of a commit.
func CommitInfo(ctx context.Context, mirrorDir, sha string) (Commit, error) {
	full, err := ResolveRef(ctx, mirrorDir, sha)
	if err != nil {
		return Commit{}, err
	}
	out, err := readInv(mirrorDir).run(ctx, "show", "--no-patch", "--no-notes", commitFormat, "--end-of-options", full, "--")
	if err != nil {
		return Commit{}, fmt.Errorf("gitrepo: commit %s: %w", sha, err)
	}
	commits, err := parseCommits(out)
	if err != nil || len(commits) != 1 {
		return Commit{}, fmt.Errorf("gitrepo: commit %s: unexpected output: %w", sha, err)
	}
	return commits[0], nil
}

// Log lists the commits reachable from to but not from from — what changed
// between two releases — newest first, at most max of them (DefaultLogMax
// when max <= 0). An empty from lists the history of to.
func Log(ctx context.Context, mirrorDir, from, to string, max int) ([]Commit, error) {
	if max <= 0 {
		max = DefaultLogMax
	}
	toSHA, err := ResolveRef(ctx, mirrorDir, to)
	if err != nil {
		return nil, err
	}
	rng := toSHA
	if from != "" {
		fromSHA, err := ResolveRef(ctx, mirrorDir, from)
		if err != nil {
			return nil, err
		}
		rng = fromSHA + ".." + toSHA
	}
	out, err := readInv(mirrorDir).run(ctx, "log", "--no-notes", commitFormat, "-z",
		"--max-count="+strconv.Itoa(max), "--end-of-options", rng, "--")
	if err != nil {
		return nil, fmt.Errorf("gitrepo: log %s: %w", rng, err)
	}
	commits, err := parseCommits(out)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: log %s: %w", rng, err)
	}
	return commits, nil
}

// parseCommits reads records of commitFormat. Records are separated by
// "\n" (git show) or NUL (git log -z); fields by NUL.
func parseCommits(out []byte) ([]Commit, error) {
	var fields []string
	for _, rec := range bytes.Split(out, []byte{0}) {
		fields = append(fields, string(rec))
	}
	// With -z, records end in NUL, so fields arrive 5 per commit with the
	// last field of one record holding "subject"; without -z the final
	// field ends in "\n". Either way, walk in steps of five.
	var commits []Commit
	for len(fields) >= 5 {
		sha := strings.TrimLeft(fields[0], "\n")
		when, err := time.Parse(time.RFC3339, fields[3])
		if err != nil {
			return nil, err
		}
		commits = append(commits, Commit{
			SHA:         sha,
			AuthorName:  fields[1],
			AuthorEmail: fields[2],
			Time:        when,
			Subject:     strings.TrimRight(fields[4], "\n"),
		})
		fields = fields[5:]
	}
	return commits, nil
}

// Export writes the tree of a commit into dest, which must be empty or not
// exist yet. It uses a throwaway index outside dest, so dest gets the
// files only (no .git) and the mirror's HEAD is never touched. Unlike
// git archive, it ignores export-ignore and export-subst attributes: the
// build sees exactly what a clone would.
func Export(ctx context.Context, mirrorDir, sha, dest string) error {
	full, err := ResolveRef(ctx, mirrorDir, sha)
	if err != nil {
		return err
	}
	dest, err = filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("gitrepo: export: %w", err)
	}
	entries, err := os.ReadDir(dest)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return fmt.Errorf("gitrepo: export: %w", err)
		}
	case err != nil:
		return fmt.Errorf("gitrepo: export: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("gitrepo: export: %s is not empty", dest)
	}
	tmp, err := os.MkdirTemp("", "slipway-index-")
	if err != nil {
		return fmt.Errorf("gitrepo: export: %w", err)
	}
	defer os.RemoveAll(tmp)

	inv := readInv(mirrorDir)
	inv.workTree = dest
	inv.dir = dest
	inv.env = []string{"GIT_INDEX_FILE=" + filepath.Join(tmp, "index")}
	// One git run reads the tree into the throwaway index and writes its
	// files (-u), through the same checkout code as checkout-index.
	if _, err := inv.run(ctx, "read-tree", "--reset", "-u", "--end-of-options", full); err != nil {
		return fmt.Errorf("gitrepo: export %s: %w", full, err)
	}
	return nil
}

// ReadFile returns one file's content at a commit (e.g. .slipway.yml).
// A path that is missing, or is a directory, link or submodule, gives an
// error wrapping ErrNotExist. Files over MaxFileSize are refused.
func ReadFile(ctx context.Context, mirrorDir, sha, name string) ([]byte, error) {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." ||
		strings.HasPrefix(name, "../") || strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("gitrepo: read %q: invalid path", name)
	}
	full, err := ResolveRef(ctx, mirrorDir, sha)
	if err != nil {
		return nil, err
	}
	inv := readInv(mirrorDir)
	out, err := inv.run(ctx, "ls-tree", "-z", "--long", "--full-tree", "--end-of-options", full, "--", name)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: read %s at %s: %w", name, full, err)
	}
	// "<mode> SP <type> SP <object> SP+ <size> TAB <path> NUL"
	for _, rec := range bytes.Split(out, []byte{0}) {
		meta, p, ok := strings.Cut(string(rec), "\t")
		if !ok || p != name {
			continue
		}
		f := strings.Fields(meta)
		if len(f) == 4 && f[1] == "tree" {
			return nil, &folderError{name: name}
		}
		if len(f) != 4 || f[1] != "blob" || (f[0] != "100644" && f[0] != "100755") {
			return nil, fmt.Errorf("gitrepo: read %s at %s: not a regular file: %w", name, full, ErrNotExist)
		}
		size, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("gitrepo: read %s at %s: size %q: %w", name, full, f[3], err)
		}
		if size > MaxFileSize {
			return nil, fmt.Errorf("gitrepo: read %s at %s: %d bytes is over the %d byte limit", name, full, size, MaxFileSize)
		}
		data, err := inv.run(ctx, "cat-file", "blob", f[2])
		if err != nil {
			return nil, fmt.Errorf("gitrepo: read %s at %s: %w", name, full, err)
		}
		return data, nil
	}
	return nil, fmt.Errorf("gitrepo: read %s at %s: %w", name, full, ErrNotExist)
}

// IsAncestor reports whether commit ancestor is reachable from commit
// descendant in the mirror (a commit is its own ancestor), with git
// merge-base --is-ancestor. Either commit missing from the mirror gives an
// error wrapping ErrUnknownRef.
func IsAncestor(ctx context.Context, mirrorDir, ancestor, descendant string) (bool, error) {
	a, err := ResolveRef(ctx, mirrorDir, ancestor)
	if err != nil {
		return false, err
	}
	d, err := ResolveRef(ctx, mirrorDir, descendant)
	if err != nil {
		return false, err
	}
	_, err = readInv(mirrorDir).run(ctx, "merge-base", "--is-ancestor", "--end-of-options", a, d)
	if err == nil {
		return true, nil
	}
	// Exit status 1 is git's "no"; anything else is a failure.
	var ge *gitError
	var ee *exec.ExitError
	if errors.As(err, &ge) && errors.As(ge.Err, &ee) && ee.ExitCode() == 1 {
		return false, nil
	}
	return false, fmt.Errorf("gitrepo: is-ancestor %s %s: %w", a, d, err)
}
