package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/edge"
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

// TestServeRunsTheEdgeAsAProcessOfItsOwnByDefault: apps outlive the
// portal unless --edge=inprocess asks otherwise; --edge-socket does not
// change the mode.
func TestServeRunsTheEdgeAsAProcessOfItsOwnByDefault(t *testing.T) {
	for _, tt := range []struct{ mode, want string }{
		{"", edgeChild},
		{edgeChild, edgeChild},
		{edgeInProcess, edgeInProcess},
		{"elsewhere", "elsewhere"},
	} {
		if got := edgeModeFor(tt.mode); got != tt.want {
			t.Errorf("edgeModeFor(%q) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}

// TestServeStartsAnEdgeThatOutlivesItByDefault: with no --edge (the
// variable set empty, as on a machine where nobody set it), serve starts
// the data dir's edge as a process of its own; after the portal stops,
// that edge still answers, and the portal's last words say so and how to
// stop it, which then works.
func TestServeStartsAnEdgeThatOutlivesItByDefault(t *testing.T) {
	p := e2e.StartPortal(t, e2e.Options{Env: []string{"SLIPWAY_EDGE="}})
	socket := edge.DefaultSocket(p.DataDir)
	t.Cleanup(func() {
		p.Stop()
		e2e.Exec(t, []string{"SLIPWAY_DATA=" + p.DataDir}, "", "edge", "stop")
	})
	pid := edgePID(t, socket)
	if pid == 0 || pid == p.PID() {
		t.Fatalf("no edge process of its own answers on %s (pid %d, portal %d)", socket, pid, p.PID())
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("the portal exited with %d", code)
	}
	if got := edgePID(t, socket); got != pid {
		t.Fatalf("after the portal stopped, the edge on %s is pid %d, want %d still running", socket, got, pid)
	}
	data, err := filepath.Abs(p.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the edge (pid %d) keeps serving the environments; `slipway edge stop --data %s` stops it and its apps", pid, data)
	if !strings.Contains(p.Stderr(), want) {
		t.Errorf("the portal's log does not say %q:\n%s", want, p.Stderr())
	}
	res := e2e.Exec(t, nil, "", "edge", "stop", "--data", data)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, fmt.Sprintf("edge (pid %d) stopped", pid)) {
		t.Fatalf("slipway edge stop --data %s: %s", data, res)
	}
	if got := edgePID(t, socket); got != 0 {
		t.Errorf("an edge (pid %d) still answers after slipway edge stop", got)
	}
}

// TestServeWithARelativeDataDirFindsTheEdgeItStarts: `go run
// ./cmd/slipway` uses --data ./data, relative to where it runs, while the
// edge it starts runs in /: the edge must still listen in that data dir,
// where the portal looks for it.
func TestServeWithARelativeDataDirFindsTheEdgeItStarts(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLIPWAY_") {
			env = append(env, kv)
		}
	}
	var stderr lockedBuffer
	cmd := exec.Command(e2e.Binary(t), "serve", "--addr", "127.0.0.1:0", "--data", "data")
	cmd.Dir = dir
	cmd.Env = append(env, "SLIPWAY_ADMIN_PASSWORD=relative-data-dir", "SLIPWAY_BCRYPT_COST=4")
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
		}
		e2e.Exec(t, nil, "", "edge", "stop", "--data", data)
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "slipway is running") {
		select {
		case err := <-exited:
			t.Fatalf("serve --data data exited: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve --data data did not start:\n%s", stderr.String())
		}
	}
	if pid := edgePID(t, edge.DefaultSocket(data)); pid == 0 {
		t.Errorf("no edge answers in the relative data dir, on %s:\n%s", edge.DefaultSocket(data), stderr.String())
	}
}

// edgePID is the pid of the edge answering on socket, 0 when none does.
func edgePID(t *testing.T, socket string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cl, err := edge.Dial(ctx, edge.ClientOptions{Socket: socket})
	if err != nil {
		return 0
	}
	defer cl.Close(ctx)
	return cl.Info().PID
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

// TestEdgeStatusAndUpgradeCommands: `slipway edge status` says what the
// edge runs, `slipway edge upgrade` hands over to a new edge process and
// says so, and both say plainly when no edge answers.
func TestEdgeStatusAndUpgradeCommands(t *testing.T) {
	p := e2e.StartPortal(t, e2e.Options{Env: []string{"SLIPWAY_EDGE="}})
	socket := edge.DefaultSocket(p.DataDir)
	data := []string{"--data", p.DataDir}
	t.Cleanup(func() {
		p.Stop()
		e2e.Exec(t, nil, "", append([]string{"edge", "stop"}, data...)...)
	})
	pid := edgePID(t, socket)
	res := e2e.Exec(t, nil, "", append([]string{"edge", "status"}, data...)...)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, fmt.Sprintf("edge pid %d, version ", pid)) || !strings.Contains(res.Stdout, "0 environment(s)") {
		t.Fatalf("slipway edge status: %s", res)
	}
	res = e2e.Exec(t, nil, "", append([]string{"edge", "upgrade"}, data...)...)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, fmt.Sprintf("took over from pid %d", pid)) {
		t.Fatalf("slipway edge upgrade: %s", res)
	}
	if now := edgePID(t, socket); now == 0 || now == pid {
		t.Fatalf("after the upgrade the edge is pid %d, want a new one (was %d)", now, pid)
	}
	e2e.Exec(t, nil, "", append([]string{"edge", "stop"}, data...)...)
	for _, cmd := range []string{"status", "upgrade"} {
		res = e2e.Exec(t, nil, "", append([]string{"edge", cmd}, data...)...)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "no edge answers on "+socket) {
			t.Errorf("slipway edge %s without an edge: %s, want a failure saying no edge answers", cmd, res)
		}
	}
}
