package gitrepo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestResolveRef(t *testing.T) {
	u := newUpstream(t)
	u.write("README", "hello\n", 0o644)
	first := u.commit("first")
	u.git("tag", "-a", "-m", "release", "v1")
	u.git("branch", "release/1.x")
	second := u.commit("second")
	blob := u.git("rev-parse", "HEAD:README")
	dir := u.mirror()

	tests := []struct {
		name, ref, want string
	}{
		{"a branch resolves to its tip", "main", second},
		{"a branch with a slash resolves", "release/1.x", first},
		{"an annotated tag resolves to its commit", "v1", first},
		{"a full ref resolves", "refs/heads/main", second},
		{"a full SHA resolves to itself", first, first},
		{"an abbreviated SHA resolves to the full one", first[:7], first},
		{"an upper-case abbreviated SHA resolves", upper(first[:10]), first},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveRef(t.Context(), dir, tt.ref)
			if err != nil || got != tt.want {
				t.Fatalf("ResolveRef(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
			}
		})
	}

	unknown := []struct{ name, ref string }{
		{"an unknown branch", "nope"},
		{"an unknown SHA", "0123456789abcdef0123456789abcdef01234567"},
		{"a blob SHA", blob},
		{"an option", "--all"},
		{"a revision expression", "main~1"},
		{"an empty ref", ""},
	}
	for _, tt := range unknown {
		t.Run(tt.name+" is an unknown ref", func(t *testing.T) {
			_, err := ResolveRef(t.Context(), dir, tt.ref)
			if !errors.Is(err, ErrUnknownRef) {
				t.Fatalf("ResolveRef(%q) = %v, want ErrUnknownRef", tt.ref, err)
			}
		})
	}

	t.Run("a directory that is not a mirror says so", func(t *testing.T) {
		_, err := ResolveRef(t.Context(), t.TempDir(), "main")
		if !errors.Is(err, ErrNotMirror) {
			t.Fatalf("ResolveRef = %v, want ErrNotMirror", err)
		}
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestCommitInfoAndLog(t *testing.T) {
	u := newUpstream(t)
	var shas []string
	for _, s := range []string{"one", "two", "three", "four"} {
		shas = append(shas, u.commit("commit "+s))
	}
	dir := u.mirror()

	t.Run("commit info has author, subject and date", func(t *testing.T) {
		c, err := CommitInfo(t.Context(), dir, shas[1][:8])
		if err != nil {
			t.Fatal(err)
		}
		want := Commit{
			SHA: shas[1], AuthorName: "Ada Lovelace", AuthorEmail: "ada@example.com",
			Subject: "commit two", Time: time.Date(2024, 5, 6, 7, 9, 9, 0, time.UTC),
		}
		if c.SHA != want.SHA || c.AuthorName != want.AuthorName || c.AuthorEmail != want.AuthorEmail ||
			c.Subject != want.Subject || !c.Time.Equal(want.Time) {
			t.Fatalf("CommitInfo = %+v, want %+v", c, want)
		}
	})

	t.Run("commit info of an unknown SHA is an unknown ref", func(t *testing.T) {
		if _, err := CommitInfo(t.Context(), dir, "deadbeef"); !errors.Is(err, ErrUnknownRef) {
			t.Fatalf("CommitInfo = %v, want ErrUnknownRef", err)
		}
	})

	logs := []struct {
		name     string
		from, to string
		max      int
		want     []string
	}{
		{"the log between two releases lists what is new, newest first", shas[0], shas[3], 0, []string{shas[3], shas[2], shas[1]}},
		{"the log is capped", shas[0], "main", 2, []string{shas[3], shas[2]}},
		{"an empty from lists the whole history", "", shas[1], 0, []string{shas[1], shas[0]}},
		{"the log from a commit to itself is empty", shas[2], shas[2], 0, nil},
		{"the log backwards is empty", shas[3], shas[0], 0, nil},
	}
	for _, tt := range logs {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Log(t.Context(), dir, tt.from, tt.to, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			var gotSHAs []string
			for _, c := range got {
				gotSHAs = append(gotSHAs, c.SHA)
				if c.AuthorName != "Ada Lovelace" || c.Subject == "" {
					t.Fatalf("incomplete commit %+v", c)
				}
			}
			if len(gotSHAs) != len(tt.want) {
				t.Fatalf("Log = %v, want %v", gotSHAs, tt.want)
			}
			for i := range gotSHAs {
				if gotSHAs[i] != tt.want[i] {
					t.Fatalf("Log = %v, want %v", gotSHAs, tt.want)
				}
			}
		})
	}

	t.Run("a log from an unknown ref is an unknown ref", func(t *testing.T) {
		if _, err := Log(t.Context(), dir, "nope", "main", 0); !errors.Is(err, ErrUnknownRef) {
			t.Fatalf("Log = %v, want ErrUnknownRef", err)
		}
	})
}

func TestExport(t *testing.T) {
	u := newUpstream(t)
	u.write("main.go", "package main\n", 0o644)
	u.write("scripts/build.sh", "#!/bin/sh\necho hi\n", 0o755)
	u.write("tests/keep_test.go", "package main\n", 0o644)
	u.write(".gitattributes", "tests export-ignore\nmain.go export-subst\n", 0o644)
	if err := os.Symlink("main.go", filepath.Join(u.dir, "link.go")); err != nil {
		t.Fatal(err)
	}
	sha := u.commit("tree")
	u.write("later.txt", "not in the export\n", 0o644)
	u.commit("later")
	dir := u.mirror()

	dest := filepath.Join(t.TempDir(), "ws")
	if err := Export(t.Context(), dir, sha, dest); err != nil {
		t.Fatalf("Export: %v", err)
	}

	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{"main.go", "package main\n", 0o644},
		{"scripts/build.sh", "#!/bin/sh\necho hi\n", 0o755},
		{"tests/keep_test.go", "package main\n", 0o644},
	}
	for _, f := range files {
		t.Run(f.name+" is exported with its content and mode", func(t *testing.T) {
			p := filepath.Join(dest, f.name)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != f.content {
				t.Fatalf("%s = %q, want %q", f.name, data, f.content)
			}
			st, _ := os.Stat(p)
			if st.Mode().Perm()&0o111 != f.mode&0o111 {
				t.Fatalf("%s mode = %v, want executable bits of %v", f.name, st.Mode(), f.mode)
			}
		})
	}

	t.Run("symlinks stay symlinks", func(t *testing.T) {
		target, err := os.Readlink(filepath.Join(dest, "link.go"))
		if err != nil || target != "main.go" {
			t.Fatalf("link.go -> %q, %v", target, err)
		}
	})
	t.Run("there is no .git and no later file", func(t *testing.T) {
		for _, name := range []string{".git", "later.txt"} {
			if _, err := os.Lstat(filepath.Join(dest, name)); err == nil {
				t.Fatalf("%s exists in the export", name)
			}
		}
	})
	t.Run("a non-empty destination is refused", func(t *testing.T) {
		if err := Export(t.Context(), dir, sha, dest); err == nil {
			t.Fatal("Export into a non-empty dir succeeded")
		}
	})
	t.Run("an existing empty destination is filled", func(t *testing.T) {
		empty := t.TempDir()
		if err := Export(t.Context(), dir, sha, empty); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(empty, "main.go")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unknown commit is an unknown ref", func(t *testing.T) {
		if err := Export(t.Context(), dir, "nope", filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrUnknownRef) {
			t.Fatalf("Export = %v, want ErrUnknownRef", err)
		}
	})
}

