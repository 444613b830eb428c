package delivery_test

import (
	"context"
	"errors"
	"github.com/slipway-ci/slipway/internal/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// fixture is a migrated store (with River's tables), an insert-only job
// client as the queue, a project with the default chain dev → staging →
// production, one user per role and the delivery service under test.
type fixture struct {
	t       *testing.T
	store   *models.Store
	svc     *delivery.Service
	project *models.Project
	envs    map[string]*models.Environment
	users   map[string]*models.User
	mirror  string
	builds  int64
}

// eachDB runs fn on a fresh SQLite store and a fresh PostgreSQL store.
func eachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newFixture(t, models.Config{DataDir: t.TempDir()}))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, newFixture(t, models.Config{URL: testpg.NewDatabase(t)}))
	})
}

func newFixture(t *testing.T, cfg models.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := models.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(ctx, store); err != nil {
		t.Fatal(err)
	}
	j, err := jobs.New(ctx, jobs.Deps{Store: store}, jobs.Options{Work: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Stop(context.Background()) })
	f := &fixture{t: t, store: store, envs: map[string]*models.Environment{}, users: map[string]*models.User{},
		mirror: filepath.Join(t.TempDir(), "mirror.git")}
	f.svc = delivery.New(delivery.Deps{Store: store, Queue: j, MirrorDir: func(int64) string { return f.mirror }})
	f.project = &models.Project{Slug: "shop", Name: "Shop", RepoURL: "file:///shop", DefaultBranch: "main", WebhookSecretSealed: []byte("x"), NextBuildNumber: 1}
	if err := testkit.InsertFixture(ctx, store, f.project); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDefaultEnvironments(ctx, f.project.ID, "main"); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"admin", "lead", "developer", "qa", "viewer"} {
		u := &models.User{Username: role + "-user", PasswordHash: "x", Role: role}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		f.users[role] = u
	}
	f.reload()
	return f
}

func (f *fixture) reload() {
	f.t.Helper()
	_, envs, err := f.store.ProjectEnvironments(context.Background(), f.project.Slug)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range envs {
		f.envs[envs[i].Name] = &envs[i]
	}
}

// freeze puts env in a freeze window active now.
func (f *fixture) freeze(env string) {
	f.t.Helper()
	e := f.envs[env]
	now := time.Now().UTC()
	e.FreezeWindows = policy.EncodeWindows([]policy.Window{{Kind: policy.KindOnce, Start: now.Add(-time.Hour), End: now.Add(time.Hour), TZ: "UTC", Reason: "launch"}})
	if err := f.store.UpdateEnvironmentPolicy(context.Background(), e); err != nil {
		f.t.Fatal(err)
	}
	f.reload()
}

// build records a succeeded build of commit on main with its own artifact.
func (f *fixture) build(commit string) *models.Build {
	f.t.Helper()
	ctx := context.Background()
	f.builds++
	sha := strings.Repeat(strconv.FormatInt(f.builds%10, 10), 64)
	if err := testkit.InsertFixture(ctx, f.store, &models.Artifact{SHA256: sha, Size: 1}); err != nil {
		f.t.Fatal(err)
	}
	if commit == "" {
		commit = strings.Repeat("c", 40)
	}
	b := &models.Build{ProjectID: f.project.ID, Number: f.builds, Ref: "main", RefType: "branch", CommitSHA: commit,
		Trigger: "manual", Status: models.BuildSucceeded, PipelineYAML: "build: []\n", ArtifactSHA256: &sha}
	if err := testkit.InsertFixture(ctx, f.store, b); err != nil {
		f.t.Fatal(err)
	}
	return b
}

