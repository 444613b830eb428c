package handlers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/slipway-ci/slipway/internal/logs/live"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/components"
)

// logTarget is one log stream as the viewer, its socket and its HTTP
// endpoints serve it. Builds and releases make one (buildLogTarget,
// releaseLogTarget), and log_routes.go serves every log endpoint for
// either; load tests can make theirs the same way.
type logTarget struct {
	// Stream is the internal/logs stream key ("build:7").
	Stream string
	// Label names the log for people ("Build #12 log").
	Label string
	// PageURL is the page the viewer is on ("/builds/7"); its no-JS
	// links add ?from= and ?q= to it.
	PageURL string
	// LogURL is where the viewer's endpoints hang off ("/builds/7/log"):
	// LogURL/ws, LogURL/lines, LogURL/search and LogURL.txt.
	LogURL string
	// FileName is the raw download's name ("web-build-12.log").
	FileName string
	// StatusHeader is the raw text's response header that carries the
	// owner's status ("X-Slipway-Build-Status").
	StatusHeader string
	// State reports the owner's status and steps. The socket calls it when
	// it opens and every live.Config.StateEvery while it stays open.
	State func(ctx context.Context) (logState, error)
}

// logState is what the log's owner says about itself.
type logState struct {
	Status string
	// Final is true once the owner finished; FinishedAt is when (zero if
	// unknown). A finished owner whose stream was never closed (a crashed
	// worker) ends its sockets after a grace period.
	Final      bool
	FinishedAt time.Time
	Steps      []components.LogStep
}

// live is the state as the live-log engine sends it; the steps go out
// as [] rather than null.
func (s logState) live() live.State {
	steps := s.Steps
	if steps == nil {
		steps = []components.LogStep{}
	}
	return live.State{Status: s.Status, Final: s.Final, FinishedAt: s.FinishedAt, Steps: steps}
}

// buildLogTarget describes a build's log.
func (h *Handler) buildLogTarget(b *models.Build) logTarget {
	id := b.ID
	name := b.Project.Slug
	if name == "" {
		name = "build"
	}
	page := "/builds/" + strconv.FormatInt(id, 10)
	return logTarget{
		Stream:       b.LogStream(),
		Label:        fmt.Sprintf("Build #%d log", b.Number),
		PageURL:      page,
		LogURL:       page + "/log",
		FileName:     fmt.Sprintf("%s-build-%d.log", name, b.Number),
		StatusHeader: "X-Slipway-Build-Status",
		State: func(ctx context.Context) (logState, error) {
			b, err := h.store.Build(ctx, id)
			if err != nil {
				return logState{}, err
			}
			return buildLogState(b, h.now()), nil
		},
	}
}

// buildLogState maps a build and its steps for the viewer.
func buildLogState(b *models.Build, now time.Time) logState {
	st := logState{Status: b.Status, Final: models.BuildFinished(b.Status)}
	if b.FinishedAt != nil {
		st.FinishedAt = *b.FinishedAt
	}
	for _, s := range b.Steps {
		ls := components.LogStep{Name: s.Name, Status: s.Status, First: s.FirstLine, Last: s.LastLine, DurationMS: s.DurationMS}
		if s.StartedAt != nil {
			ls.StartedMS = s.StartedAt.UnixMilli()
			if s.FinishedAt == nil && ls.DurationMS == 0 && !st.Final {
				ls.DurationMS = now.Sub(*s.StartedAt).Milliseconds()
			}
		}
		st.Steps = append(st.Steps, ls)
	}
	return st
}

// releaseLogTarget describes a release's deploy log. Its page is the
// release page; the environment page shows the same viewer while the
// release deploys.
func (h *Handler) releaseLogTarget(r *models.Release) logTarget {
	id := r.ID
	name := "release"
	if env := r.Environment; env.Name != "" && env.Project.Slug != "" {
		name = env.Project.Slug + "-" + env.Name + "-release"
	}
	page := "/releases/" + strconv.FormatInt(id, 10)
	return logTarget{
		Stream:       r.LogStream(),
		Label:        fmt.Sprintf("Release #%d deploy log", id),
		PageURL:      page,
		LogURL:       page + "/log",
		FileName:     fmt.Sprintf("%s-%d.log", name, id),
		StatusHeader: "X-Slipway-Release-Status",
		State: func(ctx context.Context) (logState, error) {
			r, err := h.store.Release(ctx, id)
			if err != nil {
				return logState{}, err
			}
			return releaseLogState(r), nil
		},
	}
}

// releaseLogState maps a release for the viewer: a deploy has no steps,
// and it is final once it went live or failed (or never ran).
func releaseLogState(r *models.Release) logState {
	st := logState{Status: r.Status, Final: models.ReleaseFinished(r.Status)}
	if r.FinishedAt != nil {
		st.FinishedAt = *r.FinishedAt
	}
	return st
}
