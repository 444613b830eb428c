package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/testpg"
)

// requireBwrap skips when bubblewrap cannot run here.
func requireBwrap(t *testing.T) {
	t.Helper()
	if err := Available(t.Context()); err != nil {
		testpg.SkipOrFail(t, "no sandbox here: %v", err)
	}
}

// run runs a shell script in the sandbox and returns its combined output.
func run(t *testing.T, s Spec, script string) (string, error) {
	t.Helper()
	argv := s.Argv([]string{"/bin/sh", "-c", script})
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + SystemPath}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSandboxShowsOnlyTheListedEtcEntries(t *testing.T) {
	requireBwrap(t)
	for _, secret := range []string{"/etc/shadow", "/etc/gshadow", "/etc/ssl/private", "/etc/sudoers", "/etc/ssh"} {
		t.Run(secret+" is not there", func(t *testing.T) {
			if _, err := os.Stat(secret); err != nil {
				t.Skipf("%s is not on this host", secret)
			}
			out, err := run(t, Spec{}, "cat "+secret+" || ls "+secret)
			if err == nil {
				t.Fatalf("read %s in the sandbox:\n%s", secret, out)
			}
		})
	}
	t.Run("what programs need is there", func(t *testing.T) {
		out, err := run(t, Spec{}, "cat /etc/passwd /etc/group /etc/resolv.conf /etc/nsswitch.conf >/dev/null && ls /etc/ssl/certs | head -1 && getent passwd root")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "root:") {
			t.Fatalf("getent passwd root: %q", out)
		}
	})
}

func TestSandboxBindsAtFixedTargets(t *testing.T) {
	requireBwrap(t)
	ws, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Spec{
		Binds: []Bind{
			{Source: ws, Target: "/workspace"},
			{Source: ro, Target: "/input", ReadOnly: true},
		},
		Chdir: "/workspace",
	}
	out, err := run(t, s, `pwd; echo made >out; cat /input/in; echo; if (echo no >/input/in) 2>/dev/null; then echo WROTE; fi; if (touch /newdir) 2>/dev/null; then echo ROOTWRITABLE; fi; echo tmp >/tmp/t && cat /tmp/t`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "/workspace\nx\ntmp\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "out")); err != nil || string(b) != "made\n" {
		t.Fatalf("file written at /workspace: %q, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ro, "in")); string(b) != "x" {
		t.Fatalf("read-only bind was written: %q", b)
	}
}

func TestSandboxHasItsOwnProcesses(t *testing.T) {
	requireBwrap(t)
	// No process of the host may be visible: the portal's environ holds
	// its configuration. Only the sandbox's own init, the shell and cat
	// show up in its /proc.
	out, err := run(t, Spec{}, "for p in /proc/[0-9]*; do echo \"$p $(tr '\\0' ' ' <$p/cmdline)\"; done")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 4 {
		t.Fatalf("sandbox sees %d processes:\n%s", len(lines), out)
	}
	if self := filepath.Base(os.Args[0]); strings.Contains(out, self) {
		t.Fatalf("the test process %s is visible in the sandbox:\n%s", self, out)
	}
}

func TestDieWithParentIsOptional(t *testing.T) {
	with := Spec{DieWithParent: true}.Argv([]string{"/bin/true"})
	without := Spec{}.Argv([]string{"/bin/true"})
	if !slices.Contains(with, "--die-with-parent") || slices.Contains(without, "--die-with-parent") {
		t.Fatalf("with: %q\nwithout: %q", with, without)
	}
	for _, want := range []string{"--cap-drop", "--unshare-all", "--share-net"} {
		if !slices.Contains(without, want) {
			t.Fatalf("argv lacks %s: %q", want, without)
		}
	}
}

func TestEtcSymlinksAreRecreatedAndTheirTargetsBound(t *testing.T) {
	root := t.TempDir()
	etc := filepath.Join(root, "etc")
	run := filepath.Join(root, "run")
	for _, d := range []string{etc, run} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(run, "stub-resolv.conf")
	if err := os.WriteFile(target, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(etc, "resolv.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/share/zoneinfo/Etc/UTC", filepath.Join(etc, "localtime")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"passwd", "shadow"} {
		if err := os.WriteFile(filepath.Join(etc, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(etcArgs(etc), " ")
	for _, want := range []string{
		"--symlink " + target + " /etc/resolv.conf",
		"--ro-bind " + target + " " + target,
		"--ro-bind " + filepath.Join(etc, "passwd") + " /etc/passwd",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "shadow") {
		t.Errorf("shadow is bound:\n%s", got)
	}
	if strings.Contains(got, "--ro-bind /usr/share/zoneinfo") {
		t.Errorf("localtime's target is inside /usr, which is bound whole; bound again:\n%s", got)
	}
}
