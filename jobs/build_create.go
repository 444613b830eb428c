package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

// Build triggers (models.Build.Trigger).
const (
	TriggerManual  = "manual"
	TriggerAPI     = "api"
	TriggerWebhook = "webhook"
	TriggerPoll    = "poll"
	// TriggerPush is a git push to a repository Slipway hosts.
	TriggerPush = "push"
	// TriggerIDE is a commit made in the web IDE.
	TriggerIDE = "ide"
)

// sightingSource names how a build's trigger learned of its commit
// (models.CommitSighting.Source).
func sightingSource(trigger string) string {
	switch trigger {
	case TriggerWebhook, TriggerPoll, TriggerPush, TriggerIDE:
		return trigger
	}
	return models.SightingBuild
}

// Ref types (models.Build.RefType).
const (
	RefBranch = "branch"
	RefTag    = "tag"
	RefCommit = "commit"
)

// mirrorTimeout bounds one update of a project's mirror.
const mirrorTimeout = 5 * time.Minute

// CreateBuildRequest asks for a build of a project at a ref.
type CreateBuildRequest struct {
	Project *models.Project
	// Ref is a branch, a tag or a commit SHA (full or abbreviated); a full
	// ref name (refs/heads/x, refs/tags/x) says which it is.
	Ref string
	// CommitSHA, when set, is the commit to build (webhooks know it); Ref
	// then only names where it came from.
	CommitSHA string
	// Trigger is TriggerManual, TriggerAPI, TriggerWebhook or TriggerPoll.
	Trigger string
	// TriggeredByID is the user who asked, if any.
	TriggeredByID *int64
}

// ErrInvalidBuildRequest wraps problems with a CreateBuildRequest itself.
var ErrInvalidBuildRequest = errors.New("invalid build request")

// UnknownRefError says the ref names no branch, tag or commit of the
// repository. Handlers answer it with 422.
type UnknownRefError struct {
	Ref string
}

// Error names the ref.
func (e *UnknownRefError) Error() string {
	return fmt.Sprintf("unknown ref %q: the repository has no branch, tag or commit of that name", e.Ref)
}

// RepoError says the repository could not be fetched. Msg is safe to show
// (credentials redacted); Err is the cause, matching gitrepo.ErrNotReachable,
// ErrAuthRefused or ErrInvalidURL with errors.Is.
type RepoError struct {
	Msg string
	Err error
}

// Error is the user-facing message.
func (e *RepoError) Error() string { return e.Msg }

// Unwrap exposes the cause.
func (e *RepoError) Unwrap() error { return e.Err }

// MirrorDir is where a project's bare mirror lives: <data>/repos/<id>.
func (j *Jobs) MirrorDir(projectID int64) string { return mirrorDir(j.deps, projectID) }

func mirrorDir(deps Deps, projectID int64) string {
	return filepath.Join(deps.DataDir, "repos", strconv.FormatInt(projectID, 10))
}

// RepoDir is the bare repository builds of p read from: the hosted
// repository itself (<data>/repos/hosted/<id>.git) for a hosted project,
// else the mirror of the linked one.
func (j *Jobs) RepoDir(p *models.Project) string {
	if p.Hosted {
		return HostedRepoDir(j.deps.DataDir, p.ID)
	}
	return j.MirrorDir(p.ID)
}

// HostedRepoDir is where the repository of hosted project id lives under
// dataDir. It is named by ID, not slug, so it never follows a rename.
func HostedRepoDir(dataDir string, id int64) string {
	return filepath.Join(dataDir, "repos", "hosted", strconv.FormatInt(id, 10)+".git")
}

// HooksDir holds the git hooks every hosted repository runs (the push
// policy); see gitrepo.InstallHooks.
func (j *Jobs) HooksDir() string {
	return filepath.Join(j.deps.DataDir, "repos", "hooks")
}

// InitHostedRepo creates the empty bare repository of hosted project p.
func (j *Jobs) InitHostedRepo(ctx context.Context, p *models.Project) error {
	if j.deps.DataDir == "" {
		return errors.New("jobs: init hosted repository: no data dir configured")
	}
	return gitrepo.InitBare(ctx, HostedRepoDir(j.deps.DataDir, p.ID), p.DefaultBranch)
}

