package handlers

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/models"
)

// quantile returns the q-th quantile (0..1) of ds in milliseconds.
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

// BenchmarkIDEOpenFile is the editor opening one file: GET
// /projects/:slug/ide/file over HTTP with a session, through the router,
// the permission check, the ref lookup and git. Reports p50 and p99.
func BenchmarkIDEOpenFile(b *testing.B) {
	ts := newTestServerWith(b, false)
	dev := ts.user("dev", auth.Developer)
	tok, _ := ts.token(dev)
	sess := ts.session(dev)
	ts.hostProject("web", tok)
	content := strings.Repeat("package main // a line of Go\n", 200)
	if resp, body := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: sess, csrf: true, ctype: "application/json",
		body: commitJSON("main", "", "first", writeAction("create", "cmd/app/main.go", content), writeAction("create", "VERSION", "1\n"))}); resp.StatusCode != 201 {
		b.Fatalf("%d %s", resp.StatusCode, body)
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		resp, body := ts.do("GET", "/projects/web/ide/file?ref=main&path=cmd/app/main.go", reqOpts{session: sess})
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != 200 || !strings.Contains(body, "a line of Go") {
			b.Fatalf("%d %.200s", resp.StatusCode, body)
		}
	}
	b.StopTimer()
	b.ReportMetric(quantileMS(lat, 0.5), "p50-ms")
	b.ReportMetric(quantileMS(lat, 0.99), "p99-ms")
}

// BenchmarkCommitToBuildRunning measures, one at a time on an idle queue
// (SQLite, the in-process River worker), the time from sending the IDE's
// commit request to the build it started being claimed by a worker
// (status running; the build's started_at). Each build is waited for
// before the next commit. Commits go to a branch that no environment
// auto-deploys, so no deploy competes for the CPU.
func BenchmarkCommitToBuildRunning(b *testing.B) {
	ts := newTestServerWith(b, true)
	dev := ts.user("dev", auth.Developer)
	tok, _ := ts.token(dev)
	sess := ts.session(dev)
	p := ts.hostProject("web", tok)
	commit := func(branch, start, base, version string) map[string]any {
		b.Helper()
		body := fmt.Sprintf(`{"branch":%q,"start_branch":%q,"base_sha":%q,"message":"v","actions":[%s]}`, branch, start, base,
			writeAction(map[bool]string{true: "create", false: "update"}[base == ""], "VERSION", version+"\n"))
		resp, out := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: sess, csrf: true, ctype: "application/json", body: body})
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("commit: %d %s", resp.StatusCode, out)
		}
		return m
	}
	pipeline := "build:\n  - name: hello\n    run: \"true\"\n"
	resp, out := ts.do("POST", "/projects/web/ide/commit", reqOpts{session: sess, csrf: true, ctype: "application/json",
		body: commitJSON("main", "", "first", writeAction("create", ".slipway.yml", pipeline), writeAction("create", "VERSION", "0\n"))})
	if resp.StatusCode != 201 {
		b.Fatalf("%d %s", resp.StatusCode, out)
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(out), &first)
	waitDone := func(id int64) *models.Build {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			bd, err := ts.store.Build(b.Context(), id)
			if err != nil {
				b.Fatal(err)
			}
			if bd.Status != models.BuildQueued && bd.Status != models.BuildRunning {
				return bd
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.Fatalf("build %d did not finish", id)
		return nil
	}
	waitDone(int64(first["build_id"].(float64)))
	m := commit("work", "main", first["sha"].(string), "1")
	waitDone(int64(m["build_id"].(float64)))
	head := m["sha"].(string)
	var lat []time.Duration
	i := 1
	b.ResetTimer()
	for b.Loop() {
		i++
		t0 := time.Now()
		m := commit("work", "", head, fmt.Sprint(i))
		head = m["sha"].(string)
		id, ok := m["build_id"].(float64)
		if !ok {
			b.Fatalf("no build: %v", m)
		}
		bd := waitDone(int64(id))
		if bd.Status != models.BuildSucceeded || bd.StartedAt == nil {
			b.Fatalf("build %s: %s", bd.Status, bd.StatusReason)
		}
		lat = append(lat, bd.StartedAt.Sub(t0))
	}
	b.StopTimer()
	_ = p
	b.ReportMetric(quantileMS(lat, 0.5), "running-p50-ms")
	b.ReportMetric(quantileMS(lat, 0.99), "running-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkGitThroughput100MB pushes and clones a 100 MB repository of
// incompressible files (100 × 1 MiB random) over the portal's smart HTTP
// and over file:// (git's own pack transport to a local bare repository,
// no hard links) with the same git client, and reports MB/s of each and
// the ratios portal/file. Opt-in: SLIPWAY_BENCH_BIG=1.
func BenchmarkGitThroughput100MB(b *testing.B) {
	if os.Getenv("SLIPWAY_BENCH_BIG") != "1" {
		b.Skip("set SLIPWAY_BENCH_BIG=1 to run (writes ~1 GB of temporary files)")
	}
	const files, size = 100, 1 << 20
	ts := newTestServerWith(b, false)
	dev := ts.user("dev", auth.Developer)
	tok, _ := ts.token(dev)
	g := &gitClient{home: b.TempDir()}
	run := func(dir string, args ...string) {
		b.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + g.home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
			"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "LC_ALL=C"}
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	src := filepath.Join(b.TempDir(), "src")
	run("", "init", "--quiet", "-b", "main", src)
	buf := make([]byte, size)
	for i := range files {
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("blob%03d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	run(src, "add", ".")
	run(src, "commit", "--quiet", "-m", "100 MB")
	mb := float64(files*size) / 1e6
	var pushHTTP, cloneHTTP, pushFile, cloneFile time.Duration
	timed := func(d *time.Duration, dir string, args ...string) {
		t0 := time.Now()
		run(dir, args...)
		*d += time.Since(t0)
	}
	n := 0
	b.ResetTimer()
	for b.Loop() {
		n++
		slug := fmt.Sprintf("big%d", n)
		ts.hostProject(slug, tok)
		timed(&pushHTTP, src, "push", "--quiet", ts.gitURL(slug, tok), "main")
		timed(&cloneHTTP, "", "clone", "--quiet", ts.gitURL(slug, tok), filepath.Join(b.TempDir(), "c"))

		bare := filepath.Join(b.TempDir(), "bare.git")
		run("", "init", "--quiet", "--bare", "-b", "main", bare)
		timed(&pushFile, src, "push", "--quiet", "file://"+bare, "main")
		timed(&cloneFile, "", "clone", "--quiet", "file://"+bare, filepath.Join(b.TempDir(), "c"))
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return mb * float64(n) / d.Seconds() }
	b.ReportMetric(rate(pushHTTP), "push-http-MB/s")
	b.ReportMetric(rate(pushFile), "push-file-MB/s")
	b.ReportMetric(rate(cloneHTTP), "clone-http-MB/s")
	b.ReportMetric(rate(cloneFile), "clone-file-MB/s")
	b.ReportMetric(pushFile.Seconds()/pushHTTP.Seconds(), "push-ratio")
	b.ReportMetric(cloneFile.Seconds()/cloneHTTP.Seconds(), "clone-ratio")
	b.ReportMetric(0, "ns/op")
}
