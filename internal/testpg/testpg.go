// Package testpg starts a throwaway PostgreSQL server from the installed
// binaries (initdb, pg_ctl) for tests that need the real database.
package testpg

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running PostgreSQL cluster owned by a test binary.
type Server struct {
	dir  string
	port int
	bin  string
	user string
	stop func()
}

var (
	once    sync.Once
	shared  *Server
	initErr error
)

// BinDir finds the directory holding initdb and pg_ctl, preferring PATH,
// then the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return "", fmt.Errorf("testpg: pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
	}
	sort.Strings(matches)
	return filepath.Dir(matches[len(matches)-1]), nil
}

// RequireAll reports whether missing external parts must fail tests instead
// of skipping them (set in CI).
func RequireAll() bool { return os.Getenv("SLIPWAY_REQUIRE_ALL") == "1" }

// SkipOrFail skips the test with a loud message, or fails it when
// SLIPWAY_REQUIRE_ALL=1.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireAll() {
		t.Fatalf("SLIPWAY_REQUIRE_ALL=1 and a required part is missing: %s", msg)
	}
	fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n", t.Name(), msg)
	t.Skip(msg)
}

func start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "slipway-pg-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	pgUser := os.Getenv("USER")
	// initdb refuses to run as root, so run the server as "postgres" if we are root.
	asRoot := os.Geteuid() == 0
	run := func(name string, args ...string) *exec.Cmd {
		path := filepath.Join(bin, name)
		if asRoot {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
		}
		return exec.Command(path, args...)
	}
	if asRoot {
		if out, err := exec.Command("chown", "-R", "postgres", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("testpg: chown: %v: %s", err, out)
		}
		pgUser = "postgres"
	}
	if pgUser == "" {
		pgUser = "postgres"
	}
	if out, err := run("initdb", "-D", data, "-U", pgUser, "-A", "trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testpg: initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
	if out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		logb, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("testpg: pg_ctl start: %v: %s %s", err, out, logb)
	}
	s := &Server{dir: dir, port: port, bin: bin}
	s.user = pgUser
	s.stop = func() {
		_ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run()
		_ = os.RemoveAll(dir)
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Main wraps testing.M.Run so the shared server (if one was started) stops
// when the test binary ends. Use it from TestMain: os.Exit(testpg.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil && shared.stop != nil {
		shared.stop()
	}
	return code
}

// NewDatabase returns the URL of a fresh, empty database on a PostgreSQL
// server shared by the test binary, starting the server on first use. It
// skips (or fails under SLIPWAY_REQUIRE_ALL=1) when PostgreSQL is missing.
func NewDatabase(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, initErr = start() })
	if initErr != nil {
		SkipOrFail(t, "PostgreSQL unavailable: %v", initErr)
	}
	name := fmt.Sprintf("t_%d_%d", time.Now().UnixNano(), os.Getpid())
	name = strings.ReplaceAll(name, "-", "_")
	cmd := exec.Command(filepath.Join(shared.bin, "createdb"), "-h", "127.0.0.1", "-p", fmt.Sprint(shared.port), "-U", shared.user, name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testpg: createdb: %v: %s", err, out)
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", shared.user, shared.port, name)
}
