package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/slipway-ci/slipway/internal/pipeline"
)

// Path caches (the cache section of .slipway.yml). The declared workspace
// paths are kept inside the build's per-ref cache (build_cache.go), so the
// keying rules of those caches hold for them too: a branch build restores
// from and saves to its own ref's cache only, which starts as a copy of the
// default branch's.
//
//	<ref cache>/paths/<key>/<path>...
//
// The steps' HOME is <ref cache>/home, so no step can reach what the host
// copies from and to (in the sandbox).
//
// key is a hash of the path list and of the key files' contents as they are
// in the checkout, before any step runs. After a successful build the paths
// are copied into a fresh sibling directory that then takes the key's
// place in one rename (RENAME_EXCHANGE), and the other keys are removed, so
// a ref keeps one path cache. Saving moves the paths out of the workspace
// (which is removed next anyway) when both are on one file system, and the
// previous copy is removed after the build is finished, so a save costs
// little more than a rename; a restore is a copy (a reflink where the file
// system has them). Everything is copied with cp -a: symbolic
// links inside a cached directory are kept as links and never followed on
// the host, and a cached path whose parent directories or itself is a
// symbolic link is refused, on restore and on save.

// pathCacheDir is the folder of path caches inside a ref's cache.
const pathCacheDir = "paths"

