package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build caches. Each project keeps one cache directory per ref (branch or
// tag), whose home folder is the steps' HOME, so Go's module and build caches, npm's,
// pnpm's, Yarn's and pip's (runner.CacheEnv) survive from one build to the
// next:
//
//	<workspace dir>/slipway-cache-<portal>/project-<id>/ref-<hash of ref>/
//	    home/   the steps' HOME
//	    paths/  the pipeline's cache.paths (build_pathcache.go), never
//	            mounted into the sandbox
//
// The default branch's cache is written only by default-branch builds.
// Another ref's cache starts as a copy of the default branch's (so its
// first build is warm) and is written only by that ref's builds, so
// nothing a branch build writes is ever seen by a build of the default
// branch, whose artifacts are the ones released. A cache in use is held
// with a shared flock; eviction takes an exclusive one and skips what it
// cannot lock.

// cacheMetaFile, inside each cache, records whose cache it is; its mtime
// is the cache's last use.
const cacheMetaFile = ".slipway-cache.json"

// cacheHomeDir, inside each cache, is the steps' HOME.
const cacheHomeDir = "home"

// cacheMeta is the content of cacheMetaFile.
type cacheMeta struct {
	ProjectID int64  `json:"project_id"`
	Ref       string `json:"ref"`
	Default   bool   `json:"default"`
}

// buildCache is the cache one build uses; release it when the build ends.
type buildCache struct {
	dir  string // the ref's cache
	home string // dir/home, the steps' HOME
	lock *os.File
}

func (c *buildCache) release() {
	if c != nil && c.lock != nil {
		_ = c.lock.Close() // drops the flock
	}
}

// cacheRoot is this portal's folder of caches, beside the workspaces and
// outside the data dir, named after the data dir so two portals on one
// machine never share one.
func (j *Jobs) cacheRoot() string {
	root := j.deps.WorkspaceDir
	if root == "" {
		root = os.TempDir()
	}
	data, _ := filepath.Abs(j.deps.DataDir)
	sum := sha256.Sum256([]byte(data))
	abs, _ := filepath.Abs(filepath.Join(root, "slipway-cache-"+hex.EncodeToString(sum[:6])))
	return abs
}

func refCacheName(refType, ref string) string {
	sum := sha256.Sum256([]byte(refType + ":" + ref))
	return "ref-" + hex.EncodeToString(sum[:6])
}

// openCache returns the build's cache, made private and locked for the
// build, seeded from the default branch's when it is another ref's first
// build. It returns nil, with a line in the log, when no private cache can
// be had: in a shared temp dir another user could otherwise plant entries.
func (r *buildRun) openCache(ctx context.Context) *buildCache {
	p := &r.b.Project
	project := filepath.Join(r.j.cacheRoot(), "project-"+strconv.FormatInt(r.b.ProjectID, 10))
	for _, d := range []string{filepath.Dir(project), project} {
		if err := privateDir(d); err != nil {
			r.sys("no build cache: " + err.Error())
			return nil
		}
	}
	isDefault := r.b.RefType == "branch" && r.b.Ref == p.DefaultBranch
	dir := filepath.Join(project, refCacheName(r.b.RefType, r.b.Ref))
	if !isDefault && !isDir(dir) {
		src := filepath.Join(project, refCacheName("branch", p.DefaultBranch))
		if err := seedCache(ctx, src, dir); err != nil {
			r.sys("build cache: starting empty, could not copy the default branch's: " + err.Error())
		} else if isDir(dir) {
			r.sys("build cache: first build of " + r.b.Ref + ", starting from a copy of the " + p.DefaultBranch + " cache")
		}
	}
	c, err := lockCache(dir)
	if err != nil {
		r.sys("no build cache: " + err.Error())
		return nil
	}
	c.home = filepath.Join(dir, cacheHomeDir)
	if err := privateDir(c.home); err != nil {
		c.release()
		r.sys("no build cache: " + err.Error())
		return nil
	}
	meta, _ := json.Marshal(cacheMeta{ProjectID: r.b.ProjectID, Ref: r.b.RefType + ":" + r.b.Ref, Default: isDefault})
	if err := os.WriteFile(filepath.Join(dir, cacheMetaFile), meta, 0o600); err != nil {
		r.log.Warn("build cache metadata", slog.Any("err", err))
	}
	return c
}

// lockCache makes dir private and holds a shared flock on it. A cache
// evicted between the mkdir and the lock is made again.
func lockCache(dir string) (*buildCache, error) {
	for range 3 {
		if err := privateDir(dir); err != nil {
			return nil, err
		}
		f, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
			f.Close()
			return nil, err
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err == nil && st.Nlink > 0 {
			return &buildCache{dir: dir, lock: f}, nil
		}
		f.Close() // removed by eviction meanwhile
	}
	return nil, fmt.Errorf("%s keeps disappearing", dir)
}

// seedCache copies src (the default branch's cache, if any) to dst, which
// must not exist yet: into a temporary sibling first, renamed into place,
// so a half copy is never used. The copy is a real one (never hard links,
// which a branch build could write through into the default branch's
// files).
func seedCache(ctx context.Context, src, dst string) error {
	if !isDir(src) {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	// Shared: a default-branch build may go on meanwhile; eviction may not.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".seed-")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", "--", src+"/.", tmp).CombinedOutput()
	if err != nil {
		removeTree(tmp)
		return fmt.Errorf("cp: %v: %s", err, strings.TrimSpace(string(out)))
	}
	_ = os.Remove(filepath.Join(tmp, cacheMetaFile))
	if err := os.Chmod(tmp, 0o700); err != nil {
		removeTree(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		// Another first build of this ref got there first.
		removeTree(tmp)
		if isDir(dst) {
			return nil
		}
		return err
	}
	return nil
}

// cacheEntry is one cache found by evictCaches.
type cacheEntry struct {
	dir       string
	size      int64
	lastUsed  time.Time
	isDefault bool
}

// evictCaches keeps the caches of this portal under max bytes in all,
// removing the least recently used first: every other ref's cache before
// any default branch's. Caches in use are skipped. It returns the caches
// it removed. max <= 0 means no cap.
func (j *Jobs) evictCaches(max int64) []string {
	if max <= 0 {
		return nil
	}
	root := j.cacheRoot()
	dirs, _ := filepath.Glob(filepath.Join(root, "project-*", "ref-*"))
	var caches []cacheEntry
	var total int64
	for _, d := range dirs {
		c := cacheEntry{dir: d, size: dirSize(d)}
		if fi, err := os.Stat(filepath.Join(d, cacheMetaFile)); err == nil {
			c.lastUsed = fi.ModTime()
		} else if fi, err := os.Stat(d); err == nil {
			c.lastUsed = fi.ModTime()
		}
		var m cacheMeta
		if b, err := os.ReadFile(filepath.Join(d, cacheMetaFile)); err == nil && json.Unmarshal(b, &m) == nil {
			c.isDefault = m.Default
		}
		caches = append(caches, c)
		total += c.size
	}
	if total <= max {
		return nil
	}
	sort.SliceStable(caches, func(a, b int) bool {
		if caches[a].isDefault != caches[b].isDefault {
			return !caches[a].isDefault
		}
		return caches[a].lastUsed.Before(caches[b].lastUsed)
	})
	var removed []string
	for _, c := range caches {
		if total <= max {
			break
		}
		if removeUnusedCache(c.dir) {
			total -= c.size
			removed = append(removed, c.dir)
			j.log.Info("evicted a build cache", slog.String("dir", c.dir), slog.Int64("bytes", c.size), slog.Bool("default_branch", c.isDefault))
		}
	}
	return removed
}

// removeUnusedCache removes a cache no build holds.
func removeUnusedCache(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	removeTree(dir)
	return !isDir(dir)
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// removeStaleSeeds removes half copies a crash left behind.
func (j *Jobs) removeStaleSeeds() {
	seeds, _ := filepath.Glob(filepath.Join(j.cacheRoot(), "project-*", ".seed-*"))
	for _, s := range seeds {
		if fi, err := os.Stat(s); err == nil && time.Since(fi.ModTime()) > staleSeedAfter {
			removeTree(s)
		}
	}
}

// staleSeedAfter is how old a half copy must be before a start removes it
// (a copy under way in another process of this portal is younger).
const staleSeedAfter = time.Hour
