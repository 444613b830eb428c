package gitrepo

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// upstream is a real repository in a temp dir that tests commit to.
type upstream struct {
	t   *testing.T
	dir string
	// when is the author and committer date of the next commit; each
	// commit moves it a minute on so history has a clear order.
	when time.Time
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{t: t, dir: filepath.Join(t.TempDir(), "upstream"), when: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	u.git("init", "--quiet", "--initial-branch=main", u.dir)
	return u
}

// git runs git in the upstream with a fixed identity and no user config.
func (u *upstream) git(args ...string) string {
	u.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = u.dir
	}
	cmd.Env = append(baseEnv(),
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE="+u.when.Format(time.RFC3339), "GIT_COMMITTER_DATE="+u.when.Format(time.RFC3339),
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		u.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write creates a file in the upstream's work tree.
func (u *upstream) write(name, content string, mode os.FileMode) {
	u.t.Helper()
	p := filepath.Join(u.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		u.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		u.t.Fatal(err)
	}
}

// commit stages everything and commits, returning the new SHA.
func (u *upstream) commit(subject string) string {
	u.t.Helper()
	u.git("add", "--all")
	u.git("commit", "--quiet", "--allow-empty", "-m", subject)
	u.when = u.when.Add(time.Minute)
	return u.git("rev-parse", "HEAD")
}

// mirror makes a fresh mirror of the upstream and returns its dir.
func (u *upstream) mirror() string {
	u.t.Helper()
	dir := filepath.Join(u.t.TempDir(), "repos", "app")
	if err := Mirror(u.t.Context(), dir, Remote{URL: u.dir}); err != nil {
		u.t.Fatalf("Mirror: %v", err)
	}
	return dir
}

// serveHTTP serves the upstream's parent over smart HTTP on loopback with
// the real git http-backend; user/password, when set, are required.
func serveHTTP(t *testing.T, u *upstream, user, password string) string {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(u.dir),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_CONFIG_NOSYSTEM=1",
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != "" {
			gotUser, gotPass, ok := r.BasicAuth()
			if !ok || gotUser != user || gotPass != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(u.dir)
}
