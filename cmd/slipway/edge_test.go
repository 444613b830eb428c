package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
)

func TestServeRefusesBadEdgeSettings(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		usage bool
		says  string
	}{
		{[]string{"--edge", "elsewhere"}, true, "--edge must be child or inprocess"},
		{[]string{"--edge", "inprocess", "--edge-socket", "/nowhere/edge.sock"}, true, "exclude each other"},
		// An external edge is never started from here: no answer is an error.
		{[]string{"--edge", "child", "--edge-socket", filepath.Join(t.TempDir(), "edge.sock")}, false, "no edge answers on --edge-socket"},
		// --edge-socket alone means child: it is not refused as inprocess.
		{[]string{"--edge", "", "--edge-socket", filepath.Join(t.TempDir(), "edge.sock")}, false, "no edge answers on --edge-socket"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			data := t.TempDir()
			stderr, done, _ := runInProcess(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, tt.args...)...)
			select {
			case err := <-done:
				var ue usageError
				if err == nil || errors.As(err, &ue) != tt.usage || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("got %v (usage error: %v), want one saying %q\n%s", err, errors.As(err, &ue), tt.says, stderr)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("serve did not refuse %v", tt.args)
			}
			if _, err := os.Stat(filepath.Join(data, "run", "edge.sock")); err == nil {
				t.Errorf("an edge was started on the data dir")
			}
		})
	}
}

// TestServeRunsTheEdgeInProcessByDefault: pools of several instances
// work only in process, so that is the default; --edge-socket alone
// drives an edge process.
func TestServeRunsTheEdgeInProcessByDefault(t *testing.T) {
	for _, tt := range []struct{ mode, socket, want string }{
		{"", "", edgeInProcess},
		{"", "/run/slipway/edge.sock", edgeChild},
		{edgeChild, "", edgeChild},
		{edgeInProcess, "", edgeInProcess},
		{"elsewhere", "", "elsewhere"},
	} {
		if got := edgeModeFor(tt.mode, tt.socket); got != tt.want {
			t.Errorf("edgeModeFor(%q, %q) = %q, want %q", tt.mode, tt.socket, got, tt.want)
		}
	}
}

func TestEdgeCommandExplainsMistakes(t *testing.T) {
	data := t.TempDir()
	res := e2e.Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "frobnicate")
	if res.ExitCode != 2 || !strings.Contains(res.Stderr, `unknown edge command "frobnicate"`) {
		t.Errorf("edge frobnicate: %s", res)
	}
	res = e2e.Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "--sandbox", "sometimes")
	if res.ExitCode != 2 || !strings.Contains(res.Stderr, "--sandbox must be auto, off or required") {
		t.Errorf("edge --sandbox sometimes: %s", res)
	}
	res = e2e.Exec(t, []string{"SLIPWAY_DATA=" + data}, "", "edge", "stop")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "no edge answers") {
		t.Errorf("edge stop without an edge: %s", res)
	}
}
