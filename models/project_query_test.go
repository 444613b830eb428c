package models

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm/clause"
)

func newTestProject(t *testing.T, s *Store, slug string, poll int64) *Project {
	t.Helper()
	p := &Project{Slug: slug, Name: "Project " + slug, RepoURL: "https://example.com/" + slug + ".git",
		DefaultBranch: "main", WebhookSecretSealed: []byte("sealed"), PollInterval: poll}
	if err := s.CreateProject(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func insertBuild(t *testing.T, s *Store, projectID int64, number int64, ref, refType, sha string) *Build {
	t.Helper()
	b := &Build{ProjectID: projectID, Number: number, Ref: ref, RefType: refType, CommitSHA: sha, Trigger: "manual", Status: BuildQueued}
	if err := s.db.Omit(clause.Associations).Create(b).Error; err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProjects(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p := newTestProject(t, s, "web", 0)
		if p.ID == 0 || p.NextBuildNumber != 1 {
			t.Fatalf("created project: %+v", p)
		}
		if err := s.CreateProject(ctx, &Project{Slug: "web", Name: "again", RepoURL: "x", DefaultBranch: "main", WebhookSecretSealed: []byte("s")}); !errors.Is(err, ErrConflict) {
			t.Fatalf("duplicate slug: got %v, want ErrConflict", err)
		}
		newTestProject(t, s, "api", 60)

		got, err := s.ProjectBySlug(ctx, "web")
		if err != nil || got.ID != p.ID || string(got.WebhookSecretSealed) != "sealed" {
			t.Fatalf("by slug: %v %+v", err, got)
		}
		if _, err := s.ProjectBySlug(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing slug: got %v, want ErrNotFound", err)
		}
		if _, err := s.Project(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing id: got %v, want ErrNotFound", err)
		}
		all, err := s.Projects(ctx)
		if err != nil || len(all) != 2 || all[0].Slug != "api" {
			t.Fatalf("projects: %v %+v", err, all)
		}

		got.Name, got.DefaultBranch, got.PollInterval, got.DeployKeySealed = "Web app", "trunk", 30, []byte("key")
		got.Slug, got.NextBuildNumber = "renamed", 77
		if err := s.UpdateProject(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := s.Project(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if again.Name != "Web app" || again.DefaultBranch != "trunk" || again.PollInterval != 30 || string(again.DeployKeySealed) != "key" {
			t.Fatalf("update did not save the settings: %+v", again)
		}
		if again.Slug != "web" || again.NextBuildNumber != 1 {
			t.Fatalf("update must not change the slug or the build counter: %+v", again)
		}
		if err := s.UpdateProject(ctx, &Project{ID: 9999}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update missing: got %v, want ErrNotFound", err)
		}

		insertBuild(t, s, p.ID, 1, "main", "branch", "aaa")
		if err := s.RecordWebhookDelivery(ctx, &WebhookDelivery{ProjectID: p.ID, DeliveryID: "d1", Event: "push"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteProject(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Project(ctx, p.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted project still loads: %v", err)
		}
		if err := s.DeleteProject(ctx, p.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleting twice: got %v, want ErrNotFound", err)
		}
	})
}

func TestWebhookDeliveriesAreRecordedOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a, b := newTestProject(t, s, "a", 0), newTestProject(t, s, "b", 0)
		d := &WebhookDelivery{ProjectID: a.ID, DeliveryID: "abc-123", Event: "push"}
		if err := s.RecordWebhookDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		err := s.RecordWebhookDelivery(ctx, &WebhookDelivery{ProjectID: a.ID, DeliveryID: "abc-123", Event: "push"})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("repeated delivery: got %v, want ErrConflict", err)
		}
		if err := s.RecordWebhookDelivery(ctx, &WebhookDelivery{ProjectID: b.ID, DeliveryID: "abc-123", Event: "push"}); err != nil {
			t.Fatalf("the same delivery ID for another project must be accepted: %v", err)
		}
		build := insertBuild(t, s, a.ID, 1, "main", "branch", "aaa")
		if err := s.SetWebhookDeliveryBuild(ctx, d.ID, build.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.ForgetWebhookDelivery(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordWebhookDelivery(ctx, &WebhookDelivery{ProjectID: a.ID, DeliveryID: "abc-123", Event: "push"}); err != nil {
			t.Fatalf("a forgotten delivery must be accepted again: %v", err)
		}
	})
}

func TestProjectsDueForPoll(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		newTestProject(t, s, "off", 0)
		newTestProject(t, s, "never", 60)
		recent := newTestProject(t, s, "recent", 60)
		old := newTestProject(t, s, "old", 60)
		for _, c := range []struct {
			p  *Project
			at time.Time
		}{{recent, now.Add(-30 * time.Second)}, {old, now.Add(-61 * time.Second)}} {
			if ok, err := s.ClaimProjectPoll(ctx, c.p.ID, nil, c.at); err != nil || !ok {
				t.Fatalf("claim %s: %v %v", c.p.Slug, ok, err)
			}
		}
		due, err := s.ProjectsDueForPoll(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		var slugs []string
		for _, p := range due {
			slugs = append(slugs, p.Slug)
		}
		if fmt.Sprint(slugs) != "[never old]" {
			t.Fatalf("due = %v, want [never old]", slugs)
		}

		// Two pollers saw the same "old" row: only one may claim it.
		prev := due[1].LastPolledAt
		won, err := s.ClaimProjectPoll(ctx, old.ID, prev, now)
		if err != nil || !won {
			t.Fatalf("first claim: %v %v", won, err)
		}
		won, err = s.ClaimProjectPoll(ctx, old.ID, prev, now.Add(time.Second))
		if err != nil || won {
			t.Fatalf("second claim with the stale value must lose: %v %v", won, err)
		}
		due, err = s.ProjectsDueForPoll(ctx, now)
		if err != nil || len(due) != 1 || due[0].Slug != "never" {
			t.Fatalf("after claiming: %v %+v", err, due)
		}
	})
}

func TestRecentBuildsByBranch(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p := newTestProject(t, s, "app", 0)
		other := newTestProject(t, s, "other", 0)
		n := int64(0)
		next := func() int64 { n++; return n }
		for i := 0; i < 5; i++ {
			insertBuild(t, s, p.ID, next(), "main", "branch", fmt.Sprintf("main%d", i))
		}
		insertBuild(t, s, p.ID, next(), "feature", "branch", "feat0")
		insertBuild(t, s, p.ID, next(), "v1.0", "tag", "tag0")
		insertBuild(t, s, other.ID, 1, "main", "branch", "elsewhere")

		got, err := s.RecentBuildsByBranch(ctx, p.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("branches = %v, want main and feature only", got)
		}
		var shas []string
		for _, b := range got["main"] {
			shas = append(shas, b.CommitSHA)
		}
		if fmt.Sprint(shas) != "[main4 main3 main2]" {
			t.Fatalf("main builds = %v, want the newest three, newest first", shas)
		}
		if len(got["feature"]) != 1 {
			t.Fatalf("feature builds = %+v", got["feature"])
		}

		latest, err := s.LatestBuildForRef(ctx, p.ID, "main")
		if err != nil || latest.CommitSHA != "main4" {
			t.Fatalf("latest build for main: %v %+v", err, latest)
		}
		if _, err := s.LatestBuildForRef(ctx, p.ID, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("latest for an unbuilt ref: got %v, want ErrNotFound", err)
		}
		empty, err := s.RecentBuildsByBranch(ctx, newTestProject(t, s, "empty", 0).ID, 3)
		if err != nil || len(empty) != 0 {
			t.Fatalf("no builds: %v %v", empty, err)
		}
	})
}
