package jobs

import (
	"fmt"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// ProjectRemote is how git reaches a project's repository: its URL and,
// for ssh, its deploy key opened from the sealed column. The key lives
// only in the returned value; gitrepo writes it to a private temporary
// file for one command.
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
