package runner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// probeTimeout bounds the check that bwrap can create its namespaces.
const probeTimeout = 10 * time.Second

// systemDirs are bound read-only into the sandbox when present; merged-/usr
// symlinks (/bin -> usr/bin) are recreated as symlinks.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// bwrapArgs wraps argv in bubblewrap. The step sees the system read-only,
// its workspace, home and cache (if any) read-write at their real paths, a
// private /tmp, /proc and /dev, and nothing else of the host (no data
// dir, no other workspaces). All namespaces are unshared except the
// network: builds fetch dependencies. Capabilities are dropped, so even a portal running
// as root gives its builds none. --die-with-parent ties the sandbox to the
// runner; the pid namespace means that when the step's shell ends, every
// process it started ends with it, even one that called setsid.
func bwrapArgs(workspace, home, cache string, argv []string) []string {
	args := []string{"bwrap",
		"--die-with-parent",
		"--unshare-all", "--share-net",
		"--cap-drop", "ALL",
	}
	for _, dir := range systemDirs {
		fi, err := os.Lstat(dir)
		switch {
		case err != nil:
			continue
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(dir); err == nil {
				args = append(args, "--symlink", target, dir)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", dir, dir)
		}
	}
	// /etc/resolv.conf may point out of /etc (systemd-resolved, /run):
	// bind its target too, or DNS stops working inside.
	if target, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && !strings.HasPrefix(target, "/etc/") {
		args = append(args, "--ro-bind", target, target)
	}
	args = append(args,
		"--proc", "/proc",
		"--dev", "/dev",
		"--tmpfs", "/tmp",
		"--bind", workspace, workspace,
		"--bind", home, home,
	)
	if cache != "" {
		args = append(args, "--bind", cache, cache)
	}
	args = append(args,
		"--chdir", workspace,
		"--",
	)
	return append(args, argv...)
}

// SandboxAvailable reports whether bwrap is on the PATH and can create its
// namespaces on this machine (it cannot in many unprivileged containers).
func SandboxAvailable() bool {
	return probeSandbox(context.Background()) == nil
}

// probeSandbox runs /bin/true in the same sandbox a step gets.
func probeSandbox(ctx context.Context) error {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return fmt.Errorf("bwrap is not installed")
	}
	dir, err := os.MkdirTemp("", "slipway-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bwrap", bwrapArgs(dir, dir, "", []string{"/bin/true"})[1:]...)
	cmd.Env = []string{"PATH=" + stepPath}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("bwrap cannot run here: %s", msg)
		}
		return fmt.Errorf("bwrap cannot run here: %w", err)
	}
	return nil
}

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
