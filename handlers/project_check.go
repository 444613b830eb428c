package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// checkTimeout bounds "Check connection".
const checkTimeout = 20 * time.Second

// checkProjectConnection runs git ls-remote against what the form holds
// and answers with a fragment saying whether the repository can be used.
func (h *Handler) checkProjectConnection(c echo.Context) error {
	in, _ := projectFormInput(c)
	in.normalize()
	if in.Name == "" {
		in.Name = "check" // only the repository fields matter here
	}
	res := pages.ConnectionCheck{DefaultBranch: in.DefaultBranch}
	answer := func() error { return h.renderComponent(c, http.StatusOK, pages.ConnectionResult(res)) }
	var fe *fieldError
	if err := in.validate(roleOf(currentUser(c))); errors.As(err, &fe) && fe.Field != "slug" && fe.Field != "poll_interval" {
		res.Message = fe.sentence(fieldLabel(fe.Field))
		return answer()
	}
	remote := gitrepo.Remote{URL: in.RepoURL, Network: h.jobs.Network(roleOf(currentUser(c)))}
	if in.DeployKey != "" {
		remote.SSHKey = []byte(in.DeployKey + "\n")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), checkTimeout)
	defer cancel()
	refs, err := gitrepo.LsRemote(ctx, remote)
	res = describeCheck(refs, err, in.RepoURL, in.DefaultBranch, in.DeployKey != "")
	return answer()
}

// describeCheck turns an ls-remote answer into what the user reads.
func describeCheck(refs gitrepo.Refs, err error, repoURL, branch string, withKey bool) pages.ConnectionCheck {
	res := pages.ConnectionCheck{DefaultBranch: branch, RemoteHead: refs.Head, Branches: len(refs.Branches), Tags: len(refs.Tags)}
	var ge *gitrepo.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// The same words as a refused or forbidden connection: a timeout
		// would otherwise tell a filtered port from a closed one.
		res.Message = gitrepo.ErrNotReachable.Error() + ": " + gitrepo.RedactURL(repoURL)
		return res
	case errors.Is(err, gitrepo.ErrAuthRefused) && errors.As(err, &ge):
		res.Message = ge.Msg
		if withKey {
			res.Message += " — is the deploy key's public half added to the repository?"
		} else {
			res.Message += " — for a private repository use an ssh URL with a deploy key"
		}
		return res
	case errors.As(err, &ge):
		res.Message = ge.Msg
		return res
	case err != nil:
		res.Message = strings.TrimPrefix(err.Error(), "gitrepo: ")
		return res
	case len(refs.Branches) == 0:
		res.Message = "the repository has no branches yet — push a first commit to " + branch + ", then check again"
		return res
	}
	if _, ok := refs.Branches[branch]; !ok {
		names := make([]string, 0, len(refs.Branches))
		for n := range refs.Branches {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 8 {
			names = append(names[:8], "…")
		}
		res.Message = fmt.Sprintf("the repository is reachable, but it has no branch %q (its branches: %s)", branch, strings.Join(names, ", "))
		if refs.Head != "" && refs.Head != branch {
			res.Message += fmt.Sprintf("; its default branch is %q", refs.Head)
		}
		return res
	}
	res.OK = true
	res.Message = fmt.Sprintf("%s and %s; the default branch %q is at %s.",
		countNoun(len(refs.Branches), "branch", "branches"), countNoun(len(refs.Tags), "tag", "tags"), branch, models.ShortSHA(refs.Branches[branch]))
	return res
}

func countNoun(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
