package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// The poller's build records its commit as first seen by the poll; a
// later manual build of the same commit leaves that sighting alone.
func TestAPolledCommitIsFirstSeenByThePoll(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			j, err := New(ctx, Deps{Store: s, DataDir: t.TempDir()}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = j.Stop(context.Background()) })
			w := &PollWorker{j: j, store: s, log: slog.New(slog.DiscardHandler)}
			repo := newPollRepo(t)
			p := pollProject(t, s, "polled", repo.dir, "main", 60)
			head := repo.git("rev-parse", "HEAD")
			before := time.Now().UTC().Add(-time.Second)
			if built, err := w.Poll(ctx, time.Now().UTC()); err != nil || len(built) != 1 {
				t.Fatalf("poll built %+v, %v", built, err)
			}
			if _, err := j.CreateBuild(ctx, s, CreateBuildRequest{Project: p, Ref: head, Trigger: TriggerManual}); err != nil {
				t.Fatal(err)
			}
			got, err := s.CommitSightings(ctx, p.ID, []string{head})
			if err != nil {
				t.Fatal(err)
			}
			if c := got[head]; c.Source != models.SightingPoll || c.FirstSeenAt.Before(before) || time.Since(c.FirstSeenAt) > time.Minute {
				t.Fatalf("sighting %+v, want the poll's, just now", c)
			}
			// Two commits land between polls: both were first seen by the
			// next poll, not only the head it builds.
			mid, next := repo.commit(), repo.commit()
			if built, err := w.Poll(ctx, time.Now().UTC().Add(2*time.Minute)); err != nil || len(built) != 1 || built[0].CommitSHA != next {
				t.Fatalf("second poll built %+v, %v", built, err)
			}
			got, err = s.CommitSightings(ctx, p.ID, []string{mid, next})
			if err != nil {
				t.Fatal(err)
			}
			if got[mid].Source != models.SightingPoll || got[next].Source != models.SightingPoll {
				t.Fatalf("sightings %+v, want both commits seen by the poll", got)
			}
			if src := sightingSource(TriggerAPI); src != models.SightingBuild {
				t.Fatalf("an API build's commit is seen by %q, want build", src)
			}
		})
	}
}