// audit is every audit event with action, oldest first.
func (f *fixture) audit(action string) []models.AuditEvent {
	f.t.Helper()
	evs, err := f.store.AuditEvents(context.Background(), models.AuditFilter{Action: action})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// auditCount is how many audit events there are in all.
func (f *fixture) auditCount() int {
	f.t.Helper()
	evs, err := f.store.AuditEvents(context.Background(), models.AuditFilter{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(evs)
}

// goLive marks release r live, as the deploy worker would.
func (f *fixture) goLive(r *models.Release) {
	f.t.Helper()
	ctx := context.Background()
	if ok, err := f.store.StartRelease(ctx, r.ID, time.Now().UTC()); err != nil || !ok {
		f.t.Fatalf("start release %d: %v %v", r.ID, ok, err)
	}
	if err := f.store.FinishReleaseLive(ctx, r.ID, r.ID, time.Now().UTC(), ""); err != nil {
		f.t.Fatal(err)
	}
}

func TestGateByRoleProtectionAndFreeze(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.freeze("staging")
		f.freeze("production")
		cases := []struct {
			role, env string
			allowed   bool
			kind      error
			override  bool // the freeze is overridable by this role
		}{
			{"admin", "dev", true, nil, false},
			{"lead", "dev", true, nil, false},
			{"developer", "dev", true, nil, false},
			{"qa", "dev", false, delivery.ErrForbidden, false},
			{"viewer", "dev", false, delivery.ErrForbidden, false},

			{"admin", "staging", true, nil, true},
			{"lead", "staging", false, delivery.ErrFrozen, false},
			{"developer", "staging", false, delivery.ErrFrozen, false},
			{"qa", "staging", false, delivery.ErrForbidden, false},

			{"admin", "production", true, nil, true},
			{"lead", "production", false, delivery.ErrFrozen, false},
			{"developer", "production", false, delivery.ErrForbidden, false},
			{"viewer", "production", false, delivery.ErrForbidden, false},
		}
		for _, c := range cases {
			t.Run(c.role+" into "+c.env, func(t *testing.T) {
				env := f.envs[c.env]
				d, err := f.svc.Gate(context.Background(), f.users[c.role], env, nil)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != c.allowed || d.FreezeOverridable != c.override {
					t.Fatalf("allowed=%v overridable=%v, want %v %v (%q)", d.Allowed, d.FreezeOverridable, c.allowed, c.override, d.Refusal)
				}
				if d.NeedsConfirmation != env.Protected {
					t.Errorf("needs confirmation = %v on protected=%v", d.NeedsConfirmation, env.Protected)
				}
				if (d.Frozen != "") != (c.env != "dev") {
					t.Errorf("frozen = %q", d.Frozen)
				}
				if c.allowed {
					if d.Refusal != "" || d.Err() != nil {
						t.Errorf("an allowed deploy has no refusal: %q", d.Refusal)
					}
					return
				}
				if d.Refusal == "" || !errors.Is(d.Err(), c.kind) {
					t.Errorf("refusal %q (%v), want kind %v", d.Refusal, d.Err(), c.kind)
				}
			})
		}
		t.Run("a disabled admin holds no role", func(t *testing.T) {
			u := *f.users["admin"]
			u.Disabled = true
			d, _ := f.svc.Gate(context.Background(), &u, f.envs["dev"], nil)
			if d.Allowed {
				t.Fatal("a disabled user must not deploy")
			}
		})
	})
}

func TestDeployWritesItsAuditEventOnlyWhenItGoesThrough(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		b := f.build("")
		before := f.auditCount()

		refused := []struct {
			name string
			in   delivery.DeployInput
			kind error
		}{
			{"a viewer", delivery.DeployInput{Actor: f.users["viewer"], Env: f.envs["dev"], BuildID: b.ID}, delivery.ErrForbidden},
			{"a developer into protected production", delivery.DeployInput{Actor: f.users["developer"], Env: f.envs["production"], BuildID: b.ID, Note: "x"}, delivery.ErrForbidden},
			{"no reason into production", delivery.DeployInput{Actor: f.users["lead"], Env: f.envs["production"], BuildID: b.ID}, nil},
			{"an unknown build", delivery.DeployInput{Actor: f.users["developer"], Env: f.envs["dev"], BuildID: 999}, delivery.ErrNotFound},
			{"a malformed digest", delivery.DeployInput{Actor: f.users["developer"], Env: f.envs["dev"], ArtifactSHA256: "zz"}, nil},
		}
		for _, c := range refused {
			_, err := f.svc.Deploy(ctx, c.in)
			var ve *delivery.ValidationError
			switch {
			case err == nil:
				t.Fatalf("%s: the deploy went through", c.name)
			case c.kind == nil && !errors.As(err, &ve):
				t.Fatalf("%s: %v, want a validation error", c.name, err)
			case c.kind != nil && !errors.Is(err, c.kind):
				t.Fatalf("%s: %v, want %v", c.name, err, c.kind)
			}
		}
		if n := f.auditCount(); n != before {
			t.Fatalf("refused deploys wrote %d audit events", n-before)
		}

		r, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: f.users["lead"], Env: f.envs["production"], BuildID: b.ID, Note: "hotfix"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != models.ReleasePending || r.JobID == 0 {
			t.Fatalf("release %+v must be pending with its job", r)
		}
		evs := f.audit(models.AuditDeploy)
		if len(evs) != 1 || evs[0].ObjectID != strconv.FormatInt(r.ID, 10) || !strings.Contains(evs[0].Details, `"reason":"hotfix"`) {
			t.Fatalf("deploy events: %+v", evs)
		}
		if len(f.audit(models.AuditFreezeOverride)) != 0 {
			t.Fatal("no freeze, no override event")
		}
	})
}

