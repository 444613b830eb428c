package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// worker runs job workers only, against the shared PostgreSQL database.
func worker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c)
	fs.IntVar(&c.BuildWorkers, "build-workers", envInt("SLIPWAY_BUILD_WORKERS", 2), "builds run at once (SLIPWAY_BUILD_WORKERS)")
	buildFlags(fs, &c)
	fs.StringVar(&c.PublicURL, "public-url", env("SLIPWAY_PUBLIC_URL", ""), "external base URL of the portal, for links in notifications, e.g. https://ci.example.com (SLIPWAY_PUBLIC_URL)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if c.PublicURL, err = validatePublicURL(c.PublicURL); err != nil {
		return err
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	if !models.IsPostgresURL(c.DatabaseURL) {
		return usageError{"slipway worker needs SLIPWAY_DATABASE_URL=postgres://…: with SQLite, `slipway serve` runs the workers itself"}
	}
	store, err := openStore(ctx, c, true)
	if err != nil {
		return err
	}
	defer store.Close()
	// A worker never invents a key: one of its own could not open what the
	// portal sealed. Without a key it still runs builds; only work that
	// needs a sealed secret (an ssh deploy key) fails, saying why.
	secrets, err := loadSecrets(c, false, log)
	if errors.Is(err, secretbox.ErrNoKey) {
		log.Warn("no secret key: repositories with a deploy key cannot be fetched by this worker; set SLIPWAY_SECRET_KEY to the portal's key", slog.Any("err", err))
	} else if err != nil {
		return err
	}
	ls, arts, err := buildDeps(ctx, c, store, log)
	if err != nil {
		return err
	}
	defer ls.Close()
	deps := jobDeps(c, store, log, ls, arts)
	if secrets != nil { // never a typed nil in the interface
		deps.Secrets = secrets
	}
	j, err := jobs.New(ctx, deps, jobs.Options{Work: true, BuildWorkers: c.BuildWorkers})
	if err != nil {
		return err
	}
	j.UseDelivery(delivery.New(j.DeliveryDeps()))
	if err := j.Start(ctx); err != nil {
		return err
	}
	log.Info("slipway worker is running", slog.Int("build_workers", c.BuildWorkers))
	<-ctx.Done()
	log.Info("shutting down: finishing running jobs")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return j.Stop(sctx)
}
