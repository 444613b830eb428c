package models

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// seedLive puts build b live in env as a release and returns it.
func seedLive(t *testing.T, s *Store, env *Environment, b *Build) *Release {
	t.Helper()
	r := &Release{EnvironmentID: env.ID, BuildID: &b.ID, ArtifactSHA256: *b.ArtifactSHA256, ConfigVersion: env.ConfigVersion, Status: ReleaseLive, Reason: ReasonDeploy}
	if err := s.CreateRelease(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func seedUser(t *testing.T, s *Store, name, role string) *User {
	t.Helper()
	u := &User{Username: name, PasswordHash: "x", Role: role}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPromotionLifecycle(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p, envs, b := seedProject(t, s, "shop")
		dev, staging, prod := &envs[0], &envs[1], &envs[2]
		ada, lena := seedUser(t, s, "ada", "developer"), seedUser(t, s, "lena", "lead")

		t.Run("the next environment follows the chain and ends after production", func(t *testing.T) {
			next, err := s.NextEnvironment(ctx, dev)
			if err != nil || next.ID != staging.ID {
				t.Fatalf("next of dev = %v, %v", next, err)
			}
			if _, err := s.NextEnvironment(ctx, prod); !errors.Is(err, ErrNoNextEnvironment) {
				t.Fatalf("next of production: %v, want ErrNoNextEnvironment", err)
			}
		})

		src := seedLive(t, s, staging, b)
		newPromo := func() *Promotion {
			pr := &Promotion{ProjectID: p.ID, FromEnvironmentID: staging.ID, ToEnvironmentID: prod.ID, SourceReleaseID: &src.ID,
				BuildID: &b.ID, ArtifactSHA256: *b.ArtifactSHA256, ConfigVersion: prod.ConfigVersion, RequestedByID: &ada.ID}
			if _, err := s.CreatePromotion(ctx, pr); err != nil {
				t.Fatal(err)
			}
			return pr
		}

		first := newPromo()
		t.Run("a newer promotion to the same environment supersedes the pending one visibly", func(t *testing.T) {
			second := &Promotion{ProjectID: p.ID, FromEnvironmentID: staging.ID, ToEnvironmentID: prod.ID, ArtifactSHA256: *b.ArtifactSHA256, ConfigVersion: 1, RequestedByID: &ada.ID}
			sup, err := s.CreatePromotion(ctx, second)
			if err != nil || len(sup) != 1 || sup[0] != first.ID {
				t.Fatalf("superseded = %v, %v; want [%d]", sup, err, first.ID)
			}
			got, err := s.Promotion(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != PromotionSuperseded || got.SupersededByID == nil || *got.SupersededByID != second.ID || !strings.Contains(got.StatusReason, second.Ref()) {
				t.Fatalf("older promotion = %s by %v (%q)", got.Status, got.SupersededByID, got.StatusReason)
			}
			if ok, err := s.AddApproval(ctx, &Approval{PromotionID: first.ID, UserID: lena.ID, Decision: DecisionApprove, ArtifactSHA256: got.ArtifactSHA256, ConfigVersion: 1}, ""); ok || err != nil {
				t.Fatalf("approving a superseded promotion = %v, %v; want false", ok, err)
			}
		})

		t.Run("a rejection ends a pending promotion with its comment", func(t *testing.T) {
			pr := newPromo()
			ok, err := s.AddApproval(ctx, &Approval{PromotionID: pr.ID, UserID: lena.ID, Decision: DecisionReject, Comment: "not on a Friday", ArtifactSHA256: pr.ArtifactSHA256, ConfigVersion: 1}, "rejected by lena: not on a Friday")
			if !ok || err != nil {
				t.Fatalf("reject = %v, %v", ok, err)
			}
			got, err := s.Promotion(ctx, pr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != PromotionRejected || got.StatusReason != "rejected by lena: not on a Friday" || len(got.Approvals) != 1 || got.Approvals[0].User.Username != "lena" {
				t.Fatalf("rejected promotion = %+v", got)
			}
		})

		t.Run("a promotion starts its deploy once and follows the release to the end", func(t *testing.T) {
			pr := newPromo()
			rel := &Release{EnvironmentID: prod.ID, BuildID: &b.ID, ArtifactSHA256: pr.ArtifactSHA256, ConfigVersion: 1, Status: ReleasePending, Reason: ReasonPromotion}
			if err := s.CreateRelease(ctx, rel); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.StartPromotionDeploy(ctx, pr.ID, rel.ID); !ok || err != nil {
				t.Fatalf("start = %v, %v", ok, err)
			}
			if ok, err := s.StartPromotionDeploy(ctx, pr.ID, rel.ID); ok || err != nil {
				t.Fatalf("second start = %v, %v; want false", ok, err)
			}
			got, _ := s.Promotion(ctx, pr.ID)
			if got.Status != PromotionDeploying || got.Release == nil || got.Release.ID != rel.ID {
				t.Fatalf("promotion = %s, release %v", got.Status, got.Release)
			}
			if err := s.FinishReleaseLive(ctx, rel.ID, rel.ID, time.Now().UTC(), ""); err != nil {
				t.Fatal(err)
			}
			got, _ = s.Promotion(ctx, pr.ID)
			if got.Status != PromotionDeployed || got.FinishedAt == nil {
				t.Fatalf("after the release went live the promotion is %s", got.Status)
			}
		})

		t.Run("a failed deploy fails the promotion with the error", func(t *testing.T) {
			pr := newPromo()
			rel := &Release{EnvironmentID: prod.ID, ArtifactSHA256: pr.ArtifactSHA256, ConfigVersion: 1, Status: ReleasePending, Reason: ReasonPromotion}
			if err := s.CreateRelease(ctx, rel); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.StartPromotionDeploy(ctx, pr.ID, rel.ID); !ok || err != nil {
				t.Fatalf("start = %v, %v", ok, err)
			}
			if err := s.FailRelease(ctx, rel.ID, time.Now().UTC(), "health check failed", ""); err != nil {
				t.Fatal(err)
			}
			ps, err := s.Promotions(ctx, PromotionFilter{EnvironmentID: prod.ID, Statuses: []string{PromotionFailed}})
			if err != nil || len(ps) != 1 || ps[0].ID != pr.ID || !strings.Contains(ps[0].StatusReason, "health check failed") {
				t.Fatalf("failed promotions = %+v, %v", ps, err)
			}
		})

		t.Run("cancel only moves a pending promotion", func(t *testing.T) {
			pr := newPromo()
			if ok, err := s.FinishPromotion(ctx, pr.ID, []string{PromotionPending}, PromotionCanceled, "canceled by ada"); !ok || err != nil {
				t.Fatalf("cancel = %v, %v", ok, err)
			}
			if ok, _ := s.FinishPromotion(ctx, pr.ID, []string{PromotionPending}, PromotionCanceled, "again"); ok {
				t.Fatal("a canceled promotion cannot be canceled again")
			}
		})

		t.Run("an admin's freeze override is kept on a pending promotion", func(t *testing.T) {
			pr := newPromo()
			root := seedUser(t, s, "root", "admin")
			if err := s.SetPromotionFreezeOverride(ctx, pr.ID, root.ID, "security fix"); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Promotion(ctx, pr.ID)
			if got.FreezeOverrideBy == nil || got.FreezeOverrideBy.Username != "root" || got.FreezeOverrideReason != "security fix" {
				t.Fatalf("override = %+v %q", got.FreezeOverrideBy, got.FreezeOverrideReason)
			}
		})

		t.Run("the policy columns save", func(t *testing.T) {
			prod.ApprovalsRequired, prod.ApproverRoles, prod.AllowSelfApproval, prod.RequireLoadTest, prod.FreezeWindows = 2, "admin", true, true, `[{"kind":"weekly","from":"fri 16:00","to":"mon 08:00"}]`
			if err := s.UpdateEnvironmentPolicy(ctx, prod); err != nil {
				t.Fatal(err)
			}
			got, _ := s.Environment(ctx, prod.ID)
			if got.ApprovalsRequired != 2 || got.ApproverRoles != "admin" || !got.AllowSelfApproval || !got.RequireLoadTest || !strings.Contains(got.FreezeWindows, "fri 16:00") {
				t.Fatalf("policy = %+v", got)
			}
			if err := s.UpdateEnvironmentPolicy(ctx, &Environment{ID: 99999}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing environment: %v", err)
			}
		})
	})
}
