package handlers

import (
	"context"
	"fmt"
	"strconv"
)

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

// tooManyText explains the concurrent-runs cap.
func tooManyText(ctx context.Context, h *Handler) string {
	l, err := h.store.LoadTestLimits(ctx)
	if err != nil {
		return "too many load tests are queued or running."
	}
	return fmt.Sprintf("at most %d load tests may be queued or running at once, and that many already are.", l.MaxConcurrent)
}
