package models

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// ArtifactReleases lists the releases of the artifact sha in the project's
// environments, newest first, at most limit, with their environment,
// build and creator: where the artifact went and how that ended.
func (s *Store) ArtifactReleases(ctx context.Context, projectID int64, sha string, limit int) ([]Release, error) {
	if limit <= 0 {
		limit = 20
	}
	var rs []Release
	err := s.db.WithContext(ctx).Preload("Environment").Preload("CreatedBy").
		Joins("JOIN environments ON environments.id = releases.environment_id").
		Where("environments.project_id = ? AND releases.artifact_sha256 = ?", projectID, sha).
		Order("releases.id DESC").Limit(limit).Find(&rs).Error
	return rs, wrap("artifact releases", err)
}

// RollbacksOf returns, for each of ids that a rollback replaced, the
// newest rollback release that did, with its creator.
func (s *Store) RollbacksOf(ctx context.Context, ids []int64) (map[int64]*Release, error) {
	out := map[int64]*Release{}
	if len(ids) == 0 {
		return out, nil
	}
	var rs []Release
	err := s.db.WithContext(ctx).Preload("CreatedBy").Where("rollback_of_id IN ?", ids).Order("id").Find(&rs).Error
	if err != nil {
		return nil, wrap("rollbacks of", err)
	}
	for i := range rs {
		out[*rs[i].RollbackOfID] = &rs[i]
	}
	return out, nil
}

// ReleaseBefore returns the newest release of the environment older than
// release id that went live: what was live when id started deploying.
func (s *Store) ReleaseBefore(ctx context.Context, envID, id int64) (*Release, error) {
	var r Release
	err := s.db.WithContext(ctx).Preload("Build").
		Where("environment_id = ? AND id < ? AND status IN ?", envID, id, []string{ReleaseLive, ReleaseSuperseded, ReleaseRolledBack}).
		Order("id DESC").First(&r).Error
	if err != nil {
		return nil, wrap("release before", err)
	}
	return &r, nil
}

// PreviousEnvironment returns the environment before env in its project's
// chain, or ErrNotFound for the first one.
func (s *Store) PreviousEnvironment(ctx context.Context, env *Environment) (*Environment, error) {
	var prev Environment
	err := s.db.WithContext(ctx).
		Where("project_id = ? AND (position < ? OR (position = ? AND id < ?))", env.ProjectID, env.Position, env.Position, env.ID).
		Order("position DESC, id DESC").First(&prev).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrap("previous environment", err)
	}
	return &prev, nil
}

// LatestReleases returns the newest release of each of envIDs that has
// one, with its build and creator: the last deploy attempt, whatever its
// outcome.
func (s *Store) LatestReleases(ctx context.Context, envIDs []int64) (map[int64]*Release, error) {
	out := map[int64]*Release{}
	if len(envIDs) == 0 {
		return out, nil
	}
	var rs []Release
	sub := s.db.Model(&Release{}).Select("MAX(id)").Where("environment_id IN ?", envIDs).Group("environment_id")
	err := s.db.WithContext(ctx).Preload("Build").Preload("CreatedBy").Where("id IN (?)", sub).Find(&rs).Error
	if err != nil {
		return nil, wrap("latest releases", err)
	}
	for i := range rs {
		out[rs[i].EnvironmentID] = &rs[i]
	}
	return out, nil
}
