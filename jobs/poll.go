package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/models"
)

const (
	// PollEvery is how often the poll job looks for projects that are due.
	PollEvery = 15 * time.Second
	// pollRemoteTimeout bounds one project's ls-remote.
	pollRemoteTimeout = 30 * time.Second
)

// PollArgs is the periodic job that looks for new commits on the default
// branch of projects that cannot send webhooks.
type PollArgs struct{}

// Kind names the job for River.
func (PollArgs) Kind() string { return "poll_projects" }

// InsertOpts keeps one poll job pending at a time.
func (PollArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: PollEvery}}
}

// PollWorker runs PollArgs.
type PollWorker struct {
	river.WorkerDefaults[PollArgs]
	j       *Jobs
	store   *models.Store
	secrets SecretBox
	log     *slog.Logger
}

// Timeout bounds one round of polling.
func (w *PollWorker) Timeout(*river.Job[PollArgs]) time.Duration { return 5 * time.Minute }

// Work polls every project that is due.
func (w *PollWorker) Work(ctx context.Context, _ *river.Job[PollArgs]) error {
	_, err := w.Poll(ctx, time.Now().UTC())
	return err
}

// Poll checks each project whose poll interval has passed and creates a
// build of its default branch when the branch's head differs from the
// newest build of that branch. It returns the builds it created. One
// project's failure (unreachable remote, missing branch) is logged and
// does not stop the others.
func (w *PollWorker) Poll(ctx context.Context, now time.Time) ([]*models.Build, error) {
	due, err := w.store.ProjectsDueForPoll(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("jobs: poll: %w", err)
	}
	var built []*models.Build
	for i := range due {
		p := &due[i]
		// Claiming first means two pollers (two processes, or a slow round
		// overlapping the next) never check one project twice for one
		// interval, so one new commit makes one build.
		won, err := w.store.ClaimProjectPoll(ctx, p.ID, p.LastPolledAt, now)
		if err != nil {
			return built, fmt.Errorf("jobs: poll: %w", err)
		}
		if !won {
			continue
		}
		b, err := w.pollProject(ctx, p)
		switch {
		case ctx.Err() != nil:
			return built, ctx.Err()
		case err != nil:
			w.log.Warn("poll project", slog.String("project", p.Slug), slog.Any("err", err))
		case b != nil:
			w.log.Info("poll found a new commit", slog.String("project", p.Slug), slog.String("branch", p.DefaultBranch),
				slog.String("commit", b.CommitSHA), slog.Int64("build", b.ID))
			built = append(built, b)
		}
	}
	return built, nil
}

// pollProject builds the default branch's head if no build of the branch
// has that commit as its newest; it returns nil when nothing is new.
func (w *PollWorker) pollProject(ctx context.Context, p *models.Project) (*models.Build, error) {
	remote, err := ProjectRemote(w.secrets, p)
	if err != nil {
		return nil, err
	}
	if remote.Network, err = w.j.RemoteNetwork(ctx, p); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, pollRemoteTimeout)
	refs, err := gitrepo.LsRemote(lctx, remote)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("jobs: poll %s: %w", p.Slug, err)
	}
	sha, ok := refs.Branches[p.DefaultBranch]
	if !ok {
		return nil, fmt.Errorf("jobs: poll %s: the repository has no branch %q", p.Slug, p.DefaultBranch)
	}
	latest, err := w.store.LatestBuildForRef(ctx, p.ID, p.DefaultBranch)
	switch {
	case err == nil && latest.CommitSHA == sha:
		return nil, nil
	case err != nil && !errors.Is(err, models.ErrNotFound):
		return nil, fmt.Errorf("jobs: poll %s: %w", p.Slug, err)
	}
	b, err := w.j.CreateBuild(ctx, w.store, CreateBuildRequest{Project: p, Ref: "refs/heads/" + p.DefaultBranch, CommitSHA: sha, Trigger: TriggerPoll})
	if err != nil {
		return nil, fmt.Errorf("jobs: poll %s: %w", p.Slug, err)
	}
	if latest != nil {
		w.recordSightings(ctx, p, latest.CommitSHA, b.CommitSHA)
	}
	return b, nil
}

// recordSightings notes the commits between the last polled head and the
// new one (the build has just brought them into the mirror) as first seen
// by this poll, for DORA's lead time; the build recorded the head itself.
func (w *PollWorker) recordSightings(ctx context.Context, p *models.Project, from, to string) {
	log, err := gitrepo.Log(ctx, w.j.RepoDir(p), from, to, maxPolledCommits)
	if err != nil {
		w.log.Info("poll: list new commits", "project", p.Slug, "err", err)
		return
	}
	shas := make([]string, len(log))
	for i, c := range log {
		shas[i] = c.SHA
	}
	if err := w.store.RecordCommitSightings(ctx, p.ID, shas, models.SightingPoll, time.Now()); err != nil {
		w.log.Warn("poll: record commit sightings", "project", p.Slug, "err", err)
	}
}

// maxPolledCommits bounds the commits one poll records.
const maxPolledCommits = 2048
