package jobs

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

// pathCacheEnv runs builds in the sandbox when this machine has one.
func pathCacheEnv(t *testing.T) *buildEnv {
	if runner.SandboxAvailable() {
		return newBuildEnv(t, "sqlite", 1, func(d *Deps) { d.Sandbox = runner.SandboxRequired })
	}
	return newBuildEnv(t, "sqlite", 1)
}

// succeed waits for a build that must succeed and returns its log.
func (e *buildEnv) succeed(p *models.Project, ref string) []string {
	e.t.Helper()
	b := e.wait(e.build(p, ref).ID)
	lines := e.log(b.ID)
	if b.Status != models.BuildSucceeded {
		e.t.Fatalf("build %s %q\n%s", b.Status, b.StatusReason, strings.Join(lines, "\n"))
	}
	return lines
}

func endsWith(lines []string, want string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, want) })
}

// TestPathCacheIsRestoredKeyedAndKeptPerRef: cache.paths left by a build
// are in the workspace of the next build of the same ref, before its first
// step; a change to a key file starts from nothing; a branch starts from
// the default branch's copy and what it saves never reaches a build of the
// default branch.
func TestPathCacheIsRestoredKeyedAndKeptPerRef(t *testing.T) {
	e := pathCacheEnv(t)
	yml := `build:
  - name: deps
    run: |
      cat deps/seen 2>/dev/null || echo first
      mkdir -p deps && echo "left-by-$SLIPWAY_REF-$SLIPWAY_BUILD_NUMBER" > deps/seen
cache:
  paths: [deps]
  key_files: [lock.txt]
`
	p, repo, _ := e.project("pathcache", yml, map[string]string{"lock.txt": "v1\n"})
	steps := []struct {
		name   string
		before func()
		ref    string
		want   string
	}{
		{"the first build starts without the cache", nil, "main", "first"},
		{"the second build sees what the first left", nil, "main", "left-by-main-1"},
		{"a key file change starts from nothing", func() {
			repo.Write("lock.txt", "v2\n")
			repo.Commit("new lock")
		}, "main", "first"},
		{"the next build sees the new key's copy", nil, "main", "left-by-main-3"},
		{"a branch's first build starts from the default branch's copy", func() { repo.Git("branch", "feature") }, "feature", "left-by-main-4"},
		{"the branch's next build sees its own", nil, "feature", "left-by-feature-5"},
		{"the default branch never sees what the branch saved", nil, "main", "left-by-main-4"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.before != nil {
				s.before()
			}
			if lines := e.succeed(p, s.ref); !endsWith(lines, s.want) {
				t.Fatalf("the step did not print %q:\n%s", s.want, strings.Join(lines, "\n"))
			}
		})
	}
}

// TestPathCacheNeverFollowsSymlinksOutOfTheWorkspace: the host copies
// cache.paths out of and into the workspace, so a build that makes a cached
// path (or a parent of one) a symbolic link to a host directory must not
// get that directory copied into the cache, nor the cache written into it.
func TestPathCacheNeverFollowsSymlinksOutOfTheWorkspace(t *testing.T) {
	e := pathCacheEnv(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret-on-the-host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := `build:
  - name: deps
    run: |
      cat deps/secret 2>/dev/null || echo no-secret
      cat gen/out.txt 2>/dev/null || echo no-out
      rm -rf deps && ln -s ` + outside + ` deps
      if [ -d gen ] && [ ! -L gen ]; then echo "written-by-$SLIPWAY_BUILD_NUMBER" > gen/out.txt; fi
cache:
  paths: [deps, gen/out.txt]
`
	p, repo, _ := e.project("pathlinks", yml, map[string]string{"gen/.keep": ""})

	// Save: deps is a link to a host directory.
	lines := e.succeed(p, "main")
	if !contains(lines, "cache: deps not saved: deps is a symbolic link") {
		t.Fatalf("the link was not refused on save:\n%s", strings.Join(lines, "\n"))
	}
	err := filepath.WalkDir(e.jobs.cacheRoot(), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), "s3cret") {
				t.Errorf("the host file was copied into the cache: %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Restore: the next commit makes gen a link to the host directory; the
	// cached gen/out.txt must not be written through it.
	repo.Git("rm", "-q", "gen/.keep")
	if err := os.Symlink(outside, filepath.Join(repo.Dir, "gen")); err != nil {
		t.Fatal(err)
	}
	repo.Git("add", "gen")
	repo.Commit("gen is a link")
	lines = e.succeed(p, "main")
	if !contains(lines, "cache: gen/out.txt not restored: gen goes through a symbolic link") {
		t.Fatalf("the link was not refused on restore:\n%s", strings.Join(lines, "\n"))
	}
	if endsWith(lines, "s3cret-on-the-host") {
		t.Fatalf("a step read the host file:\n%s", strings.Join(lines, "\n"))
	}
	if _, err := os.Lstat(filepath.Join(outside, "out.txt")); err == nil {
		t.Fatal("the restore wrote into the host directory the link points to")
	}
}

// TestPathCacheOutsideTheWorkspaceFailsTheConfigStep: a cache path with
// ".." fails the build at the config step, naming file, line and column.
func TestPathCacheOutsideTheWorkspaceFailsTheConfigStep(t *testing.T) {
	e := newBuildEnv(t, "sqlite", 1)
	p, _, _ := e.project("pathdotdot", "build:\n  - run: make\ncache:\n  paths: [node_modules, ../../home]\n", nil)
	b := e.wait(e.build(p, "main").ID)
	want := `.slipway.yml:4:25: cache path "../../home" must not contain ".."; the cache holds only paths inside the workspace`
	if b.Status != models.BuildFailed || b.StatusReason != want {
		t.Fatalf("build %s %q, want failed %q", b.Status, b.StatusReason, want)
	}
	if st := stepByName(t, b, StepConfig); st.Status != runner.StatusFailed {
		t.Fatalf("config step %s, want failed", st.Status)
	}
}
