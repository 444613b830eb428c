package handlers

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/views/pages"
)

// showBuildLog is the full-page log viewer of a build. Without ?from= it
// opens on the log's last page; it reads without JavaScript.
func (h *Handler) showBuildLog(c echo.Context) error {
	b, err := h.buildForLog(c)
	if err != nil {
		return err
	}
	t := h.buildLogTarget(b)
	v, err := h.logView(c, t, buildLogState(b, h.now()))
	if err != nil {
		return err
	}
	return h.render(c, fmt.Sprintf("%s build #%d log", b.Project.Name, b.Number), "builds", pages.BuildLog(pages.BuildLogPage{
		BuildID: b.ID, Number: b.Number, Project: b.Project.Name, Ref: b.Ref, CommitSHA: b.CommitSHA, Log: v,
	}))
}
