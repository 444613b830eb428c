package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/internal/edge"
)

const (
	// watchEvery is how often the watchdog asks the edge whether it runs.
	watchEvery = 500 * time.Millisecond
	// watchProbeTimeout bounds one question: an edge that takes longer
	// to say who it is counts as not answering.
	watchProbeTimeout = time.Second
	// watchMisses is how many questions in a row go unanswered before the
	// edge counts as gone: one miss may be a moment of load.
	watchMisses = 2
	// watchBackoffMax caps the wait between failed starts.
	watchBackoffMax = 30 * time.Second
)

// edgeWatchdog keeps the edge of a `slipway serve --edge=child` running:
// it asks the edge who it is every watchEvery and, when it stops
// answering, starts it again (the new edge re-adopts the running apps
// from its state file). An external edge (--edge-socket) belongs to
// someone else, a service manager most likely: the watchdog never starts
// it, it only says loudly that it is gone and when it is back.
//
// Only the process needs restarting: the edge client dials the socket for
// every request and follows the event stream again by itself.
type edgeWatchdog struct {
	c        config
	socket   string
	external bool
	log      *slog.Logger

	pid    int // of the edge that answered last
	cancel context.CancelFunc
	done   chan struct{}
}

// startEdgeWatchdog starts watching the edge on socket, last seen as pid.
func startEdgeWatchdog(c config, socket string, external bool, pid int, log *slog.Logger) *edgeWatchdog {
	w := &edgeWatchdog{c: c, socket: socket, external: external, log: log, pid: pid, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
	return w
}

// stop ends the watchdog and waits for it; an edge start it has under
// way finishes first (at most edgeConnectTimeout).
func (w *edgeWatchdog) stop() {
	w.cancel()
	<-w.done
}

// probe asks the edge who it is, within watchProbeTimeout.
func (w *edgeWatchdog) probe(ctx context.Context) (edge.Info, error) {
	ctx, cancel := context.WithTimeout(ctx, watchProbeTimeout)
	defer cancel()
	return edge.Probe(ctx, w.socket)
}

func (w *edgeWatchdog) run(ctx context.Context) {
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	misses := 0
	down := false // the outage has been reported
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		info, err := w.probe(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if down {
				w.log.Warn(fmt.Sprintf("the edge answers again on %s (pid %d)", w.socket, info.PID),
					slog.String("socket", w.socket), slog.Int("pid", info.PID))
			}
			if info.PID != w.pid && !down {
				// An upgrade (SIGHUP) hands over without a gap.
				w.log.Info("the edge answers from a new process (upgraded in place)", slog.Int("old_pid", w.pid), slog.Int("pid", info.PID))
			}
			w.clearStopped(info.PID)
			w.pid, misses, down = info.PID, 0, false
			continue
		}
		if misses++; misses < watchMisses {
			continue
		}
		switch {
		case w.external:
			if !down {
				w.log.Error(fmt.Sprintf("THE EDGE IS GONE: no edge answers on --edge-socket %s (pid %d last); "+
					"environments are down and deploys fail until it is back; this portal never starts an external edge: "+
					"start it (for example `systemctl start slipway-edge`)", w.socket, w.pid),
					slog.String("socket", w.socket), slog.Int("pid", w.pid), slog.Any("err", err))
			}
			down = true
		case w.stoppedOnPurpose():
			if !down {
				w.log.Warn(fmt.Sprintf("the edge (pid %d) was stopped with `slipway edge stop`; this portal does not start it again "+
					"(restart the portal, or run `slipway edge`, to serve the environments again)", w.pid),
					slog.String("socket", w.socket))
			}
			down = true
		default:
			if w.restart(ctx, err) {
				misses = 0
			}
		}
	}
}

