package models

import (
	"context"
	"errors"
	"testing"
)

func TestBuildWithSteps(t *testing.T) {
	eachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		p := &Project{Slug: "web", Name: "Web", RepoURL: "https://example.com/web.git", DefaultBranch: "main", WebhookSecretSealed: []byte("x")}
		if err := s.db.Create(p).Error; err != nil {
			t.Fatal(err)
		}
		b := &Build{ProjectID: p.ID, Number: 1, Ref: "main", RefType: "branch", CommitSHA: "abc", Trigger: "manual", Status: BuildRunning}
		if err := s.db.Create(b).Error; err != nil {
			t.Fatal(err)
		}
		for _, st := range []BuildStep{
			{BuildID: b.ID, Position: 2, Name: "test", Status: BuildRunning, FirstLine: 4},
			{BuildID: b.ID, Position: 1, Name: "checkout", Status: BuildSucceeded, FirstLine: 1, LastLine: 3},
		} {
			if err := s.db.Create(&st).Error; err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.BuildWithSteps(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Project.Slug != "web" || len(got.Steps) != 2 || got.Steps[0].Name != "checkout" || got.Steps[1].FirstLine != 4 {
			t.Fatalf("build with steps = %+v, want project web and steps checkout, test in order", got)
		}
		if _, err := s.BuildWithSteps(ctx, b.ID+100); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing build: got %v, want ErrNotFound", err)
		}
	})
}
