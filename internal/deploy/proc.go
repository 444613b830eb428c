package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultPath is the PATH of every process this package starts; the caller
// may override it. Nothing else of the portal's own environment is passed on.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const (
	// maxLine bounds one line of output; the rest of a longer line is dropped.
	maxLine = 16 << 10
	// outputGrace bounds how long output is still read after a process group
	// has ended (a daemon that left the group may hold the pipe open).
	outputGrace = time.Second
	// groupPoll is how often a terminating process group is checked.
	groupPoll = 20 * time.Millisecond
)

// ring keeps the last lines of a process's output.
type ring struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newRing(n int) *ring { return &ring{lines: make([]string, n)} }

func (r *ring) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = line
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
}

// snapshot returns the kept lines, oldest first.
func (r *ring) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return slices.Clone(r.lines[:r.next])
	}
	return append(slices.Clone(r.lines[r.next:]), r.lines[:r.next]...)
}

// buildEnv turns vars into a sorted environment list on top of defaultPath.
func buildEnv(vars map[string]string) []string {
	all := map[string]string{"PATH": defaultPath}
	maps.Copy(all, vars)
	env := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		env = append(env, k+"="+all[k])
	}
	return env
}

func validEnvName(k string) bool {
	return k != "" && !strings.ContainsAny(k, "=\x00")
}

// proc is one process started in its own process group, with stdout and
// stderr merged into one pipe that is read line by line.
type proc struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	out     *os.File

	exited     chan struct{} // closed once the group leader has been reaped
	state      *os.ProcessState
	endedAt    time.Time
	outputDone chan struct{} // closed once the output reader has finished

	finishOnce sync.Once
	onFinish   func() // called once the group is gone, if set
}

// LineSplitter turns a process's raw output into lines: it returns a writer
// that calls emit once per line (without its line ending), in order, and
// emits a final unterminated line on Close. A caller passes one to mask
// secrets on the way (internal/runner.NewLineWriter fits); nil splits lines
// as they come.
type LineSplitter func(emit func(line string)) io.WriteCloser

// startProc starts argv in dir with env, in a new process group; every line
// of output is passed to line, in order, from one goroutine, through split
// when it is not nil.
func startProc(argv []string, dir string, env []string, split LineSplitter, line func(string)) (*proc, error) {
	return startProcOpts(procOpts{}, argv, dir, env, split, line)
}

// procOpts are the ways a detached app process is started differently.
type procOpts struct {
	// detached: a new session and no parent-death signal, so the process
	// outlives this one.
	detached bool
	// fifo, if set, is the path of a FIFO created for the output instead
	// of a pipe (see openOutputFIFO).
	fifo string
}

func startProcOpts(po procOpts, argv []string, dir string, env []string, split LineSplitter, line func(string)) (*proc, error) {
	var r, w *os.File
	var err error
	if po.fifo != "" {
		r, w, err = openOutputFIFO(po.fifo)
	} else {
		r, w, err = os.Pipe()
	}
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout = w
	cmd.Stderr = w
	// Setpgid puts the process in its own group so that everything it
	// starts can be signalled at once. Pdeathsig kills it if this process
	// dies without stopping it, so no app outlives a crashed portal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if po.detached {
		// A session of its own (its pid is also its group's) and no
		// parent-death signal: the app outlives this process, and no
		// terminal's or service manager's signal to our group reaches it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	p := &proc{
		cmd:        cmd,
		out:        r,
		exited:     make(chan struct{}),
		outputDone: make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child ends, not
		// the process: keep that thread, locked to this goroutine, alive
		// until the child has been reaped.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // the exit is read from ProcessState
		p.state = cmd.ProcessState
		p.endedAt = time.Now()
		close(p.exited)
	}()
	err = <-started
	w.Close() // the child holds its own copy
	if err != nil {
		r.Close()
		return nil, err
	}
	p.pid, p.started = cmd.Process.Pid, time.Now()
	p.readOutput(split, line)
	return p, nil
}

