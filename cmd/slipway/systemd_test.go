package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/testpg"
)

// unitDir holds the example systemd units.
const unitDir = "../../examples/systemd"

// installedBinary is where the example units expect slipway.
const installedBinary = "/usr/local/bin/slipway"

// unit is a parsed unit file: section → key → values, in order (a key
// may repeat).
type unit map[string]map[string][]string

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(filepath.Join(unitDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: not a key=value line in a section: %q", name, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one is the single value of key in section ("" when unset); it fails
// the test when the key is set more than once.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) > 1 {
		t.Fatalf("[%s] %s is set %d times", section, key, len(vs))
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// flagValue is the value of --name in args (either --name v or --name=v).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on the example
// units, with the binary path pointed at the binary under test (verify
// insists that it exists): no warning at all may come out.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testpg.SkipOrFail(t, "no systemd-analyze here")
	}
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"slipway-edge.service", "slipway.service"} {
		b, err := os.ReadFile(filepath.Join(unitDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), installedBinary) {
			t.Fatalf("%s does not run %s", name, installedBinary)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), installedBinary, e2e.Binary(t))), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitsAgree: the two units must describe one installation.
// The portal drives the edge unit's socket and shares its data dir; the
// edge's PIDFile is where the edge writes its pid (beside its socket), so
// that systemd follows an upgraded edge instead of ending the unit; both
// keep systemd's KillMode=control-group; and every flag the units pass is
// one the binary knows.
func TestSystemdUnitsAgree(t *testing.T) {
	edgeUnit, portal := readUnit(t, "slipway-edge.service"), readUnit(t, "slipway.service")
	edgeArgs := strings.Fields(edgeUnit.one(t, "Service", "ExecStart"))
	portalArgs := strings.Fields(portal.one(t, "Service", "ExecStart"))
	if len(edgeArgs) < 2 || edgeArgs[0] != installedBinary || edgeArgs[1] != "edge" {
		t.Fatalf("slipway-edge.service runs %v, want %s edge …", edgeArgs, installedBinary)
	}
	if len(portalArgs) < 2 || portalArgs[0] != installedBinary || portalArgs[1] != "serve" {
		t.Fatalf("slipway.service runs %v, want %s serve …", portalArgs, installedBinary)
	}
	socket, data := flagValue(edgeArgs, "socket"), flagValue(edgeArgs, "data")
	if socket == "" || data == "" {
		t.Fatalf("the edge unit must name --data and --socket: %v", edgeArgs)
	}
	if got := flagValue(portalArgs, "edge-socket"); got != socket {
		t.Errorf("the portal's --edge-socket is %q, the edge's --socket %q", got, socket)
	}
	if got := flagValue(portalArgs, "data"); got != data {
		t.Errorf("the portal's --data is %q, the edge's %q", got, data)
	}
	if flagValue(portalArgs, "edge") == edgeInProcess {
		t.Errorf("the portal unit runs the edge in process: %v", portalArgs)
	}
	if got, want := edgeUnit.one(t, "Service", "PIDFile"), filepath.Join(filepath.Dir(socket), "edge.pid"); got != want {
		t.Errorf("the edge unit's PIDFile is %q, want %q (where the edge writes its pid)", got, want)
	}
	if got := edgeUnit.one(t, "Service", "ExecReload"); !strings.Contains(got, "-HUP $MAINPID") {
		t.Errorf("the edge unit's ExecReload is %q, want SIGHUP to $MAINPID (an upgrade in place)", got)
	}
	for name, u := range map[string]unit{"slipway-edge.service": edgeUnit, "slipway.service": portal} {
		if km := u.one(t, "Service", "KillMode"); km != "" && km != "control-group" {
			t.Errorf("%s sets KillMode=%s; it keeps systemd's control-group", name, km)
		}
		if u.one(t, "Service", "User") != "slipway" || u.one(t, "Service", "StateDirectory") != "slipway" {
			t.Errorf("%s does not run as the user slipway with the state directory slipway", name)
		}
		if !strings.HasPrefix(data, "/var/lib/"+u.one(t, "Service", "StateDirectory")) {
			t.Errorf("%s: --data %s is not in its StateDirectory", name, data)
		}
	}
	if _, ok := edgeUnit["Service"]["EnvironmentFile"]; ok {
		t.Errorf("the edge unit reads an EnvironmentFile: it must never see the portal's secrets")
	}
	if !strings.Contains(strings.Join(portal["Unit"]["Wants"], " "), "slipway-edge.service") ||
		!strings.Contains(strings.Join(portal["Unit"]["After"], " "), "slipway-edge.service") {
		t.Errorf("the portal unit must want, and start after, slipway-edge.service: %v", portal["Unit"])
	}
	if _, ok := portal["Unit"]["Requires"]; ok {
		t.Errorf("the portal unit Requires= a unit: a restart of the edge would restart the portal")
	}
	// Every flag is one the binary knows: with --help at the end, an
	// unknown flag is reported before the usage.
	for _, args := range [][]string{edgeArgs, portalArgs} {
		res := e2e.Exec(t, nil, "", append(args[1:], "--help")...)
		if strings.Contains(res.Stderr, "not defined") || strings.Contains(res.Stderr, "invalid") {
			t.Errorf("slipway %s: %s", strings.Join(args[1:], " "), res)
		}
	}
}

// TestTheEdgeKeepsThePIDFileSystemdFollows: what slipway-edge.service's
// PIDFile= relies on. The edge writes its pid to <socket dir>/edge.pid;
// after an upgrade (SIGHUP, as ExecReload sends) the file names the new
// edge by the time the old one has exited, which is when systemd reads it
// to learn the unit's new main process.
func TestTheEdgeKeepsThePIDFileSystemdFollows(t *testing.T) {
	data := t.TempDir()
	socket := filepath.Join(data, "run", "edge.sock")
	pidFile := filepath.Join(filepath.Dir(socket), "edge.pid")
	cmd := exec.Command(e2e.Binary(t), "edge", "--data", data, "--socket", socket, "--sandbox", "off")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { e2e.Exec(t, nil, "", "edge", "stop", "--socket", socket) })
	readPID := func() int {
		b, _ := os.ReadFile(pidFile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	first := cmd.Process.Pid
	deadline := time.Now().Add(20 * time.Second)
	for edgePID(t, socket) != first || readPID() != first {
		if time.Now().After(deadline) {
			t.Fatalf("the edge (pid %d) does not answer with its pid in %s (it holds %d)", first, pidFile, readPID())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the old edge (pid %d) did not exit after SIGHUP", first)
	}
	// Read at once, as systemd does when the main process exits.
	second := readPID()
	if second == 0 || second == first {
		t.Fatalf("when the old edge exited, %s held %d, want the new edge's pid", pidFile, second)
	}
	if got := edgePID(t, socket); got != second {
		t.Errorf("the edge answering is pid %d, %s says %d", got, pidFile, second)
	}
}
