package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/slipway-ci/slipway/internal/testkit"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/internal/notify/notifytest"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/models"
)

// notifyEnv is a store with a working job system whose retries are fast.
type notifyEnv struct {
	t       *testing.T
	s       *models.Store
	box     *secretbox.Box
	project *models.Project
	admin   *models.User
	dev     *models.User
}

func newNotifyEnv(t *testing.T, s *models.Store, smtp *notifytest.SMTPServer) *notifyEnv {
	t.Helper()
	ctx := context.Background()
	box, err := secretbox.New(make([]byte, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Store: s, Secrets: box, PublicURL: "https://ci.example.com",
		NotifySchedule: []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond},
		NotifyTimeout:  500 * time.Millisecond}
	if smtp != nil {
		cfg, err := notify.ParseSMTPURL("smtp://" + smtp.Addr + "?from=ci@example.com&tls=none")
		if err != nil {
			t.Fatal(err)
		}
		deps.Mailer = notify.NewMailer(cfg)
	}
	j, err := New(ctx, deps, Options{Work: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = j.Stop(sctx)
	})
	e := &notifyEnv{t: t, s: s, box: box}
	e.admin = &models.User{Username: "ada", PasswordHash: "x", Role: "admin"}
	e.dev = &models.User{Username: "dan", PasswordHash: "x", Role: "developer"}
	for _, u := range []*models.User{e.admin, e.dev} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	e.project = &models.Project{Slug: "shop", Name: "Shop", RepoURL: "/r", DefaultBranch: "main", NextBuildNumber: 1, WebhookSecretSealed: []byte("x")}
	if err := s.CreateProject(ctx, e.project); err != nil {
		t.Fatal(err)
	}
	return e
}

// endpoint creates an endpoint for url by creator, subscribed to events.
func (e *notifyEnv) endpoint(kind, target string, by *models.User, events ...string) (*models.NotificationEndpoint, string) {
	e.t.Helper()
	ep := &models.NotificationEndpoint{ProjectID: e.project.ID, Key: models.NewNotifyKey(), Name: kind, Kind: kind,
		Target: target, Events: strings.Join(events, ","), Enabled: true, CreatedByID: &by.ID}
	secret := notify.NewSecret()
	if kind != models.EndpointEmail {
		ep.URLSealed = e.box.Seal([]byte(target), ep.URLAD())
	}
	if kind == models.EndpointWebhook {
		ep.SecretSealed = e.box.Seal([]byte(secret), ep.SecretAD())
	}
	if err := e.s.CreateNotificationEndpoint(context.Background(), ep); err != nil {
		e.t.Fatal(err)
	}
	return ep, secret
}

