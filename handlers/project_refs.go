package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

const (
	// refsTTL is how long a successful ls-remote answer is reused; refsErrTTL
	// that of a failure (short, so a fixed remote shows up soon).
	refsTTL    = 30 * time.Second
	refsErrTTL = 10 * time.Second
	// refsTimeout bounds one ls-remote for a page.
	refsTimeout = 15 * time.Second
	// maxCachedRemotes bounds the cache; maxRemoteCalls bounds how many
	// ls-remote processes pages may run at once.
	maxCachedRemotes = 256
	maxRemoteCalls   = 4
)

// refCache remembers what remotes advertised, so project pages do not run
// git on every view, and bounds how many git processes pages start.
type refCache struct {
	mu      sync.Mutex
	entries map[string]refEntry
	slots   chan struct{}
}

type refEntry struct {
	refs gitrepo.Refs
	err  error
	at   time.Time
}

func newRefCache() *refCache {
	return &refCache{entries: map[string]refEntry{}, slots: make(chan struct{}, maxRemoteCalls)}
}

// key changes with the URL and the deploy key, so an edited project is
// never answered from its old remote.
func refKey(p *models.Project) string {
	return p.Slug + "\x00" + p.RepoURL + "\x00" + string(p.DeployKeySealed)
}

// get returns the project's refs, from the cache when fresh.
func (rc *refCache) get(ctx context.Context, remote gitrepo.Remote, p *models.Project, now time.Time) (gitrepo.Refs, error) {
	key := refKey(p)
	rc.mu.Lock()
	e, ok := rc.entries[key]
	rc.mu.Unlock()
	if ok && (now.Sub(e.at) < refsTTL && e.err == nil || now.Sub(e.at) < refsErrTTL) {
		return e.refs, e.err
	}
	select {
	case rc.slots <- struct{}{}:
	case <-ctx.Done():
		return gitrepo.Refs{}, ctx.Err()
	}
	defer func() { <-rc.slots }()
	cctx, cancel := context.WithTimeout(ctx, refsTimeout)
	defer cancel()
	refs, err := gitrepo.LsRemote(cctx, remote)
	if err != nil && ctx.Err() != nil {
		return refs, err // the viewer left; remember nothing
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.entries) >= maxCachedRemotes {
		rc.evictOldest()
	}
	rc.entries[key] = refEntry{refs: refs, err: err, at: now}
	return refs, err
}

func (rc *refCache) evictOldest() {
	var oldest string
	var at time.Time
	for k, e := range rc.entries {
		if oldest == "" || e.at.Before(at) {
			oldest, at = k, e.at
		}
	}
	delete(rc.entries, oldest)
}

// forget drops a project's cached refs (after a build was started, say).
func (rc *refCache) forget(p *models.Project) {
	rc.mu.Lock()
	delete(rc.entries, refKey(p))
	rc.mu.Unlock()
}

// projectRefs lists a project's branches and tags through the cache.
func (h *Handler) projectRefs(ctx context.Context, p *models.Project) (gitrepo.Refs, error) {
	if p.Hosted {
		// The hosted repository is on this disk: no cache, no network.
		return gitrepo.LocalRefs(ctx, h.jobs.RepoDir(p))
	}
	remote, err := jobs.ProjectRemote(h.secrets, p)
	if err != nil {
		return gitrepo.Refs{}, err
	}
	if remote.Network, err = h.jobs.RemoteNetwork(ctx, p); err != nil {
		return gitrepo.Refs{}, err
	}
	return h.refs.get(ctx, remote, p, h.now())
}
