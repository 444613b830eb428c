package handlers

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/slipway-ci/slipway/models"
)

// errNoDemoDir says the portal was started without a demo directory.
var errNoDemoDir = errors.New("this portal has no demo directory configured")

// demoRepoDir is the absolute path of the demo repository: the project's
// repository URL, which is also how the demo project is recognised.
func (h *Handler) demoRepoDir() (string, error) {
	if h.cfg.DemoDir == "" {
		return "", errNoDemoDir
	}
	dir, err := filepath.Abs(filepath.Join(h.cfg.DemoDir, "hello"))
	if err != nil {
		return "", err
	}
	return dir, nil
}

// demoProject returns the project linked to the demo repository, or
// models.ErrNotFound when there is none (or no demo directory).
func (h *Handler) demoProject(ctx context.Context) (*models.Project, error) {
	dir, err := h.demoRepoDir()
	if err != nil {
		return nil, models.ErrNotFound
	}
	ps, err := h.store.Projects(ctx)
	if err != nil {
		return nil, err
	}
	return findDemo(ps, dir)
}

// findDemo picks the project linked to the demo repository dir out of ps.
func findDemo(ps []models.Project, dir string) (*models.Project, error) {
	for i := range ps {
		if ps[i].RepoURL == dir {
			return &ps[i], nil
		}
	}
	return nil, models.ErrNotFound
}

// isDemo reports whether p is the demo project.
func (h *Handler) isDemo(p *models.Project) bool {
	dir, err := h.demoRepoDir()
	return err == nil && p.RepoURL == dir
}
