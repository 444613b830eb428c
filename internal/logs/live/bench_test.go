package live

// The live-log latency figures in docs/benchmarks.md come from these
// benchmarks; `go tool task bench:logs` runs them. They report custom
// metrics (lines/s, latency percentiles, CPU per delivered line) rather
// than ns/op: each runs its whole scenario once per b.N. The sockets are
// served by a Viewer over plain net/http (live_test.go's server), so
// the figures are the engine's, without the portal's routes.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

const (
	benchDuration = 5 * time.Second
	// benchProducerEnv makes TestLogBenchProducer the producer of the
	// cross-process latency benchmark.
	benchProducerEnv = "SLIPWAY_LOGBENCH_PRODUCER"
)

// latencyLoad is one scenario of BenchmarkLogLatency.
type latencyLoad struct{ viewers, rate int }

func (l latencyLoad) String() string { return fmt.Sprintf("viewers=%d/rate=%d", l.viewers, l.rate) }

// BenchmarkLogLatency: viewers on the browser socket (HTML lines) while a
// producer writes lines at a fixed rate for 5 s; each line carries its
// write time and every viewer records when it arrived. The target load is
// 100 viewers at 10,000 lines/s; lighter loads show where a machine's
// limit lies.
func BenchmarkLogLatency(b *testing.B) {
	loads := []latencyLoad{{100, 10_000}, {10, 10_000}, {100, 1_000}}
	for _, l := range loads {
		b.Run("one process on SQLite/"+l.String(), func(b *testing.B) {
			for b.Loop() {
				ls := newServer(b, models.Config{})
				runLatency(b, ls, l, func(stream string) error { return produce(ls.svc, stream, l.rate) })
			}
		})
	}
	for _, l := range loads {
		b.Run("across processes on PostgreSQL/"+l.String(), func(b *testing.B) {
			for b.Loop() {
				url := testpg.NewDatabase(b)
				ls := newServer(b, models.Config{URL: url})
				runLatency(b, ls, l, func(stream string) error {
					cmd := exec.Command(os.Args[0], "-test.run=^TestLogBenchProducer$")
					cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", benchProducerEnv, url, stream, l.rate))
					out, err := cmd.CombinedOutput()
					if err != nil {
						return fmt.Errorf("producer: %v\n%s", err, out)
					}
					return nil
				})
			}
		})
	}
}

// TestLogBenchProducer is the other process of BenchmarkLogLatency; on
// its own it skips.
func TestLogBenchProducer(t *testing.T) {
	env := os.Getenv(benchProducerEnv)
	if env == "" {
		t.Skip("runs as the producer process of BenchmarkLogLatency")
	}
	var url, stream string
	var rate int
	if _, err := fmt.Sscan(env, &url, &stream, &rate); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := models.Open(ctx, models.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := logs.NewService(store, logs.Options{Window: 100_000}) // as serve.go
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := produce(svc, stream, rate); err != nil {
		t.Fatal(err)
	}
}

// produce writes rate lines per second for benchDuration, each stamped
// with its write time in Unix nanoseconds, then closes the stream.
func produce(svc *logs.Service, stream string, rate int) error {
	ctx := context.Background()
	w, err := svc.NewWriter(ctx, stream)
	if err != nil {
		return err
	}
	total := rate * int(benchDuration/time.Second)
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n := 0; n < total; {
		<-tick.C
		due := min(total, int(time.Since(start)*time.Duration(rate)/time.Second))
		for ; n < due; n++ {
			w.Line("\x1b[32mok\x1b[0m  github.com/slipway-ci/slipway/internal/pipeline t=" + strconv.FormatInt(time.Now().UnixNano(), 10))
		}
	}
	return w.Close(ctx, "succeeded")
}

func runLatency(b *testing.B, ls *server, l latencyLoad, producer func(stream string) error) {
	b.Helper()
	const stream = "build:1"
	total := l.rate * int(benchDuration/time.Second)
	// Each viewer keeps its own samples; they are merged after the run so
	// the merging does not compete with viewers still reading.
	lats := make([][]time.Duration, l.viewers)
	var wg sync.WaitGroup
	errs := make(chan error, l.viewers)
	for v := range l.viewers {
		conn, _, err := websocket.DefaultDialer.Dial(ls.wsURL(stream, "&format=html"), nil)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			mine := make([]time.Duration, 0, total)
			got := 0
			var buf bytes.Buffer
			for {
				conn.SetReadDeadline(time.Now().Add(time.Minute))
				_, r, err := conn.NextReader()
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(r)
				}
				now := time.Now().UnixNano()
				data := buf.Bytes()
				if err != nil {
					if got != total {
						errs <- fmt.Errorf("viewer got %d lines of %d: %v", got, total, err)
					}
					break
				}
				for rest := data; ; {
					i := bytes.Index(rest, []byte("t="))
					if i < 0 {
						break
					}
					rest = rest[i+2:]
					var sent int64
					for j := 0; j < len(rest) && rest[j] >= '0' && rest[j] <= '9'; j++ {
						sent = sent*10 + int64(rest[j]-'0')
					}
					mine = append(mine, time.Duration(now-sent))
					got++
				}
			}
			lats[v] = mine
		}()
	}
	cpu0 := processCPU(b)
	if err := producer(stream); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	cpu := processCPU(b) - cpu0
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	lat := slices.Concat(lats...)
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(lat)), "lines-delivered")
	// The CPU this process (server and viewers; in one process the
	// producer and its flushes too) spent per line delivered: the figure
	// the machine's load does not change, and what the latency depends on
	// once the machine cannot give that much.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(lat)), "cpu-ns/delivery")
}

// processCPU returns the user and system CPU time this process used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
