package handlers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/slipway-ci/slipway/models"
)

// errNoDemoDir says the portal was started without a demo directory.
var errNoDemoDir = errors.New("this portal has no demo directory configured")

// demoMarkerFile, in the demo directory, names the hosted demo project:
// "<project id> <created at, unix seconds>". The ID survives a rename of
// the project; the creation time keeps a later project that reuses the ID
// of a deleted demo from passing for it.
const demoMarkerFile = "hosted-demo"

// demoRepoDir is the absolute path of the repository a demo project made
// before the demo was hosted links: that project's repository URL, which
// is also how such a project is recognised.
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

// demoMark says which project is the demo.
type demoMark struct {
	// dir is the linked repository of a demo made before the demo was
	// hosted.
	dir string
	// id and created name the hosted demo (0 when there is none).
	id      int64
	created int64
}

// demoMarker reads how to recognise the demo project; errNoDemoDir when
// the portal has no demo directory.
func (h *Handler) demoMarker() (demoMark, error) {
	dir, err := h.demoRepoDir()
	if err != nil {
		return demoMark{}, err
	}
	m := demoMark{dir: dir}
	raw, err := os.ReadFile(filepath.Join(h.cfg.DemoDir, demoMarkerFile))
	if err != nil {
		return m, nil
	}
	f := strings.Fields(string(raw))
	if len(f) == 2 {
		id, ierr := strconv.ParseInt(f[0], 10, 64)
		created, cerr := strconv.ParseInt(f[1], 10, 64)
		if ierr == nil && cerr == nil {
			m.id, m.created = id, created
		}
	}
	return m, nil
}

// writeDemoMarker records p as the hosted demo project. The file is
// written beside and renamed into place, so a reader never sees half.
func (h *Handler) writeDemoMarker(p *models.Project) error {
	if err := os.MkdirAll(h.cfg.DemoDir, 0o755); err != nil {
		return fmt.Errorf("handlers: demo marker: %w", err)
	}
	tmp, err := os.CreateTemp(h.cfg.DemoDir, "."+demoMarkerFile+"-")
	if err != nil {
		return fmt.Errorf("handlers: demo marker: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = fmt.Fprintf(tmp, "%d %d\n", p.ID, p.CreatedAt.Unix())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(h.cfg.DemoDir, demoMarkerFile))
	}
	if err != nil {
		return fmt.Errorf("handlers: demo marker: %w", err)
	}
	return nil
}

// demoProject returns the demo project, or models.ErrNotFound when there
// is none (or no demo directory).
func (h *Handler) demoProject(ctx context.Context) (*models.Project, error) {
	m, err := h.demoMarker()
	if err != nil {
		return nil, models.ErrNotFound
	}
	ps, err := h.store.Projects(ctx)
	if err != nil {
		return nil, err
	}
	return findDemo(ps, m)
}

// findDemo picks the demo project out of ps: the hosted project the
// marker names, else the project linked to the old demo repository.
func findDemo(ps []models.Project, m demoMark) (*models.Project, error) {
	for i := range ps {
		if m.is(&ps[i]) {
			return &ps[i], nil
		}
	}
	return nil, models.ErrNotFound
}

// is reports whether p is the demo project m names.
func (m demoMark) is(p *models.Project) bool {
	if p.Hosted {
		return m.id != 0 && p.ID == m.id && p.CreatedAt.Unix() == m.created
	}
	return m.dir != "" && p.RepoURL == m.dir
}

// isDemo reports whether p is the demo project.
func (h *Handler) isDemo(p *models.Project) bool {
	m, err := h.demoMarker()
	return err == nil && m.is(p)
}

// demoRepo is the repository the demo's version is read from: the hosted
// bare repository, or the linked one on this machine.
func (h *Handler) demoRepo(p *models.Project) string {
	if p.Hosted {
		return h.jobs.RepoDir(p)
	}
	return p.RepoURL
}