// restart starts the edge again until one answers, backing off between
// failed starts (1 s, 2 s, 4 s, … at most watchBackoffMax) while still
// asking: an edge that was only hung may answer again by itself. It
// reports whether an edge answers.
func (w *edgeWatchdog) restart(ctx context.Context, cause error) bool {
	backoff := time.Second
	for {
		if w.stoppedOnPurpose() {
			return false
		}
		info, err := w.startAndWait(ctx)
		if err == nil {
			w.recovered(info, cause)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.log.Error(fmt.Sprintf("the edge (pid %d) stopped answering and could not be started again; trying again in %s (see %s)",
			w.pid, backoff, edgeLogPath(w.c)), slog.String("socket", w.socket), slog.String("log", edgeLogPath(w.c)), slog.Any("err", err))
		until := time.Now().Add(backoff)
		for time.Now().Before(until) {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(min(watchEvery, time.Until(until))):
			}
			if info, err := w.probe(ctx); err == nil {
				w.recovered(info, cause)
				return true
			}
		}
		backoff = min(2*backoff, watchBackoffMax)
	}
}

// recovered logs that an edge answers again after an outage.
func (w *edgeWatchdog) recovered(info edge.Info, cause error) {
	if info.PID == w.pid {
		// Hung, not dead: it held the lock, so no new edge could start.
		w.log.Warn(fmt.Sprintf("the edge (pid %d) answers again after it stopped answering", info.PID),
			slog.String("socket", w.socket), slog.Int("pid", info.PID), slog.String("cause", cause.Error()))
		return
	}
	w.log.Warn(fmt.Sprintf("the edge (pid %d) stopped answering; started it again as pid %d; it re-adopts the running apps",
		w.pid, info.PID), slog.String("socket", w.socket), slog.Int("old_pid", w.pid), slog.Int("pid", info.PID),
		slog.String("cause", cause.Error()), slog.String("log", edgeLogPath(w.c)))
	w.pid = info.PID
}

// startAndWait starts an edge and waits until an edge answers: the one it
// started or, when that one refuses because another holds the lock, the
// other one if it answers again.
func (w *edgeWatchdog) startAndWait(ctx context.Context) (edge.Info, error) {
	proc, err := startEdge(w.c, w.socket)
	if err != nil {
		return edge.Info{}, err
	}
	deadline := time.Now().Add(edgeConnectTimeout)
	for {
		info, err := w.probe(ctx)
		if err == nil {
			return info, nil
		}
		select {
		case <-proc.exited:
			if info, err := w.probe(ctx); err == nil {
				return info, nil
			}
			return edge.Info{}, fmt.Errorf("the edge started as pid %d exited (%v) without answering", proc.pid, proc.err)
		case <-ctx.Done():
			// The portal stops: the edge it started may come up alone.
			return edge.Info{}, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return edge.Info{}, fmt.Errorf("the edge started as pid %d did not answer within %s: %w", proc.pid, edgeConnectTimeout, err)
		}
	}
}

// stoppedOnPurpose reports whether `slipway edge stop` stopped the edge.
func (w *edgeWatchdog) stoppedOnPurpose() bool {
	_, err := os.Stat(stoppedMarker(w.socket))
	return err == nil
}

// clearStopped removes the stop marker once an edge other than the
// stopped one answers (one started by hand, or found running when the
// portal started): a later death of that one is a crash again.
func (w *edgeWatchdog) clearStopped(pid int) {
	b, err := os.ReadFile(stoppedMarker(w.socket))
	if err != nil {
		return
	}
	if stopped, _ := strconv.Atoi(strings.TrimSpace(string(b))); stopped != pid {
		_ = os.Remove(stoppedMarker(w.socket))
	}
}

// sayGoodbye logs, as the portal shuts down, that the edge keeps serving
// the environments and how to stop it.
func (w *edgeWatchdog) sayGoodbye(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, watchProbeTimeout)
	defer cancel()
	info, err := w.probe(pctx)
	how := "`slipway edge stop --socket " + w.socket + "`"
	if !w.external {
		data, aerr := filepath.Abs(w.c.DataDir)
		if aerr != nil {
			data = w.c.DataDir
		}
		how = "`slipway edge stop --data " + data + "`"
	}
	if err != nil {
		next := "until the next `slipway serve` (or `slipway edge`) starts it"
		if w.external {
			next = "until it is started again"
		}
		w.log.Warn(fmt.Sprintf("no edge answers on %s: the environments are down %s", w.socket, next), slog.Any("err", err))
		return
	}
	w.log.Info(fmt.Sprintf("the edge (pid %d) keeps serving the environments; %s stops it and its apps", info.PID, how),
		slog.String("socket", w.socket), slog.Int("pid", info.PID))
}
