package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// deployState is a signature of an environment's deploy state: the newest
// release and its status, and what is live. It changes when a deploy is
// queued, starts, ends or is rolled back.
func (h *Handler) deployState(ctx context.Context, envID int64) (string, error) {
	latest, err := h.store.LatestReleases(ctx, []int64{envID})
	if err != nil {
		return "", err
	}
	live, err := h.store.LiveReleases(ctx, []int64{envID})
	if err != nil {
		return "", err
	}
	sig := "0-none"
	if r := latest[envID]; r != nil {
		sig = strconv.FormatInt(r.ID, 10) + "-" + r.Status
	}
	if r := live[envID]; r != nil {
		sig += "-" + strconv.FormatInt(r.ID, 10)
	}
	return sig, nil
}

// environmentState answers the environment page's poll: 204 while the
// deploy state is the one the page shows, and an htmx refresh once it
// changed, so the page shows a finished deploy without a manual reload.
func (h *Handler) environmentState(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	sig, err := h.deployState(c.Request().Context(), env.ID)
	if err != nil {
		return err
	}
	if sig == c.QueryParam("since") {
		return c.NoContent(http.StatusNoContent)
	}
	c.Response().Header().Set("HX-Refresh", "true")
	return c.NoContent(http.StatusOK)
}

// failedAfterLive is the latest release when its deploy failed after what
// is live (or with nothing live): the failure a page should show.
func failedAfterLive(latest, live *models.Release) bool {
	return latest != nil && latest.Status == models.ReleaseFailed && (live == nil || latest.ID > live.ID)
}

// behindNote says how env's live release trails prev's, or "".
func behindNote(prev string, prevLive, live *models.Release) string {
	switch {
	case prevLive == nil || (live != nil && prevLive.ArtifactSHA256 == live.ArtifactSHA256):
		return ""
	case prevLive.Build != nil && live != nil && live.Build != nil && prevLive.Build.Number <= live.Build.Number:
		return ""
	case prevLive.Build != nil:
		return fmt.Sprintf("%s is ahead: it runs build #%d, not live here yet.", prev, prevLive.Build.Number)
	}
	return fmt.Sprintf("%s runs another artifact (%s), not live here yet.", prev, prevLive.ShortSHA())
}

// pendingPromotions maps each environment to the newest promotion into it
// that waits.
func (h *Handler) pendingPromotions(ctx context.Context) (map[int64]*pages.PromotionSummary, error) {
	ps, err := h.store.Promotions(ctx, models.PromotionFilter{Statuses: []string{models.PromotionPending}, Limit: 200})
	if err != nil {
		return nil, err
	}
	out := map[int64]*pages.PromotionSummary{}
	for i := range ps {
		p := &ps[i]
		if out[p.ToEnvironmentID] != nil {
			continue
		}
		st, err := h.evaluate(ctx, p)
		if err != nil {
			return nil, err
		}
		v := promotionSummary(p, st)
		out[p.ToEnvironmentID] = &v
	}
	return out, nil
}
