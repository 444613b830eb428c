package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/handlers"
	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/static"
)

// shutdownGrace bounds how long running jobs may finish.
const shutdownGrace = 30 * time.Second

// httpGrace bounds how long in-flight requests may finish; a client that
// is still trickling a request body after that is cut off, so a slow
// client can never hold a shutdown (or turn it into a failure).
const httpGrace = 5 * time.Second

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c)
	fs.StringVar(&c.Addr, "addr", env("SLIPWAY_ADDR", "127.0.0.1:8080"), "address to listen on (SLIPWAY_ADDR)")
	fs.IntVar(&c.BuildWorkers, "build-workers", envInt("SLIPWAY_BUILD_WORKERS", 2), "builds run at once in this process (SLIPWAY_BUILD_WORKERS)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", envBool("SLIPWAY_SECURE_COOKIES"), "mark cookies Secure; set when served over HTTPS (SLIPWAY_SECURE_COOKIES)")
	buildFlags(fs, &c)
	fs.StringVar(&c.PublicURL, "public-url", env("SLIPWAY_PUBLIC_URL", ""), "external base URL for absolute links such as webhook URLs, e.g. https://ci.example.com; empty means the request's own (SLIPWAY_PUBLIC_URL)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", env("SLIPWAY_TRUSTED_PROXIES", ""), "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For names the client; empty trusts none (SLIPWAY_TRUSTED_PROXIES)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", envDuration("SLIPWAY_READ_TIMEOUT", 30*time.Second), "time a client has to send a whole request, body included; slower ones are cut off (SLIPWAY_READ_TIMEOUT)")
	fs.DurationVar(&c.HookReadTimeout, "hook-read-timeout", envDuration("SLIPWAY_HOOK_READ_TIMEOUT", 2*time.Minute), "the same for forge webhooks, whose bodies can be large (SLIPWAY_HOOK_READ_TIMEOUT)")
	var edgeMode, edgeSocket string
	fs.StringVar(&edgeMode, "edge", env("SLIPWAY_EDGE", edgeChild), "where environments' edges and apps run, a `mode`: child (the data dir's slipway edge, a process of its own, started when none runs and again if it dies; apps keep running across portal restarts; `slipway edge stop` stops them) or inprocess (inside this process; they stop with it) (SLIPWAY_EDGE)")
	fs.StringVar(&edgeSocket, "edge-socket", env("SLIPWAY_EDGE_SOCKET", ""), "control socket (a `path`) of an external slipway edge to drive instead of the data dir's own; it is never started from here (SLIPWAY_EDGE_SOCKET)")
	fs.BoolVar(&c.NoWorkers, "no-workers", envBool("SLIPWAY_NO_WORKERS"), "do not run jobs in this process; run `slipway worker` elsewhere (SLIPWAY_NO_WORKERS)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	if c.PublicURL, err = validatePublicURL(c.PublicURL); err != nil {
		return err
	}
	proxies, err := parseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return err
	}
	if c.ReadTimeout <= 0 || c.HookReadTimeout <= 0 {
		return usageError{"--read-timeout and --hook-read-timeout must be positive durations like 30s"}
	}
	start := time.Now()
	store, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := ensureAdmin(ctx, store, stdout); err != nil {
		return err
	}
	if c.NoWorkers && store.Dialect() == models.SQLite {
		return usageError{"--no-workers needs PostgreSQL: with SQLite only this process can run jobs"}
	}
	secrets, err := loadSecrets(c, true, log)
	if err != nil {
		return err
	}
	logSvc, artifacts, err := buildDeps(ctx, c, store, log)
	if err != nil {
		return err
	}
	defer logSvc.Close()
	// Bind the address before anything starts (the edge process, the
	// workers): a port clash ends the start with nothing left running.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	defer ln.Close()
	// The deploy engine (edges and app instances) is driven by the process
	// that works jobs: deploys run where the edges are driven from.
	var engine jobs.DeployEngine
	var closeEngine func(context.Context) error
	var deployEvents *jobs.DeployEvents
	if !c.NoWorkers {
		deployEvents = jobs.NewDeployEvents(store, log)
		engine, closeEngine, err = edgeEngine(ctx, c, edgeMode, edgeSocket, log, deployEvents)
		if err != nil {
			deployEvents.Close()
			return err
		}
		// A start that fails from here on still ends the engine: its
		// in-process apps, or the watchdog of its edge.
		defer func() {
			if closeEngine != nil {
				_ = closeEngine(context.Background())
				deployEvents.Close()
			}
		}()
	}
	deps := jobDeps(c, store, log, logSvc, artifacts)
	if engine != nil {
		deps.Deploy = engine
	}
	deps.Secrets = secrets
	j, err := jobs.New(ctx, deps, jobs.Options{Work: !c.NoWorkers, BuildWorkers: c.BuildWorkers})
	if err != nil {
		return err
	}
	// One delivery service: the handlers' actions and gate, and the
	// workers' auto-deploy and promotion sweep.
	dlv := delivery.New(j.DeliveryDeps())
	j.UseDelivery(dlv)
	if engine != nil {
		if err := j.RecoverDeploys(ctx); err != nil {
			return err
		}
	}
	assets, err := static.Load()
	if err != nil {
		return err
	}
	h := handlers.New(handlers.Deps{Store: store, Jobs: j, Assets: assets, Logger: log, Registry: prometheus.NewRegistry(),
		Logs: logSvc, Deploy: engineOf(engine), Artifacts: artifacts, Secrets: secrets, Delivery: dlv},
		handlers.Config{SecureCookies: c.SecureCookies, Version: versionString(), PublicURL: c.PublicURL,
			DemoDir: filepath.Join(c.DataDir, "demo"), CSRFKey: secrets.DeriveKey("csrf"),
			TrustedProxies: proxies, HookReadTimeout: c.HookReadTimeout})
	e := echo.New()
	h.Register(e)

	srv := newHTTPServer(e, c.ReadTimeout, log)
	// Workers start only once the listener is bound, so a port clash
	// leaves no job half-run.
	if err := j.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	// Every environment serves its live release again, in the background:
	// a slow app must not hold up the portal.
	restoreCtx, stopRestore := context.WithCancel(ctx)
	restored := make(chan struct{})
	go func() {
		defer close(restored)
		if err := j.RestoreEnvironments(restoreCtx); err != nil {
			log.Error("restore environments", slog.Any("err", err))
		}
	}()
	log.Info("slipway is running", slog.String("url", "http://"+ln.Addr().String()), slog.String("database", string(store.Dialect())),
		slog.Bool("workers", !c.NoWorkers), slog.String("version", versionString()), slog.Duration("startup", time.Since(start)))

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", slog.Any("err", err))
		}
	}
	log.Info("shutting down: no new requests; finishing in-flight requests and jobs")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	hctx, hcancel := context.WithTimeout(sctx, httpGrace)
	defer hcancel()
	if err := srv.Shutdown(hctx); err != nil {
		log.Warn("requests still open after the grace period were cut off", slog.Duration("grace", httpGrace), slog.Any("err", err))
		_ = srv.Close()
	}
	jobsErr := j.Stop(sctx)
	stopRestore()
	<-restored
	if engine != nil {
		// After the workers, so no deploy is cut in half. An in-process
		// engine stops the environments with the portal; a `slipway edge`
		// keeps serving them.
		err := closeEngine(sctx)
		closeEngine = nil
		if err != nil {
			log.Error("stop environments", slog.Any("err", err))
		}
		deployEvents.Close()
	}
	if jobsErr != nil {
		return jobsErr
	}
	log.Info("stopped")
	return nil
}

