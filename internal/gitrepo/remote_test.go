package gitrepo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// loopbackOK is the network of a repository an admin linked: the test
// servers listen on loopback.
var loopbackOK = Network{AllowPrivate: true}

func TestLsRemote(t *testing.T) {
	u := newUpstream(t)
	first := u.commit("first")
	u.git("tag", "light")
	u.git("tag", "-a", "-m", "release one", "v1.0.0")
	u.git("branch", "feature/login")
	second := u.commit("second")
	u.git("branch", "doomed")

	refs, err := LsRemote(t.Context(), Remote{URL: u.dir})
	if err != nil {
		t.Fatalf("LsRemote: %v", err)
	}
	want := Refs{
		Head:     "main",
		Branches: map[string]string{"main": second, "feature/login": first, "doomed": second},
		Tags:     map[string]string{"light": first, "v1.0.0": first},
	}
	if !reflect.DeepEqual(refs, want) {
		t.Fatalf("LsRemote = %+v, want %+v (annotated tags peeled to their commit)", refs, want)
	}

	t.Run("a deleted branch is no longer listed", func(t *testing.T) {
		u.git("branch", "-D", "doomed")
		refs, err := LsRemote(t.Context(), Remote{URL: "file://" + u.dir})
		if err != nil {
			t.Fatalf("LsRemote: %v", err)
		}
		if _, ok := refs.Branches["doomed"]; ok {
			t.Fatalf("branch doomed still listed: %v", refs.Branches)
		}
	})

	t.Run("an empty repository has no refs", func(t *testing.T) {
		empty := newUpstream(t)
		refs, err := LsRemote(t.Context(), Remote{URL: empty.dir})
		if err != nil {
			t.Fatalf("LsRemote: %v", err)
		}
		if len(refs.Branches) != 0 || len(refs.Tags) != 0 {
			t.Fatalf("refs = %+v, want none", refs)
		}
	})
}

func TestLsRemoteOverHTTP(t *testing.T) {
	u := newUpstream(t)
	sha := u.commit("first")
	open := serveHTTP(t, u, "", "")
	guarded := serveHTTP(t, u, "ci", "right-password")

	t.Run("an open repository is listed over smart HTTP", func(t *testing.T) {
		refs, err := LsRemote(t.Context(), Remote{URL: open, Network: loopbackOK})
		if err != nil {
			t.Fatalf("LsRemote: %v", err)
		}
		if refs.Branches["main"] != sha {
			t.Fatalf("main = %q, want %q", refs.Branches["main"], sha)
		}
	})

	t.Run("the right credentials in the URL are accepted", func(t *testing.T) {
		url := strings.Replace(guarded, "http://", "http://ci:right-password@", 1)
		refs, err := LsRemote(t.Context(), Remote{URL: url, Network: loopbackOK})
		if err != nil {
			t.Fatalf("LsRemote: %v", err)
		}
		if refs.Branches["main"] != sha {
			t.Fatalf("main = %q, want %q", refs.Branches["main"], sha)
		}
	})

	authCases := []struct{ name, url string }{
		{"missing credentials are reported as refused without prompting", guarded},
		{"a wrong password is reported as refused", strings.Replace(guarded, "http://", "http://ci:wrong-password-xyz@", 1)},
	}
	for _, tc := range authCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LsRemote(t.Context(), Remote{URL: tc.url, Network: loopbackOK})
			if !errors.Is(err, ErrAuthRefused) {
				t.Fatalf("LsRemote = %v, want ErrAuthRefused", err)
			}
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, "authentication refused: ") {
				t.Fatalf("message %q does not start with the user-facing prefix", e.Msg)
			}
			if strings.Contains(err.Error(), "wrong-password-xyz") || strings.Contains(e.Err.Error(), "wrong-password-xyz") {
				t.Fatalf("password leaked into the error: %v / %v", err, e.Err)
			}
		})
	}
}

func TestLsRemoteFailures(t *testing.T) {
	canary := filepath.Join(t.TempDir(), "pwned")
	tests := []struct {
		name   string
		url    string
		kind   error
		prefix string
	}{
		{"a missing local path is not reachable", filepath.Join(t.TempDir(), "nope"), ErrNotReachable, "repository not found or not reachable: "},
		{"a directory that is no repository is not reachable", t.TempDir(), ErrNotReachable, "repository not found or not reachable: "},
		{"a closed port is not reachable", "http://127.0.0.1:1/app.git", ErrNotReachable, "repository not found or not reachable: "},
		{"an ext:: URL is refused before git runs", "ext::sh -c touch% " + canary, ErrInvalidURL, "invalid repository URL: "},
		{"an option-looking URL is refused before git runs", "--upload-pack=touch " + canary, ErrInvalidURL, "invalid repository URL: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LsRemote(t.Context(), Remote{URL: tt.url, Network: loopbackOK})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("LsRemote(%q) = %v, want %v", tt.url, err, tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, tt.prefix) {
				t.Fatalf("LsRemote(%q) = %v, want *Error with message prefix %q", tt.url, err, tt.prefix)
			}
		})
	}
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("an injected command ran")
	}
}

