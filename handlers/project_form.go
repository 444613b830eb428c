package handlers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// projectInput is what the new-project form and POST /api/v1/projects
// carry, before validation.
type projectInput struct {
	Name          string
	Slug          string
	RepoURL       string
	DefaultBranch string
	DeployKey     string
	// PollInterval in seconds; 0 is off.
	PollInterval int64
	// Hosted asks Slipway to host the repository instead of linking one.
	Hosted bool
}

// fieldError names the field a validation error is about (the API's
// field name; the form maps it to its input).
type fieldError struct {
	Field string
	Msg   string
	// Forbidden marks a value the user's role may not use.
	Forbidden bool
}

func (e *fieldError) Error() string { return e.sentence(e.Field) }

// sentence puts the message after a name for the field: "name is
// required", "repo_url: invalid repository URL: …".
func (e *fieldError) sentence(name string) string {
	for _, verb := range []string{"is ", "must ", "contains "} {
		if strings.HasPrefix(e.Msg, verb) {
			return name + " " + e.Msg
		}
	}
	return name + ": " + e.Msg
}

const (
	maxProjectName = 100
	maxSlug        = 64
	maxDeployKey   = 16 << 10
	minPoll        = 30
	maxPoll        = 24 * 3600
)

var (
	slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)
	// reservedSlugs are path segments /projects/ uses for itself.
	reservedSlugs = map[string]bool{"new": true, "check": true}
	nonSlugRE     = regexp.MustCompile(`[^a-z0-9]+`)
)

// slugFrom derives a slug from a project name ("My App!" → "my-app").
func slugFrom(name string) string {
	s := nonSlugRE.ReplaceAllString(strings.ToLower(name), "-")
	s = strings.Trim(s, "-")
	if len(s) > maxSlug {
		s = strings.TrimRight(s[:maxSlug], "-")
	}
	return s
}

// isLocalRepo reports whether a repository URL names this machine's disk.
// Network addresses on this machine (loopback and the like) are refused
// by the address check instead (checkRepoAddress and, at every connection,
// gitrepo), which answers with the same text as any unreachable host.
func isLocalRepo(raw string) bool {
	low := strings.ToLower(raw)
	return strings.HasPrefix(raw, "/") || strings.HasPrefix(low, "file:")
}

// addressCheckTimeout bounds the name lookup made when a project is linked.
const addressCheckTimeout = 5 * time.Second

// checkRepoAddress refuses a repository whose host is, or resolves to, an
// address role may not reach, with the one message gitrepo gives for any
// unreachable repository. A name that does not resolve (yet) is let
// through: every later connection is checked again anyway.
func (h *Handler) checkRepoAddress(ctx context.Context, in projectInput, role auth.Role) *fieldError {
	ctx, cancel := context.WithTimeout(ctx, addressCheckTimeout)
	defer cancel()
	err := gitrepo.CheckRemote(ctx, gitrepo.Remote{URL: in.RepoURL, Network: h.jobs.Network(role)})
	var ge *gitrepo.Error
	if errors.Is(err, gitrepo.ErrForbiddenAddress) && errors.As(err, &ge) {
		return &fieldError{Field: "repo_url", Msg: ge.Msg}
	}
	return nil
}

// isSSHRepo reports whether a (valid) repository URL uses ssh.
func isSSHRepo(raw string) bool {
	if strings.Contains(raw, "://") {
		return strings.HasPrefix(strings.ToLower(raw), "ssh://")
	}
	return !strings.HasPrefix(raw, "/")
}

// validBranchName checks a branch name the way git check-ref-format would
// for the parts that matter here.
func validBranchName(b string) error {
	switch {
	case b == "":
		return fmt.Errorf("is required")
	case len(b) > 255:
		return fmt.Errorf("is longer than 255 characters")
	case strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, "."),
		strings.HasSuffix(b, ".lock"), strings.Contains(b, ".."), strings.Contains(b, "//"), strings.Contains(b, "@{"),
		strings.ContainsAny(b, " ~^:?*[\\"), strings.HasPrefix(b, "refs/"):
		return fmt.Errorf("%q is not a valid branch name (give the name only, like main)", b)
	}
	for _, r := range b {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains control characters")
		}
	}
	return nil
}

// normalize trims the input and fills in what may be left empty.
func (in *projectInput) normalize() {
	in.Name = strings.TrimSpace(in.Name)
	in.Slug = strings.ToLower(strings.TrimSpace(in.Slug))
	in.RepoURL = strings.TrimSpace(in.RepoURL)
	in.DefaultBranch = strings.TrimSpace(in.DefaultBranch)
	in.DeployKey = strings.TrimSpace(strings.ReplaceAll(in.DeployKey, "\r\n", "\n"))
	if in.Slug == "" {
		in.Slug = slugFrom(in.Name)
	}
	if in.DefaultBranch == "" {
		in.DefaultBranch = "main"
	}
}