func TestFrozenDeploy(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.freeze("dev")
		b := f.build("")
		dev := f.envs["dev"]

		// The regression: an admin's override reason on a deploy that is
		// refused later (no such build) leaves no freeze.override behind.
		_, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: f.users["admin"], Env: dev, BuildID: 4242, FreezeReason: "incident 7"})
		if !errors.Is(err, delivery.ErrNotFound) {
			t.Fatalf("unknown build during a freeze: %v", err)
		}
		if _, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: f.users["developer"], Env: dev, BuildID: b.ID, FreezeReason: "please"}); !errors.Is(err, delivery.ErrFrozen) || !strings.Contains(err.Error(), "launch") {
			t.Fatalf("a developer during a freeze: %v, want ErrFrozen saying why it is frozen", err)
		}
		var ve *delivery.ValidationError
		if _, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: f.users["admin"], Env: dev, BuildID: b.ID}); !errors.As(err, &ve) || ve.Field() != "freeze_override_reason" {
			t.Fatalf("an admin without a reason: %v", err)
		}
		if n := f.auditCount(); n != 0 {
			t.Fatalf("refused deploys during a freeze wrote %d audit events", n)
		}

		r, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: f.users["admin"], Env: dev, BuildID: b.ID, FreezeReason: "incident 7"})
		if err != nil {
			t.Fatal(err)
		}
		ov := f.audit(models.AuditFreezeOverride)
		if len(ov) != 1 || !strings.Contains(ov[0].Details, `"reason":"incident 7"`) || !strings.Contains(ov[0].Details, `"release":`+strconv.FormatInt(r.ID, 10)) {
			t.Fatalf("override events: %+v", ov)
		}
		if len(f.audit(models.AuditDeploy)) != 1 {
			t.Fatal("the deploy event is missing")
		}
	})
}

