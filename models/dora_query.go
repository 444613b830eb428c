package models

import (
	"context"
	"time"

	"gorm.io/gorm/clause"
)

// sightingBatch bounds the rows of one insert or the values of one IN list.
const sightingBatch = 500

// RecordCommitSightings records that Slipway saw the commits shas of the
// project at at, through source. A commit seen before keeps its first
// sighting: the insert skips it.
func (s *Store) RecordCommitSightings(ctx context.Context, projectID int64, shas []string, source string, at time.Time) error {
	seen := map[string]bool{}
	rows := make([]CommitSighting, 0, len(shas))
	for _, sha := range shas {
		if sha == "" || len(sha) > 64 || seen[sha] {
			continue
		}
		seen[sha] = true
		rows = append(rows, CommitSighting{ProjectID: projectID, SHA: sha, FirstSeenAt: at.UTC(), Source: source})
	}
	if len(rows) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "project_id"}, {Name: "sha"}}, DoNothing: true,
	}).CreateInBatches(rows, sightingBatch).Error
	return wrap("record commit sightings", err)
}

// CommitSightings returns when each of shas was first seen in the
// project; commits never seen are absent from the map.
func (s *Store) CommitSightings(ctx context.Context, projectID int64, shas []string) (map[string]CommitSighting, error) {
	out := map[string]CommitSighting{}
	for len(shas) > 0 {
		n := min(len(shas), sightingBatch)
		var rows []CommitSighting
		err := s.db.WithContext(ctx).Where("project_id = ? AND sha IN ?", projectID, shas[:n]).Find(&rows).Error
		if err != nil {
			return nil, wrap("commit sightings", err)
		}
		for _, r := range rows {
			out[r.SHA] = r
		}
		shas = shas[n:]
	}
	return out, nil
}

// DORAReleases lists the environment's releases that started deploying
// and finished at or after since, oldest first, with their builds: the
// deployments the DORA metrics are made of.
func (s *Store) DORAReleases(ctx context.Context, envID int64, since time.Time) ([]Release, error) {
	var rs []Release
	err := s.db.WithContext(ctx).Preload("Build").
		Where("environment_id = ? AND started_at IS NOT NULL AND finished_at IS NOT NULL AND finished_at >= ?", envID, since.UTC()).
		Order("finished_at, id").Find(&rs).Error
	return rs, wrap("dora releases", err)
}

// ReleaseCrashes lists the environment's crash events since since, oldest
// first: an instance that crashed soon after going live failed its bake.
func (s *Store) ReleaseCrashes(ctx context.Context, envID int64, since time.Time) ([]ReleaseEvent, error) {
	var evs []ReleaseEvent
	err := s.db.WithContext(ctx).Where("environment_id = ? AND kind = ? AND created_at >= ?", envID, "crashed", since.UTC()).
		Order("created_at, id").Find(&evs).Error
	return evs, wrap("release crashes", err)
}

// SaveDORADays replaces the environment's rollup rows from day from to
// day to (inclusive, "2026-12-01") with days, in one transaction.
func (s *Store) SaveDORADays(ctx context.Context, envID int64, from, to string, days []DORADay) error {
	return s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		if err := db.Where("environment_id = ? AND day >= ? AND day <= ?", envID, from, to).Delete(&DORADay{}).Error; err != nil {
			return wrap("save dora days", err)
		}
		for i := range days {
			days[i].ID, days[i].EnvironmentID = 0, envID
		}
		if len(days) == 0 {
			return nil
		}
		return wrap("save dora days", db.CreateInBatches(days, 200).Error)
	})
}

// DORADays returns the environment's rollup rows from day from to day to
// (inclusive), oldest first. Days the rollup has not reached are absent.
func (s *Store) DORADays(ctx context.Context, envID int64, from, to string) ([]DORADay, error) {
	var out []DORADay
	err := s.db.WithContext(ctx).Where("environment_id = ? AND day >= ? AND day <= ?", envID, from, to).
		Order("day").Find(&out).Error
	return out, wrap("dora days", err)
}