// validate checks the input for a user with role; the first problem is
// returned as a *fieldError.
func (in *projectInput) validate(role auth.Role) error {
	switch {
	case in.Name == "":
		return &fieldError{Field: "name", Msg: "is required"}
	case len(in.Name) > maxProjectName:
		return &fieldError{Field: "name", Msg: fmt.Sprintf("is longer than %d characters", maxProjectName)}
	case strings.IndexFunc(in.Name, unicode.IsControl) >= 0:
		return &fieldError{Field: "name", Msg: "contains control characters"}
	case in.Slug == "":
		return &fieldError{Field: "slug", Msg: "is required (letters or digits in the name give one)"}
	case !slugRE.MatchString(in.Slug):
		return &fieldError{Field: "slug", Msg: fmt.Sprintf("%q must be 1–%d lower-case letters, digits or dashes, not starting or ending with a dash", in.Slug, maxSlug)}
	case reservedSlugs[in.Slug]:
		return &fieldError{Field: "slug", Msg: fmt.Sprintf("%q is reserved; pick another", in.Slug)}
	case in.Hosted:
		return in.validateHosted()
	case in.RepoURL == "":
		return &fieldError{Field: "repo_url", Msg: "is required"}
	}
	if err := gitrepo.ValidateURL(in.RepoURL, false); err != nil {
		return &fieldError{Field: "repo_url", Msg: strings.TrimPrefix(err.Error(), "gitrepo: ")}
	}
	if isLocalRepo(in.RepoURL) && !auth.Can(role, auth.LinkLocalRepo) {
		return &fieldError{Field: "repo_url", Msg: "only admins may link a repository on this machine (a local path or file://); use an https:// or ssh URL", Forbidden: true}
	}
	if err := validBranchName(in.DefaultBranch); err != nil {
		return &fieldError{Field: "default_branch", Msg: err.Error()}
	}
	if in.DeployKey != "" {
		switch {
		case !isSSHRepo(in.RepoURL):
			return &fieldError{Field: "deploy_key", Msg: "a deploy key is only used with ssh URLs (ssh://… or git@host:path); leave it empty for this URL"}
		case len(in.DeployKey) > maxDeployKey:
			return &fieldError{Field: "deploy_key", Msg: "is larger than 16 KiB; paste the private key only"}
		case !strings.HasPrefix(in.DeployKey, "-----BEGIN ") || !strings.Contains(in.DeployKey, "PRIVATE KEY-----"):
			return &fieldError{Field: "deploy_key", Msg: "must be a private key in OpenSSH or PEM format (-----BEGIN … PRIVATE KEY-----)"}
		case strings.Contains(in.DeployKey, "ENCRYPTED"):
			return &fieldError{Field: "deploy_key", Msg: "is protected by a passphrase; use a key without one (ssh-keygen -N '')"}
		}
	}
	if in.PollInterval != 0 && (in.PollInterval < minPoll || in.PollInterval > maxPoll) {
		return &fieldError{Field: "poll_interval", Msg: fmt.Sprintf("must be 0 (off) or between %d and %d seconds", minPoll, maxPoll)}
	}
	return nil
}

// newProject builds the row for valid input, sealing its secrets, and
// returns the webhook secret in clear (shown once to the API caller).
func (h *Handler) newProject(in projectInput, createdBy int64) (*models.Project, string, error) {
	if h.secrets == nil {
		return nil, "", fmt.Errorf("handlers: create project: %w", jobs.ErrNoSecretBox)
	}
	secret := auth.RandomSecret(24)
	p := &models.Project{
		Slug:          in.Slug,
		Name:          in.Name,
		RepoURL:       in.RepoURL,
		DefaultBranch: in.DefaultBranch,
		PollInterval:  in.PollInterval,
		Hosted:        in.Hosted,
		CreatedByID:   &createdBy,
	}
	p.WebhookSecretSealed = h.secrets.Seal([]byte(secret), p.WebhookSecretAD())
	if in.DeployKey != "" {
		p.DeployKeySealed = h.secrets.Seal([]byte(in.DeployKey+"\n"), p.DeployKeyAD())
	}
	return p, secret, nil
}

// webhookSecret opens a project's webhook secret.
func (h *Handler) webhookSecret(p *models.Project) ([]byte, error) {
	if h.secrets == nil {
		return nil, fmt.Errorf("handlers: webhook secret of %s: %w", p.Slug, jobs.ErrNoSecretBox)
	}
	s, err := h.secrets.Open(p.WebhookSecretSealed, p.WebhookSecretAD())
	if err != nil {
		return nil, fmt.Errorf("handlers: webhook secret of %s: %w", p.Slug, err)
	}
	return s, nil
}

// saveProject inserts the project and its audit event in one transaction.
func (h *Handler) saveProject(c echo.Context, p *models.Project) error {
	ctx := c.Request().Context()
	return h.store.Tx(ctx, func(tx *models.Store) error {
		if err := insertProject(c, tx, p); err != nil {
			return err
		}
		if p.Hosted {
			// In the transaction: a repository that cannot be made
			// leaves no project behind.
			return h.jobs.InitHostedRepo(ctx, p)
		}
		return nil
	})
}

// insertProject inserts the project, its default environments and its
// audit event in tx, the transaction of a caller that may add more.
func insertProject(c echo.Context, tx *models.Store, p *models.Project) error {
	ctx := c.Request().Context()
	if err := tx.CreateProject(ctx, p); err != nil {
		return err
	}
	// Every project starts with dev → staging → production; dev
	// auto-deploys the default branch.
	if err := tx.CreateDefaultEnvironments(ctx, p.ID, p.DefaultBranch); err != nil {
		return err
	}
	return tx.AppendAudit(ctx, auditBy(c, models.AuditProjectCreate, "project", p.Slug, map[string]any{
		"name": p.Name, "repo_url": gitrepo.RedactURL(p.RepoURL), "default_branch": p.DefaultBranch,
		"poll_interval": p.PollInterval, "with_deploy_key": len(p.DeployKeySealed) > 0, "hosted": p.Hosted,
	}))
}