func TestRollbackAndPromotionActionsAuditOnlyWhatTheyDo(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		dev, staging, prod := f.envs["dev"], f.envs["staging"], f.envs["production"]
		dv, lead, admin := f.users["developer"], f.users["lead"], f.users["admin"]

		if _, err := f.svc.Rollback(ctx, dv, dev, 0); !errors.Is(err, delivery.ErrConflict) {
			t.Fatalf("rollback with nothing live: %v", err)
		}
		if _, _, err := f.svc.Promote(ctx, dv, dev); !errors.Is(err, delivery.ErrConflict) {
			t.Fatalf("promote with nothing live: %v", err)
		}
		if _, _, err := f.svc.Promote(ctx, f.users["qa"], dev); !errors.Is(err, delivery.ErrForbidden) {
			t.Fatalf("qa promotes: %v", err)
		}
		if n := f.auditCount(); n != 0 {
			t.Fatalf("refused actions wrote %d audit events", n)
		}

		// Two releases of dev go live; roll back to the first.
		r1, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: dv, Env: dev, BuildID: f.build("").ID})
		if err != nil {
			t.Fatal(err)
		}
		f.goLive(r1)
		r2, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: dv, Env: dev, BuildID: f.build("").ID})
		if err != nil {
			t.Fatal(err)
		}
		f.goLive(r2)
		if _, err := f.svc.Rollback(ctx, f.users["viewer"], dev, 0); !errors.Is(err, delivery.ErrForbidden) {
			t.Fatalf("a viewer rolls back: %v", err)
		}
		if _, err := f.svc.Rollback(ctx, dv, dev, r2.ID); !errors.Is(err, delivery.ErrConflict) {
			t.Fatalf("rollback to what runs: %v", err)
		}
		rb, err := f.svc.Rollback(ctx, dv, dev, 0)
		if err != nil {
			t.Fatal(err)
		}
		if rb.SourceReleaseID == nil || *rb.SourceReleaseID != r1.ID {
			t.Fatalf("rollback restores %v, want release %d", rb.SourceReleaseID, r1.ID)
		}
		if evs := f.audit(models.AuditRollback); len(evs) != 1 || evs[0].ObjectID != strconv.FormatInt(rb.ID, 10) {
			t.Fatalf("rollback events: %+v", evs)
		}

		// dev → staging needs nothing: the promotion deploys at once.
		p, _, err := f.svc.Promote(ctx, dv, dev)
		if err != nil {
			t.Fatal(err)
		}
		if evs := f.audit(models.AuditPromotionCreate); len(evs) != 1 {
			t.Fatalf("promotion events: %+v", evs)
		}
		got, err := f.store.Promotion(ctx, p.ID)
		if err != nil || got.Status != models.PromotionDeploying || got.ReleaseID == nil {
			t.Fatalf("an unguarded promotion deploys at once: %v %+v", err, got)
		}
		rs, err := f.store.Release(ctx, *got.ReleaseID)
		if err != nil {
			t.Fatal(err)
		}
		f.goLive(rs)
		_ = staging

		// staging → production waits for a lead.
		p, _, err = f.svc.Promote(ctx, dv, f.envs["staging"])
		if err != nil {
			t.Fatal(err)
		}
		p, err = f.store.Promotion(ctx, p.ID)
		if err != nil || p.Status != models.PromotionPending {
			t.Fatalf("production waits for an approval: %v %+v", err, p)
		}
		before := f.auditCount()
		var ve *delivery.ValidationError
		if err := f.svc.Reject(ctx, lead, p, "  "); !errors.As(err, &ve) || ve.Field() != "comment" {
			t.Fatalf("a rejection without a comment: %v", err)
		}
		if _, err := f.svc.Approve(ctx, dv, p, ""); !errors.Is(err, delivery.ErrForbidden) {
			t.Fatalf("a developer approves: %v", err)
		}
		if _, err := f.svc.OverrideFreeze(ctx, admin, p, "why"); !errors.Is(err, delivery.ErrConflict) {
			t.Fatalf("override without a freeze: %v", err)
		}
		if err := f.svc.Cancel(ctx, f.users["qa"], p); !errors.Is(err, delivery.ErrForbidden) {
			t.Fatalf("qa cancels: %v", err)
		}
		if n := f.auditCount(); n != before {
			t.Fatalf("refused decisions wrote %d audit events", n-before)
		}
		rel, err := f.svc.Approve(ctx, lead, p, "ship it")
		if err != nil {
			t.Fatal(err)
		}
		if rel == nil || rel.EnvironmentID != prod.ID || rel.Reason != models.ReasonPromotion {
			t.Fatalf("the approval meets the policy: release %+v", rel)
		}
		if evs := f.audit(models.AuditApprove); len(evs) != 1 {
			t.Fatalf("approve events: %+v", evs)
		}
		p, _ = f.store.Promotion(ctx, p.ID)
		if _, err := f.svc.Approve(ctx, admin, p, ""); !errors.Is(err, delivery.ErrConflict) {
			t.Fatalf("approving a deploying promotion: %v", err)
		}
	})
}

func TestPromotionFreezeOverrideNeedsThePermission(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		dev := f.envs["dev"]
		r, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: f.users["developer"], Env: dev, BuildID: f.build("").ID})
		if err != nil {
			t.Fatal(err)
		}
		f.goLive(r)
		f.freeze("staging")
		p, _, err := f.svc.Promote(ctx, f.users["developer"], dev)
		if err != nil {
			t.Fatal(err)
		}
		p, _ = f.store.Promotion(ctx, p.ID)
		if p.Status != models.PromotionPending {
			t.Fatalf("a frozen target holds the promotion: %s", p.Status)
		}
		before := f.auditCount()
		if _, err := f.svc.OverrideFreeze(ctx, f.users["lead"], p, "urgent"); !errors.Is(err, delivery.ErrFrozen) {
			t.Fatalf("a lead overrides: %v", err)
		}
		if n := f.auditCount(); n != before {
			t.Fatal("a refused override wrote an audit event")
		}
		rel, err := f.svc.OverrideFreeze(ctx, f.users["admin"], p, "urgent")
		if err != nil {
			t.Fatal(err)
		}
		if rel == nil {
			t.Fatal("with the freeze overridden the promotion deploys")
		}
		if evs := f.audit(models.AuditFreezeOverride); len(evs) != 1 || evs[0].ObjectType != "promotion" {
			t.Fatalf("override events: %+v", evs)
		}
	})
}

