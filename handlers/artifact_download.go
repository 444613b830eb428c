package handlers

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/models"
)

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// downloadArtifact serves an artifact's bytes. An artifact never changes,
// so its digest is its ETag and it may be cached for good.
func (h *Handler) downloadArtifact(c echo.Context) error {
	sha := c.Param("sha256")
	notFound := echo.NewHTTPError(http.StatusNotFound, "There is no artifact with this SHA-256.")
	if !sha256RE.MatchString(sha) {
		return notFound
	}
	a, err := h.store.Artifact(c.Request().Context(), sha)
	if err != nil {
		return err
	}
	gone := echo.NewHTTPError(http.StatusGone, "The artifact is recorded but its bytes are no longer in the artifact store.")
	path, err := h.arts.Path(sha)
	if errors.Is(err, artifact.ErrNotFound) {
		return gone.WithInternal(err)
	}
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return gone.WithInternal(err)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "application/gzip")
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="artifact-`+models.ShortDigest(sha)+`.tar.gz"`)
	hd.Set("ETag", `"`+sha+`"`)
	hd.Set(echo.HeaderCacheControl, "private, max-age=31536000, immutable")
	// ServeContent answers If-None-Match with 304 and serves ranges.
	http.ServeContent(c.Response(), c.Request(), "", a.CreatedAt, f)
	return nil
}
