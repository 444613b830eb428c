package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
)

// createBuildError turns CreateBuild's errors into answers that name the
// problem: an unknown ref or an unusable repository is the caller's to
// fix (422), a repository that cannot be reached right now is 502. Other
// errors stay server errors.
func createBuildError(err error) (int, string, bool) {
	var ue *jobs.UnknownRefError
	var re *jobs.RepoError
	switch {
	case errors.As(err, &ue):
		return http.StatusUnprocessableEntity, ue.Error(), true
	case errors.As(err, &re) && errors.Is(re, gitrepo.ErrNotReachable):
		return http.StatusBadGateway, "could not fetch the repository: " + re.Msg, true
	case errors.As(err, &re):
		return http.StatusUnprocessableEntity, "could not fetch the repository: " + re.Msg, true
	case errors.Is(err, jobs.ErrInvalidBuildRequest):
		return http.StatusUnprocessableEntity, err.Error(), true
	}
	return 0, "", false
}

// apiCreateBuildError is createBuildError for the JSON API.
func apiCreateBuildError(err error) error {
	if status, msg, ok := createBuildError(err); ok {
		return echo.NewHTTPError(status, msg).WithInternal(err)
	}
	return err
}
