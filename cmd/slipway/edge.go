package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/pipeline"
	"github.com/slipway-ci/slipway/jobs"
)

// Edge modes of `slipway serve` (--edge).
const (
	// edgeChild: use the data dir's `slipway edge`, starting it as a
	// process of its own when none runs (and again whenever it dies while
	// the portal runs), or the edge --edge-socket names. Apps outlive the
	// portal. The default.
	edgeChild = "child"
	// edgeInProcess: edges and apps inside the portal process; they stop
	// with it (and a portal killed with SIGKILL leaves apps to reap).
	edgeInProcess = "inprocess"
)

// edgeConnectTimeout bounds the wait for a started edge's socket.
const edgeConnectTimeout = 20 * time.Second

// edgeCmd is `slipway edge`: the long-lived process that holds the
// environments' edges and app instances, or `slipway edge stop`.
func edgeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	var socket string
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DataDir, "data", env("SLIPWAY_DATA", "./data"), "data directory shared with `slipway serve`: releases/, appdata/, run/ (SLIPWAY_DATA)")
	fs.StringVar(&socket, "socket", env("SLIPWAY_EDGE_SOCKET", ""), "control socket; empty means <data>/run/edge.sock (SLIPWAY_EDGE_SOCKET)")
	fs.StringVar(&c.Sandbox, "sandbox", env("SLIPWAY_SANDBOX", "auto"), "run deployed apps in bubblewrap: auto, off or required (SLIPWAY_SANDBOX)")
	fs.StringVar(&c.LogFormat, "log-format", env("SLIPWAY_LOG_FORMAT", "text"), "log format: text or json (SLIPWAY_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", env("SLIPWAY_LOG_LEVEL", "info"), "log level: debug, info, warn, error (SLIPWAY_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: slipway edge [flags]           run the edge (SIGHUP: upgrade in place; SIGTERM: stop every app)\n"+
			"       slipway edge status [flags]    what the edge runs: each environment's address, live release and instances\n"+
			"       slipway edge upgrade [flags]   start the edge's binary anew, handing the listeners and apps over\n"+
			"       slipway edge stop [flags]      stop the data dir's edge and its apps\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if socket == "" {
		socket = edge.DefaultSocket(c.DataDir)
	}
	switch deploy.SandboxMode(c.Sandbox) {
	case deploy.SandboxAuto, deploy.SandboxOff, deploy.SandboxRequired:
	default:
		return usageError{fmt.Sprintf("--sandbox must be auto, off or required, not %q", c.Sandbox)}
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && pos[0] == "stop":
		return stopEdge(ctx, socket, stdout)
	case len(pos) == 1 && pos[0] == "status":
		return edgeStatus(ctx, socket, stdout)
	case len(pos) == 1 && pos[0] == "upgrade":
		return upgradeEdge(ctx, socket, stdout)
	case len(pos) > 0:
		return usageError{fmt.Sprintf("unknown edge command %q (want: status, upgrade or stop)", strings.Join(pos, " "))}
	}
	return edge.Run(ctx, edge.Options{DataDir: c.DataDir, Socket: socket, Sandbox: deploy.SandboxMode(c.Sandbox),
		HealthTimeout: pipeline.MaxHealthTimeout, Logger: log, Version: versionString()})
}

// dialEdge connects to the edge at socket, or says plainly that none answers.
func dialEdge(ctx context.Context, socket string) (*edge.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := edge.Dial(cctx, edge.ClientOptions{Socket: socket})
	if err != nil {
		return nil, fmt.Errorf("no edge answers on %s (is `slipway serve` or `slipway edge` running with this data dir?): %w", socket, err)
	}
	return cl, nil
}

