// Package static embeds the built front-end bundles (static/dist, built
// from static/src by `npm run build`) and maps logical names to their
// content-hashed file names.
package static

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Prefix is the URL path the bundles are served under.
const Prefix = "/static/"

// Assets maps logical names ("app.css") to hashed URLs.
type Assets struct {
	files    fs.FS
	manifest map[string]string
}

// Load reads the embedded manifest.
func Load() (*Assets, error) {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	raw, err := fs.ReadFile(sub, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("static: read manifest (run `npm run build`): %w", err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("static: parse manifest: %w", err)
	}
	return &Assets{files: sub, manifest: m}, nil
}

// URL returns the hashed URL of a logical asset name, or "" if unknown.
func (a *Assets) URL(name string) string {
	if f, ok := a.manifest[name]; ok {
		return Prefix + f
	}
	return ""
}

// FS is the file system of built files, served under Prefix.
func (a *Assets) FS() fs.FS { return a.files }
