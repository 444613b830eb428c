package deploy

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; the errors returned by this package wrap them, so test
// with errors.Is.
var (
	// ErrAddrInUse means an edge could not listen because its address is taken.
	ErrAddrInUse = errors.New("address already in use")
	// ErrExited means an app process ended before it became healthy.
	ErrExited = errors.New("process exited before it became healthy")
	// ErrUnhealthy means an app did not pass its health check in time.
	ErrUnhealthy = errors.New("health check did not pass in time")
	// ErrStopped means an instance was stopped while an operation waited on it.
	ErrStopped = errors.New("instance stopped")
	// ErrNotHealthy means an instance is not in a state to take traffic.
	ErrNotHealthy = errors.New("instance is not healthy")
	// ErrLive means an operation would take down the live instance of an environment.
	ErrLive = errors.New("instance is live")
	// ErrWrongEnv means an instance was used with an environment it does not belong to.
	ErrWrongEnv = errors.New("instance belongs to another environment")
	// ErrClosed means the manager has been closed.
	ErrClosed = errors.New("deploy manager is closed")
	// ErrInvalid means a spec or argument is malformed.
	ErrInvalid = errors.New("invalid deploy spec")
	// ErrSandboxUnavailable means the sandbox is required and bwrap does not work here.
	ErrSandboxUnavailable = errors.New("sandbox unavailable")
	// ErrScriptFailed means a deploy script ended with a non-zero status.
	ErrScriptFailed = errors.New("deploy script failed")
)

// StartError is returned by StartInstance when a release never became
// healthy. It unwraps to ErrExited, ErrUnhealthy, ErrStopped or the start
// context's error, and carries what the operator needs to see why.
type StartError struct {
	Env       string
	ReleaseID int64
	// PID of the process that was started (0 if it never started).
	PID int
	// Err is the reason: ErrExited, ErrUnhealthy, ErrStopped or a context error.
	Err error
	// Detail is the last health probe failure or the spawn error, if any.
	Detail string
	// Exit is set when the process ended on its own.
	Exit *Exit
	// Output holds the last lines the process printed (stdout and stderr).
	Output []string
}

// Error describes the failure on one line, ending with the last output line.
func (e *StartError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "deploy: start release %d in %s: %v", e.ReleaseID, e.Env, e.Err)
	if e.Exit != nil {
		fmt.Fprintf(&b, " (%s)", e.Exit.describe())
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if n := len(e.Output); n > 0 {
		fmt.Fprintf(&b, "; last output: %q", e.Output[n-1])
	}
	return b.String()
}

// Unwrap returns the reason, so errors.Is(err, ErrExited) works.
func (e *StartError) Unwrap() error { return e.Err }
