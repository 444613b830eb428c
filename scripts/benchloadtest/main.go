// Command benchloadtest measures Slipway's load tests for
// docs/benchmarks.md, driven by scripts/bench-loadtest.sh.
//
//	benchloadtest target ADDR          serve a tiny HTTP app on ADDR
//	benchloadtest run ADDR RATE DUR    run one load test through the real
//	                                   job path and print one JSON line
//
// "run" is the portal's load-test path minus HTTP: a SQLite store in a
// temporary data directory, River with the load-test worker, the logs
// service receiving one window a second, an environment whose URL is ADDR
// with a live release, and jobs.EnqueueLoadTest. It samples its own
// resident memory every 250 ms while the run lasts.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/internal/loadtest"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchloadtest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 2 && args[0] == "target" {
		srv := &http.Server{Addr: args[1], Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("ok\n"))
		}), ReadHeaderTimeout: 5 * time.Second}
		return srv.ListenAndServe()
	}
	if len(args) == 4 && args[0] == "run" {
		rate, err := strconv.ParseFloat(args[2], 64)
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(args[3])
		if err != nil {
			return err
		}
		return attack(args[1], rate, d)
	}
	return errors.New("usage: benchloadtest target ADDR | run ADDR RATE DURATION")
}

// result is the JSON line "run" prints.
type result struct {
	Rate          float64 `json:"rate"`
	Requests      uint64  `json:"requests"`
	AchievedRate  float64 `json:"achieved_rate"`
	Throughput    float64 `json:"throughput"`
	Success       float64 `json:"success"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	Status        string  `json:"status"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	MedianRSSMiB  float64 `json:"median_rss_mib"`
	BaselineRSSMB float64 `json:"baseline_rss_mib"`
}

func attack(addr string, rate float64, d time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "slipway-benchlt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := models.Open(ctx, models.Config{DataDir: dir})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	if err := jobs.Migrate(ctx, store); err != nil {
		return err
	}
	if err := store.SetLoadTestLimits(ctx, models.LoadTestLimits{MaxRate: loadtest.CeilingRate, MaxDuration: time.Hour, MaxConcurrent: 1, MaxWorkers: 4096}); err != nil {
		return err
	}
	lg := logs.NewService(store, logs.Options{})
	defer lg.Close()
	j, err := jobs.New(ctx, jobs.Deps{Store: store, Logs: lg}, jobs.Options{Work: true, MaintenanceEvery: time.Hour})
	if err != nil {
		return err
	}
	if err := j.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_ = j.Stop(sctx)
	}()

	p := &models.Project{Slug: "bench", Name: "bench", RepoURL: "file:///bench", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
	if err := store.CreateProject(ctx, p); err != nil {
		return err
	}
	env := &models.Environment{ProjectID: p.ID, Name: "staging", Target: models.TargetProcess, EdgeAddr: addr}
	if err := store.CreateEnvironment(ctx, env); err != nil {
		return err
	}
	sha := strings.Repeat("0", 64)
	if err := store.UpsertArtifact(ctx, &models.Artifact{SHA256: sha, Size: 1}); err != nil {
		return err
	}
	if err := store.CreateRelease(ctx, &models.Release{EnvironmentID: env.ID, ArtifactSHA256: sha, ConfigVersion: 1, Status: models.ReleaseLive, Reason: models.ReasonDeploy}); err != nil {
		return err
	}

	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	baseline := rssMiB()
	var mu sync.Mutex
	var samples []float64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				mu.Lock()
				samples = append(samples, rssMiB())
				mu.Unlock()
			}
		}
	}()

	// The same spec a QA user would type: one target, constant rate, the
	// default worker cap (256), a 5 s timeout.
	spec := loadtest.Spec{Targets: "GET /", Rate: rate, Duration: d, Timeout: 5 * time.Second}
	l, err := j.EnqueueLoadTest(ctx, store, jobs.LoadTestRequest{Env: env, Spec: spec})
	if err != nil {
		close(stop)
		wg.Wait()
		return err
	}
	for {
		got, err := store.LoadTest(ctx, l.ID)
		if err != nil {
			close(stop)
			wg.Wait()
			return err
		}
		if models.LoadTestFinished(got.Status) {
			l = got
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	var rep loadtest.Report
	if err := json.Unmarshal([]byte(l.Report), &rep); err != nil {
		return fmt.Errorf("run %s: %s: %w", l.Status, l.Error, err)
	}
	out := result{Rate: rate, Requests: rep.Requests, AchievedRate: rep.Rate, Throughput: rep.Throughput, Success: rep.Success,
		P50MS: float64(rep.Latencies.P50) / 1e6, P99MS: float64(rep.Latencies.P99) / 1e6, Status: l.Status, BaselineRSSMB: baseline}
	for _, s := range samples {
		out.PeakRSSMiB = max(out.PeakRSSMiB, s)
	}
	if len(samples) > 0 {
		sorted := append([]float64(nil), samples...)
		for i := range sorted { // insertion sort: a few hundred samples
			for k := i; k > 0 && sorted[k] < sorted[k-1]; k-- {
				sorted[k], sorted[k-1] = sorted[k-1], sorted[k]
			}
		}
		out.MedianRSSMiB = sorted[len(sorted)/2]
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// rssMiB reads this process's resident set size from /proc.
func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
