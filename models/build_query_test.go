package models

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBuildLifecycleQueries(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p := &Project{Slug: "app", Name: "App", RepoURL: "/repo", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 1}
		if err := s.db.Create(p).Error; err != nil {
			t.Fatal(err)
		}
		t.Run("concurrent builds get distinct consecutive numbers", func(t *testing.T) {
			var mu sync.Mutex
			var got []int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					err := s.Tx(ctx, func(tx *Store) error {
						n, err := tx.AllocateBuildNumber(ctx, p.ID)
						if err != nil {
							return err
						}
						mu.Lock()
						got = append(got, n)
						mu.Unlock()
						return tx.CreateBuild(ctx, &Build{ProjectID: p.ID, Number: n, Ref: "main", RefType: "branch", CommitSHA: "abc", Trigger: "api", Status: BuildQueued})
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			slices.Sort(got)
			if !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
				t.Fatalf("numbers %v", got)
			}
			if _, err := s.AllocateBuildNumber(ctx, 9999); err == nil {
				t.Fatal("a missing project got a build number")
			}
		})
		bs, err := s.Builds(ctx, BuildFilter{ProjectID: p.ID})
		if err != nil || len(bs) != 8 || bs[0].ID < bs[7].ID {
			t.Fatalf("builds newest first: %d %v", len(bs), err)
		}
		now := time.Now().UTC()
		a, b, c := bs[0].ID, bs[1].ID, bs[2].ID
		t.Run("a build is claimed once", func(t *testing.T) {
			if ok, err := s.ClaimBuild(ctx, a, "w1", now); !ok || err != nil {
				t.Fatalf("first claim %v %v", ok, err)
			}
			if ok, _ := s.ClaimBuild(ctx, a, "w2", now); ok {
				t.Fatal("second claim succeeded")
			}
		})
		t.Run("cancel ends a queued build, marks a running one, leaves a finished one", func(t *testing.T) {
			if was, err := s.RequestBuildCancel(ctx, b, nil, "canceled before it started", now); was != BuildQueued || err != nil {
				t.Fatalf("queued: %s %v", was, err)
			}
			if got, _ := s.Build(ctx, b); got.Status != BuildCanceled {
				t.Fatalf("queued build now %s", got.Status)
			}
			if ok, _ := s.ClaimBuild(ctx, b, "w1", now); ok {
				t.Fatal("a canceled build was claimed")
			}
			if was, _ := s.RequestBuildCancel(ctx, a, nil, "x", now); was != BuildRunning {
				t.Fatalf("running: %s", was)
			}
			if req, _ := s.BuildCancelRequested(ctx, a); !req {
				t.Fatal("cancel request not recorded")
			}
			if was, _ := s.RequestBuildCancel(ctx, b, nil, "x", now); was != BuildCanceled {
				t.Fatalf("finished: %s", was)
			}
		})
		t.Run("only the owning worker finishes a build, recovery only a dead owner's", func(t *testing.T) {
			if ok, _ := s.FinishBuild(ctx, a, "w2", BuildResult{Status: BuildSucceeded, FinishedAt: now}); ok {
				t.Fatal("another worker finished the build")
			}
			if ok, _ := s.InterruptBuild(ctx, a, "w2", "gone", now); ok {
				t.Fatal("recovery for the wrong owner interrupted the build")
			}
			if ok, err := s.InterruptBuild(ctx, a, "w1", "gone", now); !ok || err != nil {
				t.Fatalf("interrupt: %v %v", ok, err)
			}
			if ok, _ := s.FinishBuild(ctx, a, "w1", BuildResult{Status: BuildSucceeded, FinishedAt: now}); ok {
				t.Fatal("a worker overwrote an interrupted build")
			}
			if got, _ := s.Build(ctx, a); got.Status != BuildInterrupted || got.StatusReason != "gone" {
				t.Fatalf("build %s %q", got.Status, got.StatusReason)
			}
			un, err := s.UnfinishedBuilds(ctx)
			if err != nil || slices.ContainsFunc(un, func(x Build) bool { return x.ID == a || x.ID == b }) || !slices.ContainsFunc(un, func(x Build) bool { return x.ID == c }) {
				t.Fatalf("unfinished builds %v %v", un, err)
			}
		})
		t.Run("an artifact is recorded once", func(t *testing.T) {
			sha := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			for range 2 {
				if err := s.UpsertArtifact(ctx, &Artifact{SHA256: sha, Size: 10}); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.Artifact(ctx, sha); err != nil || got.Size != 10 {
				t.Fatalf("%v %v", got, err)
			}
		})
	})
}

func TestRecentBuildOfCommit(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p := &Project{Slug: "dup", Name: "Dup", RepoURL: "/repo", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 1}
		if err := s.db.Create(p).Error; err != nil {
			t.Fatal(err)
		}
		b := &Build{ProjectID: p.ID, Number: 1, Ref: "main", RefType: "branch", CommitSHA: "abc", Trigger: "webhook", Status: BuildQueued}
		if err := s.CreateBuild(ctx, b); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if got, err := s.RecentBuildOfCommit(ctx, p.ID, "branch", "main", "abc", now.Add(-time.Minute)); err != nil || got.ID != b.ID {
			t.Fatalf("a build within the window: %v, %v", got, err)
		}
		for name, args := range map[string][3]string{
			"another commit": {"branch", "main", "abd"}, "another branch": {"branch", "dev", "abc"}, "a tag of that name": {"tag", "main", "abc"},
		} {
			if _, err := s.RecentBuildOfCommit(ctx, p.ID, args[0], args[1], args[2], now.Add(-time.Minute)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: %v, want ErrNotFound", name, err)
			}
		}
		if _, err := s.RecentBuildOfCommit(ctx, p.ID, "branch", "main", "abc", now.Add(time.Minute)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a build before the window: %v, want ErrNotFound", err)
		}
	})
}
