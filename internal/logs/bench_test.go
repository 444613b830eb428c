package logs

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// A typical build line: some text with a colour escape, ~80 bytes.
var benchLine = "\x1b[32mok\x1b[0m  github.com/slipway-ci/slipway/internal/pipeline " + strings.Repeat("x", 20)

// BenchmarkIngest measures lines per second through a Writer into SQLite,
// including the final flush.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	s := newService(b, sqliteDB(b).open(b), Options{})
	w, err := s.NewWriter(ctx, "build:bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine) + 1))
	for b.Loop() {
		w.Line(benchLine)
	}
	if err := w.Close(ctx, "succeeded"); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkFanout measures delivering every line to 100 live subscribers.
func BenchmarkFanout(b *testing.B) {
	const subs = 100
	ctx := context.Background()
	s := newService(b, sqliteDB(b).open(b), Options{})
	w, err := s.NewWriter(ctx, "build:fanout")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, subs)
	for range subs {
		sub, err := s.Subscribe(ctx, "build:fanout", 1)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			for {
				ev, err := sub.Next(ctx)
				if err != nil {
					errs <- err
					return
				}
				if ev.End != nil {
					return
				}
			}
		}()
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w.Line(benchLine)
		n++
	}
	if err := w.Close(ctx, "succeeded"); err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n*subs)/b.Elapsed().Seconds(), "deliveries/s")
}