// readOutput reads p.out line by line until EOF (or finish closes it).
func (p *proc) readOutput(split LineSplitter, line func(string)) {
	r := p.out
	go func() {
		defer close(p.outputDone)
		if split == nil {
			readLines(r, line)
			return
		}
		w := split(line)
		_, _ = io.Copy(w, r) // ends when every writer has closed the pipe, or at finish
		_ = w.Close()
	}()
}

// readLines calls line for each line read from r until EOF or error. Lines
// longer than maxLine are cut; a final line without newline is delivered.
func readLines(r io.Reader, line func(string)) {
	br := bufio.NewReaderSize(r, maxLine)
	var long bool
	for {
		b, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !long {
				line(string(b) + " …[line truncated]")
				long = true
			}
			continue
		case long:
			long = false // the tail of a truncated line
		case len(b) > 0:
			b = bytes.TrimSuffix(b, []byte("\n"))
			b = bytes.TrimSuffix(b, []byte("\r"))
			line(string(b))
		}
		if err != nil {
			return
		}
	}
}

// hasExited reports whether the group leader has been reaped.
func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// signalGroup sends sig to the whole process group.
func (p *proc) signalGroup(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid, sig) // ESRCH: the group is already gone
}

// groupAlive reports whether any process of the group still runs. Zombies
// do not count: an orphan reparented to an init that does not reap stays a
// zombie forever but holds nothing.
func (p *proc) groupAlive() bool {
	if err := syscall.Kill(-p.pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // no /proc: trust kill(2)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		pgrp, state, ok := procStat(e.Name())
		if ok && pgrp == p.pid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// procStat reads the process group and state of /proc/<pid>/stat.
func procStat(pid string) (pgrp int, state byte, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may contain anything; the
	// fields after the last ')' are: state ppid pgrp ...
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pgrp, err = strconv.Atoi(f[2])
	if err != nil {
		return 0, 0, false
	}
	return pgrp, f[0][0], true
}

// terminate stops the whole group: SIGTERM, then SIGKILL once grace has
// passed or kill is closed; it returns when the leader has been reaped and
// the output read.
func (p *proc) terminate(grace time.Duration, kill <-chan struct{}) {
	p.signalGroup(syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for p.groupAlive() || !p.hasExited() {
		select {
		case <-deadline.C:
			p.kill()
			return
		case <-kill:
			p.kill()
			return
		case <-p.exited:
		case <-tick.C:
		}
	}
	p.finish()
}

// kill ends the group at once.
func (p *proc) kill() {
	p.signalGroup(syscall.SIGKILL)
	<-p.exited
	p.finish()
}

// finish cleans up after the leader has exited: stragglers of the group are
// killed, then the rest of the output is read (bounded by outputGrace).
func (p *proc) finish() {
	<-p.exited
	p.signalGroup(syscall.SIGKILL)
	// SIGKILL is delivered asynchronously: wait until the group is gone so
	// that "stopped" means no process is left.
	for deadline := time.Now().Add(outputGrace); p.groupAlive() && time.Now().Before(deadline); {
		time.Sleep(groupPoll)
	}
	select {
	case <-p.outputDone:
	case <-time.After(outputGrace):
		// Something that left the group still holds the pipe: stop reading.
		p.out.Close()
		<-p.outputDone
	}
	p.out.Close()
	if p.onFinish != nil {
		p.finishOnce.Do(p.onFinish)
	}
}

// exit describes how the leader ended; lines are the last output lines.
func (p *proc) exit(lines []string) *Exit {
	<-p.exited
	e := &Exit{Code: -1, Time: p.endedAt, Lines: lines}
	if p.state == nil {
		return e // an adopted process: another process reaped it
	}
	e.Code = p.state.ExitCode()
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal().String()
	}
	return e
}