// CreateBuild resolves req.Ref (or req.CommitSHA) to a commit in the
// project's freshly updated mirror, reads the commit's author and message,
// and creates the build — with the next build number of the project and
// its River job — in one transaction of store, which may be the app's
// store or a transaction of it.
//
// An unknown ref is an *UnknownRefError, a repository that cannot be
// fetched a *RepoError; neither creates anything.
func (j *Jobs) CreateBuild(ctx context.Context, store *models.Store, req CreateBuildRequest) (*models.Build, error) {
	p := req.Project
	ref := strings.TrimSpace(req.Ref)
	sha := strings.TrimSpace(req.CommitSHA)
	switch {
	case p == nil || p.ID == 0:
		return nil, fmt.Errorf("jobs: create build: no project: %w", ErrInvalidBuildRequest)
	case ref == "" && sha == "":
		return nil, fmt.Errorf("jobs: create build: no ref given: %w", ErrInvalidBuildRequest)
	case j.deps.DataDir == "":
		return nil, errors.New("jobs: create build: no data dir configured")
	}
	switch req.Trigger {
	case TriggerManual, TriggerAPI, TriggerWebhook, TriggerPoll, TriggerPush, TriggerIDE:
	default:
		return nil, fmt.Errorf("jobs: create build: trigger %q: %w", req.Trigger, ErrInvalidBuildRequest)
	}
	if ref == "" {
		ref = sha
	}
	dir := j.RepoDir(p)
	want := ref
	if sha != "" {
		want = sha
	}
	// A webhook's commit may already be in the mirror; anything else needs
	// the remote's current state, or a branch would build a stale commit.
	if sha == "" || !hasCommit(ctx, dir, sha) {
		if err := j.updateMirror(ctx, p); err != nil {
			return nil, err
		}
	}
	full, err := gitrepo.ResolveRef(ctx, dir, want)
	if errors.Is(err, gitrepo.ErrUnknownRef) {
		return nil, &UnknownRefError{Ref: want}
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: create build: %w", err)
	}
	refType := RefCommit
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		ref, refType = strings.TrimPrefix(ref, "refs/heads/"), RefBranch
	case strings.HasPrefix(ref, "refs/tags/"):
		ref, refType = strings.TrimPrefix(ref, "refs/tags/"), RefTag
	case refExists(ctx, dir, "refs/tags/"+ref):
		refType = RefTag
	case refExists(ctx, dir, "refs/heads/"+ref):
		refType = RefBranch
	case sha != "" && ref != sha:
		// A webhook names the branch of a commit the mirror already had,
		// so the branch itself may not be fetched yet.
		refType = RefBranch
	default:
		ref = full
	}
	c, err := gitrepo.CommitInfo(ctx, dir, full)
	if err != nil {
		return nil, fmt.Errorf("jobs: create build: %w", err)
	}
	b := &models.Build{
		ProjectID:         p.ID,
		Ref:               clip(ref, 255),
		RefType:           refType,
		CommitSHA:         full,
		CommitAuthor:      clip(c.AuthorName, 255),
		CommitAuthorEmail: clip(c.AuthorEmail, 255),
		CommitMessage:     clip(c.Subject, 1024),
		Trigger:           req.Trigger,
		TriggeredByID:     req.TriggeredByID,
		Status:            models.BuildQueued,
	}
	err = store.Tx(ctx, func(tx *models.Store) error {
		n, err := tx.AllocateBuildNumber(ctx, p.ID)
		if err != nil {
			return err
		}
		b.Number = n
		if err := tx.CreateBuild(ctx, b); err != nil {
			return err
		}
		// The build's commit was seen now, unless something saw it first
		// (a webhook's or a push's full list of commits).
		if err := tx.RecordCommitSightings(ctx, p.ID, []string{full}, sightingSource(req.Trigger), time.Now()); err != nil {
			return err
		}
		res, err := j.InsertTx(ctx, tx, BuildArgs{BuildID: b.ID}, nil)
		if err != nil {
			return err
		}
		b.JobID = res.Job.ID
		return tx.SetBuildJobID(ctx, b.ID, b.JobID)
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: create build: %w", err)
	}
	b.Project = *p
	return b, nil
}

// updateMirror fetches the project's repository into its bare mirror.
// A hosted project has nothing to fetch: its repository is the source.
func (j *Jobs) updateMirror(ctx context.Context, p *models.Project) error {
	if p.Hosted {
		return nil
	}
	remote := gitrepo.Remote{URL: p.RepoURL}
	network, err := j.RemoteNetwork(ctx, p)
	if err != nil {
		return err
	}
	remote.Network = network
	if len(p.DeployKeySealed) > 0 {
		if j.deps.DeployKey == nil {
			return &RepoError{Msg: "this project has a deploy key, and this portal cannot open deploy keys yet (no secret key configured)", Err: gitrepo.ErrAuthRefused}
		}
		key, err := j.deps.DeployKey(ctx, p)
		if err != nil {
			return &RepoError{Msg: "cannot open the project's deploy key: " + err.Error(), Err: err}
		}
		remote.SSHKey = key
	}
	mctx, cancel := context.WithTimeout(ctx, mirrorTimeout)
	defer cancel()
	err = gitrepo.Mirror(mctx, j.MirrorDir(p.ID), remote)
	if err == nil {
		return nil
	}
	var ge *gitrepo.Error
	if errors.As(err, &ge) {
		return &RepoError{Msg: ge.Msg, Err: err}
	}
	if ctx.Err() == nil && mctx.Err() != nil {
		return &RepoError{Msg: fmt.Sprintf("fetching %s took longer than %s", gitrepo.RedactURL(p.RepoURL), mirrorTimeout), Err: gitrepo.ErrNotReachable}
	}
	return fmt.Errorf("jobs: update mirror: %w", err)
}

// hasCommit reports whether the mirror already holds the commit sha.
func hasCommit(ctx context.Context, dir, sha string) bool {
	_, err := gitrepo.ResolveRef(ctx, dir, sha)
	return err == nil
}

func refExists(ctx context.Context, dir, ref string) bool {
	_, err := gitrepo.ResolveRef(ctx, dir, ref)
	return err == nil
}

// BuildArgs is the River job that runs one build.
type BuildArgs struct {
	BuildID int64 `json:"build_id"`
}

// Kind names the job for River.
func (BuildArgs) Kind() string { return "build" }

// InsertOpts puts builds on their own queue, never retried: a build that
// died is reported as interrupted, and running it again is the user's call.
func (BuildArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBuilds, MaxAttempts: 1}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cutting may split a UTF-8 sequence; drop the broken end.
	return strings.ToValidUTF8(s[:n], "")
}
