package deploy

import (
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
