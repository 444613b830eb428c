package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHeadReleaseAndSkipRelease(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, envs, b := seedProject(t, s, "shop")
		dev := envs[0]
		if _, err := s.HeadRelease(ctx, dev.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an empty environment has no head: %v", err)
		}
		mk := func(status string) *Release {
			r := &Release{EnvironmentID: dev.ID, BuildID: &b.ID, ArtifactSHA256: *b.ArtifactSHA256, Status: status, Reason: ReasonAuto}
			if err := s.CreateRelease(ctx, r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		live := mk(ReleaseLive)
		mk(ReleaseFailed)
		head, err := s.HeadRelease(ctx, dev.ID)
		if err != nil || head.ID != live.ID || head.Build == nil || head.Build.CommitSHA != b.CommitSHA {
			t.Fatalf("a failed release is not the head; the live one is, with its build: %+v %v", head, err)
		}
		pending := mk(ReleasePending)
		if head, _ := s.HeadRelease(ctx, dev.ID); head.ID != pending.ID {
			t.Fatalf("a queued release is the head: %d", head.ID)
		}
		if wait, err := s.AcquireDeployLock(ctx, dev.ID, pending.ID); err != nil || wait != 0 {
			t.Fatalf("lock: %d %v", wait, err)
		}
		ok, err := s.SkipRelease(ctx, pending.ID, time.Now().UTC(), "auto-deploy skipped: older")
		if err != nil || !ok {
			t.Fatalf("skip: %v %v", ok, err)
		}
		got, _ := s.Release(ctx, pending.ID)
		if got.Status != ReleaseSuperseded || got.Error != "auto-deploy skipped: older" || got.FinishedAt == nil {
			t.Fatalf("skipped release = %s %q", got.Status, got.Error)
		}
		e, _ := s.Environment(ctx, dev.ID)
		if e.DeployLockReleaseID != nil {
			t.Fatal("a skipped release frees the deploy lock")
		}
		if ok, err := s.SkipRelease(ctx, pending.ID, time.Now().UTC(), "again"); err != nil || ok {
			t.Fatalf("a release no longer pending is not skipped again: %v %v", ok, err)
		}
		if head, _ := s.HeadRelease(ctx, dev.ID); head.ID != live.ID {
			t.Fatalf("after the skip the live release is the head again: %d", head.ID)
		}
	})
}

func TestSetUserPasswordEndsOtherSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u := &User{Username: "pat", PasswordHash: "old", Role: "developer"}
		other := &User{Username: "olga", PasswordHash: "x", Role: "lead"}
		for _, x := range []*User{u, other} {
			if err := s.CreateUser(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		for _, sess := range []*Session{{ID: "keep", UserID: u.ID}, {ID: "end1", UserID: u.ID}, {ID: "end2", UserID: u.ID}, {ID: "theirs", UserID: other.ID}} {
			sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = now, now, now.Add(time.Hour)
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.SetUserPassword(ctx, u.ID, "new", "keep")
		if err != nil || n != 2 {
			t.Fatalf("ended %d sessions (%v), want 2", n, err)
		}
		for id, want := range map[string]bool{"keep": true, "end1": false, "end2": false, "theirs": true} {
			_, err := s.SessionByID(ctx, id, now)
			if (err == nil) != want {
				t.Errorf("session %s alive = %v, want %v", id, err == nil, want)
			}
		}
		if got, _ := s.UserByName(ctx, "pat"); got.PasswordHash != "new" {
			t.Fatal("hash not replaced")
		}
		if n, err := s.SetUserPassword(ctx, u.ID, "newer", ""); err != nil || n != 1 {
			t.Fatalf("a reset ends every session: %d %v", n, err)
		}
		if _, err := s.SetUserPassword(ctx, 999999, "x", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
	})
}
