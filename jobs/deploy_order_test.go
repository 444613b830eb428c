package jobs

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/models"
)

// autoOrderFixture is a deploy harness whose project has a real mirror.
type autoOrderFixture struct {
	*deployHarness
	repo *buildtest.Repo
}

func newAutoOrderFixture(t *testing.T) *autoOrderFixture {
	h := newDeployHarness(t)
	return &autoOrderFixture{deployHarness: h, repo: buildtest.NewRepo(t)}
}

// mirror refreshes the project's bare mirror from the test repository, as
// the build worker does before it builds.
func (f *autoOrderFixture) mirror() {
	f.t.Helper()
	dir := f.jobs.MirrorDir(f.project.ID)
	cmd := exec.Command("git", "--git-dir="+dir, "fetch", "--quiet", "--force", f.repo.Dir, "+refs/heads/*:refs/heads/*")
	if !isDir(dir) {
		cmd = exec.Command("git", "clone", "--quiet", "--mirror", f.repo.Dir, dir)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("%v: %s", err, out)
	}
}

// buildOf records a succeeded build of commit (its artifact serves version).
func (f *autoOrderFixture) buildOf(commit, version string) *models.Build {
	f.t.Helper()
	f.commit = commit
	return f.build(version, "./bin/app")
}

// version is the version dev serves.
func (f *autoOrderFixture) version() string {
	f.t.Helper()
	v, _, _ := strings.Cut(f.get("dev"), "-")
	return v
}

// finished runs the auto-deploy of a build that just succeeded.
func (f *autoOrderFixture) finished(b *models.Build) {
	f.t.Helper()
	if err := f.jobs.Delivery().AutoDeploy(context.Background(), f.store, b); err != nil {
		f.t.Fatal(err)
	}
}

// devReleases lists dev's releases, oldest first.
func (f *autoOrderFixture) devReleases() []models.Release {
	f.t.Helper()
	rs, err := f.store.Releases(context.Background(), f.envs["dev"].ID, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs
}

// skips returns the deploy.skipped events of build b.
func (f *autoOrderFixture) skips(b *models.Build) []models.AuditEvent {
	f.t.Helper()
	evs, err := f.store.AuditEvents(context.Background(), models.AuditFilter{Action: models.AuditDeploySkipped, ObjectType: "build", ObjectID: strconv.FormatInt(b.ID, 10)})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func TestAutoDeployNeverPutsAnOlderCommitLive(t *testing.T) {
	f := newAutoOrderFixture(t)
	c1 := f.repo.Commit("one")
	c2 := f.repo.Commit("two")
	c3 := f.repo.Commit("three")
	f.mirror()

	b1 := f.buildOf(c1, "v1")
	f.finished(b1)
	rs := f.devReleases()
	if len(rs) != 1 {
		t.Fatalf("the first build must auto-deploy: %d releases", len(rs))
	}
	f.wait(rs[0].ID)

	// Pushed in order c2, c3; the build of c3 finishes first.
	b2 := f.buildOf(c2, "v2")
	b3 := f.buildOf(c3, "v3")
	f.finished(b3)
	f.finished(b2)
	rs = f.devReleases()
	if len(rs) != 2 || rs[1].BuildID == nil || *rs[1].BuildID != b3.ID {
		t.Fatalf("only the build of c3 may be queued after c1, got %d releases", len(rs))
	}
	if r := f.wait(rs[1].ID); r.Status != models.ReleaseLive {
		t.Fatalf("release of c3: %s %s", r.Status, r.Error)
	}
	if got := f.version(); got != "v3" {
		t.Fatalf("dev serves %q, want v3", got)
	}
	ev := f.skips(b2)
	if len(ev) != 1 || !strings.Contains(ev[0].Details, "is older than release #") || !strings.Contains(ev[0].Details, `"environment":"dev"`) {
		t.Fatalf("the skipped build must say why in the audit trail: %+v", ev)
	}
	if len(f.skips(b3)) != 0 {
		t.Fatal("the deployed build has no skip event")
	}

	t.Run("a late release queued against a stale head is skipped when it would start", func(t *testing.T) {
		// Two builds that finished at once were both queued; the older
		// one reaches the worker after the newer one went live.
		r, err := f.jobs.EnqueueDeploy(context.Background(), f.store, DeployRequest{Env: f.envs["dev"], Build: b2, Reason: models.ReasonAuto})
		if err != nil {
			t.Fatal(err)
		}
		got := f.wait(r.ID)
		if got.Status != models.ReleaseSuperseded || !strings.Contains(got.Error, "auto-deploy skipped") {
			t.Fatalf("the stale auto release is %s (%q), want superseded with the reason", got.Status, got.Error)
		}
		if s := f.version(); s != "v3" {
			t.Fatalf("dev serves %q after the stale release, want v3", s)
		}
		if len(f.skips(b2)) != 2 {
			t.Fatal("the worker's skip is audited too")
		}
	})

	t.Run("after a force push, push order decides", func(t *testing.T) {
		f.repo.Git("reset", "--quiet", "--hard", c1)
		early := f.repo.Commit("rewritten early")
		f.repo.Git("reset", "--quiet", "--hard", c1)
		late := f.repo.Commit("rewritten late")
		f.mirror()
		bEarly := f.buildOf(early, "early") // created first
		bLate := f.buildOf(late, "late")
		before := len(f.devReleases())
		f.finished(bLate)
		rs := f.devReleases()
		if len(rs) != before+1 {
			t.Fatal("a build pushed after the live one deploys even when history was rewritten")
		}
		f.wait(rs[len(rs)-1].ID)
		if s := f.version(); s != "late" {
			t.Fatalf("dev serves %q, want v-late", s)
		}
		f.finished(bEarly)
		if len(f.devReleases()) != before+1 {
			t.Fatal("a rewritten build created before the live one must not deploy")
		}
		if ev := f.skips(bEarly); len(ev) != 1 || !strings.Contains(ev[0].Details, "was created before build #"+strconv.FormatInt(bLate.Number, 10)) {
			t.Fatalf("skip reason: %+v", ev)
		}
	})
}