// pathCacheKey hashes the cache's path list and its key files' contents
// in the workspace ws. A key file that does not exist hashes as missing.
func pathCacheKey(ws string, c pipeline.Cache) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "slipway path cache v1\x00paths\x00%s\x00keys\x00", strings.Join(c.Paths, "\x00"))
	for _, k := range c.KeyFiles {
		fmt.Fprintf(h, "%s\x00", k)
		sum, err := hashKeyFile(ws, k)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprint(h, "missing\x00")
		case err != nil:
			return "", err
		default:
			fmt.Fprintf(h, "%s\x00", sum)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// hashKeyFile returns the SHA-256 of the workspace file rel, which must be
// a regular file reached through real directories.
func hashKeyFile(ws, rel string) (string, error) {
	p, err := workspacePath(ws, rel, false)
	if err != nil {
		return "", fmt.Errorf("key file %s: %w", rel, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("key file %s is not a regular file", rel)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", fmt.Errorf("key file %s: %w", rel, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("key file %s: %w", rel, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// errSymlinkPath says a cached path goes through a symbolic link.
var errSymlinkPath = errors.New("goes through a symbolic link")

// workspacePath returns the host path of the clean relative path rel in
// ws after checking that every parent directory of it under ws is a real
// directory (never a symbolic link, which could lead outside the
// workspace). With create, missing parents are made; without, a missing
// one is fs.ErrNotExist. The path itself is not checked.
func workspacePath(ws, rel string, create bool) (string, error) {
	parts := strings.Split(rel, "/")
	cur := ws
	for _, part := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) && create {
			if err := os.Mkdir(cur, 0o755); err != nil {
				return "", err
			}
			continue
		}
		switch {
		case err != nil:
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			return "", fmt.Errorf("%s %w", strings.TrimPrefix(cur, ws+"/"), errSymlinkPath)
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a directory", strings.TrimPrefix(cur, ws+"/"))
		}
	}
	return filepath.Join(cur, parts[len(parts)-1]), nil
}

// pathCacheRun is the path cache of one build.
type pathCacheRun struct {
	cfg  pipeline.Cache
	key  string
	root string // <ref cache>/paths
}

// restorePathCache copies the cached paths into the workspace before the
// first step. Problems are logged; the build goes on without the cache.
func (r *buildRun) restorePathCache(ctx context.Context, c pipeline.Cache) *pathCacheRun {
	if len(c.Paths) == 0 {
		return nil
	}
	if r.cache == nil {
		r.sys("cache: no build cache on this machine, cache.paths are neither restored nor saved")
		return nil
	}
	key, err := pathCacheKey(r.ws, c)
	if err != nil {
		r.sys("cache: not used: " + err.Error())
		return nil
	}
	pc := &pathCacheRun{cfg: c, key: key, root: filepath.Join(r.cache.dir, pathCacheDir)}
	src := filepath.Join(pc.root, key)
	if !isDir(src) {
		r.sys("cache: nothing saved under key " + key[:12] + " yet")
		return pc
	}
	t0 := time.Now()
	var restored []string
	for _, rel := range c.Paths {
		from := filepath.Join(src, filepath.FromSlash(rel))
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		to, err := workspacePath(r.ws, rel, true)
		if err != nil {
			r.sys(fmt.Sprintf("cache: %s not restored: %v", rel, err))
			continue
		}
		if _, err := os.Lstat(to); err == nil {
			r.sys(fmt.Sprintf("cache: %s not restored: the commit has it", rel))
			continue
		}
		if err := copyTree(ctx, from, to); err != nil {
			removeTree(to)
			r.sys(fmt.Sprintf("cache: %s not restored: %v", rel, err))
			continue
		}
		restored = append(restored, rel)
	}
	r.sys(fmt.Sprintf("cache: restored %s (key %s) in %s", listOrNone(restored), key[:12], time.Since(t0).Round(time.Millisecond)))
	return pc
}

// savePathCache copies the cached paths out of the workspace after a
// successful build and puts them in place of the key's previous copy.
func (r *buildRun) savePathCache(ctx context.Context, pc *pathCacheRun) {
	if pc == nil {
		return
	}
	t0 := time.Now()
	if err := os.MkdirAll(pc.root, 0o700); err != nil {
		r.sys("cache: not saved: " + err.Error())
		return
	}
	tmp, err := os.MkdirTemp(pc.root, ".save-")
	if err != nil {
		r.sys("cache: not saved: " + err.Error())
		return
	}
	var saved []string
	for _, rel := range pc.cfg.Paths {
		from, err := workspacePath(r.ws, rel, false)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			r.sys(fmt.Sprintf("cache: %s not saved: %v", rel, err))
			continue
		}
		fi, err := os.Lstat(from)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			err = fmt.Errorf("%s is a symbolic link; cache a real file or directory", rel)
		}
		if err == nil {
			var to string
			if to, err = workspacePath(tmp, rel, true); err == nil {
				// The workspace is removed after the build: move, and
				// copy only across file systems.
				if os.Rename(from, to) != nil {
					err = copyTree(ctx, from, to)
				}
			}
		}
		if err != nil {
			r.sys(fmt.Sprintf("cache: %s not saved: %v", rel, err))
			continue
		}
		saved = append(saved, rel)
	}
	old, err := replaceDir(tmp, filepath.Join(pc.root, pc.key))
	if err != nil {
		removeTree(tmp)
		r.sys("cache: not saved: " + err.Error())
		return
	}
	if old != "" {
		r.trash = append(r.trash, old) // removed after the build is finished
	}
	// One path cache per ref: older keys and half copies a crash left go,
	// after the build is finished.
	entries, _ := os.ReadDir(pc.root)
	for _, e := range entries {
		name := e.Name()
		if name == pc.key || slices.Contains(r.trash, filepath.Join(pc.root, name)) {
			continue
		}
		if strings.HasPrefix(name, ".save-") {
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleSeedAfter {
				continue // another build of this ref may be saving
			}
		}
		r.trash = append(r.trash, filepath.Join(pc.root, name))
	}
	r.sys(fmt.Sprintf("cache: saved %s (key %s) in %s", listOrNone(saved), pc.key[:12], time.Since(t0).Round(time.Millisecond)))
}

// replaceDir puts the directory tmp at dst in one step: renamed there, or
// exchanged with the directory already there. It returns where the
// previous copy now is (tmp), for the caller to remove, or "".
func replaceDir(tmp, dst string) (old string, err error) {
	if err := os.Rename(tmp, dst); err == nil {
		return "", nil
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err != nil {
		return "", fmt.Errorf("replace %s: %w", filepath.Base(dst), err)
	}
	return tmp, nil
}

// copyTree copies the file or directory from to the path to (which must
// not exist) with cp -a: symbolic links are copied as links, never
// followed, and ownership and modes are kept.
func copyTree(ctx context.Context, from, to string) error {
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", "--", from, to).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func listOrNone(paths []string) string {
	if len(paths) == 0 {
		return "nothing"
	}
	return strings.Join(paths, ", ")
}
