package e2e

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds the wait for /healthz after exec.
	startTimeout = 30 * time.Second
	// stopTimeout bounds the wait for exit after SIGTERM; it is longer than
	// the portal's own 30 s shutdown grace, so a slow shutdown shows up as
	// a non-zero exit rather than a kill.
	stopTimeout = 45 * time.Second
	// startAttempts retries a start whose port was taken between picking
	// it and the portal binding it.
	startAttempts = 3
)

// Options configure StartPortal. The zero value runs on SQLite in a fresh
// temporary data directory.
type Options struct {
	// DatabaseURL, when set, is passed as SLIPWAY_DATABASE_URL (for example
	// from testpg.NewDatabase).
	DatabaseURL string
	// AdminPassword is the first admin's password; a fixed test password
	// when empty.
	AdminPassword string
	// Args are extra flags for `slipway serve`.
	Args []string
	// Env are extra KEY=VALUE environment variables.
	Env []string
	// Binary is the slipway binary to run; the one Main built when empty.
	Binary string
}

// DefaultAdminPassword is the admin password when Options leave it empty.
const DefaultAdminPassword = "e2e-admin-password"

// Portal is a running `slipway serve` process.
type Portal struct {
	// URL is the base URL, http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// Addr is the listen address, 127.0.0.1:PORT.
	Addr string
	// AdminPassword is the password of the user "admin".
	AdminPassword string
	// DataDir is the portal's data directory.
	DataDir string
	// DatabaseURL is the PostgreSQL URL, or "" for SQLite in DataDir.
	DatabaseURL string

	t          testing.TB
	cmd        *exec.Cmd
	done       chan struct{} // closed when the process has exited
	waitErr    error         // from cmd.Wait; read after done
	stdoutPath string
	stderrPath string

	stopOnce sync.Once
	stopCode int
	// childEdge is set when the portal runs the data dir's `slipway edge`
	// (SLIPWAY_EDGE=child): the cleanup stops it, and the apps with it,
	// after the portal.
	childEdge bool
}

// StartPortal starts `slipway serve` on a free loopback port with a fresh
// data directory and waits until /healthz answers 200. At cleanup it sends
// SIGTERM and fails the test unless the process exits with status 0 (unless
// the test called Stop itself). When the test failed, the portal's stdout
// and stderr are written to the test log.
func StartPortal(t testing.TB, opts Options) *Portal {
	t.Helper()
	if opts.AdminPassword == "" {
		opts.AdminPassword = DefaultAdminPassword
	}
	dataDir := t.TempDir()
	logDir := t.TempDir()
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		p, err := startOnce(t, opts, dataDir, logDir, attempt)
		if err == nil {
			return p
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("%v", lastErr)
	return nil
}

var errPortTaken = errors.New("e2e: port was taken")

func startOnce(t testing.TB, opts Options, dataDir, logDir string, attempt int) (*Portal, error) {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &Portal{
		URL:           "http://" + addr,
		Addr:          addr,
		AdminPassword: opts.AdminPassword,
		DataDir:       dataDir,
		DatabaseURL:   opts.DatabaseURL,
		t:             t,
		done:          make(chan struct{}),
		stdoutPath:    filepath.Join(logDir, fmt.Sprintf("stdout-%d.log", attempt)),
		stderrPath:    filepath.Join(logDir, fmt.Sprintf("stderr-%d.log", attempt)),
	}
	stdout, err := os.Create(p.stdoutPath)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(p.stderrPath)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	args := append([]string{"serve", "--addr", addr}, opts.Args...)
	bin := opts.Binary
	if bin == "" {
		bin = Binary(t)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(append(cleanEnv(), p.env()...), "SLIPWAY_ADMIN_PASSWORD="+opts.AdminPassword)
	p.cmd.Env = append(p.cmd.Env, opts.Env...)
	p.childEdge = edgeMode(p.cmd.Env, opts.Args) == "child"
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.start(); err != nil {
		return nil, fmt.Errorf("e2e: start slipway serve: %w", err)
	}
	t.Cleanup(p.cleanup)

	if err := p.waitHealthy(); err != nil {
		p.stopOnce.Do(func() { p.stopCode = p.terminate() })
		if strings.Contains(p.Stderr(), "address already in use") {
			return nil, fmt.Errorf("%w: %s", errPortTaken, addr)
		}
		return nil, fmt.Errorf("%w\n%s", err, p.logs())
	}
	return p, nil
}

// start runs and waits for the process in one goroutine locked to its OS
// thread: Pdeathsig fires when the thread that forked the child exits, so
// the thread must live as long as the child.
func (p *Portal) start() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return <-started
}

// env is what every process of this portal needs to find its data.
func (p *Portal) env() []string {
	env := []string{"SLIPWAY_DATA=" + p.DataDir}
	if p.DatabaseURL != "" {
		env = append(env, "SLIPWAY_DATABASE_URL="+p.DatabaseURL)
	}
	return env
}

func (p *Portal) waitHealthy() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("e2e: slipway serve exited before /healthz answered: %v", p.waitErr)
		default:
		}
		resp, err := client.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("e2e: /healthz of %s did not answer 200 within %s", p.URL, startTimeout)
}

