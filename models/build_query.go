package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// MaxBuildsPage is the most builds one Builds call returns.
const MaxBuildsPage = 200

// BuildFilter narrows Builds; zero fields match everything.
type BuildFilter struct {
	ProjectID int64
	Ref       string
	Status    string
	// Statuses matches any of these statuses.
	Statuses []string
	// ProjectIDs matches builds of any of these projects; a non-nil empty
	// list matches nothing.
	ProjectIDs []int64
	// TriggeredByID matches the builds one user started.
	TriggeredByID int64
	// BeforeID pages back: only builds with a smaller ID.
	BeforeID int64
	// Limit caps the result (default 50, at most MaxBuildsPage).
	Limit int
}

// ProjectForBuilds returns the project with slug, for the build pages and
// API. (The project pages have their own queries.)
func (s *Store) ProjectForBuilds(ctx context.Context, slug string) (*Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("slug = ?", slug).First(&p).Error; err != nil {
		return nil, wrap("project for builds", err)
	}
	return &p, nil
}

// BuildProjects lists every project by name, for the builds list filter.
func (s *Store) BuildProjects(ctx context.Context) ([]Project, error) {
	var ps []Project
	err := s.db.WithContext(ctx).Select("id", "slug", "name").Order("name").Find(&ps).Error
	return ps, wrap("build projects", err)
}

// AllocateBuildNumber takes the project's next build number. The increment
// and the read are one statement, so concurrent builds of a project never
// share a number; call it inside the transaction that creates the build.
func (s *Store) AllocateBuildNumber(ctx context.Context, projectID int64) (int64, error) {
	var n []int64
	err := s.db.WithContext(ctx).Raw(
		"UPDATE projects SET next_build_number = next_build_number + 1 WHERE id = ? RETURNING next_build_number - 1",
		projectID).Scan(&n).Error
	if err != nil {
		return 0, wrap("allocate build number", err)
	}
	if len(n) == 0 {
		return 0, wrap("allocate build number", gorm.ErrRecordNotFound)
	}
	return n[0], nil
}

// CreateBuild inserts b (its associations are not written).
func (s *Store) CreateBuild(ctx context.Context, b *Build) error {
	return wrap("create build", s.db.WithContext(ctx).Omit(clause.Associations).Create(b).Error)
}

// RecentBuildOfCommit returns the project's newest build of commit sha
// for ref (a short branch or tag name) of refType created at or after
// since; models.ErrNotFound when there is none.
func (s *Store) RecentBuildOfCommit(ctx context.Context, projectID int64, refType, ref, sha string, since time.Time) (*Build, error) {
	var b Build
	err := s.db.WithContext(ctx).
		Where("project_id = ? AND ref_type = ? AND ref = ? AND commit_sha = ? AND created_at >= ?", projectID, refType, ref, sha, since.UTC()).
		Order("id DESC").First(&b).Error
	if err != nil {
		return nil, wrap("recent build of commit", err)
	}
	return &b, nil
}

// SetBuildJobID records the River job that runs the build.
func (s *Store) SetBuildJobID(ctx context.Context, id, jobID int64) error {
	return s.updateBuild(ctx, "set build job", id, map[string]any{"job_id": jobID})
}

// Build returns a build with its project, steps (in order), artifact and
// the user who triggered it.
func (s *Store) Build(ctx context.Context, id int64) (*Build, error) {
	var b Build
	err := s.db.WithContext(ctx).
		Preload("Project").Preload("TriggeredBy").Preload("Artifact").
		Preload("Steps", func(db *gorm.DB) *gorm.DB { return db.Order("position") }).
		First(&b, id).Error
	if err != nil {
		return nil, wrap("build", err)
	}
	return &b, nil
}

// Builds lists builds newest first, with their project and trigger user.
func (s *Store) Builds(ctx context.Context, f BuildFilter) ([]Build, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, MaxBuildsPage)
	q := s.db.WithContext(ctx).Preload("Project").Preload("TriggeredBy").Preload("Artifact").
		Order("id DESC").Limit(f.Limit)
	if f.ProjectID != 0 {
		q = q.Where("project_id = ?", f.ProjectID)
	}
	if f.Ref != "" {
		q = q.Where("ref = ?", f.Ref)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", f.Statuses)
	}
	if f.ProjectIDs != nil {
		if len(f.ProjectIDs) == 0 {
			return nil, nil
		}
		q = q.Where("project_id IN ?", f.ProjectIDs)
	}
	if f.TriggeredByID != 0 {
		q = q.Where("triggered_by_id = ?", f.TriggeredByID)
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	var bs []Build
	return bs, wrap("builds", q.Find(&bs).Error)
}

// BuiltProjectIDs lists the projects in which userID started a build
// since the given time, most recent first.
func (s *Store) BuiltProjectIDs(ctx context.Context, userID int64, since time.Time) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&Build{}).
		Where("triggered_by_id = ? AND created_at >= ?", userID, since).
		Group("project_id").Order("MAX(id) DESC").Pluck("project_id", &ids).Error
	return ids, wrap("built projects", err)
}

// ClaimBuild moves a queued build to running for workerID and reports
// whether it did; false means the build was canceled or already taken.
func (s *Store) ClaimBuild(ctx context.Context, id int64, workerID string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Build{}).Where("id = ? AND status = ?", id, BuildQueued).
		Updates(map[string]any{"status": BuildRunning, "worker_id": workerID, "started_at": now, "heartbeat_at": now})
	return res.RowsAffected == 1, wrap("claim build", res.Error)
}

