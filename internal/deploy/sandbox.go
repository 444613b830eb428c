package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/slipway-ci/slipway/internal/sandbox"
)

// SandboxMode is the shared sandbox setting (SLIPWAY_SANDBOX); see
// sandbox.Mode.
type SandboxMode = sandbox.Mode

// Sandbox modes.
const (
	SandboxAuto     = sandbox.ModeAuto
	SandboxOff      = sandbox.ModeOff
	SandboxRequired = sandbox.ModeRequired
)

// AppDir is where an app finds itself inside the sandbox: its
// environment's work dir, with the release's entries bound read-only in
// it. It is also the app's working directory and, unless its config sets
// one, its HOME. A fixed path keeps the host's layout (the data dir's
// location, other environments' names) out of the app's view.
const AppDir = "/app"

// DefaultMaxProcs bounds the tasks (processes and threads: a pids cgroup
// counts both) of one app process tree when Options.MaxProcs is 0. It is
// generous for a Go or Node server and stops a fork bomb.
const DefaultMaxProcs = 512

// sandboxChoice is the outcome of the one probe of a Manager.
type sandboxChoice struct {
	use    bool
	notice string // why apps run unsandboxed in auto mode
	err    error  // required mode without a working bwrap
}

// Sandbox reports how app instances run: sandboxed or not, and when not in
// auto mode, why (notice). The probe runs once per Manager. In required
// mode without a working bwrap it returns an error wrapping
// ErrSandboxUnavailable, and StartInstance fails the same way.
func (m *Manager) Sandbox() (sandboxed bool, notice string, err error) {
	m.sandboxOnce.Do(func() {
		c := &m.sandbox
		switch m.opts.Sandbox {
		case SandboxOff:
			c.notice = "app sandbox is off (SLIPWAY_SANDBOX=off): the app runs as the portal's user and can reach its files"
			return
		case SandboxAuto, "", SandboxRequired:
		default:
			c.err = fmt.Errorf("deploy: sandbox mode %q (want auto, off or required): %w", m.opts.Sandbox, ErrInvalid)
			return
		}
		if perr := sandbox.Available(context.Background()); perr != nil {
			if m.opts.Sandbox == SandboxRequired {
				c.err = fmt.Errorf("deploy: sandbox required: %v: %w", perr, ErrSandboxUnavailable)
				return
			}
			c.notice = "running the app without a sandbox: " + perr.Error()
			return
		}
		c.use = true
	})
	return m.sandbox.use, m.sandbox.notice, m.sandbox.err
}

// appCommand returns the argv and host directory that run command for an
// app whose release is unpacked in release, with work as its
// environment's work dir ("" runs it in release, unsandboxed, as before
// work dirs existed: only tests do). vars gets HOME (the app's working
// directory) unless the app's config sets it. The returned limit, if any,
// bounds the process tree and must be closed once the group is gone.
func (m *Manager) appCommand(name, work, release, command string, vars map[string]string) (argv []string, dir string, limit *sandbox.Limit, err error) {
	sh := []string{"/bin/sh", "-c", command}
	if work == "" {
		return sh, release, nil, nil
	}
	use, _, err := m.Sandbox()
	if err != nil {
		return nil, "", nil, err
	}
	// Two instances of one environment may start at once (a deploy while a
	// warm instance restarts): lay out the shared work dir one at a time.
	m.workMu.Lock()
	entries, err := prepareWorkDir(work, release, use)
	m.workMu.Unlock()
	if err != nil {
		return nil, "", nil, err
	}
	argv, dir = sh, work
	if use {
		spec := sandbox.Spec{
			Binds: []sandbox.Bind{{Source: work, Target: AppDir}},
			Chdir: AppDir,
			// An app dies with the process that runs the edge routing to
			// it, unless that process re-adopts it after a restart or an
			// upgrade (Options.Detached: `slipway edge`).
			DieWithParent: !m.opts.Detached,
		}
		for _, e := range entries {
			spec.Binds = append(spec.Binds, sandbox.Bind{Source: filepath.Join(release, e), Target: filepath.Join(AppDir, e), ReadOnly: true})
		}
		argv, dir = spec.Argv(sh), "/"
		if _, set := vars["HOME"]; !set {
			vars["HOME"] = AppDir
		}
	} else if _, set := vars["HOME"]; !set {
		vars["HOME"] = work
	}
	// The process limit applies with or without the sandbox. It wraps bwrap
	// from outside: the cgroup file is not visible inside, and bwrap and
	// everything under it then count.
	limit, err = sandbox.NewLimit(name, m.maxProcs())
	if err != nil {
		return nil, "", nil, err
	}
	return limit.Wrap(argv), dir, limit, nil
}

func (m *Manager) maxProcs() int {
	if m.opts.MaxProcs > 0 {
		return m.opts.MaxProcs
	}
	return DefaultMaxProcs
}

// limitName names a process's cgroup after its environment, release and
// instance number.
func limitName(env string, release int64, slot int) string {
	return "app-" + env + "-" + strconv.FormatInt(release, 10) + "-" + strconv.Itoa(slot)
}