// edgeStatus prints what the edge runs.
func edgeStatus(ctx context.Context, socket string, stdout io.Writer) error {
	cl, err := dialEdge(ctx, socket)
	if err != nil {
		return err
	}
	defer cl.Close(ctx)
	in := cl.Info()
	envs, err := cl.Envs(ctx)
	if err != nil {
		return err
	}
	sandbox := "off"
	if in.Sandboxed {
		sandbox = "bubblewrap"
	}
	fmt.Fprintf(stdout, "edge pid %d, version %s, up %s, sandbox %s, %d environment(s)\n",
		in.PID, in.Version, time.Since(in.StartedAt).Round(time.Second), sandbox, len(envs))
	for _, st := range envs {
		live := "nothing live"
		if st.Live != 0 {
			live = fmt.Sprintf("release %d live", st.Live)
		}
		fmt.Fprintf(stdout, "\n%s  %s  %s", st.Env, cmp.Or(st.EdgeAddr, "(no address)"), live)
		if st.Balance != "" {
			fmt.Fprintf(stdout, ", balanced %s", st.Balance)
		}
		if st.Busy {
			fmt.Fprint(stdout, ", changing")
		}
		fmt.Fprintln(stdout)
		for _, i := range st.Instances {
			fmt.Fprintf(stdout, "  %-5s release %d instance %d  %s, health %s  pid %d port %d  %d requests, %d errors, %d restarts\n",
				i.Role, i.ReleaseID, i.Slot, i.State, cmp.Or(string(i.Health), "-"), i.PID, i.Port, i.Requests, i.Errors, i.Restarts)
		}
		for _, f := range st.Failed {
			fmt.Fprintf(stdout, "  release %d failed to go live: %s\n", f.ReleaseID, f.Error)
		}
		if st.ScaleError != "" {
			fmt.Fprintf(stdout, "  the last scale failed: %s\n", st.ScaleError)
		}
	}
	return nil
}

// upgradeEdge asks the edge to start its binary anew and waits until a
// new edge answers and the old one has gone.
func upgradeEdge(ctx context.Context, socket string, stdout io.Writer) error {
	cl, err := dialEdge(ctx, socket)
	if err != nil {
		return err
	}
	old := cl.Info().PID
	err = cl.Upgrade(ctx)
	_ = cl.Close(ctx)
	if err != nil {
		return fmt.Errorf("upgrade the edge (pid %d): %w", old, err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(old, 0) == nil {
			continue // the old edge is still draining
		}
		in, err := edge.Probe(ctx, socket)
		if err != nil {
			continue
		}
		fmt.Fprintf(stdout, "edge upgraded: pid %d (version %s) took over from pid %d and adopted %d instance(s)\n", in.PID, in.Version, old, in.Adopted)
		return nil
	}
	return fmt.Errorf("the edge (pid %d) did not hand over within 60s; see %s", old, filepath.Join(filepath.Dir(socket), "edge.log"))
}

// stopEdge sends SIGTERM to the edge serving socket and waits for it to go.
func stopEdge(ctx context.Context, socket string, stdout io.Writer) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := edge.Probe(cctx, socket)
	if err != nil {
		fmt.Fprintln(stdout, "no edge answers on", socket)
		return nil
	}
	pid := info.PID
	// A portal that runs keeps its edge alive, unless it was stopped on
	// purpose: say so before the edge goes.
	if err := os.WriteFile(stoppedMarker(socket), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return fmt.Errorf("stop edge pid %d: %w", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop edge pid %d: %w", pid, err)
	}
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			fmt.Fprintf(stdout, "edge (pid %d) stopped\n", pid)
			return nil
		}
	}
	return fmt.Errorf("edge pid %d still runs 45s after SIGTERM", pid)
}