// TouchBuild records that workerID still runs the build.
func (s *Store) TouchBuild(ctx context.Context, id int64, workerID string, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&Build{}).Where("id = ? AND worker_id = ? AND status = ?", id, workerID, BuildRunning).
		Update("heartbeat_at", now).Error
	return wrap("touch build", err)
}

// BuildCancelRequested reports whether someone asked to cancel the build.
func (s *Store) BuildCancelRequested(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Build{}).Where("id = ? AND cancel_requested_at IS NOT NULL", id).Count(&n).Error
	return n > 0, wrap("build cancel requested", err)
}

// RequestBuildCancel cancels a queued build outright, or marks a running
// one for its worker to stop, and returns the status the build had. A
// finished build is left alone.
func (s *Store) RequestBuildCancel(ctx context.Context, id int64, by *int64, reason string, now time.Time) (string, error) {
	var status string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Build{}).Where("id = ? AND status = ?", id, BuildQueued).Updates(map[string]any{
			"status": BuildCanceled, "status_reason": reason, "finished_at": now,
			"cancel_requested_at": now, "canceled_by_id": by,
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			status = BuildQueued
			return tx.Model(&BuildStep{}).Where("build_id = ? AND status IN ?", id, []string{StepPending, StepRunning}).
				Update("status", "skipped").Error
		}
		res = tx.Model(&Build{}).Where("id = ? AND status = ? AND cancel_requested_at IS NULL", id, BuildRunning).
			Updates(map[string]any{"cancel_requested_at": now, "canceled_by_id": by})
		if res.Error != nil {
			return res.Error
		}
		var b Build
		if err := tx.Select("status").First(&b, id).Error; err != nil {
			return err
		}
		status = b.Status
		return nil
	})
	return status, wrap("request build cancel", err)
}

// BuildResult is how a worker ends a build.
type BuildResult struct {
	Status         string
	Reason         string
	PipelineYAML   string
	ArtifactSHA256 *string
	LogTruncated   bool
	FinishedAt     time.Time
}

// FinishBuild records the end of a build run by workerID. It reports false
// (and changes nothing) when the build is no longer that worker's running
// build — recovery already finished it as interrupted.
//
// A failed build, or a successful one whose ref's previous verdict was a
// failure, notifies its subscribers in the same transaction.
func (s *Store) FinishBuild(ctx context.Context, id int64, workerID string, r BuildResult) (bool, error) {
	done := false
	err := s.Tx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Model(&Build{}).Where("id = ? AND worker_id = ? AND status = ?", id, workerID, BuildRunning).
			Updates(map[string]any{
				"status": r.Status, "status_reason": r.Reason, "pipeline_yaml": r.PipelineYAML,
				"artifact_sha256": r.ArtifactSHA256, "log_truncated": r.LogTruncated, "finished_at": r.FinishedAt,
			})
		if res.Error != nil || res.RowsAffected != 1 {
			return res.Error
		}
		done = true
		return tx.notifyBuildFinished(ctx, id)
	})
	return done, wrap("finish build", err)
}

// UnfinishedBuilds lists builds that are queued or running.
func (s *Store) UnfinishedBuilds(ctx context.Context) ([]Build, error) {
	var bs []Build
	err := s.db.WithContext(ctx).Where("status IN ?", []string{BuildQueued, BuildRunning}).Order("id").Find(&bs).Error
	return bs, wrap("unfinished builds", err)
}

// InterruptBuild ends a queued or running build as interrupted with
// reason; when workerID is not empty only if that worker still owns it.
// Its running step becomes interrupted and the steps after it skipped.
func (s *Store) InterruptBuild(ctx context.Context, id int64, workerID, reason string, now time.Time) (bool, error) {
	done := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Model(&Build{}).Where("id = ? AND status IN ?", id, []string{BuildQueued, BuildRunning})
		if workerID != "" {
			q = q.Where("worker_id = ?", workerID)
		}
		res := q.Updates(map[string]any{"status": BuildInterrupted, "status_reason": reason, "finished_at": now})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		done = true
		if err := tx.Model(&BuildStep{}).Where("build_id = ? AND status = ?", id, StepRunning).
			Updates(map[string]any{"status": BuildInterrupted, "finished_at": now}).Error; err != nil {
			return err
		}
		return tx.Model(&BuildStep{}).Where("build_id = ? AND status = ?", id, StepPending).Update("status", "skipped").Error
	})
	return done, wrap("interrupt build", err)
}

// CreateBuildSteps inserts steps (their IDs are set).
func (s *Store) CreateBuildSteps(ctx context.Context, steps []BuildStep) error {
	if len(steps) == 0 {
		return nil
	}
	return wrap("create build steps", s.db.WithContext(ctx).Create(&steps).Error)
}

// UpdateBuildStep saves every field of an existing step.
func (s *Store) UpdateBuildStep(ctx context.Context, st *BuildStep) error {
	return wrap("update build step", s.db.WithContext(ctx).Save(st).Error)
}

// UpsertArtifact records an artifact; one already recorded is kept as is.
func (s *Store) UpsertArtifact(ctx context.Context, a *Artifact) error {
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(a).Error
	return wrap("upsert artifact", err)
}

// Artifact returns the artifact with digest sha.
func (s *Store) Artifact(ctx context.Context, sha string) (*Artifact, error) {
	var a Artifact
	if err := s.db.WithContext(ctx).Where("sha256 = ?", sha).First(&a).Error; err != nil {
		return nil, wrap("artifact", err)
	}
	return &a, nil
}

func (s *Store) updateBuild(ctx context.Context, op string, id int64, fields map[string]any) error {
	res := s.db.WithContext(ctx).Model(&Build{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap(op, gorm.ErrRecordNotFound)
	}
	return nil
}
