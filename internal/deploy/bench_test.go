package deploy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkEdgeOverhead compares a request sent straight to an app with
// the same request sent through the environment's edge proxy.
func BenchmarkEdgeOverhead(b *testing.B) {
	m := newTestManager(b, testOptions())
	addr, err := m.EnsureEdge("bench/dev", "")
	if err != nil {
		b.Fatal(err)
	}
	inst := startApp(b, m, appSpec(b, "bench/dev", 1, "v1"))
	if _, err := m.Switch("bench/dev", inst); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	for _, bc := range []struct {
		name string
		url  string
	}{
		{"direct", "http://127.0.0.1:" + strconv.Itoa(inst.Port()) + "/"},
		{"through_edge", "http://" + addr + "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := client.Get(bc.url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkStartInstance measures a start until healthy and a stop, in
// the release directory as before work dirs, and in the environment's
// work dir without and with the sandbox (bubblewrap and the pids cgroup).
func BenchmarkStartInstance(b *testing.B) {
	for _, bc := range []struct {
		name string
		mode SandboxMode
		work bool
	}{{"release_dir", SandboxOff, false}, {"work_dir", SandboxOff, true}, {"sandboxed", SandboxAuto, true}} {
		b.Run(bc.name, func(b *testing.B) {
			l := portalLayout{data: b.TempDir()}
			l.releases, l.work = l.data+"/releases", l.data+"/appdata"
			opts := testOptions()
			opts.ReleasesDir, opts.Sandbox = l.releases, bc.mode
			if bc.work {
				opts.WorkDir = l.work
			}
			m := newTestManager(b, opts)
			rel := l.release(b, "sha-1")
			if use, notice, _ := m.Sandbox(); bc.mode == SandboxAuto && !use {
				b.Skip(notice)
			}
			for b.Loop() {
				inst, err := m.StartInstance(context.Background(), InstanceSpec{Env: "bench/dev", ReleaseID: 1, Dir: rel,
					Command: "exec ./bin/app", HealthPath: "/healthz"}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := m.Stop(context.Background(), inst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
