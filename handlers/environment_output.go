package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/models"
)

const ctxOutput = "slipway.output"

// defaultOutputLines is how many of the last lines GET …/output returns
// without ?lines= (at most logs.MaxReadLines).
const defaultOutputLines = 200

// appOutput is what the output routes serve: the stdout and stderr of the
// app instance that serves an environment's live release, as the deploy
// job keeps them (masked) in the log store.
type appOutput struct {
	env *models.Environment
	// live is the live release; instance the release whose instance
	// serves it (an instant rollback serves from an older release's warm
	// instance).
	live     *models.Release
	instance int64
}

// loadOutput loads the environment and its live release for the output
// routes, or answers 404 when nothing of it runs here.
func (h *Handler) loadOutput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		env, err := h.environmentParam(c)
		if err != nil {
			return err
		}
		if env.Target != models.TargetProcess {
			return echo.NewHTTPError(http.StatusNotFound, env.Name+" deploys with a script: its app does not run here, so the portal has no output of it")
		}
		live, err := h.store.LiveRelease(c.Request().Context(), env.ID)
		if errors.Is(err, models.ErrNotFound) {
			return echo.NewHTTPError(http.StatusNotFound, "nothing is live in "+env.Name+", so there is no app output")
		}
		if err != nil {
			return err
		}
		live.Environment = *env
		o := appOutput{env: env, live: live, instance: live.ID}
		if live.InstanceReleaseID != nil {
			o.instance = *live.InstanceReleaseID
		}
		c.Set(ctxOutput, o)
		return next(c)
	}
}

func outputFrom(c echo.Context) appOutput { return c.Get(ctxOutput).(appOutput) }

// appOutputLog is the app output of the environment loadOutput loaded, as
// a log the viewer and the log sockets serve.
func (h *Handler) appOutputLog(c echo.Context) (logTarget, logState) {
	o := outputFrom(c)
	t := h.appOutputTarget(o)
	st, _ := t.State(c.Request().Context())
	return t, st
}

// appOutputTarget describes the app output of o's environment.
func (h *Handler) appOutputTarget(o appOutput) logTarget {
	env, envID, rel := o.env, o.env.ID, o.live.ID
	base := models.Path("projects", env.Project.Slug, "environments", env.Name)
	return logTarget{
		Stream:       models.AppOutputStream(o.instance),
		Label:        fmt.Sprintf("App output (release #%d)", o.instance),
		PageURL:      base,
		LogURL:       base + "/output",
		FileName:     fmt.Sprintf("%s-%s-output-%d.log", env.Project.Slug, env.Name, o.instance),
		StatusHeader: "X-Slipway-Output-Status",
		// The output is final once the release it belongs to is no longer
		// live: a new deploy or a rollback replaced it.
		State: func(ctx context.Context) (logState, error) {
			live, err := h.store.LiveRelease(ctx, envID)
			if errors.Is(err, models.ErrNotFound) || (err == nil && live.ID != rel) {
				return logState{Status: "replaced", Final: true}, nil
			}
			if err != nil {
				return logState{}, err
			}
			return logState{Status: "running"}, nil
		},
	}
}

// outputLine is one line of GET …/output.
type outputLine struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// apiEnvironmentOutput answers GET /api/v1/projects/{slug}/environments/{env}/output:
// the live app's output as JSON lines, the last ?lines= (default 200) or
// from line ?from=. Headers say which release and where the stream ends.
func (h *Handler) apiEnvironmentOutput(c echo.Context) error {
	o := outputFrom(c)
	stream := models.AppOutputStream(o.instance)
	ctx := c.Request().Context()
	n := defaultOutputLines
	if v := c.QueryParam("lines"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > logs.MaxReadLines {
			return badRequest(fmt.Sprintf("lines must be a number from 1 to %d", logs.MaxReadLines))
		}
		n = k
	}
	var p logs.Page
	var err error
	if v := c.QueryParam("from"); v != "" {
		from, perr := strconv.Atoi(v)
		if perr != nil || from < 1 {
			return badRequest("from must be a line number (1 or more)")
		}
		p, err = h.logs.Read(ctx, stream, from, n)
	} else {
		p, err = h.logs.Tail(ctx, stream, n)
	}
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "application/x-ndjson; charset=utf-8")
	hd.Set(echo.HeaderCacheControl, "no-store")
	hd.Set("X-Slipway-Release", strconv.FormatInt(o.live.ID, 10))
	hd.Set("X-Slipway-Instance-Release", strconv.FormatInt(o.instance, 10))
	hd.Set("X-Slipway-Next-Line", strconv.Itoa(p.Next))
	hd.Set("X-Slipway-Log-Truncated", strconv.FormatBool(p.Truncated))
	c.Response().WriteHeader(http.StatusOK)
	w := bufio.NewWriter(c.Response())
	enc := json.NewEncoder(w)
	for _, ev := range p.Lines {
		_ = enc.Encode(outputLine{Line: ev.Line, Text: ev.Text})
	}
	_ = w.Flush() // a failure here means the client went away
	return nil
}
