package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// runStep runs one step to its end and reports it. ctx is the build's.
func (b *build) runStep(ctx context.Context, i int, step Step) StepResult {
	started := time.Now()
	b.sink.started(i, step.Name)
	if i == 0 {
		for _, n := range b.notices {
			b.system(i, n)
		}
	}
	r := b.execStep(ctx, i, step)
	r.Duration = time.Since(started)
	b.sink.finished(i, r)
	return r
}

func (b *build) execStep(ctx context.Context, i int, step Step) StepResult {
	// A build that timed out or was canceled between steps ends here.
	if ctx.Err() != nil {
		return b.interrupted(i, context.Cause(ctx))
	}
	sctx := ctx
	if step.Timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeoutCause(ctx, step.Timeout, timeoutCause{after: step.Timeout})
		defer cancel()
	}

	argv := []string{"/bin/sh", "-ec", step.Run}
	if b.sandbox {
		argv = sandboxArgs(b.spec.Workspace, b.home, argv)
	}
	refusedBefore := 0
	if b.limit != nil {
		// The limit's wrapper joins the cgroup before anything of the
		// step runs, so no fork escapes it; it is one process of the
		// step's group like the shell it becomes.
		argv = b.limit.Wrap(argv)
		refusedBefore = b.limit.Refused()
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = b.spec.Workspace
	cmd.Env = b.env(step)
	// A new session is also a new process group (pgid = pid), so the
	// whole tree can be signalled at once; and it has no controlling
	// terminal, so a step cannot reach the portal's tty (the TIOCSTI
	// attack bwrap's --new-session guards against). bwrap itself is not
	// given --new-session: that would move the step out of this group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}

	outR, outW, err := os.Pipe()
	if err != nil {
		return b.startFailed(i, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return b.startFailed(i, err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	// The children hold their own copies; ours must go or EOF never comes.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return b.startFailed(i, err)
	}
	pgid := cmd.Process.Pid

	var readers sync.WaitGroup
	for _, s := range []struct {
		r      *os.File
		stream string
	}{{outR, StreamStdout}, {errR, StreamStderr}} {
		lw := newLineWriter(b.masker, b.spec.MaxLineBytes, func(text string) { b.sink.line(i, s.stream, text) })
		readers.Go(func() {
			_, _ = io.Copy(lw, s.r)
			_ = lw.Close()
		})
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var cause, waitErr error
	var leftovers, survivors bool
	select {
	case waitErr = <-waited:
		// The shell is done; stop whatever it left running in its group.
		// In the sandbox the pid namespace ends everything by itself, but
		// bwrap may exit a moment before its namespace is torn down.
		if b.sandbox {
			waitGroupGone(pgid, killWait)
		}
		if groupAlive(pgid) {
			leftovers = true
			survivors = !stopGroup(pgid, timeoutGrace)
		}
	case <-sctx.Done():
		cause = context.Cause(sctx)
		grace := timeoutGrace
		var tc timeoutCause
		if !errors.As(cause, &tc) {
			grace = cancelGrace
		}
		survivors = !stopGroup(pgid, grace)
		waitErr = <-waited
	}

	// Every process of the group is gone, so the pipes reach EOF as soon
	// as they are drained; only a process that left the group on purpose
	// (setsid) can still hold them, and it gets a bounded wait.
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	heldOpen := false
	select {
	case <-drained:
	case <-time.After(outputGrace):
		heldOpen = true
		outR.Close()
		errR.Close()
		<-drained
	}
	outR.Close()
	errR.Close()

	if leftovers {
		b.system(i, "stopped background processes the step left running")
	}
	if heldOpen {
		b.system(i, "stopped reading output held open by a process that left the step's process group")
	}
	var r StepResult
	if cause != nil {
		r = b.interrupted(i, cause)
	} else {
		r = b.exited(i, waitErr)
	}
	if b.limit != nil && b.limit.Refused() > refusedBefore {
		msg := fmt.Sprintf("process limit reached: the build tried to run more than %d processes and threads at once, and the system refused to start more", b.limit.Max())
		b.system(i, msg)
		if r.Status == StatusFailed {
			r.Err = joinMsg(msg, r.Err)
		}
	}
	if survivors {
		msg := fmt.Sprintf("warning: processes of process group %d survived SIGKILL", pgid)
		b.system(i, msg)
		r.Err = joinMsg(r.Err, msg)
	}
	return r
}

// exited turns the shell's exit into a result.
func (b *build) exited(i int, waitErr error) StepResult {
	if waitErr == nil {
		return StepResult{Status: StatusSucceeded}
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		msg := "wait: " + waitErr.Error()
		b.system(i, msg)
		return StepResult{Status: StatusFailed, ExitCode: -1, Err: msg}
	}
	code := ee.ExitCode()
	var msg string
	switch code {
	case 127:
		msg = "command not found (exit 127)"
	case 126:
		msg = "command not executable (exit 126)"
	case -1:
		msg = "killed by a signal"
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
	default:
		msg = fmt.Sprintf("exit code %d", code)
	}
	if code == 127 || code == 126 || code == -1 {
		b.system(i, msg)
	}
	return StepResult{Status: StatusFailed, ExitCode: code, Err: msg}
}

// interrupted reports a step ended by a timeout or a cancel.
func (b *build) interrupted(i int, cause error) StepResult {
	var tc timeoutCause
	if errors.As(cause, &tc) {
		b.system(i, tc.Error())
		return StepResult{Status: StatusTimedOut, ExitCode: -1, Err: tc.Error()}
	}
	msg := "canceled"
	if cause != nil && !errors.Is(cause, context.Canceled) {
		msg = "canceled: " + cause.Error()
	}
	b.system(i, msg)
	return StepResult{Status: StatusCanceled, ExitCode: -1, Err: msg}
}

func (b *build) startFailed(i int, err error) StepResult {
	msg := "could not start the step: " + err.Error()
	b.system(i, msg)
	return StepResult{Status: StatusFailed, ExitCode: -1, Err: msg}
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
