package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// InitBare creates an empty bare repository in dir whose HEAD names
// branch, for a project Slipway hosts. A leftover directory at dir (of a
// deleted project whose ID was reused) is moved aside first, so a new
// project never inherits another's history.
func InitBare(ctx context.Context, dir, branch string) error {
	if err := checkRef(branch); err != nil {
		return fmt.Errorf("gitrepo: init: branch: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return fmt.Errorf("gitrepo: init: %w", err)
	}
	if _, err := os.Stat(dir); err == nil {
		aside := fmt.Sprintf("%s.orphan-%d", dir, time.Now().UnixNano())
		if err := os.Rename(dir, aside); err != nil {
			return fmt.Errorf("gitrepo: init: move old %s aside: %w", dir, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("gitrepo: init: %w", err)
	}
	if _, err := (invocation{}).run(ctx, "init", "--quiet", "--bare", "--initial-branch="+branch, dir); err != nil {
		return fmt.Errorf("gitrepo: init %s: %w", dir, err)
	}
	return nil
}

// LocalRefs lists the branches and tags of a repository on this disk, in
// the shape LsRemote returns (annotated tags peeled to their commit).
// HEAD is the branch HEAD names.
func LocalRefs(ctx context.Context, dir string) (Refs, error) {
	inv := readInv(dir)
	out, err := inv.run(ctx, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", "refs/heads/", "refs/tags/")
	if err != nil {
		return Refs{}, fmt.Errorf("gitrepo: refs of %s: %w", dir, err)
	}
	refs := Refs{Branches: map[string]string{}, Tags: map[string]string{}}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 3 {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], "refs/heads/"):
			refs.Branches[strings.TrimPrefix(f[0], "refs/heads/")] = f[1]
		case strings.HasPrefix(f[0], "refs/tags/"):
			sha := f[1]
			if f[2] != "" {
				sha = f[2]
			}
			refs.Tags[strings.TrimPrefix(f[0], "refs/tags/")] = sha
		}
	}
	if head, err := inv.run(ctx, "symbolic-ref", "--quiet", "HEAD"); err == nil {
		refs.Head = strings.TrimPrefix(string(bytes.TrimSpace(head)), "refs/heads/")
	}
	return refs, nil
}
