package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LsRemote lists the branches and tags of a remote without cloning it.
// Failures are *Error values (ErrInvalidURL, ErrNotReachable,
// ErrAuthRefused) with a message for the user.
func LsRemote(ctx context.Context, r Remote) (Refs, error) {
	s, err := openRemote(ctx, r)
	if err != nil {
		return Refs{}, err
	}
	defer s.cleanup()
	out, err := s.inv.run(ctx, "ls-remote", "--symref", "--end-of-options", s.url)
	if err != nil {
		return Refs{}, remoteError(r, err)
	}
	return parseLsRemote(out), nil
}

func parseLsRemote(out []byte) Refs {
	refs := Refs{Branches: map[string]string{}, Tags: map[string]string{}}
	peeled := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		left, name, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		if target, isSym := strings.CutPrefix(left, "ref: "); isSym {
			if name == "HEAD" {
				refs.Head = strings.TrimPrefix(target, "refs/heads/")
			}
			continue
		}
		sha := left
		switch {
		case strings.HasPrefix(name, "refs/heads/"):
			refs.Branches[strings.TrimPrefix(name, "refs/heads/")] = sha
		case strings.HasPrefix(name, "refs/tags/") && strings.HasSuffix(name, "^{}"):
			peeled[strings.TrimSuffix(strings.TrimPrefix(name, "refs/tags/"), "^{}")] = sha
		case strings.HasPrefix(name, "refs/tags/"):
			refs.Tags[strings.TrimPrefix(name, "refs/tags/")] = sha
		}
	}
	// An annotated tag is advertised twice: the tag object, then "^{}" with
	// the commit it points at. Callers want the commit.
	for name, sha := range peeled {
		refs.Tags[name] = sha
	}
	return refs
}

// Mirror creates or updates a bare mirror of the remote's branches and
// tags in dir (e.g. data/repos/<key>); refs deleted upstream are pruned.
//
// The URL is passed on every fetch and never written into the mirror's
// config, so credentials in it do not land on disk. Callers in several
// processes may share dir: an exclusive flock on "<dir>.lock" serializes
// them, and a new mirror is built in a temporary sibling and renamed into
// place, so readers never see a half-made repository.
func Mirror(ctx context.Context, dir string, r Remote) error {
	s, err := openRemote(ctx, r)
	if err != nil {
		return err
	}
	defer s.cleanup()
	dir, err = filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("gitrepo: mirror: %w", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return fmt.Errorf("gitrepo: mirror: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return fmt.Errorf("gitrepo: mirror: %w", err)
	}
	defer unlock()

	target := dir
	fresh := false
	switch ok, err := isMirror(dir); {
	case err != nil:
		return fmt.Errorf("gitrepo: mirror: %w", err)
	case !ok:
		if _, err := os.Stat(dir); err == nil {
			return fmt.Errorf("gitrepo: mirror %s: %w", dir, ErrNotMirror)
		}
		target, err = os.MkdirTemp(parent, filepath.Base(dir)+".init-")
		if err != nil {
			return fmt.Errorf("gitrepo: mirror: %w", err)
		}
		defer os.RemoveAll(target) // a no-op once renamed
		if _, err := (invocation{}).run(ctx, "init", "--quiet", "--bare", target); err != nil {
			return fmt.Errorf("gitrepo: mirror: init: %w", err)
		}
		fresh = true
	}
	inv := s.inv
	inv.gitDir = target
	_, err = inv.run(ctx, "fetch", "--quiet", "--prune", "--no-tags", "--end-of-options", s.url,
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
	if err != nil {
		return remoteError(r, err)
	}
	if fresh {
		if err := os.Rename(target, dir); err != nil {
			return fmt.Errorf("gitrepo: mirror: %w", err)
		}
	}
	return nil
}

// isMirror reports whether dir holds a bare repository.
func isMirror(dir string) (bool, error) {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

// lockFile takes an exclusive flock on path, waiting until it is free or
// ctx ends. flock locks belong to the open file, so this serializes
// goroutines of one process as well as separate processes.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-tick.C:
		}
	}
}
