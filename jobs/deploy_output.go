package jobs

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

// maskLines splits an app's (or a deploy script's) raw output into lines
// with the release's secrets masked, exactly as build logs are masked:
// the value, its base64 forms, and a value split across two writes.
func maskLines(secrets []string) deploy.LineSplitter {
	return func(emit func(string)) io.WriteCloser {
		return runner.NewLineWriter(secrets, logs.MaxLineBytes, emit)
	}
}

// appOutput keeps an instance's output (already masked) in the log store
// under models.AppOutputStream, from its first line until the instance has
// stopped for good. The in-memory ring of the instance is the engine's.
type appOutput struct {
	w     *logs.Writer
	log   *slog.Logger
	marks *outputMarks
}

// openAppOutput opens release's output stream; without a log service (or
// when the store refuses) output is kept in memory only. marks (nil for
// an in-process engine) flushes it before it saves output positions.
func openAppOutput(ctx context.Context, svc *logs.Service, releaseID int64, log *slog.Logger, marks *outputMarks) *appOutput {
	o := &appOutput{log: log}
	if svc == nil {
		return o
	}
	w, err := svc.NewWriter(ctx, models.AppOutputStream(releaseID))
	if err != nil {
		log.Warn("app output is not kept in the log store", slog.Any("err", err))
		return o
	}
	o.w, o.marks = w, marks
	marks.add(o, releaseID)
	return o
}

// flush stores the lines passed so far.
func (o *appOutput) flush(ctx context.Context) error {
	if o.w == nil {
		return nil
	}
	return o.w.Flush(ctx)
}

// line stores one line.
func (o *appOutput) line(s string) {
	if o.w != nil {
		o.w.Line(s)
	}
}

// closeWhenDone closes the stream once inst has stopped for good.
func (o *appOutput) closeWhenDone(inst *deploy.Instance) {
	go func() {
		<-inst.Done()
		o.close(string(deploy.StateStopped))
	}()
}

// close ends the stream with status.
func (o *appOutput) close(status string) {
	if o.w == nil {
		return
	}
	o.marks.remove(o)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := o.w.Close(ctx, status); err != nil {
		o.log.Warn("close app output", slog.Any("err", err))
	}
}
