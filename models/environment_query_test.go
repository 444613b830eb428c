package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// seedProject inserts a project with the default environments and a
// succeeded build with an artifact.
func seedProject(t *testing.T, s *Store, slug string) (*Project, []Environment, *Build) {
	t.Helper()
	ctx := context.Background()
	p := &Project{Slug: slug, Name: slug, RepoURL: "file:///x", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 2}
	if err := s.insertFixture(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDefaultEnvironments(ctx, p.ID, "main"); err != nil {
		t.Fatal(err)
	}
	_, envs, err := s.ProjectEnvironments(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("a", 64)
	b := &Build{ProjectID: p.ID, Number: 1, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("c", 40), Trigger: "manual",
		Status: BuildSucceeded, ArtifactSHA256: &sha}
	if err := s.insertFixture(ctx, &Artifact{SHA256: sha, Size: 1}, b); err != nil {
		t.Fatal(err)
	}
	return p, envs, b
}

func TestDefaultEnvironmentsAndVariables(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, envs, _ := seedProject(t, s, "shop")
		var names []string
		for _, e := range envs {
			names = append(names, e.Name)
		}
		if got := strings.Join(names, ","); got != "dev,staging,production" {
			t.Fatalf("default environments = %s", got)
		}
		if envs[0].AutoDeployBranch != "main" || envs[0].Protected {
			t.Errorf("dev must auto-deploy main and be unprotected: %+v", envs[0])
		}
		if !envs[2].Protected || envs[2].ApprovalsRequired != 1 || envs[2].ApproverRoles != "lead,admin" {
			t.Errorf("production must be protected with one approval from lead or admin: %+v", envs[2])
		}

		dev := envs[0]
		if err := s.SetEnvironmentVariable(ctx, &EnvironmentVariable{EnvironmentID: dev.ID, Name: "GREETING", Value: "hi"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEnvironmentVariable(ctx, &EnvironmentVariable{EnvironmentID: dev.ID, Name: "GREETING", Value: "hello"}); err != nil {
			t.Fatal(err)
		}
		vs, err := s.EnvironmentVariables(ctx, dev.ID)
		if err != nil || len(vs) != 1 || vs[0].Value != "hello" {
			t.Fatalf("variables after replace: %v %+v", err, vs)
		}
		got, err := s.Environment(ctx, dev.ID)
		if err != nil || got.ConfigVersion != 3 {
			t.Fatalf("two variable changes must bump the config version to 3: %v %d", err, got.ConfigVersion)
		}
		if err := s.DeleteEnvironmentVariable(ctx, dev.ID, "NOPE"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleting a missing variable: %v", err)
		}

		if err := s.CreateEnvironment(ctx, &Environment{ProjectID: dev.ProjectID, Name: "dev"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("a taken environment name must conflict, got %v", err)
		}
		qa := &Environment{ProjectID: dev.ProjectID, Name: "qa"}
		if err := s.CreateEnvironment(ctx, qa); err != nil || qa.Position != 4 {
			t.Fatalf("new environment goes last: %v position %d", err, qa.Position)
		}
		if err := s.MoveEnvironment(ctx, qa.ID, -1); err != nil {
			t.Fatal(err)
		}
		_, envs, _ = s.ProjectEnvironments(ctx, "shop")
		if envs[2].Name != "qa" || envs[3].Name != "production" {
			t.Fatalf("moving qa up must put it before production: %s, %s", envs[2].Name, envs[3].Name)
		}
	})
}

func TestReleaseLifecycle(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC()
		_, envs, b := seedProject(t, s, "shop")
		dev := envs[0]
		cv := int64(0)
		newRelease := func() *Release {
			cv++
			r := &Release{EnvironmentID: dev.ID, BuildID: &b.ID, ArtifactSHA256: *b.ArtifactSHA256, ConfigVersion: cv,
				Status: ReleasePending, Reason: ReasonDeploy}
			if err := s.CreateRelease(ctx, r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		deploy := func(r *Release) {
			t.Helper()
			if w, err := s.AcquireDeployLock(ctx, dev.ID, r.ID); err != nil || w != 0 {
				t.Fatalf("lock for %d: wait %d err %v", r.ID, w, err)
			}
			if ok, err := s.StartRelease(ctx, r.ID, now); err != nil || !ok {
				t.Fatalf("start %d: %v %v", r.ID, ok, err)
			}
			if err := s.FinishReleaseLive(ctx, r.ID, r.ID, now, "paused"); err != nil {
				t.Fatal(err)
			}
		}

		r1, r2 := newRelease(), newRelease()
		if w, err := s.AcquireDeployLock(ctx, dev.ID, r2.ID); err != nil || w != r1.ID {
			t.Fatalf("a newer release must wait for the older pending one: wait %d err %v", w, err)
		}
		if w, err := s.AcquireDeployLock(ctx, dev.ID, r1.ID); err != nil || w != 0 {
			t.Fatalf("the oldest release gets the lock: wait %d err %v", w, err)
		}
		if _, err := s.StartRelease(ctx, r1.ID, now); err != nil {
			t.Fatal(err)
		}
		if w, err := s.AcquireDeployLock(ctx, dev.ID, r2.ID); err != nil || w != r1.ID {
			t.Fatalf("a second deploy must wait while the first runs: wait %d err %v", w, err)
		}
		got, _ := s.Release(ctx, r2.ID)
		if w, _ := s.ReleaseWaitingFor(ctx, got); w != r1.ID {
			t.Fatalf("release %d must say it waits for %d, got %d", r2.ID, r1.ID, w)
		}
		if err := s.FinishReleaseLive(ctx, r1.ID, r1.ID, now, ""); err != nil {
			t.Fatal(err)
		}
		deploy(r2)
		if r, _ := s.Release(ctx, r1.ID); r.Status != ReleaseSuperseded {
			t.Fatalf("the replaced release must be superseded, is %s", r.Status)
		}
		prev, err := s.PreviousGoodRelease(ctx, dev.ID)
		if err != nil || prev.ID != r1.ID {
			t.Fatalf("previous good release: %v %+v", err, prev)
		}

		// A rollback of r2 to r1: r2 is rejected and auto-deploy pauses.
		rb := &Release{EnvironmentID: dev.ID, ArtifactSHA256: r1.ArtifactSHA256, ConfigVersion: r1.ConfigVersion, Status: ReleasePending,
			Reason: ReasonRollback, RollbackOfID: &r2.ID, SourceReleaseID: &r1.ID}
		if err := s.CreateRelease(ctx, rb); err != nil {
			t.Fatal(err)
		}
		deploy(rb)
		r2got, _ := s.Release(ctx, r2.ID)
		if r2got.Status != ReleaseRolledBack || !r2got.Rejected {
			t.Fatalf("the rolled-back release must be rolled_back and rejected: %+v", r2got)
		}
		env, _ := s.Environment(ctx, dev.ID)
		if !env.AutoDeployPaused || env.AutoDeployPausedReason != "paused" || env.DeployLockReleaseID != nil {
			t.Fatalf("after a rollback auto-deploy pauses and the lock is free: %+v", env)
		}
		if _, err := s.PreviousGoodRelease(ctx, dev.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("r1 is what runs now and r2 is rejected: no candidate is left, got %v", err)
		}
		r3 := newRelease()
		deploy(r3)
		if env, _ := s.Environment(ctx, dev.ID); env.AutoDeployPaused {
			t.Fatal("a newer deploy must resume auto-deploy")
		}

		// Where nothing deploys by itself, a rollback has no auto-deploy
		// to pause: no flag is left to trip over if it is turned on later.
		if err := s.db.Model(&Environment{}).Where("id = ?", dev.ID).Update("auto_deploy_branch", "").Error; err != nil {
			t.Fatal(err)
		}
		rb2 := &Release{EnvironmentID: dev.ID, ArtifactSHA256: rb.ArtifactSHA256, ConfigVersion: rb.ConfigVersion, Status: ReleasePending,
			Reason: ReasonRollback, RollbackOfID: &r3.ID, SourceReleaseID: &rb.ID}
		if err := s.CreateRelease(ctx, rb2); err != nil {
			t.Fatal(err)
		}
		deploy(rb2)
		if env, _ := s.Environment(ctx, dev.ID); env.AutoDeployPaused || env.AutoDeployPausedReason != "" {
			t.Fatalf("a rollback where auto-deploy is off must not pause it: %+v", env)
		}
		if r, _ := s.Release(ctx, r3.ID); r.Status != ReleaseRolledBack || !r.Rejected {
			t.Fatalf("the rolled-back release is still rejected: %+v", r)
		}
		deploy(newRelease())

		// Failures and interruptions free the lock.
		r4 := newRelease()
		if w, _ := s.AcquireDeployLock(ctx, dev.ID, r4.ID); w != 0 {
			t.Fatal("lock")
		}
		_, _ = s.StartRelease(ctx, r4.ID, now)
		if n, err := s.InterruptDeploys(ctx, now); err != nil || n != 1 {
			t.Fatalf("interrupt: %d %v", n, err)
		}
		if r, _ := s.Release(ctx, r4.ID); r.Status != ReleaseFailed || !strings.Contains(r.Error, "interrupted") {
			t.Fatalf("interrupted release: %+v", r)
		}
		if live, err := s.LiveProcessReleases(ctx); err != nil || len(live) != 1 {
			t.Fatalf("one live process release: %v %d", err, len(live))
		}

		// The artifact of a release can never be deleted.
		err = s.db.WithContext(ctx).Delete(&Artifact{SHA256: r1.ArtifactSHA256}).Error
		if err == nil {
			t.Fatal("deleting an artifact that releases use must fail")
		}
	})
}

func TestEnvironmentInstances(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, envs, _ := seedProject(t, s, "shop")
		if envs[1].Instances != 0 {
			t.Fatalf("a new environment has %d instances set, want 0 (the release decides)", envs[1].Instances)
		}
		if err := s.SetEnvironmentInstances(ctx, envs[1].ID, 3); err != nil {
			t.Fatal(err)
		}
		got, err := s.Environment(ctx, envs[1].ID)
		if err != nil || got.Instances != 3 {
			t.Fatalf("Environment = %+v, %v; want 3 instances", got, err)
		}
		for _, n := range []int{-1, MaxInstances + 1} {
			if err := s.SetEnvironmentInstances(ctx, envs[1].ID, n); err == nil {
				t.Errorf("SetEnvironmentInstances(%d) = nil, want an error", n)
			}
		}
		if err := s.SetEnvironmentInstances(ctx, 999999, 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetEnvironmentInstances of a missing environment = %v, want ErrNotFound", err)
		}
		got.Instances = 5
		if err := s.UpdateEnvironment(ctx, got, false); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.Environment(ctx, envs[1].ID); got.Instances != 5 {
			t.Errorf("after UpdateEnvironment: %d instances, want 5", got.Instances)
		}
	})
}