// connectEdge returns the deploy engine of `slipway serve`: a client of
// the edge at socket (external: never started here), or of the data dir's
// edge, started as a process of its own when none answers.
func connectEdge(ctx context.Context, c config, socket string, external bool, log *slog.Logger, onEvent func(deploy.Event)) (*edge.Client, error) {
	opts := edge.ClientOptions{Socket: socket, Logger: log, OnEvent: onEvent, HealthTimeout: pipeline.MaxHealthTimeout}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	cl, err := edge.Dial(dctx, opts)
	cancel()
	if err == nil {
		log.Info("using the running edge", slog.String("socket", socket), slog.Int("pid", cl.Info().PID), slog.String("version", cl.Info().Version))
		if v := cl.Info().Version; v != versionString() {
			if external {
				log.Warn("the edge runs another version than this portal; upgrade it (slipway edge upgrade --socket "+socket+
					", or systemctl reload slipway-edge) once its binary is replaced", slog.String("edge", v), slog.String("portal", versionString()))
				return cl, nil
			}
			return upgradeStaleEdge(ctx, cl, opts, log)
		}
		return cl, nil
	}
	if external {
		return nil, fmt.Errorf("no edge answers on --edge-socket %s (start `slipway edge --socket %s`): %w", socket, socket, err)
	}
	// Starting the portal starts its edge, even one stopped on purpose.
	_ = os.Remove(stoppedMarker(socket))
	proc, err := startEdge(c, socket)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(edgeConnectTimeout)
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		cl, err := edge.Dial(dctx, opts)
		cancel()
		if err == nil {
			log.Info("started the edge", slog.String("socket", socket), slog.Int("pid", cl.Info().PID),
				slog.String("log", edgeLogPath(c)))
			return cl, nil
		}
		select {
		case <-proc.exited:
			// It refused to run (another edge holds the lock but does not
			// answer, or the socket's directory is not writable): say so
			// now rather than after the whole timeout.
			return nil, fmt.Errorf("the edge started as pid %d exited (%v) before it answered on %s; see %s",
				proc.pid, proc.err, socket, edgeLogPath(c))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("the edge started as pid %d did not answer on %s within %s (see %s): %w",
				proc.pid, socket, edgeConnectTimeout, edgeLogPath(c), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// edgeLogPath is where an edge that serve starts writes its output.
func edgeLogPath(c config) string { return filepath.Join(c.DataDir, "run", "edge.log") }

// stoppedMarker is the file `slipway edge stop` leaves beside the socket
// (holding the stopped edge's pid): a running portal's watchdog does not
// start an edge that was stopped on purpose.
func stoppedMarker(socket string) string { return socket + ".stopped" }

// edgeProc is an edge process serve started.
type edgeProc struct {
	pid    int
	exited chan struct{} // closed once it has exited
	err    error         // how it exited; read after exited
}

// upgradeStaleEdge hands the data dir's edge, which runs another version
// than this portal (its binary was replaced, e.g. by a package upgrade),
// over to a new process of the binary now installed: the apps keep
// serving throughout. If that fails, the old edge keeps serving and the
// portal drives it as it is.
func upgradeStaleEdge(ctx context.Context, cl *edge.Client, opts edge.ClientOptions, log *slog.Logger) (*edge.Client, error) {
	old := cl.Info()
	log.Info("the edge runs another version than this portal: upgrading it in place",
		slog.Int("pid", old.PID), slog.String("edge", old.Version), slog.String("portal", versionString()))
	uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := cl.Upgrade(uctx); err != nil {
		log.Warn("the edge could not upgrade; it keeps serving as it is (see its log)", slog.Int("pid", old.PID), slog.Any("err", err))
		return cl, nil
	}
	_ = cl.Close(ctx)
	for uctx.Err() == nil {
		dctx, dcancel := context.WithTimeout(uctx, time.Second)
		next, err := edge.Dial(dctx, opts)
		dcancel()
		if err == nil && next.Info().PID != old.PID {
			in := next.Info()
			if in.Version != versionString() {
				log.Warn("the upgraded edge still runs another version: its binary is not this portal's; install the same binary for both",
					slog.Int("pid", in.PID), slog.String("edge", in.Version), slog.String("portal", versionString()))
			} else {
				log.Info("upgraded the edge", slog.Int("pid", in.PID), slog.String("from", old.Version), slog.String("to", in.Version),
					slog.Int("adopted", in.Adopted))
			}
			return next, nil
		}
		if next != nil {
			_ = next.Close(ctx)
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Warn("the edge did not hand over within 60s; using whichever edge answers", slog.Int("pid", old.PID))
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	next, err := edge.Dial(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("no edge answers on %s after asking pid %d to upgrade: %w", opts.Socket, old.PID, err)
	}
	return next, nil
}

// startEdge starts `slipway edge` as a process of its own: a new session,
// no parent-death signal, output appended to <data>/run/edge.log. It
// outlives the portal: restarting or killing the portal never stops the
// environments' traffic. Its environment is the bare minimum: it never
// sees the portal's database URL or secret key.
func startEdge(c config, socket string) (*edgeProc, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start the edge: %w", err)
	}
	runDir := filepath.Join(c.DataDir, "run")
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, fmt.Errorf("start the edge: %w", err)
	}
	logf, err := os.OpenFile(edgeLogPath(c), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start the edge: %w", err)
	}
	defer logf.Close()
	// Absolute paths: the edge runs in /.
	data, err := filepath.Abs(c.DataDir)
	if err != nil {
		return nil, err
	}
	if socket, err = filepath.Abs(socket); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "edge", "--data", data, "--socket", socket, "--sandbox", c.Sandbox,
		"--log-format", c.LogFormat, "--log-level", c.LogLevel)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range []string{"HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the edge: %w", err)
	}
	p := &edgeProc{pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() { // reap it if it ends while the portal runs
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// edgeModeFor is the --edge mode serve runs in: as given, else child,
// so that the apps of `go run ./cmd/slipway` keep serving while the
// portal restarts. inprocess is the opt-in for edges and apps that stop
// with the portal.
func edgeModeFor(mode string) string {
	if mode == "" {
		return edgeChild
	}
	return mode
}

// edgeEngine picks the deploy engine of `slipway serve` from --edge and
// --edge-socket. closeFn ends it as the portal shuts down: an in-process
// manager stops every app; a client only disconnects.
func edgeEngine(ctx context.Context, c config, mode, socket string, log *slog.Logger, events *jobs.DeployEvents) (jobs.DeployEngine, func(context.Context) error, error) {
	switch edgeModeFor(mode) {
	case edgeInProcess:
		if socket != "" {
			return nil, nil, usageError{"--edge-socket and --edge=inprocess exclude each other"}
		}
		mgr := deploy.NewManager(deploy.Options{ReleasesDir: filepath.Join(c.DataDir, "releases"), Logger: log,
			WorkDir: filepath.Join(c.DataDir, "appdata"), StateFile: filepath.Join(c.DataDir, "run", "apps.json"),
			Sandbox:       deploy.SandboxMode(c.Sandbox),
			HealthTimeout: pipeline.MaxHealthTimeout, OnEvent: events.Record})
		// A portal killed with SIGKILL could not stop its apps: end what
		// is left of them before anything starts again.
		if _, err := mgr.ReapOrphans(); err != nil {
			return nil, nil, err
		}
		return mgr, mgr.Close, nil
	case edgeChild:
	default:
		return nil, nil, usageError{fmt.Sprintf("--edge must be %s or %s, not %q", edgeChild, edgeInProcess, mode)}
	}
	// Apps an earlier in-process portal left behind hold ports and work
	// dirs: end them once, as the in-process mode does.
	if _, err := deploy.NewManager(deploy.Options{StateFile: filepath.Join(c.DataDir, "run", "apps.json"), Logger: log}).ReapOrphans(); err != nil {
		return nil, nil, err
	}
	external := socket != ""
	if !external {
		// Absolute: the edge runs in / (and a relative --data, like the
		// default ./data, would put its socket somewhere else).
		data, err := filepath.Abs(c.DataDir)
		if err != nil {
			return nil, nil, err
		}
		socket = edge.DefaultSocket(data)
	}
	cl, err := connectEdge(ctx, c, socket, external, log, events.Record)
	if err != nil {
		return nil, nil, err
	}
	wd := startEdgeWatchdog(c, socket, external, cl.Info().PID, log)
	return cl, func(ctx context.Context) error {
		wd.stop()
		wd.sayGoodbye(ctx)
		return cl.Close(ctx)
	}, nil
}
