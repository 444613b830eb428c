package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// validateHosted checks the input of a project whose repository Slipway
// hosts: there is no URL to link, no key to fetch with, nothing to poll.
func (in *projectInput) validateHosted() error {
	switch {
	case in.RepoURL != "":
		return &fieldError{Field: "repo_url", Msg: "must be empty for a repository hosted by Slipway"}
	case in.DeployKey != "":
		return &fieldError{Field: "deploy_key", Msg: "must be empty for a repository hosted by Slipway"}
	case in.PollInterval != 0:
		return &fieldError{Field: "poll_interval", Msg: "must be off for a repository hosted by Slipway (pushes start builds)"}
	}
	if err := validBranchName(in.DefaultBranch); err != nil {
		return &fieldError{Field: "default_branch", Msg: err.Error()}
	}
	return nil
}

// cloneURL is the smart-HTTP address of a hosted project's repository,
// "" for a linked one.
func (h *Handler) cloneURL(c echo.Context, p *models.Project) string {
	if !p.Hosted {
		return ""
	}
	return h.baseURL(c) + "/git/" + p.Slug + ".git"
}
