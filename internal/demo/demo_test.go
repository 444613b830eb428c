package demo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/slipway-ci/slipway/examples"
)

// gitOut runs git in dir for a test's own checks.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/nonexistent", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestCreateCommitsTheSampleApp(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "demo", "hello")
	sha, err := Create(ctx, dir, examples.HelloApp())
	if err != nil {
		t.Fatal(err)
	}
	if len(sha) != 40 {
		t.Fatalf("Create returned %q, want a full SHA", sha)
	}
	t.Run("the commit is on main, by the demo author", func(t *testing.T) {
		if got := gitOut(t, dir, "rev-parse", "refs/heads/main"); got != sha {
			t.Errorf("main is %s, Create said %s", got, sha)
		}
		if got := gitOut(t, dir, "log", "-1", "--format=%an <%ae>|%cn|%s"); got != AuthorName+" <"+AuthorEmail+">|"+AuthorName+"|"+FirstCommitMessage {
			t.Errorf("the commit reads %q", got)
		}
	})
	t.Run("go.mod.txt is committed as go.mod", func(t *testing.T) {
		files := strings.Fields(gitOut(t, dir, "ls-tree", "--name-only", "HEAD"))
		want := []string{".slipway.yml", "VERSION", "go.mod", "main.go"}
		if strings.Join(files, " ") != strings.Join(want, " ") {
			t.Errorf("the commit holds %v, want %v", files, want)
		}
		if mod := gitOut(t, dir, "show", "HEAD:go.mod"); !strings.HasPrefix(mod, "module hello") {
			t.Errorf("go.mod reads %q", mod)
		}
	})
	t.Run("the work tree is clean", func(t *testing.T) {
		if st := gitOut(t, dir, "status", "--porcelain"); st != "" {
			t.Errorf("git status: %q", st)
		}
	})
	t.Run("the version starts at v1", func(t *testing.T) {
		v, err := Version(ctx, dir)
		if err != nil || v != "v1" {
			t.Errorf("Version = %q, %v; want v1", v, err)
		}
	})
	t.Run("a second call returns the same commit and leaves the repository alone", func(t *testing.T) {
		again, err := Create(ctx, dir, examples.HelloApp())
		if err != nil || again != sha {
			t.Fatalf("second Create = %q, %v; want %s", again, err, sha)
		}
		if n := gitOut(t, dir, "rev-list", "--count", "HEAD"); n != "1" {
			t.Errorf("the repository has %s commits, want 1", n)
		}
		entries, _ := os.ReadDir(filepath.Dir(dir))
		if len(entries) != 1 {
			t.Errorf("the parent holds %d entries (leftover temporary trees?), want 1", len(entries))
		}
	})
}

func TestCreateFromTwoCallersAtOnceGivesOneRepository(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello")
	const n = 4
	shas := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shas[i], errs[i] = Create(context.Background(), dir, examples.HelloApp())
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if shas[i] != shas[0] {
			t.Errorf("caller %d got %s, caller 0 %s", i, shas[i], shas[0])
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("the parent holds %d entries, want only the repository", len(entries))
	}
}

func TestCreateRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		app   fstest.MapFS
		want  string
		is    error
	}{
		{
			name:  "a directory that exists but is no repository",
			setup: func(t *testing.T, dir string) { must(t, os.MkdirAll(dir, 0o755)) },
			app:   fstest.MapFS{"VERSION": {Data: []byte("v1\n")}},
			want:  "holds no commit",
		},
		{
			name: "an app without VERSION",
			app:  fstest.MapFS{"main.go": {Data: []byte("package main\n")}, "go.mod.txt": {Data: []byte("module x\n")}, ".slipway.yml": {Data: []byte("build: []\n")}},
			want: "no VERSION",
			is:   ErrNoApp,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			_, err := Create(context.Background(), dir, tt.app)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create = %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestShipBumpsTheVersionInOneCommit(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "hello")
	first, err := Create(ctx, dir, examples.HelloApp())
	must(t, err)
	// A local edit that is not the demo's to commit.
	must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine\n"), 0o644))

	ch, err := Ship(ctx, dir)
	must(t, err)
	if ch.From != "v1" || ch.To != "v2" || ch.Message != "Ship v2" {
		t.Fatalf("Ship = %+v, want v1 → v2, “Ship v2”", ch)
	}
	t.Run("the commit changes VERSION only and follows the first one", func(t *testing.T) {
		if got := gitOut(t, dir, "rev-parse", "main"); got != ch.SHA {
			t.Errorf("main is %s, Ship said %s", got, ch.SHA)
		}
		if parent := gitOut(t, dir, "rev-parse", ch.SHA+"^"); parent != first {
			t.Errorf("the parent is %s, want the first commit %s", parent, first)
		}
		if files := gitOut(t, dir, "show", "--name-only", "--format=", ch.SHA); files != "VERSION" {
			t.Errorf("the commit touches %q, want VERSION only", files)
		}
		if got := gitOut(t, dir, "show", ch.SHA+":VERSION"); got != "v2" {
			t.Errorf("VERSION reads %q", got)
		}
		if got := gitOut(t, dir, "log", "-1", "--format=%an|%s"); got != AuthorName+"|Ship v2" {
			t.Errorf("the commit reads %q", got)
		}
	})
	t.Run("the user's own edit is left uncommitted", func(t *testing.T) {
		if st := gitOut(t, dir, "status", "--porcelain"); st != "?? notes.txt" {
			t.Errorf("git status: %q", st)
		}
	})
	t.Run("shipping again gives v3", func(t *testing.T) {
		ch3, err := Ship(ctx, dir)
		if err != nil || ch3.From != "v2" || ch3.To != "v3" {
			t.Errorf("Ship = %+v, %v; want v2 → v3", ch3, err)
		}
	})
}

func TestShipRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{
			name:  "a directory that is no repository",
			setup: func(t *testing.T, dir string) { must(t, os.MkdirAll(dir, 0o755)) },
			want:  "not a demo repository",
		},
		{
			name: "a repository on another branch",
			setup: func(t *testing.T, dir string) {
				_, err := Create(context.Background(), dir, examples.HelloApp())
				must(t, err)
				gitOut(t, dir, "checkout", "--quiet", "-b", "topic")
			},
			want: `on branch "topic"`,
		},
		{
			name: "a VERSION that is not v<number>",
			setup: func(t *testing.T, dir string) {
				_, err := Create(context.Background(), dir, examples.HelloApp())
				must(t, err)
				must(t, os.WriteFile(filepath.Join(dir, "VERSION"), []byte("latest\n"), 0o644))
				gitOut(t, dir, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-am", "rename")
			},
			want: `VERSION holds "latest"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			tt.setup(t, dir)
			_, err := Ship(context.Background(), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrNotDemo) {
				t.Fatalf("Ship = %v, want ErrNotDemo containing %q", err, tt.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDemoFilesAreTheFirstCommitsTree: Files gives the sample app with
// go.mod in place of go.mod.txt, the same tree Create commits, and refuses
// an app without VERSION.
func TestDemoFilesAreTheFirstCommitsTree(t *testing.T) {
	files, err := Files(examples.HelloApp())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["go.mod"]; !ok {
		t.Error("no go.mod")
	}
	if _, ok := files[goModTemplate]; ok {
		t.Error("go.mod.txt kept its name")
	}
	if v := strings.TrimSpace(string(files[VersionFile])); v != "v1" {
		t.Errorf("VERSION is %q, want v1", v)
	}
	dir := filepath.Join(t.TempDir(), "hello")
	if _, err := Create(context.Background(), dir, examples.HelloApp()); err != nil {
		t.Fatal(err)
	}
	listed := strings.Split(gitOut(t, dir, "ls-tree", "-r", "--name-only", "-z", "HEAD"), "\x00")
	n := 0
	for _, name := range listed {
		if name == "" {
			continue
		}
		n++
		if _, ok := files[name]; !ok {
			t.Errorf("Create committed %s, Files lacks it", name)
		}
	}
	if n != len(files) {
		t.Errorf("Create committed %d files, Files gives %d", n, len(files))
	}
	if _, err := Files(fstest.MapFS{"go.mod.txt": {Data: []byte("module x\n")}, ".slipway.yml": {Data: []byte("x")}}); !errors.Is(err, ErrNoApp) {
		t.Errorf("an app without VERSION: %v, want ErrNoApp", err)
	}
}

func TestDemoNextVersion(t *testing.T) {
	for from, want := range map[string]string{"v1": "v2", "v41": "v42", "junk": "v1"} {
		if ch := Next(from); ch.From != from || ch.To != want || ch.Message != "Ship "+want || ch.SHA != "" {
			t.Errorf("Next(%q) = %+v, want To %s", from, ch, want)
		}
	}
}
