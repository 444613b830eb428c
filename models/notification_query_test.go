package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// recordHooks records which deliveries were enqueued, and checks each was
// enqueued inside a transaction.
type recordHooks struct {
	mu  sync.Mutex
	ids []int64
	t   *testing.T
}

func (r *recordHooks) hooks(mayApprove func(*User, *Promotion) bool) NotifyHooks {
	return NotifyHooks{Enqueue: func(_ context.Context, tx *Store, id int64) error {
		if _, ok := tx.SQLTx(); !ok {
			r.t.Errorf("delivery %d enqueued outside a transaction", id)
		}
		r.mu.Lock()
		r.ids = append(r.ids, id)
		r.mu.Unlock()
		return nil
	}, MayApprove: mayApprove}
}

func deliveriesOf(t *testing.T, s *Store, e *NotificationEndpoint) []NotificationDelivery {
	t.Helper()
	ds, err := s.NotificationDeliveries(context.Background(), e.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestNotificationsAreRecordedWithTheEventsTransaction(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rec := &recordHooks{t: t}
		admin, dev := seedUser(t, s, "ada", "admin"), seedUser(t, s, "dan", "developer")
		s.SetNotifyHooks(rec.hooks(func(u *User, p *Promotion) bool {
			return u.Role == "admin" && (p.RequestedByID == nil || *p.RequestedByID != u.ID)
		}))
		p := &Project{Slug: "shop", Name: "Shop", RepoURL: "/repo", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 1}
		if err := s.db.Create(p).Error; err != nil {
			t.Fatal(err)
		}
		builds := &NotificationEndpoint{ProjectID: p.ID, Name: "builds", Kind: EndpointWebhook, Events: "build.failed,build.fixed", Enabled: true, CreatedByID: &admin.ID}
		off := &NotificationEndpoint{ProjectID: p.ID, Name: "off", Kind: EndpointWebhook, Events: "build.failed", Enabled: false, CreatedByID: &admin.ID}
		deploys := &NotificationEndpoint{ProjectID: p.ID, Name: "deploys", Kind: EndpointSlack, Events: "deploy.live,deploy.failed,rollback,promotion.waiting", Enabled: true, CreatedByID: &admin.ID}
		devs := &NotificationEndpoint{ProjectID: p.ID, Name: "devs", Kind: EndpointEmail, Events: "promotion.waiting,promotion.rejected", Enabled: true, CreatedByID: &dev.ID}
		for _, e := range []*NotificationEndpoint{builds, off, deploys, devs} {
			if err := s.CreateNotificationEndpoint(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		finish := func(status string) *Build {
			t.Helper()
			n, err := s.AllocateBuildNumber(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			b := &Build{ProjectID: p.ID, Number: n, Ref: "main", RefType: "branch", CommitSHA: "abc123", Trigger: "api", Status: BuildQueued}
			if err := s.CreateBuild(ctx, b); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.ClaimBuild(ctx, b.ID, "w", time.Now()); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if ok, err := s.FinishBuild(ctx, b.ID, "w", BuildResult{Status: status, Reason: "step test exited 1", FinishedAt: time.Now()}); !ok || err != nil {
				t.Fatal(ok, err)
			}
			return b
		}
		types := func(e *NotificationEndpoint) []string {
			var out []string
			for _, d := range deliveriesOf(t, s, e) {
				out = append(out, d.EventType)
			}
			slices.Reverse(out)
			return out
		}

		t.Run("a passing build with no failure before it notifies nobody", func(t *testing.T) {
			finish(BuildSucceeded)
			if got := types(builds); len(got) != 0 {
				t.Fatalf("deliveries %v", got)
			}
		})
		t.Run("a failure and then a success notify failed and fixed", func(t *testing.T) {
			failed := finish(BuildFailed)
			finish(BuildCanceled) // no verdict: the next success is still a fix
			finish(BuildSucceeded)
			finish(BuildSucceeded)
			if got := types(builds); !slices.Equal(got, []string{NotifyBuildFailed, NotifyBuildFixed}) {
				t.Fatalf("deliveries %v", got)
			}
			if got := types(off); len(got) != 0 {
				t.Fatalf("a disabled endpoint got %v", got)
			}
			d := deliveriesOf(t, s, builds)[1]
			var payload struct {
				Type string
				Data NotifyData
			}
			if err := json.Unmarshal([]byte(d.Payload), &payload); err != nil {
				t.Fatal(err)
			}
			if payload.Type != NotifyBuildFailed || payload.Data.Project != "shop" || payload.Data.Build.Number != failed.Number ||
				payload.Data.Build.Reason != "step test exited 1" || d.Status != DeliveryPending || len(d.MessageID) < 20 {
				t.Fatalf("delivery %+v payload %+v", d, payload)
			}
		})
		t.Run("an event whose transaction rolls back sends nothing", func(t *testing.T) {
			before := len(rec.ids)
			boom := errors.New("boom")
			err := s.Tx(ctx, func(tx *Store) error {
				if err := tx.EnqueueNotifications(ctx, NotifyEvent{Type: NotifyBuildFailed, ProjectID: p.ID, Data: NotifyData{Project: "shop"}}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if got := types(builds); len(got) != 2 {
				t.Fatalf("deliveries after rollback: %v", got)
			}
			if len(rec.ids) != before+1 {
				t.Fatalf("enqueue was called %d times", len(rec.ids)-before)
			}
		})
		t.Run("deploys notify live, failed and rollback", func(t *testing.T) {
			env := &Environment{ProjectID: p.ID, Name: "production", Position: 3, Target: TargetProcess, ApprovalsRequired: 1}
			if err := s.CreateEnvironment(ctx, env); err != nil {
				t.Fatal(err)
			}
			if err := s.UpsertArtifact(ctx, &Artifact{SHA256: "feedface", Size: 1}); err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct {
				reason string
				fail   bool
			}{{ReasonDeploy, false}, {ReasonDeploy, true}, {ReasonRollback, false}} {
				rel := &Release{EnvironmentID: env.ID, ArtifactSHA256: "feedface", Status: ReleaseDeploying, Reason: r.reason, CreatedByID: &admin.ID}
				if err := s.CreateRelease(ctx, rel); err != nil {
					t.Fatal(err)
				}
				var err error
				if r.fail {
					err = s.FailRelease(ctx, rel.ID, time.Now(), "health check failed", "")
				} else {
					err = s.FinishReleaseLive(ctx, rel.ID, rel.ID, time.Now(), "rolled back")
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := types(deploys); !slices.Equal(got, []string{NotifyDeployLive, NotifyDeployFailed, NotifyRollback}) {
				t.Fatalf("deliveries %v", got)
			}
		})
		t.Run("a promotion waiting for approval goes to endpoints whose creator may approve", func(t *testing.T) {
			staging := &Environment{ProjectID: p.ID, Name: "staging", Position: 2, Target: TargetProcess}
			if err := s.CreateEnvironment(ctx, staging); err != nil {
				t.Fatal(err)
			}
			prod, err := s.EnvironmentByName(ctx, "shop", "production")
			if err != nil {
				t.Fatal(err)
			}
			pr := &Promotion{ProjectID: p.ID, FromEnvironmentID: staging.ID, ToEnvironmentID: prod.ID, ArtifactSHA256: "feedface", Status: PromotionPending, RequestedByID: &dev.ID}
			err = s.Tx(ctx, func(tx *Store) error {
				if err := tx.db.Create(pr).Error; err != nil {
					return err
				}
				return tx.AppendAudit(ctx, NewAuditEvent(dev, AuditPromotionCreate, "promotion", idStr(pr.ID), nil))
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := types(deploys); !slices.Contains(got, NotifyPromotionWaiting) {
				t.Fatalf("the admin's endpoint got %v", got)
			}
			if got := types(devs); len(got) != 0 {
				t.Fatalf("the developer's endpoint got %v", got)
			}
			if err := s.AppendAudit(ctx, NewAuditEvent(admin, AuditReject, "promotion", idStr(pr.ID), map[string]any{"comment": "not today"})); err != nil {
				t.Fatal(err)
			}
			ds := deliveriesOf(t, s, devs)
			if len(ds) != 1 || ds[0].EventType != NotifyPromotionRejected {
				t.Fatalf("deliveries %+v", ds)
			}
			var payload struct{ Data NotifyData }
			_ = json.Unmarshal([]byte(ds[0].Payload), &payload)
			if payload.Data.Actor != "ada" || payload.Data.Comment != "not today" || payload.Data.Environment != "production" {
				t.Fatalf("payload %+v", payload.Data)
			}
		})
		t.Run("attempts, rotation and deletion", func(t *testing.T) {
			d := deliveriesOf(t, s, builds)[0]
			next := time.Now().Add(time.Minute).UTC()
			if err := s.RecordDeliveryAttempt(ctx, d.ID, DeliveryAttempt{Status: DeliveryPending, StatusCode: 503, Error: "busy", NextAt: &next, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordDeliveryAttempt(ctx, d.ID, DeliveryAttempt{Status: DeliverySucceeded, StatusCode: 204, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			got, err := s.NotificationDelivery(ctx, d.ID)
			if err != nil || got.Attempts != 2 || got.Status != DeliverySucceeded || got.DeliveredAt == nil || got.NextAttemptAt != nil || got.LastStatusCode != 204 {
				t.Fatalf("%+v %v", got, err)
			}
			if err := s.CreateNotificationEndpoint(ctx, &NotificationEndpoint{ProjectID: p.ID, Name: "x", Kind: EndpointWebhook, SecretSealed: []byte("one")}); err != nil {
				t.Fatal(err)
			}
			es, _ := s.NotificationEndpoints(ctx, p.ID)
			x := es[len(es)-1]
			if err := s.RotateNotificationSecret(ctx, x.ID, []byte("two"), time.Now().Add(24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			rx, _ := s.NotificationEndpoint(ctx, p.ID, x.ID)
			if string(rx.SecretSealed) != "two" || string(rx.OldSecretSealed) != "one" || rx.OldSecretExpiresAt == nil {
				t.Fatalf("after rotation %+v", rx)
			}
			if _, err := s.NotificationEndpoint(ctx, p.ID+1, x.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("another project's endpoint: %v", err)
			}
			if n, err := s.PruneDeliveries(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
				t.Fatalf("pruned %d recent deliveries: %v", n, err)
			}
			pending := deliveriesOf(t, s, deploys)
			if n, err := s.PruneDeliveries(ctx, time.Now().Add(time.Hour)); err != nil || n < 1 {
				t.Fatalf("pruned %d old deliveries: %v", n, err)
			}
			if _, err := s.NotificationDelivery(ctx, d.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a finished delivery outlived pruning: %v", err)
			}
			if after := deliveriesOf(t, s, deploys); len(after) != len(pending) {
				t.Fatalf("pending deliveries were pruned: %d → %d", len(pending), len(after))
			}
			if err := s.DeleteNotificationEndpoint(ctx, p.ID, builds.ID); err != nil {
				t.Fatal(err)
			}
			if ds := deliveriesOf(t, s, builds); len(ds) != 0 {
				t.Fatalf("deliveries of a deleted endpoint: %d", len(ds))
			}
		})
	})
}

func idStr(id int64) string { return fmt.Sprint(id) }

func TestAnAuditEventAboutAMissingPromotionStillAppends(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		rec := &recordHooks{t: t}
		s.SetNotifyHooks(rec.hooks(nil))
		if err := s.AppendAudit(context.Background(), &AuditEvent{ActorName: "bob", Action: AuditReject, ObjectType: "promotion", ObjectID: "999"}); err != nil {
			t.Fatal(err)
		}
		if len(rec.ids) != 0 {
			t.Fatalf("enqueued %v", rec.ids)
		}
	})
}
