// Package demo owns the demo repository's content: Slipway's sample app
// (Files, the first commit's tree, which the portal commits into a
// repository it hosts) and the version bumps of "Ship a change" (Next).
// For demo projects made before the demo was hosted, it also keeps the
// older way: a git repository on this machine written by Create and
// bumped by Ship. It runs the real git CLI with no user or system configuration
// and a fixed author, and knows nothing of projects, users or builds.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The demo repository's fixed facts.
const (
	// Branch is the branch every demo commit goes to.
	Branch = "main"
	// AuthorName and AuthorEmail sign every demo commit.
	AuthorName  = "Slipway demo"
	AuthorEmail = "demo@slipway.invalid"
	// VersionFile is the file holding the app's version ("v1"); the app
	// compiles it in and shows it.
	VersionFile = "VERSION"
	// goModTemplate is written out as go.mod: a real go.mod in the
	// embedded folder would make it a module of its own.
	goModTemplate = "go.mod.txt"
	// FirstCommitMessage is the subject of the repository's first commit.
	FirstCommitMessage = "Add the hello app"
)

// gitTimeout bounds one git command.
const gitTimeout = 30 * time.Second

// Errors the package returns.
var (
	// ErrNotDemo says a directory is not a demo repository (no VERSION
	// of the form v<number>, or not on Branch).
	ErrNotDemo = errors.New("not a demo repository")
	// ErrNoApp says the sample app given to Create lacks a file it needs.
	ErrNoApp = errors.New("the sample app is incomplete")
)

var versionRE = regexp.MustCompile(`^v([0-9]{1,6})$`)

