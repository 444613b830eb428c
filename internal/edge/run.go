package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
)

// ErrRunning means another edge already serves the data dir.
var ErrRunning = errors.New("another slipway edge already runs for this data dir")

// lockName is the tableflip name of the lock file passed to a successor.
const lockName = "edge.lock"

// Run is `slipway edge`: it takes the data dir's edge lock (or inherits it
// from the edge it upgrades), listens on the control socket (mode 0600),
// restores the saved state, and serves until ctx ends or SIGTERM (stop
// every app) or an upgrade (SIGHUP or POST /v1/upgrade) hands everything
// over to the new binary.
func Run(ctx context.Context, opts Options) error {
	opts = opts.withDefaults()
	log := opts.Logger
	// From the start: SIGHUP's default action would end a new edge that
	// is asked to upgrade the moment its predecessor left.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runDir := filepath.Dir(opts.Socket)
	// Only the user that runs Slipway may reach the socket: its directory
	// is 0700 before the socket exists, and the socket 0600 after.
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	if err := os.Chmod(runDir, 0o700); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	upg, err := tableflip.New(tableflip.Options{UpgradeTimeout: time.Minute, PIDFile: filepath.Join(runDir, "edge.pid")})
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	defer upg.Stop()

	lock, err := upg.Fds.File(lockName)
	if err != nil {
		return fmt.Errorf("edge: inherited lock: %w", err)
	}
	if lock == nil {
		if lock, err = takeLock(opts.Socket + ".lock"); err != nil {
			return err
		}
		// Nobody serves the socket: a file left there is stale.
		_ = os.Remove(opts.Socket)
	}
	defer lock.Close()
	if err := upg.Fds.AddFile(lockName, lock); err != nil {
		return fmt.Errorf("edge: %w", err)
	}

	opts.Listen = func(network, addr string) (net.Listener, error) {
		// An inherited listener is looked up by the address it was bound
		// to; a new one is recorded under its bound address, so that a
		// port picked by the kernel is found again by the successor.
		if ln, err := upg.Fds.Listener(network, addr); err != nil || ln != nil {
			return ln, err
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, err
		}
		if tl, ok := ln.(tableflip.Listener); ok {
			if err := upg.Fds.AddListener(network, ln.Addr().String(), tl); err != nil {
				ln.Close()
				return nil, err
			}
		}
		return ln, nil
	}
	ctl, err := upg.Fds.Listen("unix", opts.Socket)
	if err != nil {
		return fmt.Errorf("edge: control socket %s: %w", opts.Socket, err)
	}
	if err := os.Chmod(opts.Socket, 0o600); err != nil {
		return fmt.Errorf("edge: %w", err)
	}

	d := New(opts)
	if upg.HasParent() {
		// Both edges read the apps' output until the old one exits: only
		// it writes the journals until then.
		d.holdJournals()
		go func() {
			if err := upg.WaitForParent(ctx); err != nil {
				log.Warn("edge: waiting for the previous edge to exit", slog.Any("err", err))
			}
			d.releaseJournals()
		}()
	}
	if err := d.Restore(ctx); err != nil {
		return err
	}
	upgrade := func() error {
		// An edge that was itself just started by an upgrade may be asked
		// again before it has seen its predecessor exit: wait for that.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := upg.WaitForParent(wctx); err != nil {
			return fmt.Errorf("the previous edge has not exited yet: %w", err)
		}
		// The upgrader notices the exit a moment after WaitForParent does.
		for range 100 {
			err := upg.Upgrade()
			if err == nil || !strings.Contains(err.Error(), "parent hasn't exited") {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		return upg.Upgrade()
	}
	srv := &http.Server{Handler: d.Handler(upgrade), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { _ = srv.Serve(ctl) }()
	if err := upg.Ready(); err != nil {
		return fmt.Errorf("edge: ready: %w", err)
	}
	log.Info("slipway edge is running", slog.String("socket", opts.Socket), slog.Int("pid", os.Getpid()),
		slog.Bool("upgraded", upg.HasParent()), slog.Int("adopted", d.Info().Adopted))

	for {
		select {
		case <-hup:
			log.Info("edge: upgrade requested (SIGHUP)")
			if err := upgrade(); err != nil {
				log.Error("edge: upgrade failed; this edge keeps serving", slog.Any("err", err))
			}
		case <-upg.Exit():
			// The successor is ready: it serves the listeners and owns the
			// apps. Finish what is in flight and leave.
			log.Info("edge: handed over to the new edge; draining")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := d.HandOver(sctx)
			_ = srv.Shutdown(sctx)
			return err
		case <-ctx.Done():
			log.Info("edge: stopping every environment")
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := d.Close(sctx)
			_ = srv.Shutdown(sctx)
			return err
		}
	}
}

// takeLock locks path exclusively, without waiting.
func takeLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("edge: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("edge: %w (%s is locked)", ErrRunning, path)
		}
		return nil, fmt.Errorf("edge: lock %s: %w", path, err)
	}
	return f, nil
}
