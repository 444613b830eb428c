package models

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDashboardQueriesAreTheUsersOwn checks the queries behind the role
// homes on both databases: builds by who started them and by project
// list, the projects a user builds, and plans and runs by owner.
func TestDashboardQueriesAreTheUsersOwn(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		shop, envs, _ := seedProject(t, s, "shop")
		other := &Project{Slug: "other", Name: "other", RepoURL: "file:///o", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
		third := &Project{Slug: "third", Name: "third", RepoURL: "file:///t", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
		if err := s.insertFixture(ctx, other, third); err != nil {
			t.Fatal(err)
		}
		ann, bob := &User{Username: "ann", Role: "developer"}, &User{Username: "bob", Role: "qa"}
		for _, u := range []*User{ann, bob} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC()
		build := func(p *Project, n int64, by *User, status string, at time.Time) *Build {
			b := &Build{ProjectID: p.ID, Number: n, Ref: "main", RefType: "branch", CommitSHA: strings.Repeat("c", 40),
				Trigger: "manual", TriggeredByID: &by.ID, Status: status, CreatedAt: at}
			if err := s.insertFixture(ctx, b); err != nil {
				t.Fatal(err)
			}
			return b
		}
		build(shop, 5, ann, BuildSucceeded, now)
		build(other, 5, ann, BuildSucceeded, now)
		build(third, 5, ann, BuildSucceeded, now.Add(-90*24*time.Hour)) // long ago
		bobFail := build(shop, 6, bob, BuildFailed, now)
		build(third, 6, bob, BuildFailed, now)

		mine, err := s.Builds(ctx, BuildFilter{TriggeredByID: ann.ID, Limit: 10})
		if err != nil || len(mine) != 3 || mine[0].TriggeredByID == nil || *mine[0].TriggeredByID != ann.ID {
			t.Fatalf("ann's builds: %d, %v", len(mine), err)
		}
		ids, err := s.BuiltProjectIDs(ctx, ann.ID, now.Add(-30*24*time.Hour))
		slices.Sort(ids)
		if err != nil || !slices.Equal(ids, []int64{shop.ID, other.ID}) {
			t.Fatalf("projects ann built lately = %v (%v), want shop and other", ids, err)
		}
		failed, err := s.Builds(ctx, BuildFilter{ProjectIDs: ids, Statuses: []string{BuildFailed, BuildInterrupted}})
		if err != nil || len(failed) != 1 || failed[0].ID != bobFail.ID {
			t.Fatalf("failures in ann's projects = %+v (%v)", failed, err)
		}
		if none, err := s.Builds(ctx, BuildFilter{ProjectIDs: []int64{}}); err != nil || len(none) != 0 {
			t.Fatalf("an empty project list matched %d builds (%v)", len(none), err)
		}

		staging := envs[1]
		plan := func(name string, by *User) *LoadTestPlan {
			p := &LoadTestPlan{ProjectID: shop.ID, EnvironmentID: staging.ID, Name: name, Targets: "GET /", Pacer: "constant",
				Rate: 1, Duration: time.Second, Timeout: time.Second, CreatedByID: &by.ID}
			if err := s.CreateLoadTestPlan(ctx, p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		bobs, anns := plan("bobs", bob), plan("anns", ann)
		run := func(p *LoadTestPlan, by *User) *LoadTest {
			l := &LoadTest{ProjectID: shop.ID, EnvironmentID: staging.ID, Spec: "{}", Status: LoadTestPassed, Verdict: "pass", CreatedByID: &by.ID}
			if p != nil {
				l.PlanID = &p.ID
			}
			if err := s.insertFixture(ctx, l); err != nil {
				t.Fatal(err)
			}
			return l
		}
		ofBobsPlan, bobsInline, _ := run(bobs, ann), run(nil, bob), run(anns, ann)
		plans, err := s.UserLoadTestPlans(ctx, bob.ID, 5)
		if err != nil || len(plans) != 1 || plans[0].ID != bobs.ID || plans[0].Project.Slug != "shop" {
			t.Fatalf("bob's plans = %+v (%v)", plans, err)
		}
		runs, err := s.LoadTests(ctx, LoadTestFilter{OwnerID: bob.ID})
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if err != nil || !slices.Equal(got, []int64{bobsInline.ID, ofBobsPlan.ID}) {
			t.Fatalf("bob's runs = %v (%v), want his inline run and the run of his plan", got, err)
		}
	})
}