// Create makes the demo repository at dir: the files of app (with
// go.mod.txt renamed to go.mod) committed on Branch by the demo author. It
// returns the commit's SHA.
//
// When dir already holds a repository with a commit on Branch, Create
// leaves it as it is and returns that commit, so calling it twice — or
// from two requests at once — gives one repository. The tree is built in a
// temporary directory beside dir and renamed into place, so dir never
// holds half a repository.
func Create(ctx context.Context, dir string, app fs.FS) (string, error) {
	if sha, err := head(ctx, dir); err == nil {
		return sha, nil
	}
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("demo: create %s: the directory exists but holds no commit on %s; move it away and try again", dir, Branch)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("demo: create: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+"-")
	if err != nil {
		return "", fmt.Errorf("demo: create: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writeApp(tmp, app); err != nil {
		return "", err
	}
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=" + Branch},
		{"add", "--all"},
		{"commit", "--quiet", "--message", FirstCommitMessage},
	} {
		if _, err := git(ctx, tmp, args...); err != nil {
			return "", fmt.Errorf("demo: create: %w", err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("demo: create: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Someone else renamed theirs first: use that one.
		if sha, herr := head(ctx, dir); herr == nil {
			return sha, nil
		}
		return "", fmt.Errorf("demo: create: %w", err)
	}
	return head(ctx, dir)
}

// writeApp copies app into dir, renaming go.mod.txt to go.mod.
func writeApp(dir string, app fs.FS) error {
	files, err := Files(app)
	if err != nil {
		return err
	}
	for name, data := range files {
		target := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("demo: write the app: %w", err)
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			return fmt.Errorf("demo: write the app: %w", err)
		}
	}
	return nil
}

// Files returns the sample app's files by slash-separated path, with
// go.mod.txt renamed to go.mod: the tree of the demo's first commit,
// whether written to a work tree (Create) or committed server-side into a
// repository Slipway hosts.
func Files(app fs.FS) (map[string][]byte, error) {
	files := map[string][]byte{}
	wrote := map[string]bool{}
	err := fs.WalkDir(app, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(app, name)
		if err != nil {
			return err
		}
		wrote[name] = true
		if path.Base(name) == goModTemplate {
			name = path.Join(path.Dir(name), "go.mod")
		}
		files[name] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("demo: write the app: %w", err)
	}
	for _, need := range []string{VersionFile, goModTemplate, ".slipway.yml"} {
		if !wrote[need] {
			return nil, fmt.Errorf("demo: write the app: no %s: %w", need, ErrNoApp)
		}
	}
	return files, nil
}

// Change is one commit Ship made.
type Change struct {
	// From and To are the versions before and after ("v1", "v2").
	From, To string
	// SHA is the new commit.
	SHA string
	// Message is its subject.
	Message string
}

// Version returns the version the repository at dir has committed on
// Branch ("v1").
func Version(ctx context.Context, dir string) (string, error) {
	v, err := version(ctx, dir)
	if err != nil {
		return "", fmt.Errorf("demo: version: %w", err)
	}
	return v, nil
}

func version(ctx context.Context, dir string) (string, error) {
	out, err := git(ctx, dir, "show", Branch+":"+VersionFile)
	if err != nil {
		return "", fmt.Errorf("no %s committed on %s: %w", VersionFile, Branch, ErrNotDemo)
	}
	v := strings.TrimSpace(string(out))
	if !versionRE.MatchString(v) {
		return "", fmt.Errorf("%s holds %q, not v<number>: %w", VersionFile, clip(v), ErrNotDemo)
	}
	return v, nil
}

// Ship commits the next version to the repository at dir: VERSION goes
// from vN to vN+1, in a commit "Ship vN+1" by the demo author on Branch.
// Only VERSION is committed; other edits in the work tree stay as they
// are. The work tree must be on Branch.
func Ship(ctx context.Context, dir string) (Change, error) {
	cur, err := git(ctx, dir, "symbolic-ref", "--short", "HEAD")
	if err != nil {
		return Change{}, fmt.Errorf("demo: ship: %w", ErrNotDemo)
	}
	if b := strings.TrimSpace(string(cur)); b != Branch {
		return Change{}, fmt.Errorf("demo: ship: the repository is on branch %q; check out %s again: %w", clip(b), Branch, ErrNotDemo)
	}
	from, err := version(ctx, dir)
	if err != nil {
		return Change{}, fmt.Errorf("demo: ship: %w", err)
	}
	ch := Next(from)
	if err := os.WriteFile(filepath.Join(dir, VersionFile), []byte(ch.To+"\n"), 0o644); err != nil {
		return Change{}, fmt.Errorf("demo: ship: %w", err)
	}
	if _, err := git(ctx, dir, "commit", "--quiet", "--message", ch.Message, "--", VersionFile); err != nil {
		return Change{}, fmt.Errorf("demo: ship: %w", err)
	}
	if ch.SHA, err = head(ctx, dir); err != nil {
		return Change{}, fmt.Errorf("demo: ship: %w", err)
	}
	return ch, nil
}

// Next is the change Ship makes from version from ("v1" → "v2", "Ship
// v2"), without its SHA. A from that is not v<number> counts as v0.
func Next(from string) Change {
	n := 0
	if m := versionRE.FindStringSubmatch(from); m != nil {
		n, _ = strconv.Atoi(m[1])
	}
	ch := Change{From: from, To: "v" + strconv.Itoa(n+1)}
	ch.Message = "Ship " + ch.To
	return ch
}

// head returns the commit Branch points at in the repository at dir.
func head(ctx context.Context, dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		return "", fmt.Errorf("demo: %s is not a git repository: %w", dir, ErrNotDemo)
	}
	out, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "refs/heads/"+Branch+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("demo: %s has no commit on %s: %w", dir, Branch, ErrNotDemo)
	}
	return strings.TrimSpace(string(out)), nil
}

// git runs git in dir with nothing of the portal's environment but PATH:
// no user or system config (so no hooks, signing or templates of the
// machine's owner), English messages, and the demo author.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	pathEnv := os.Getenv("PATH")
	if pathEnv == "" {
		pathEnv = "/usr/local/bin:/usr/bin:/bin"
	}
	cmd.Env = []string{
		"PATH=" + pathEnv,
		"HOME=/nonexistent",
		"LC_ALL=C",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=" + AuthorName, "GIT_AUTHOR_EMAIL=" + AuthorEmail,
		"GIT_COMMITTER_NAME=" + AuthorName, "GIT_COMMITTER_EMAIL=" + AuthorEmail,
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", args[0], clip(msg))
	}
	return stdout.Bytes(), nil
}

// clip shortens text for an error message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
