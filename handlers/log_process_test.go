package handlers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// Environment of the producer process TestLogSocketAcrossProcesses starts.
const (
	producerDBEnv     = "SLIPWAY_LOGTEST_PRODUCER_DB"
	producerStreamEnv = "SLIPWAY_LOGTEST_PRODUCER_STREAM"
	producerGoEnv     = "SLIPWAY_LOGTEST_PRODUCER_GO"
)

// TestLogSocketAcrossProcesses: a second process (this test binary, run
// as TestLogProducerProcess) writes a build's log into PostgreSQL while
// this process serves the websocket; lines arrive live through
// LISTEN/NOTIFY, every one exactly once, then the end.
func TestLogSocketAcrossProcesses(t *testing.T) {
	url := testpg.NewDatabase(t)
	ls := newLogServer(t, models.Config{URL: url})
	b := insertBuild(t, ls.store, models.BuildRunning, 0)
	conn := ls.dialBrowser(t, b.ID, "?format=raw")
	defer conn.Close()
	c := newCollector(t, 1)
	f, err := readFrame(t, conn) // the state frame: subscribed
	if err != nil {
		t.Fatal(err)
	}
	c.add(f)

	goFile := filepath.Join(t.TempDir(), "go")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLogProducerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), producerDBEnv+"="+url, producerStreamEnv+"="+b.LogStream(), producerGoEnv+"="+goFile)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The first 1000 lines arrive while the producer waits for us: they
	// came live from the other process, not from a finished log.
	for c.next <= 1000 {
		f, err := readFrame(t, conn)
		if err != nil {
			t.Fatalf("%v; producer said:\n%s", err, out)
		}
		c.add(f)
	}
	select {
	case err := <-exited:
		t.Fatalf("the producer exited (%v) before it was told to go on:\n%s", err, out)
	default:
	}
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.readToEnd(conn)
	if err := <-exited; err != nil {
		t.Fatalf("producer: %v\n%s", err, out)
	}
	if want := numbered("line", 1, 3000); fmt.Sprint(c.lines) != fmt.Sprint(want) {
		t.Fatalf("got %d lines, want lines 1..3000 in order", len(c.lines))
	}
	if c.end.Status != models.BuildSucceeded || c.end.Last != 3000 {
		t.Fatalf("end %+v, want succeeded at line 3000", c.end)
	}
}

// TestLogProducerProcess is the producer of TestLogSocketAcrossProcesses;
// run on its own it skips.
func TestLogProducerProcess(t *testing.T) {
	url := os.Getenv(producerDBEnv)
	if url == "" {
		t.Skip("runs as a separate process of TestLogSocketAcrossProcesses")
	}
	ctx := context.Background()
	store, err := models.Open(ctx, models.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	svc := logs.NewService(store, logs.Options{})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	w, err := svc.NewWriter(ctx, os.Getenv(producerStreamEnv))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 1000; i++ {
		w.Line("line " + strconv.Itoa(i))
	}
	// Wait (with the lines flushed in the background) until the server
	// side has seen them.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(os.Getenv(producerGoEnv)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never told to go on")
		}
	}
	for i := 1001; i <= 3000; i++ {
		w.Line("line " + strconv.Itoa(i))
		if i%250 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := w.Close(ctx, models.BuildSucceeded); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
