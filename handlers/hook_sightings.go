package handlers

import (
	"context"
	"strings"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// recordPushSightings notes that a verified push webhook showed Slipway
// every commit it lists (and its head), for DORA's change lead time.
// Anything that is not a commit ID is left out; a failure is logged, never
// in the way of the build.
func (h *Handler) recordPushSightings(ctx context.Context, p *models.Project, push pushPayload) {
	shas := make([]string, 0, len(push.Commits)+1)
	for _, id := range append(push.Commits, push.After) {
		if id = strings.ToLower(id); shaRE.MatchString(id) && !zeroSHARE.MatchString(id) {
			shas = append(shas, id)
		}
	}
	if err := h.store.RecordCommitSightings(ctx, p.ID, shas, models.SightingWebhook, h.now()); err != nil {
		h.log.Warn("record commit sightings", "project", p.Slug, "err", err)
	}
}

// recordPushedSightings notes every commit a push to a hosted repository
// brought (old..new, at most maxPushCommits; the whole history for a new
// ref would be too much, so a new ref brings its head only).
func (h *Handler) recordPushedSightings(ctx context.Context, p *models.Project, dir string, up gitrepo.RefUpdate) {
	shas := []string{up.New}
	if up.Old != gitrepo.ZeroSHA && up.Old != "" {
		if log, err := gitrepo.Log(ctx, dir, up.Old, up.New, maxPushCommits); err == nil {
			shas = shas[:0]
			for _, c := range log {
				shas = append(shas, c.SHA)
			}
		}
	}
	if err := h.store.RecordCommitSightings(ctx, p.ID, shas, models.SightingPush, h.now()); err != nil {
		h.log.Warn("record commit sightings", "project", p.Slug, "err", err)
	}
}