// Stop sends SIGTERM and waits for the process to exit; it returns the exit
// status (-1 when a signal ended it). After a 45 s wait it kills the process
// and fails the test. Stop is idempotent; the cleanup then asserts nothing.
func (p *Portal) Stop() int {
	p.t.Helper()
	p.stopOnce.Do(func() { p.stopCode = p.terminate() })
	return p.stopCode
}

// Done is closed once the process has exited.
func (p *Portal) Done() <-chan struct{} { return p.done }

// PID is the portal's process ID.
func (p *Portal) PID() int { return p.cmd.Process.Pid }

func (p *Portal) terminate() int {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("e2e: slipway serve did not exit within %s of SIGTERM; killed", stopTimeout)
		}
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *Portal) cleanup() {
	stopped := false
	p.stopOnce.Do(func() {
		stopped = true
		p.stopCode = p.terminate()
	})
	if stopped && p.stopCode != 0 {
		p.t.Errorf("e2e: slipway serve exited with status %d after SIGTERM, want 0", p.stopCode)
	}
	if p.t.Failed() {
		p.t.Logf("e2e: portal %s logs:\n%s", p.URL, p.logs())
	}
	if p.childEdge {
		// Once the portal is gone (nothing starts the edge again), the
		// edge and its apps stop too: nothing outlives the test.
		if res := Exec(p.t, []string{"SLIPWAY_DATA=" + p.DataDir}, "", "edge", "stop"); res.ExitCode != 0 {
			p.t.Errorf("e2e: slipway edge stop:\n%s", res)
		}
		if p.t.Failed() {
			p.t.Logf("e2e: edge log:\n%s", readFile(filepath.Join(p.DataDir, "run", "edge.log")))
		}
	}
}

// edgeMode is the --edge mode a portal with env and args runs in: the last
// --edge flag, else the last SLIPWAY_EDGE, else the binary's default
// (child); an --edge-socket edge is external ("external").
func edgeMode(env, args []string) string {
	mode := "child"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SLIPWAY_EDGE="); ok {
			mode = cmp.Or(v, "child") // empty: the binary's default
		}
		if strings.HasPrefix(kv, "SLIPWAY_EDGE_SOCKET=") && kv != "SLIPWAY_EDGE_SOCKET=" {
			return "external"
		}
	}
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--edge-socket"):
			return "external"
		case strings.HasPrefix(a, "--edge="):
			mode = strings.TrimPrefix(a, "--edge=")
		case a == "--edge" && i+1 < len(args):
			mode = args[i+1]
		}
	}
	return mode
}

// Stdout is everything the portal wrote to standard output so far.
func (p *Portal) Stdout() string { return readFile(p.stdoutPath) }

// Stderr is everything the portal wrote to standard error (its log) so far.
func (p *Portal) Stderr() string { return readFile(p.stderrPath) }

func (p *Portal) logs() string {
	return "--- stdout:\n" + p.Stdout() + "--- stderr:\n" + p.Stderr()
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)\n", err)
	}
	return string(b)
}

// CLI runs the same binary with args against this portal's data directory
// and database (for example "user", "add", "ann", "--role", "qa").
func (p *Portal) CLI(args ...string) Result {
	p.t.Helper()
	return Exec(p.t, p.env(), "", args...)
}

// CLIInput is CLI with stdin as the standard input.
func (p *Portal) CLIInput(stdin string, args ...string) Result {
	p.t.Helper()
	return Exec(p.t, p.env(), stdin, args...)
}

// freeAddr picks a free loopback port. Another process may take it before
// the portal binds it; StartPortal retries when that happens.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("e2e: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
