package runner

import (
	"context"
	"fmt"

	"github.com/slipway-ci/slipway/internal/sandbox"
)

// Where a sandboxed step finds its workspace and home. Fixed paths, not
// the host's, so that the same commit builds to the same bytes whichever
// workspace it was exported to (paths end up in binaries, source maps and
// caches), and so that a step learns nothing of the host's layout.
const (
	SandboxWorkspace = "/workspace"
	SandboxHome      = "/home/build"
)

// sandboxArgs wraps argv in bubblewrap (see internal/sandbox): the system
// read-only, the /etc entries programs need, a private /tmp, /proc and
// /dev, the workspace at /workspace and the home at /home/build
// read-write, and nothing else of the host (no data dir, no other
// workspaces, no other project's cache). --die-with-parent ties the
// sandbox to the runner; the pid namespace means that when the step's
// shell ends, every process it started ends with it, even one that
// called setsid.
func sandboxArgs(workspace, home string, argv []string) []string {
	return sandbox.Spec{
		Binds: []sandbox.Bind{
			{Source: workspace, Target: SandboxWorkspace},
			{Source: home, Target: SandboxHome},
		},
		Chdir:         SandboxWorkspace,
		DieWithParent: true,
	}.Argv(argv)
}

// SandboxAvailable reports whether bwrap is on the PATH and can create its
// namespaces on this machine (it cannot in many unprivileged containers).
func SandboxAvailable() bool {
	return probeSandbox(context.Background()) == nil
}

// probeSandbox runs /bin/true in a sandbox like a step's.
func probeSandbox(ctx context.Context) error { return sandbox.Available(ctx) }

// chooseSandbox decides, before anything runs, whether steps are wrapped,
// and what to tell the user about it.
func chooseSandbox(ctx context.Context, mode SandboxMode) (use bool, notice string, err error) {
	switch mode {
	case SandboxOff:
		return false, "", nil
	case SandboxAuto, "", SandboxRequired:
	default:
		return false, "", fmt.Errorf("runner: sandbox mode %q (want auto, off or required): %w", mode, ErrInvalidSpec)
	}
	if perr := probeSandbox(ctx); perr != nil {
		if mode == SandboxRequired {
			return false, "", fmt.Errorf("runner: sandbox required: %v: %w", perr, ErrSandboxUnavailable)
		}
		return false, "running without a sandbox: " + perr.Error(), nil
	}
	return true, "", nil
}
