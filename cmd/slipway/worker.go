package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/slipway-ci/slipway/internal/logs"
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
	if _, err := parseFlags(fs, args); err != nil {
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
	lg := logs.NewService(store, logs.Options{Logger: log})
	if err := lg.Start(ctx); err != nil {
		return err
	}
	defer lg.Close()
	j, err := jobs.New(ctx, jobs.Deps{Store: store, Logger: log, Logs: lg}, jobs.Options{Work: true, BuildWorkers: c.BuildWorkers})
	if err != nil {
		return err
	}
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
