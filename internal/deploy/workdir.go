package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// An environment's work dir is the app's working directory, and the only
// place it can write that outlives a restart. The release's top-level
// entries (bin/, static/, …) appear in it read-only, so `./bin/app` runs
// from the release and `./app.db` lands in the environment's own dir:
// dev, staging and production never share a file written by the app.
//
// In the sandbox the entries are bind-mounted read-only over placeholders
// (an empty file or directory of the same name) in the work dir, so each
// instance sees its own release even while two releases of one
// environment run side by side. Without a sandbox they are symlinks to
// the release directory, repointed at each start: an instance still
// running an older release then sees the newer release's files.

// WorkDir returns the persistent work dir of env under Options.WorkDir, or
// "" when no Options.WorkDir is configured (the app then runs in its
// release directory, as before work dirs existed).
func (m *Manager) WorkDir(env string) string {
	if m.opts.WorkDir == "" || env == "" {
		return ""
	}
	// PathEscape keeps one path element per environment ("a/b" → "a%2Fb").
	return filepath.Join(m.opts.WorkDir, url.PathEscape(env))
}

// errWorkDirClash means the work dir holds something of its own where the
// release has an entry of the same name.
var errWorkDirClash = errors.New("the work dir has an entry the release also has")

// prepareWorkDir creates work and lays out release's top-level entries in
// it (placeholders for bind mounts when sandboxed, symlinks otherwise). It
// returns the entry names, for the binds.
func prepareWorkDir(work, release string, sandboxed bool) ([]string, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	entries, err := os.ReadDir(release)
	if err != nil {
		return nil, fmt.Errorf("release dir: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		src := filepath.Join(release, name)
		fi, err := os.Stat(src) // a release's links stay inside it (checked at unpack)
		if err != nil {
			return nil, fmt.Errorf("release entry %s: %w", name, err)
		}
		dst := filepath.Join(work, name)
		if err := placeEntry(dst, src, fi.IsDir(), sandboxed); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// placeEntry makes dst the placeholder or symlink for the release entry
// src. What the app may have left at dst is kept unless it is a symlink or
// an empty placeholder of the wrong kind; anything else is a clash.
func placeEntry(dst, src string, isDir, sandboxed bool) error {
	fi, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("work dir: %w", err)
	case fi.Mode()&fs.ModeSymlink != 0:
		// Ours from an earlier start (or the app's own): repointed below.
		if err := os.Remove(dst); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
	case sandboxed && fi.IsDir() == isDir && isEmpty(dst, fi):
		return nil // the placeholder of an earlier start
	case isEmpty(dst, fi):
		if err := os.Remove(dst); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
	default:
		return fmt.Errorf("%w: %s (remove it from the work dir %s, or rename it in the release)",
			errWorkDirClash, filepath.Base(dst), filepath.Dir(dst))
	}
	if !sandboxed {
		if err := os.Symlink(src, dst); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		return nil
	}
	if isDir {
		err = os.Mkdir(dst, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	return nil
}

// isEmpty reports whether fi (at path) is an empty regular file or an
// empty directory: what a placeholder looks like.
func isEmpty(path string, fi fs.FileInfo) bool {
	switch {
	case fi.Mode().IsRegular():
		return fi.Size() == 0
	case fi.IsDir():
		d, err := os.ReadDir(path)
		return err == nil && len(d) == 0
	}
	return false
}
