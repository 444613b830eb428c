package jobs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCache makes a cache of size bytes last used at used.
func fakeCache(t *testing.T, j *Jobs, project int, ref string, isDefault bool, size int, used time.Time) string {
	t.Helper()
	dir := filepath.Join(j.cacheRoot(), fmt.Sprintf("project-%d", project), refCacheName("branch", ref))
	if err := os.MkdirAll(filepath.Join(dir, "go", "pkg"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go", "pkg", "blob"), make([]byte, size), 0o400); err != nil {
		t.Fatal(err)
	}
	// The module cache leaves directories read-only; eviction copes.
	if err := os.Chmod(filepath.Join(dir, "go", "pkg"), 0o500); err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(cacheMeta{ProjectID: int64(project), Ref: "branch:" + ref, Default: isDefault})
	if err := os.WriteFile(filepath.Join(dir, cacheMetaFile), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, cacheMetaFile), used, used); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEvictionRemovesLeastRecentlyUsedBranchCachesFirst(t *testing.T) {
	e := newIdleBuildEnv(t, "sqlite", 1)
	j := e.jobs
	now := time.Now()
	mainA := fakeCache(t, j, 1, "main", true, 400_000, now.Add(-48*time.Hour)) // oldest, but a default branch's
	oldBranch := fakeCache(t, j, 1, "old", false, 300_000, now.Add(-24*time.Hour))
	busyBranch := fakeCache(t, j, 2, "busy", false, 300_000, now.Add(-20*time.Hour))
	newBranch := fakeCache(t, j, 2, "new", false, 300_000, now.Add(-time.Hour))
	mainB := fakeCache(t, j, 2, "main", true, 300_000, now)

	busy, err := lockCache(busyBranch) // a build is using it
	if err != nil {
		t.Fatal(err)
	}
	defer busy.release()

	// 1.6 MB in all; a cap of 1.01 MB needs 600 kB gone: the old branch,
	// then (the busy one skipped) the newer branch.
	removed := j.evictCaches(1_010_000)
	if got := strings.Join(removed, ","); got != oldBranch+","+newBranch {
		t.Fatalf("evicted %v, want the old branch's then the new branch's cache", removed)
	}
	for _, d := range []string{mainA, busyBranch, mainB} {
		if !isDir(d) {
			t.Errorf("%s was evicted", d)
		}
	}
	t.Run("default branch caches go last, oldest first", func(t *testing.T) {
		busy.release()
		removed := j.evictCaches(350_000)
		if got := strings.Join(removed, ","); got != busyBranch+","+mainA {
			t.Fatalf("evicted %v, want the remaining branch cache, then the oldest default", removed)
		}
	})
	t.Run("no cap evicts nothing", func(t *testing.T) {
		if removed := j.evictCaches(0); len(removed) != 0 {
			t.Fatalf("evicted %v", removed)
		}
	})
}

// TestStaleWorkspacesAreRemovedOnStart: a worker killed with -9 never
// removes its build's workspace; the next start does, and leaves alone a
// workspace whose worker still runs.
func TestStaleWorkspacesAreRemovedOnStart(t *testing.T) {
	e := newIdleBuildEnv(t, "sqlite", 1)
	root := e.deps.WorkspaceDir
	// A worker process of this host that has ended, as a crash leaves it.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host := strings.Split(e.jobs.workerID, "/")[0]
	deadID := fmt.Sprintf("%s/%d/%d/%x", host, gone.Process.Pid, 12345, 7)
	mk := func(name, owner string) string {
		d := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(d, "workspace", "node_modules"), 0o700); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, workspaceOwnerFile), []byte(owner), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	stale := mk("slipway-build-7-crashed", deadID)
	live := mk("slipway-build-8-running", e.jobs.workerID)
	young := mk("slipway-build-9-starting", "")
	other := mk("slipway-build-10-elsewhere", "other-host/1/2/3")

	if err := e.jobs.Start(t.Context()); err != nil { // runs RecoverBuilds
		t.Fatal(err)
	}
	if isDir(stale) {
		t.Error("the crashed build's workspace is still there after a start")
	}
	for _, d := range []string{live, young, other} {
		if !isDir(d) {
			t.Errorf("%s was removed", d)
		}
	}
}
