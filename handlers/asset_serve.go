package handlers

import (
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// serveAsset serves a built bundle. Names carry their content hash, so
// they are cached for a year and never revalidated.
func (h *Handler) serveAsset(c echo.Context) error {
	name := strings.TrimPrefix(c.Param("*"), "/")
	if name == "" || strings.Contains(name, "..") || name == "manifest.json" {
		return echo.ErrNotFound
	}
	data, err := fs.ReadFile(h.assets.FS(), name)
	if err != nil {
		return echo.ErrNotFound
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if path.Ext(name) == ".svg" {
		ct = "image/svg+xml"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, ct, data)
}

// favicon sends browsers that ask for /favicon.ico to the hashed icon.
func (h *Handler) favicon(c echo.Context) error {
	u := h.assets.URL("favicon.svg")
	if u == "" {
		return echo.ErrNotFound
	}
	return c.Redirect(http.StatusMovedPermanently, u)
}