func TestAutoDeployNeverQueuesAnOlderCommit(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		repo := buildtest.NewRepo(t)
		c1, c2, c3 := repo.Commit("one"), repo.Commit("two"), repo.Commit("three")
		if out, err := exec.Command("git", "clone", "--quiet", "--mirror", repo.Dir, f.mirror).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		b1, b2, b3 := f.build(c1), f.build(c2), f.build(c3)
		for _, b := range []*models.Build{b1, b3, b2} {
			if err := f.svc.AutoDeploy(ctx, f.store, b); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := f.store.Releases(ctx, f.envs["dev"].ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range rs {
			got = append(got, *r.BuildID)
		}
		if len(rs) != 2 || *rs[0].BuildID != b3.ID || *rs[1].BuildID != b1.ID {
			t.Fatalf("dev releases are of builds %v, want [%d %d]", got, b3.ID, b1.ID)
		}
		skips := f.audit(models.AuditDeploySkipped)
		if len(skips) != 1 || skips[0].ObjectID != strconv.FormatInt(b2.ID, 10) || !strings.Contains(skips[0].Details, "is older than release #") {
			t.Fatalf("skip events: %+v", skips)
		}
		if n := len(f.audit(models.AuditDeploy)); n != 2 {
			t.Fatalf("%d deploy events, want 2", n)
		}
		// Staging and production have no auto-deploy branch; a frozen dev
		// takes nothing.
		f.freeze("dev")
		if err := f.svc.AutoDeploy(ctx, f.store, f.build(c3)); err != nil {
			t.Fatal(err)
		}
		if rs2, _ := f.store.Releases(ctx, f.envs["dev"].ID, 0); len(rs2) != 2 {
			t.Fatalf("a frozen dev took an auto-deploy: %d releases", len(rs2))
		}
	})
}

func TestRejectAndCancelWriteTheirOwnEvent(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		dv, lead := f.users["developer"], f.users["lead"]
		r, err := f.svc.Deploy(ctx, delivery.DeployInput{Actor: dv, Env: f.envs["staging"], BuildID: f.build("").ID})
		if err != nil {
			t.Fatal(err)
		}
		f.goLive(r)

		p, _, err := f.svc.Promote(ctx, dv, f.envs["staging"])
		if err != nil {
			t.Fatal(err)
		}
		p, _ = f.store.Promotion(ctx, p.ID)
		before := f.auditCount()
		if err := f.svc.Reject(ctx, lead, p, "not before the load test"); err != nil {
			t.Fatal(err)
		}
		if n := f.auditCount() - before; n != 1 || len(f.audit(models.AuditReject)) != 1 {
			t.Fatalf("a rejection wrote %d events", n)
		}
		if got, _ := f.store.Promotion(ctx, p.ID); got.Status != models.PromotionRejected {
			t.Fatalf("rejected promotion is %s", got.Status)
		}
		if err := f.svc.Cancel(ctx, dv, p); !errors.Is(err, delivery.ErrConflict) {
			t.Fatalf("canceling a rejected promotion: %v", err)
		}

		p, _, err = f.svc.Promote(ctx, dv, f.envs["staging"])
		if err != nil {
			t.Fatal(err)
		}
		p, _ = f.store.Promotion(ctx, p.ID)
		before = f.auditCount()
		if err := f.svc.Cancel(ctx, dv, p); err != nil {
			t.Fatal(err)
		}
		if n := f.auditCount() - before; n != 1 || len(f.audit(models.AuditPromotionCancel)) != 1 {
			t.Fatalf("a cancel wrote %d events", n)
		}
		if len(f.audit(models.AuditDeploy)) != 1 {
			t.Fatal("neither a rejection nor a cancel deploys")
		}
	})
}
