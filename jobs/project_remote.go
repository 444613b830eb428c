package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// ProjectRemote is how git reaches a project's repository: its URL and,
// for ssh, its deploy key opened from the sealed column. The key lives
// only in the returned value; gitrepo writes it to a private temporary
// file for one command. The remote's Network is the zero (public only)
// one; callers that may reach more use Jobs.RemoteNetwork.
func ProjectRemote(box SecretBox, p *models.Project) (gitrepo.Remote, error) {
	r := gitrepo.Remote{URL: p.RepoURL}
	if len(p.DeployKeySealed) == 0 {
		return r, nil
	}
	if box == nil {
		return r, fmt.Errorf("jobs: deploy key of %s: %w", p.Slug, ErrNoSecretBox)
	}
	key, err := box.Open(p.DeployKeySealed, p.DeployKeyAD())
	if err != nil {
		return r, fmt.Errorf("jobs: deploy key of %s: %w", p.Slug, err)
	}
	r.SSHKey = key
	return r, nil
}

// Network is which addresses git may connect to for a user with role:
// public ones and the admin allow-list (Deps.RepoNetworks) for everyone,
// anything (loopback, private, link-local...) for a role that may link
// repositories on this machine (admins).
func (j *Jobs) Network(role auth.Role) gitrepo.Network {
	return gitrepo.Network{AllowPrivate: auth.Can(role, auth.LinkLocalRepo), Allow: j.deps.RepoNetworks}
}

// RemoteNetwork is which addresses git may connect to for project p: those
// its creator's current role may reach. A project whose creator is gone or
// no longer an admin keeps to public addresses and the allow-list, so a
// repository can never be pointed at this machine by anyone but an admin.
func (j *Jobs) RemoteNetwork(ctx context.Context, p *models.Project) (gitrepo.Network, error) {
	role := auth.Role("")
	if p.CreatedByID != nil {
		u, err := j.deps.Store.User(ctx, *p.CreatedByID)
		switch {
		case err == nil:
			role = auth.Role(u.Role)
		case !errors.Is(err, models.ErrNotFound):
			return gitrepo.Network{}, fmt.Errorf("jobs: network of %s: %w", p.Slug, err)
		}
	}
	return j.Network(role), nil
}