// fire records a build.failed event in its own transaction.
func (e *notifyEnv) fire() {
	e.t.Helper()
	err := e.s.EnqueueNotifications(context.Background(), models.NotifyEvent{Type: models.NotifyBuildFailed, ProjectID: e.project.ID,
		Data: models.NotifyData{Project: "shop", Path: "/builds/1", Build: &models.NotifyBuild{Number: 1, Ref: "main", Commit: "abc", Status: "failed"}}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitDelivery waits until ep's newest delivery is no longer pending (or,
// with pending set, has at least that many attempts).
func (e *notifyEnv) waitDelivery(ep *models.NotificationEndpoint, attempts int) models.NotificationDelivery {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := e.s.NotificationDeliveries(context.Background(), ep.ID, 1)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ds) == 1 && (ds[0].Status != models.DeliveryPending || (attempts > 0 && ds[0].Attempts >= attempts)) {
			return ds[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("delivery not done: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNotificationDeliveryToRealReceivers(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			smtp := notifytest.NewSMTPServer(t)
			e := newNotifyEnv(t, s, smtp)

			t.Run("a webhook is signed with both secrets during a rotation", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, nil)
				ep, old := e.endpoint(models.EndpointWebhook, rc.URL+"/hook", e.admin, models.NotifyBuildFailed)
				cur := notify.NewSecret()
				if err := s.RotateNotificationSecret(ctx, ep.ID, e.box.Seal([]byte(cur), ep.SecretAD()), time.Now().Add(24*time.Hour)); err != nil {
					t.Fatal(err)
				}
				e.fire()
				req := rc.Wait(t, 1, 20*time.Second)[0]
				ts, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
				for _, sec := range []string{old, cur} {
					if !notify.Verify(sec, req.Header.Get("webhook-id"), ts, req.Body, req.Header.Get("webhook-signature")) {
						t.Errorf("signature does not verify with the %s secret", map[bool]string{true: "old", false: "new"}[sec == old])
					}
				}
				var ev notify.Event
				if err := json.Unmarshal(req.Body, &ev); err != nil || ev.Type != "build.failed" || ev.Data.URL != "https://ci.example.com/builds/1" {
					t.Fatalf("body %s (%v)", req.Body, err)
				}
				d := e.waitDelivery(ep, 0)
				if d.Status != models.DeliverySucceeded || d.Attempts != 1 || d.LastStatusCode != 200 || d.MessageID != req.Header.Get("webhook-id") {
					t.Fatalf("delivery %+v", d)
				}
			})

			t.Run("an expired old secret no longer signs", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, nil)
				ep, old := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyBuildFailed)
				if err := s.RotateNotificationSecret(ctx, ep.ID, e.box.Seal([]byte(notify.NewSecret()), ep.SecretAD()), time.Now().Add(-time.Second)); err != nil {
					t.Fatal(err)
				}
				e.fire()
				req := rc.Wait(t, 1, 20*time.Second)[0]
				ts, _ := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
				if n := len(strings.Fields(req.Header.Get("webhook-signature"))); n != 1 {
					t.Fatalf("%d signatures after the old secret expired", n)
				}
				if notify.Verify(old, req.Header.Get("webhook-id"), ts, req.Body, req.Header.Get("webhook-signature")) {
					t.Fatal("the expired secret still verifies")
				}
			})

			t.Run("5xx answers are retried with the same message id", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
					if n < 2 {
						w.WriteHeader(http.StatusInternalServerError)
					}
				})
				ep, _ := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyBuildFailed)
				e.fire()
				reqs := rc.Wait(t, 3, 20*time.Second)
				if reqs[0].Header.Get("webhook-id") != reqs[2].Header.Get("webhook-id") {
					t.Fatal("the message id changed between attempts")
				}
				if d := e.waitDelivery(ep, 0); d.Status != models.DeliverySucceeded || d.Attempts != 3 {
					t.Fatalf("delivery %+v", d)
				}
			})

			t.Run("a receiver that always fails ends failed when the schedule is used up", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
				ep, _ := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyBuildFailed)
				e.fire()
				d := e.waitDelivery(ep, 0)
				if d.Status != models.DeliveryFailed || d.Attempts != 4 || d.LastStatusCode != 502 || d.NextAttemptAt != nil {
					t.Fatalf("delivery %+v", d)
				}
				if got, _ := s.NotificationEndpoint(ctx, e.project.ID, ep.ID); !got.Enabled {
					t.Fatal("a 502 disabled the endpoint")
				}
				if n := len(rc.Requests()); n != 4 {
					t.Fatalf("%d requests, want 4 (one plus three retries)", n)
				}
			})

			t.Run("Retry-After is honoured", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
					if n == 0 {
						w.Header().Set("Retry-After", "2")
						w.WriteHeader(http.StatusTooManyRequests)
					}
				})
				ep, _ := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyBuildFailed)
				e.fire()
				first := e.waitDelivery(ep, 1)
				if first.NextAttemptAt == nil || first.NextAttemptAt.Sub(first.UpdatedAt) < 1900*time.Millisecond || first.LastStatusCode != 429 {
					t.Fatalf("after a 429 with Retry-After 2: %+v", first)
				}
				reqs := rc.Wait(t, 2, 20*time.Second)
				if gap := reqs[1].At.Sub(reqs[0].At); gap < 1900*time.Millisecond {
					t.Fatalf("retried after %s, the receiver asked for 2s (schedule says 50ms)", gap)
				}
			})

			t.Run("410 Gone disables the endpoint", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
				ep, _ := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyBuildFailed)
				e.fire()
				if d := e.waitDelivery(ep, 0); d.Status != models.DeliveryFailed || d.Attempts != 1 || d.LastStatusCode != 410 {
					t.Fatalf("delivery %+v", d)
				}
				got, err := s.NotificationEndpoint(ctx, e.project.ID, ep.ID)
				if err != nil || got.Enabled || !strings.Contains(got.DisabledReason, "410") {
					t.Fatalf("endpoint %+v %v", got, err)
				}
				e.fire()
				time.Sleep(300 * time.Millisecond)
				if n := len(rc.Requests()); n != 1 {
					t.Fatalf("a disabled endpoint got %d requests", n)
				}
			})

			t.Run("a hung receiver times out and the delivery is retried", func(t *testing.T) {
				release := make(chan struct{})
				rc := notifytest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
					if n == 0 {
						<-release
					}
				})
				defer close(release)
				ep, _ := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyBuildFailed)
				e.fire()
				rc.Wait(t, 2, 20*time.Second)
				d := e.waitDelivery(ep, 0)
				if d.Status != models.DeliverySucceeded || d.Attempts != 2 {
					t.Fatalf("delivery %+v", d)
				}
			})

			t.Run("a developer's endpoint on loopback is refused at dial time", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, nil)
				ep, _ := e.endpoint(models.EndpointWebhook, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1), e.dev, models.NotifyBuildFailed)
				e.fire()
				d := e.waitDelivery(ep, 1)
				if !strings.Contains(d.LastError, "refused") || !strings.Contains(d.LastError, "not allowed") || d.LastStatusCode != 0 {
					t.Fatalf("delivery %+v", d)
				}
				if n := len(rc.Requests()); n != 0 {
					t.Fatalf("the receiver got %d requests", n)
				}
				if err := s.DeleteNotificationEndpoint(ctx, e.project.ID, ep.ID); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("a Slack endpoint gets text and blocks, unsigned", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, nil)
				e.endpoint(models.EndpointSlack, rc.URL+"/services/T/B/x", e.admin, models.NotifyBuildFailed)
				e.fire()
				req := rc.Wait(t, 1, 20*time.Second)[0]
				var p struct {
					Text   string           `json:"text"`
					Blocks []map[string]any `json:"blocks"`
				}
				if err := json.Unmarshal(req.Body, &p); err != nil || !strings.Contains(p.Text, "shop: build #1 of main failed") || len(p.Blocks) == 0 {
					t.Fatalf("body %s (%v)", req.Body, err)
				}
				if req.Header.Get("webhook-signature") != "" {
					t.Error("a Slack post carries a signature header")
				}
			})

			t.Run("an email endpoint mails through the SMTP server", func(t *testing.T) {
				ep, _ := e.endpoint(models.EndpointEmail, "oncall@example.com", e.dev, models.NotifyBuildFailed)
				before := len(smtp.Messages())
				e.fire()
				m := smtp.Wait(t, before+1, 20*time.Second)[before]
				if m.To[0] != "oncall@example.com" || !strings.Contains(string(m.Data), "Subject: [Slipway] shop: build #1 of main failed") {
					t.Fatalf("mail to %v:\n%s", m.To, m.Data)
				}
				if d := e.waitDelivery(ep, 0); d.Status != models.DeliverySucceeded {
					t.Fatalf("delivery %+v", d)
				}
			})

			t.Run("an event in a rolled-back transaction sends nothing", func(t *testing.T) {
				rc := notifytest.NewReceiver(t, nil)
				ep, _ := e.endpoint(models.EndpointWebhook, rc.URL, e.admin, models.NotifyDeployFailed)
				boom := errors.New("boom")
				err := s.Tx(ctx, func(tx *models.Store) error {
					if err := tx.EnqueueNotifications(ctx, models.NotifyEvent{Type: models.NotifyDeployFailed, ProjectID: e.project.ID}); err != nil {
						return err
					}
					return boom
				})
				if !errors.Is(err, boom) {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				ds, _ := s.NotificationDeliveries(ctx, ep.ID, 10)
				if len(ds) != 0 || len(rc.Requests()) != 0 {
					t.Fatalf("%d deliveries, %d requests", len(ds), len(rc.Requests()))
				}
			})
		})
	}
}

