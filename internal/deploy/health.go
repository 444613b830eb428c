package deploy

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"time"
)

// Health is what the active health checks and passive ejection say about
// an instance that runs.
type Health string

// Health values.
const (
	// HealthUp: the instance takes requests.
	HealthUp Health = "up"
	// HealthDown: the instance failed healthDownAt checks in a row, or was
	// ejected after errors; it is out of rotation until healthUpAfter checks pass.
	HealthDown Health = "down"
)

// watch runs the instance's active health check every HealthInterval
// (each bounded by probeTimeout) and samples its request rate, until the
// instance stops for good.
func (i *Instance) watch() {
	t := time.NewTicker(i.m.opts.HealthInterval)
	defer t.Stop()
	last, lastAt := i.requests.Load(), time.Now()
	fails, passes := 0, 0
	for {
		select {
		case <-i.stopCtx.Done():
			return
		case <-i.done:
			return
		case <-t.C:
		}
		now := time.Now()
		n := i.requests.Load()
		i.rps.Store(math.Float64bits(float64(n-last) / now.Sub(lastAt).Seconds()))
		last, lastAt = n, now

		i.mu.Lock()
		state, port := i.state, i.port
		i.mu.Unlock()
		if state != StateHealthy {
			fails, passes = 0, 0
			continue
		}
		ctx, cancel := context.WithTimeout(i.stopCtx, probeTimeout)
		err := i.probe(ctx, port)
		cancel()
		if err != nil {
			fails, passes = fails+1, 0
			if fails >= healthDownAt && !i.down.Load() {
				i.setDown(true, "health check failed "+strconv.Itoa(fails)+" times: "+err.Error())
			}
			continue
		}
		fails, passes = 0, passes+1
		if passes >= healthUpAfter && i.down.Load() {
			i.setDown(false, "health check passed again")
		}
	}
}

// setDown takes the instance out of rotation or brings it back.
func (i *Instance) setDown(down bool, why string) {
	i.mu.Lock()
	i.down.Store(down)
	i.updateRoutableLocked()
	i.mu.Unlock()
	if down {
		i.m.log.Warn("instance out of rotation", slog.String("env", i.env), slog.Int64("release", i.releaseID),
			slog.Int("instance", i.slot), slog.String("reason", why))
	} else {
		i.m.log.Info("instance back in rotation", slog.String("env", i.env), slog.Int64("release", i.releaseID),
			slog.Int("instance", i.slot))
	}
}

// updateRoutableLocked recomputes whether the edge may send requests to
// the instance. The caller holds i.mu.
func (i *Instance) updateRoutableLocked() {
	i.routable.Store(i.state == StateHealthy && !i.down.Load())
}
