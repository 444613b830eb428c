// Package sandbox confines hostile code — build steps and deployed app
// instances — with bubblewrap, and bounds how many processes one run may
// have.
//
// Spec.Argv wraps a command line in bwrap: the system directories
// read-only, a short list of /etc entries programs need (EtcEntries, never
// all of /etc), a private /proc, /dev and /tmp, the caller's own binds, no
// capabilities, and every namespace unshared except the network. Available
// probes whether that works on this machine. NewLimit bounds the number of
// processes of one run with a pids cgroup, or RLIMIT_NPROC where no cgroup
// is writable.
//
// The package knows nothing of builds or deploys: callers choose the
// binds, the working directory and the environment.
package sandbox

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

// SystemPath is a PATH that finds the usual system tools and the Go
// toolchain; callers may give it to sandboxed processes whatever the
// portal's own PATH is.
const SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin"

// probeTimeout bounds the check that bwrap can create its namespaces.
const probeTimeout = 10 * time.Second

// SystemDirs are bound read-only when present; merged-/usr symlinks
// (/bin -> usr/bin) are recreated as symlinks. /etc is not among them: see
// EtcEntries.
var SystemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// EtcEntries are the only parts of /etc a sandboxed process sees, each
// read-only and only when present on the host. They are what ordinary
// programs and toolchains read:
//
//   - name resolution: resolv.conf (and its target when it points out of
//     /etc), hosts, host.conf, nsswitch.conf, gai.conf, services,
//     protocols;
//   - users: passwd and group (names only; the hashes are in shadow);
//   - TLS trust: ssl/certs, ssl/openssl.cnf, ca-certificates,
//     ca-certificates.conf, pki/tls/certs and pki/ca-trust (Red Hat
//     layout) — but not ssl/private, which holds the host's private keys;
//   - the dynamic linker: ld.so.cache, ld.so.conf, ld.so.conf.d;
//   - time zone and tool defaults: localtime, timezone, alternatives,
//     mime.types, gitconfig, npmrc, pip.conf.
//
// Never shadow, gshadow, sudoers, ssh (host keys), ssl/private, machine-id
// or anything else of the host's configuration. A site that keeps registry
// credentials in /etc/npmrc or /etc/pip.conf should move them out: both
// are visible to builds and apps.
var EtcEntries = []string{
	"resolv.conf", "hosts", "host.conf", "nsswitch.conf", "gai.conf", "services", "protocols",
	"passwd", "group",
	"ssl/certs", "ssl/openssl.cnf", "ca-certificates", "ca-certificates.conf", "pki/tls/certs", "pki/ca-trust",
	"ld.so.cache", "ld.so.conf", "ld.so.conf.d",
	"localtime", "timezone", "alternatives", "mime.types", "gitconfig", "npmrc", "pip.conf",
}

// Bind makes a host path appear inside the sandbox.
type Bind struct {
	// Source is the host path; it must exist.
	Source string
	// Target is where it appears inside; Source's own path when empty.
	// A fixed Target (e.g. /workspace) hides where the host keeps it.
	Target string
	// ReadOnly binds it read-only.
	ReadOnly bool
}

// Spec describes one sandbox. The zero value is a sandbox with only the
// system, /etc entries, /proc, /dev and an empty /tmp.
type Spec struct {
	// Binds are added after the system binds, in order; a later bind
	// under an earlier one's target shadows that part of it.
	Binds []Bind
	// Chdir is the working directory inside; / when empty.
	Chdir string
	// DieWithParent kills the sandbox when the process that started bwrap
	// dies (bwrap --die-with-parent). Builds want it; app instances that
	// must outlive a portal restart do not.
	DieWithParent bool
}

// Argv returns the bwrap command line that runs argv inside the sandbox;
// argv[0] of the result is "bwrap". The environment passes through
// unchanged: the caller sets exactly what the process gets.
//
// Every namespace is unshared except the network (builds fetch
// dependencies, apps serve). The pid namespace gives the process its own
// /proc, so it sees no other process of the host, and means that when its
// first process ends, every process it started ends too, even one that
// called setsid. All capabilities are dropped, so even a portal running
// as root gives the sandbox none. The root is a tmpfs made read-only once
// the mounts are in place; /tmp is a private writable tmpfs.
func (s Spec) Argv(argv []string) []string {
	args := []string{"bwrap"}
	if s.DieWithParent {
		args = append(args, "--die-with-parent")
	}
	args = append(args,
		"--unshare-all", "--share-net",
		"--cap-drop", "ALL",
	)
	for _, dir := range SystemDirs {
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
	args = append(args, etcArgs("/etc")...)
	args = append(args,
		"--proc", "/proc",
		"--dev", "/dev",
		"--tmpfs", "/tmp",
	)
	for _, b := range s.Binds {
		target := b.Target
		if target == "" {
			target = b.Source
		}
		flag := "--bind"
		if b.ReadOnly {
			flag = "--ro-bind"
		}
		args = append(args, flag, b.Source, target)
	}
	args = append(args, "--remount-ro", "/")
	if s.Chdir != "" {
		args = append(args, "--chdir", s.Chdir)
	}
	args = append(args, "--")
	return append(args, argv...)
}

// etcArgs binds the EtcEntries found under etc (the host's /etc; a
// parameter for tests) at /etc/<entry>. A symlink is recreated as a
// symlink (programs read /etc/localtime's target to name the zone); when
// it resolves outside the system directories and /etc (resolv.conf
// pointing into /run), the resolved file is bound at its own path too, or
// the link would dangle.
func etcArgs(etc string) []string {
	var args []string
	for _, e := range EtcEntries {
		src := filepath.Join(etc, e)
		dst := filepath.Join("/etc", e)
		fi, err := os.Lstat(src)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			args = append(args, "--ro-bind", src, dst)
			continue
		}
		link, err := os.Readlink(src)
		if err != nil {
			continue
		}
		resolved, err := filepath.EvalSymlinks(src)
		if err != nil {
			continue // dangling on the host too
		}
		args = append(args, "--symlink", link, dst)
		if !underSystem(resolved) {
			args = append(args, "--ro-bind", resolved, resolved)
		}
	}
	return args
}

// underSystem reports whether p is inside a system directory, already
// bound whole.
func underSystem(p string) bool {
	for _, d := range SystemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// Available reports whether bwrap is installed and can create its
// namespaces here (it cannot in many unprivileged containers), by running
// /bin/true in a sandbox like the ones callers build. The error says why
// not, for a log or a notice.
func Available(ctx context.Context) error {
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
	argv := Spec{
		Binds:         []Bind{{Source: dir, Target: "/workspace"}},
		Chdir:         "/workspace",
		DieWithParent: true,
	}.Argv([]string{"/bin/true"})
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + SystemPath}
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
