package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/testpg"
)

// BinaryEnv names the environment variable holding the path of the slipway
// binary under test. Main sets it after building; set it yourself to test a
// binary built elsewhere (Main then skips the build).
const BinaryEnv = "SLIPWAY_E2E_BINARY"

// commandTimeout bounds one run of a subcommand (migrate, user, token, …).
const commandTimeout = 60 * time.Second

// ErrNoModuleRoot is returned when no go.mod is found above the working
// directory.
var ErrNoModuleRoot = errors.New("e2e: no go.mod above the working directory")

// Main builds ./cmd/slipway into a temporary directory (unless BinaryEnv is
// already set), runs the tests, stops the shared PostgreSQL server if a test
// started one, and removes the build. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(e2e.Main(m)) }
func Main(m *testing.M) int {
	// A portal run inside the test binary (run(ctx, "serve")) must never
	// start the test binary as its edge: edges run in process there.
	_ = os.Setenv("SLIPWAY_EDGE", "inprocess")
	if os.Getenv(BinaryEnv) == "" {
		dir, err := os.MkdirTemp("", "slipway-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin, err := Build(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.Setenv(BinaryEnv, bin); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return testpg.Main(m)
}

// Build compiles ./cmd/slipway of the enclosing module into dir and returns
// the binary's path.
func Build(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "slipway")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/slipway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("e2e: go build ./cmd/slipway: %w\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("e2e: module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoModuleRoot
		}
		dir = parent
	}
}

// Binary returns the path of the slipway binary under test, failing the
// test when Main did not run.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(BinaryEnv)
	if bin == "" {
		t.Fatalf("e2e: %s is not set: call os.Exit(e2e.Main(m)) from TestMain", BinaryEnv)
	}
	return bin
}

// Result is what one run of the binary produced.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// String shows the result for a failure message.
func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
}

// Exec runs the binary to completion with args, stdin as its standard input,
// and an environment of this process without any SLIPWAY_* variable plus
// env. It fails the test when the binary cannot start or runs longer than a
// minute; a non-zero exit is only reported in the Result.
func Exec(t testing.TB, env []string, stdin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("e2e: slipway %s: no exit within %s\n%s", strings.Join(args, " "), commandTimeout, res)
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("e2e: slipway %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// cleanEnv is this process's environment without SLIPWAY_* variables, so a
// developer's own settings never leak into a test. It adds one:
// SLIPWAY_EDGE=child, the product's default, said explicitly so that the
// harness knows to stop the data dir's edge (and its apps) after the
// portal; a test of the in-process edge passes SLIPWAY_EDGE=inprocess (a
// later value wins).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLIPWAY_") {
			env = append(env, kv)
		}
	}
	return append(env, "SLIPWAY_EDGE=child")
}
