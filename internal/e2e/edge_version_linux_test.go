package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/secretbox"
)

// buildVersion builds ./cmd/slipway saying version into bin, replacing
// the file in one rename as a package upgrade does (a running edge keeps
// its old binary open).
func buildVersion(t *testing.T, bin, version string) {
	t.Helper()
	root, err := ModuleRoot()
	must(t, err)
	tmp := bin + ".new"
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", tmp, "./cmd/slipway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", version, err, out)
	}
	must(t, os.Rename(tmp, bin))
}

// TestAPortalOfANewVersionUpgradesItsEdgeInPlace: after the binary is
// replaced by a newer version, the restarted portal finds the edge of the
// old version, hands it over to a process of the new binary (the edge's
// upgrade), and the app keeps its pid and keeps serving.
func TestAPortalOfANewVersionUpgradesItsEdgeInPlace(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "slipway")
	buildVersion(t, bin, "v1.0.0-e2e")
	key := secretbox.NewKey()
	opts := Options{Binary: bin, Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}}
	p := StartPortal(t, opts)
	id := seedApp(t, p, key, "exec ./bin/app")
	deployLive(t, p, adminToken(t, p), id)
	cl := edgeClient(t, p.DataDir)
	oldEdge := cl.Info()
	addr, appPID := liveApp(t, cl)
	if oldEdge.Version != "v1.0.0-e2e" {
		t.Fatalf("the edge says version %q, want v1.0.0-e2e", oldEdge.Version)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("the portal exited with %d", code)
	}

	buildVersion(t, bin, "v1.1.0-e2e")
	p2, err := startOnce(t, opts, p.DataDir, t.TempDir(), 1)
	must(t, err)
	cl2 := edgeClient(t, p.DataDir)
	now := cl2.Info()
	if now.PID == oldEdge.PID || now.Version != "v1.1.0-e2e" || !processGone(oldEdge.PID) {
		t.Fatalf("after the portal of v1.1.0 started, the edge is pid %d version %q (was pid %d version %q, gone: %v)",
			now.PID, now.Version, oldEdge.PID, oldEdge.Version, processGone(oldEdge.PID))
	}
	if _, pid := liveApp(t, cl2); pid != appPID {
		t.Errorf("the app's pid changed from %d to %d across the edge's upgrade", appPID, pid)
	}
	if code, body := apiCall(t, "GET", "http://"+addr+"/", "", ""); code != 200 {
		t.Errorf("the app through its edge after the upgrade: %d %s", code, body)
	}
	if log := p2.Stderr(); !strings.Contains(log, "upgraded the edge") || !strings.Contains(log, "from=v1.0.0-e2e to=v1.1.0-e2e") {
		t.Errorf("the portal's log does not say it upgraded the edge from v1.0.0-e2e to v1.1.0-e2e:\n%s", log)
	}
}