func TestReadFile(t *testing.T) {
	u := newUpstream(t)
	u.write(".slipway.yml", "build:\n  - run: make\n", 0o644)
	u.write("sub/dir/file.txt", "nested\n", 0o644)
	if err := os.Symlink(".slipway.yml", filepath.Join(u.dir, "link.yml")); err != nil {
		t.Fatal(err)
	}
	sha := u.commit("config")
	dir := u.mirror()

	t.Run("a file at the root is read", func(t *testing.T) {
		data, err := ReadFile(t.Context(), dir, sha, ".slipway.yml")
		if err != nil || string(data) != "build:\n  - run: make\n" {
			t.Fatalf("ReadFile = %q, %v", data, err)
		}
	})
	t.Run("a nested file is read", func(t *testing.T) {
		data, err := ReadFile(t.Context(), dir, "main", "sub/dir/file.txt")
		if err != nil || string(data) != "nested\n" {
			t.Fatalf("ReadFile = %q, %v", data, err)
		}
	})
	missing := []struct{ name, path string }{
		{"a missing file", "nope.yml"},
		{"a directory", "sub"},
		{"a symlink", "link.yml"},
		{"a glob-looking name", "*.yml"},
	}
	for _, tt := range missing {
		t.Run(tt.name+" does not exist", func(t *testing.T) {
			if _, err := ReadFile(t.Context(), dir, sha, tt.path); !errors.Is(err, ErrNotExist) {
				t.Fatalf("ReadFile(%q) = %v, want ErrNotExist", tt.path, err)
			}
		})
	}
	for _, p := range []string{"/etc/passwd", "../x", "a/../b", ""} {
		t.Run("the invalid path "+p+" is refused", func(t *testing.T) {
			if _, err := ReadFile(t.Context(), dir, sha, p); err == nil || errors.Is(err, ErrNotExist) {
				t.Fatalf("ReadFile(%q) = %v, want an invalid path error", p, err)
			}
		})
	}
}

func TestIsAncestor(t *testing.T) {
	u := newUpstream(t)
	base := u.commit("base")
	second := u.commit("second")
	u.git("checkout", "--quiet", "-b", "side", base)
	side := u.commit("side")
	dir := u.mirror()
	for _, tc := range []struct {
		name     string
		anc, des string
		want     bool
	}{
		{"an older commit is an ancestor of a newer one", base, second, true},
		{"a commit is its own ancestor", second, second, true},
		{"a newer commit is not an ancestor of an older one", second, base, false},
		{"a commit on another line of history is not an ancestor", second, side, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IsAncestor(t.Context(), dir, tc.anc, tc.des)
			if err != nil || got != tc.want {
				t.Fatalf("IsAncestor = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("an unknown commit is an unknown ref, not a no", func(t *testing.T) {
		if _, err := IsAncestor(t.Context(), dir, "dddddddddddddddddddddddddddddddddddddddd", second); !errors.Is(err, ErrUnknownRef) {
			t.Fatalf("err = %v, want ErrUnknownRef", err)
		}
	})
}