func TestSSHKeyIsRemovedAfterUse(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, err := LsRemote(t.Context(), Remote{
		URL:            "ssh://git@127.0.0.1:1/app.git",
		SSHKey:         []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----"),
		KnownHostsFile: filepath.Join(tmp, "known_hosts"),
		Network:        loopbackOK,
	})
	if !errors.Is(err, ErrNotReachable) {
		t.Fatalf("LsRemote = %v, want ErrNotReachable", err)
	}
	var e *Error
	if !errors.As(err, &e) || strings.Contains(e.Msg, "refused") || !strings.Contains(e.Err.Error(), "Connection refused") {
		t.Fatalf("message %q must be generic, its hidden cause %v must say what ssh saw", err, e.Err)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "slipway-key-*"))
	if len(left) != 0 {
		t.Fatalf("key files left behind: %v", left)
	}
}

func TestWriteKeyIsPrivate(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	name, err := writeKey([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(name)
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(name)
	if string(data) != "key\n" {
		t.Fatalf("key file = %q, want a trailing newline added", data)
	}
}

func TestMirror(t *testing.T) {
	u := newUpstream(t)
	first := u.commit("first")
	u.git("branch", "gone")
	u.git("tag", "old")
	dir := u.mirror()

	for _, ref := range []string{"main", "gone", "old"} {
		if got, err := ResolveRef(t.Context(), dir, ref); err != nil || got != first {
			t.Fatalf("ResolveRef(%s) = %q, %v; want %s", ref, got, err, first)
		}
	}

	t.Run("an update fetches new commits and prunes deleted refs", func(t *testing.T) {
		second := u.commit("second")
		u.git("branch", "-D", "gone")
		u.git("tag", "-d", "old")
		if err := Mirror(t.Context(), dir, Remote{URL: u.dir}); err != nil {
			t.Fatalf("Mirror: %v", err)
		}
		if got, err := ResolveRef(t.Context(), dir, "main"); err != nil || got != second {
			t.Fatalf("ResolveRef(main) = %q, %v; want %s", got, err, second)
		}
		for _, ref := range []string{"gone", "old"} {
			if _, err := ResolveRef(t.Context(), dir, ref); !errors.Is(err, ErrUnknownRef) {
				t.Fatalf("ResolveRef(%s) after deletion = %v, want ErrUnknownRef", ref, err)
			}
		}
	})

	t.Run("a force-pushed branch is followed", func(t *testing.T) {
		u.git("reset", "--quiet", "--hard", first)
		rewritten := u.commit("rewritten")
		if err := Mirror(t.Context(), dir, Remote{URL: u.dir}); err != nil {
			t.Fatalf("Mirror: %v", err)
		}
		if got, _ := ResolveRef(t.Context(), dir, "main"); got != rewritten {
			t.Fatalf("main = %q, want %q", got, rewritten)
		}
	})

	t.Run("a directory that is not a mirror is left alone", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "precious")
		if err := os.MkdirAll(other, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, "keep.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Mirror(t.Context(), other, Remote{URL: u.dir}); !errors.Is(err, ErrNotMirror) {
			t.Fatalf("Mirror into a foreign dir = %v, want ErrNotMirror", err)
		}
		if _, err := os.Stat(filepath.Join(other, "keep.txt")); err != nil {
			t.Fatalf("foreign dir was changed: %v", err)
		}
	})

	t.Run("a failed first fetch leaves nothing behind", func(t *testing.T) {
		parent := t.TempDir()
		err := Mirror(t.Context(), filepath.Join(parent, "app"), Remote{URL: filepath.Join(parent, "missing")})
		if !errors.Is(err, ErrNotReachable) {
			t.Fatalf("Mirror = %v, want ErrNotReachable", err)
		}
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.Name() != "app.lock" {
				t.Fatalf("left behind %s", e.Name())
			}
		}
	})
}

func TestMirrorOverHTTPKeepsCredentialsOffDisk(t *testing.T) {
	u := newUpstream(t)
	sha := u.commit("first")
	url := strings.Replace(serveHTTP(t, u, "ci", "pa55-word-on-wire"), "http://", "http://ci:pa55-word-on-wire@", 1)
	dir := filepath.Join(t.TempDir(), "app")
	if err := Mirror(t.Context(), dir, Remote{URL: url, Network: loopbackOK}); err != nil {
		t.Fatalf("Mirror: %v", err)
	}
	if got, _ := ResolveRef(t.Context(), dir, "main"); got != sha {
		t.Fatalf("main = %q, want %q", got, sha)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "pa55-word-on-wire") {
			t.Errorf("%s contains the password", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMirrorConcurrentCallers(t *testing.T) {
	u := newUpstream(t)
	sha := u.commit("first")
	dir := filepath.Join(t.TempDir(), "repos", "app")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = Mirror(t.Context(), dir, Remote{URL: u.dir}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if got, err := ResolveRef(t.Context(), dir, "main"); err != nil || got != sha {
		t.Fatalf("ResolveRef = %q, %v; want %s", got, err, sha)
	}
	leftovers, _ := filepath.Glob(dir + ".init-*")
	if len(leftovers) != 0 {
		t.Fatalf("temporary dirs left: %v", leftovers)
	}
}

func TestMirrorHonoursCancel(t *testing.T) {
	u := newUpstream(t)
	u.commit("first")
	dir := filepath.Join(t.TempDir(), "app")
	unlock, err := lockFile(t.Context(), dir+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Mirror(ctx, dir, Remote{URL: u.dir}); err == nil {
		t.Fatal("Mirror waited for the lock past a canceled context")
	}
}