// TestARealBuildFailureAndFixNotify runs a failing build and then a fixed
// one through the build worker: FinishBuild's own transaction records
// build.failed and build.fixed, and the notification worker posts both.
func TestARealBuildFailureAndFixNotify(t *testing.T) {
	box, err := secretbox.New(make([]byte, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e := newBuildEnv(t, "sqlite", 1, func(d *Deps) {
		d.Secrets = box
		d.NotifySchedule = []time.Duration{50 * time.Millisecond}
	})
	p, repo, _ := e.project("shop", "build:\n  - name: test\n    run: exit 3\n", nil)
	admin := &models.User{Username: "ada", PasswordHash: "x", Role: "admin"}
	if err := e.store.CreateUser(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	rc := notifytest.NewReceiver(t, nil)
	ep := &models.NotificationEndpoint{ProjectID: p.ID, Key: models.NewNotifyKey(), Name: "bot", Kind: models.EndpointWebhook,
		Events: "build.failed,build.fixed", Enabled: true, CreatedByID: &admin.ID}
	ep.URLSealed = box.Seal([]byte(rc.URL), ep.URLAD())
	ep.SecretSealed = box.Seal([]byte(notify.NewSecret()), ep.SecretAD())
	if err := e.store.CreateNotificationEndpoint(context.Background(), ep); err != nil {
		t.Fatal(err)
	}
	if b := e.wait(e.build(p, "main").ID); b.Status != models.BuildFailed {
		t.Fatalf("first build %s", b.Status)
	}
	repo.Pipeline("build:\n  - name: test\n    run: exit 0\n", nil, "fix")
	if b := e.wait(e.build(p, "main").ID); b.Status != models.BuildSucceeded {
		t.Fatalf("second build %s", b.Status)
	}
	reqs := rc.Wait(t, 2, 30*time.Second)
	var types []string
	for _, r := range reqs {
		var ev notify.Event
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	slices.Sort(types)
	if strings.Join(types, ",") != "build.failed,build.fixed" {
		t.Fatalf("events %v", types)
	}
}

// TestPromotionWaitingGoesToWhoMayApprove checks the policy wiring of the
// job system's hooks: promotion.waiting reaches endpoints whose creator
// may approve (an admin who did not request it), not a developer's, nor
// the requester's own.
func TestPromotionWaitingGoesToWhoMayApprove(t *testing.T) {
	s := testkit.OpenStoreOn(t, testkit.SQLite, testkit.Migrations(Migrate))
	ctx := context.Background()
	e := newNotifyEnv(t, s, nil)
	other := &models.User{Username: "otto", PasswordHash: "x", Role: "admin"}
	if err := s.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	staging := &models.Environment{ProjectID: e.project.ID, Name: "staging", Position: 1, Target: models.TargetProcess}
	prod := &models.Environment{ProjectID: e.project.ID, Name: "production", Position: 2, Target: models.TargetProcess, Protected: true, ApprovalsRequired: 1}
	for _, env := range []*models.Environment{staging, prod} {
		if err := s.CreateEnvironment(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	requester, _ := e.endpoint(models.EndpointEmail, "ada@example.com", e.admin, models.NotifyPromotionWaiting)
	approver, _ := e.endpoint(models.EndpointEmail, "otto@example.com", other, models.NotifyPromotionWaiting)
	developer, _ := e.endpoint(models.EndpointEmail, "dan@example.com", e.dev, models.NotifyPromotionWaiting)
	if err := s.UpsertArtifact(ctx, &models.Artifact{SHA256: "feedface", Size: 1}); err != nil {
		t.Fatal(err)
	}
	pr := &models.Promotion{ProjectID: e.project.ID, FromEnvironmentID: staging.ID, ToEnvironmentID: prod.ID, ArtifactSHA256: "feedface",
		ConfigVersion: prod.ConfigVersion, RequestedByID: &e.admin.ID}
	err := s.Tx(ctx, func(tx *models.Store) error {
		if _, err := tx.CreatePromotion(ctx, pr); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, models.NewAuditEvent(e.admin, models.AuditPromotionCreate, "promotion", strconv.FormatInt(pr.ID, 10), nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(ep *models.NotificationEndpoint) int {
		ds, err := s.NotificationDeliveries(ctx, ep.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds)
	}
	if count(approver) != 1 || count(requester) != 0 || count(developer) != 0 {
		t.Fatalf("deliveries: approver %d, requester %d, developer %d", count(approver), count(requester), count(developer))
	}
}