// newHTTPServer is the portal's HTTP server. A client gets readTimeout to
// send a whole request, body included (routes that need longer extend
// their own deadline), and at most 10 s for the headers: slow clients are
// cut off instead of holding a connection and a goroutine open. There is
// no write timeout: log streams and downloads last as long as they need,
// and websockets clear the deadlines when they take the connection over.
func newHTTPServer(h http.Handler, readTimeout time.Duration, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, readTimeout),
		ReadTimeout:       readTimeout,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// ensureAdmin creates the first admin on an empty database and prints its
// password once (or takes SLIPWAY_ADMIN_PASSWORD).
func ensureAdmin(ctx context.Context, store *models.Store, stdout io.Writer) error {
	n, err := store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	pw, given := os.LookupEnv("SLIPWAY_ADMIN_PASSWORD")
	if !given || pw == "" {
		pw = auth.NewPassword()
		given = false
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("SLIPWAY_ADMIN_PASSWORD: %w", err)
	}
	err = store.Tx(ctx, func(tx *models.Store) error {
		u := &models.User{Username: "admin", PasswordHash: hash, Role: string(auth.Admin)}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(nil, models.AuditUserCreate, "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"username": u.Username, "role": u.Role, "first_admin": true}))
	})
	if errors.Is(err, models.ErrConflict) {
		return nil // another process created it first
	}
	if err != nil {
		return err
	}
	if given {
		fmt.Fprintln(stdout, "Created the first account: admin (password from SLIPWAY_ADMIN_PASSWORD).")
		return nil
	}
	fmt.Fprintf(stdout, "\n  Created the first account. Sign in with\n\n      username: admin\n      password: %s\n\n  This password is shown only once.\n\n", pw)
	return nil
}

// engineOf keeps a nil engine from becoming a non-nil interface.
func engineOf(e jobs.DeployEngine) deploy.Engine {
	if e == nil {
		return nil
	}
	return e
}
