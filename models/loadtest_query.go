package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrTooManyLoadTests is returned when starting a run would exceed the
// admin's cap on concurrent runs.
var ErrTooManyLoadTests = errors.New("too many load tests queued or running")

// CreateLoadTestPlan saves a new plan; a name taken in the project returns
// ErrConflict.
func (s *Store) CreateLoadTestPlan(ctx context.Context, p *LoadTestPlan) error {
	return wrap("create load test plan", s.db.WithContext(ctx).Omit(clause.Associations).Create(p).Error)
}

// UpdateLoadTestPlan saves every editable field of p; a name taken in the
// project returns ErrConflict.
func (s *Store) UpdateLoadTestPlan(ctx context.Context, p *LoadTestPlan) error {
	res := s.db.WithContext(ctx).Model(&LoadTestPlan{}).Where("id = ?", p.ID).Updates(map[string]any{
		"environment_id": p.EnvironmentID, "name": p.Name, "targets": p.Targets, "pacer": p.Pacer,
		"rate": p.Rate, "rate_to": p.RateTo, "duration": p.Duration, "timeout": p.Timeout, "max_workers": p.MaxWorkers,
		"threshold_p95": p.ThresholdP95, "threshold_p99": p.ThresholdP99,
		"min_success_ratio": p.MinSuccessRatio, "min_throughput": p.MinThroughput,
		"updated_at": time.Now().UTC(),
	})
	if res.Error == nil && res.RowsAffected == 0 {
		return wrap("update load test plan", gorm.ErrRecordNotFound)
	}
	return wrap("update load test plan", res.Error)
}

// LoadTestPlan returns the plan with id, with its project and environment.
func (s *Store) LoadTestPlan(ctx context.Context, id int64) (*LoadTestPlan, error) {
	var p LoadTestPlan
	if err := s.db.WithContext(ctx).Preload("Project").Preload("Environment").First(&p, id).Error; err != nil {
		return nil, wrap("load test plan", err)
	}
	return &p, nil
}

// LoadTestPlans lists every plan with its project and environment, by
// project, then name.
func (s *Store) LoadTestPlans(ctx context.Context) ([]LoadTestPlan, error) {
	var ps []LoadTestPlan
	err := s.db.WithContext(ctx).Preload("Project").Preload("Environment").
		Joins("JOIN projects ON projects.id = load_test_plans.project_id").
		Order("projects.slug, load_test_plans.name").Find(&ps).Error
	return ps, wrap("load test plans", err)
}

// UserLoadTestPlans lists the plans userID saved, most recently changed
// first, at most limit of them.
func (s *Store) UserLoadTestPlans(ctx context.Context, userID int64, limit int) ([]LoadTestPlan, error) {
	var ps []LoadTestPlan
	err := s.db.WithContext(ctx).Preload("Project").Preload("Environment").
		Where("created_by_id = ?", userID).Order("updated_at DESC, id DESC").Limit(limit).Find(&ps).Error
	return ps, wrap("user load test plans", err)
}

// LoadTestFilter narrows LoadTests; zero fields do not filter.
type LoadTestFilter struct {
	PlanID int64
	// OwnerID matches the runs one user started and the runs of the plans
	// that user saved.
	OwnerID int64
	// Limit is the most rows returned (default 50).
	Limit int
}

// LoadTests lists runs, newest first, with project, environment, plan and
// creator.
func (s *Store) LoadTests(ctx context.Context, f LoadTestFilter) ([]LoadTest, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	q := s.db.WithContext(ctx).Preload("Project").Preload("Environment").Preload("Plan").Preload("CreatedBy")
	if f.PlanID != 0 {
		q = q.Where("plan_id = ?", f.PlanID)
	}
	if f.OwnerID != 0 {
		q = q.Where("created_by_id = ? OR plan_id IN (?)", f.OwnerID,
			s.db.Model(&LoadTestPlan{}).Select("id").Where("created_by_id = ?", f.OwnerID))
	}
	var ls []LoadTest
	err := q.Order("id DESC").Limit(f.Limit).Find(&ls).Error
	return ls, wrap("load tests", err)
}

// LoadTest returns the run with id, with its project, environment, plan,
// release and creator.
func (s *Store) LoadTest(ctx context.Context, id int64) (*LoadTest, error) {
	var l LoadTest
	err := s.db.WithContext(ctx).Preload("Project").Preload("Environment").Preload("Plan").Preload("CreatedBy").
		First(&l, id).Error
	if err != nil {
		return nil, wrap("load test", err)
	}
	return &l, nil
}

// CreateLoadTest inserts a queued run unless limit runs are already queued
// or running (ErrTooManyLoadTests); limit ≤ 0 is no cap. Call it in the
// transaction that enqueues the run's job.
func (s *Store) CreateLoadTest(ctx context.Context, l *LoadTest, limit int) error {
	if limit > 0 {
		var n int64
		err := s.db.WithContext(ctx).Model(&LoadTest{}).Where("status IN ?", []string{LoadTestQueued, LoadTestRunning}).Count(&n).Error
		if err != nil {
			return wrap("create load test", err)
		}
		if n >= int64(limit) {
			return fmt.Errorf("models: create load test: %w (%d of at most %d)", ErrTooManyLoadTests, n, limit)
		}
	}
	l.Status = LoadTestQueued
	if l.Windows == "" {
		l.Windows = "[]"
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC()
	}
	return wrap("create load test", s.db.WithContext(ctx).Omit(clause.Associations).Create(l).Error)
}

// SetLoadTestJob records the River job that runs l.
func (s *Store) SetLoadTestJob(ctx context.Context, id, jobID int64) error {
	return wrap("set load test job", s.db.WithContext(ctx).Model(&LoadTest{}).Where("id = ?", id).Update("job_id", jobID).Error)
}

// StartLoadTest moves a queued run to running and records what it attacks.
// It reports false when the run was no longer queued (canceled meanwhile).
func (s *Store) StartLoadTest(ctx context.Context, id int64, releaseID int64, artifactSHA, baseURL string, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&LoadTest{}).Where("id = ? AND status = ?", id, LoadTestQueued).Updates(map[string]any{
		"status": LoadTestRunning, "release_id": releaseID, "artifact_sha256": artifactSHA, "base_url": baseURL, "started_at": now,
	})
	return res.RowsAffected == 1, wrap("start load test", res.Error)
}

// LoadTestResult is how a run ended, for FinishLoadTest.
type LoadTestResult struct {
	Status  string
	Verdict string
	Report  string
	Windows string
	Error   string
}

// FinishLoadTest records a run's final status and result. A run already
// finished is left alone (ErrNotFound).
func (s *Store) FinishLoadTest(ctx context.Context, id int64, r LoadTestResult, now time.Time) error {
	if r.Windows == "" {
		r.Windows = "[]"
	}
	return s.Tx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Model(&LoadTest{}).Where("id = ? AND status IN ?", id, []string{LoadTestQueued, LoadTestRunning}).
			Updates(map[string]any{
				"status": r.Status, "verdict": r.Verdict, "report": r.Report, "windows": r.Windows, "error": r.Error, "finished_at": now,
			})
		if res.Error == nil && res.RowsAffected == 0 {
			return wrap("finish load test", gorm.ErrRecordNotFound)
		}
		if res.Error != nil {
			return wrap("finish load test", res.Error)
		}
		return tx.notifyLoadTest(ctx, id)
	})
}

// CancelLoadTest asks a run to stop. A queued run is canceled at once
// (wasQueued true); a running one is flagged, and its worker stops it. A
// finished run is left alone and returns ErrNotFound.
func (s *Store) CancelLoadTest(ctx context.Context, id int64, now time.Time) (wasQueued bool, err error) {
	err = s.Tx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Model(&LoadTest{}).Where("id = ? AND status = ?", id, LoadTestQueued).Updates(map[string]any{
			"status": LoadTestCanceled, "cancel_requested": true, "verdict": "fail", "error": "canceled before it started", "finished_at": now,
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			wasQueued = true
			return nil
		}
		res = tx.db.WithContext(ctx).Model(&LoadTest{}).Where("id = ? AND status = ?", id, LoadTestRunning).Update("cancel_requested", true)
		if res.Error == nil && res.RowsAffected == 0 {
			return gorm.ErrRecordNotFound
		}
		return res.Error
	})
	return wasQueued, wrap("cancel load test", err)
}

// LoadTestCancelRequested reports whether someone asked the run to stop.
func (s *Store) LoadTestCancelRequested(ctx context.Context, id int64) (bool, error) {
	var l LoadTest
	err := s.db.WithContext(ctx).Select("id", "cancel_requested").First(&l, id).Error
	return l.CancelRequested, wrap("load test cancel requested", err)
}

// UnfinishedLoadTests lists the runs that are queued or running, oldest
// first, without their associations.
func (s *Store) UnfinishedLoadTests(ctx context.Context) ([]LoadTest, error) {
	var ls []LoadTest
	err := s.db.WithContext(ctx).Where("status IN ?", []string{LoadTestQueued, LoadTestRunning}).Order("id").Find(&ls).Error
	return ls, wrap("unfinished load tests", err)
}

// InterruptLoadTest finishes a queued or running run as interrupted with
// reason (shown on its page and in the API), verdict fail. windows, when
// not empty, replaces the run's per-second series (the windows its worker
// published before it stopped). It changes the run only if its status is
// still from (queued or running, as the caller saw it) and reports false,
// changing nothing, when the run has moved on since.
func (s *Store) InterruptLoadTest(ctx context.Context, id int64, from, reason, windows string, now time.Time) (bool, error) {
	set := map[string]any{"status": LoadTestInterrupted, "verdict": "fail", "error": reason, "finished_at": now}
	if windows != "" {
		set["windows"] = windows
	}
	if from != LoadTestQueued && from != LoadTestRunning {
		return false, nil
	}
	// Only from the status the caller judged: a queued run that a worker
	// started meanwhile is not "never started".
	res := s.db.WithContext(ctx).Model(&LoadTest{}).Where("id = ? AND status = ?", id, from).
		Updates(set)
	return res.RowsAffected == 1, wrap("interrupt load test", res.Error)
}

// LoadTestLimits returns the admin caps, or DefaultLoadTestLimits when no
// admin has set them.
func (s *Store) LoadTestLimits(ctx context.Context) (LoadTestLimits, error) {
	var l LoadTestLimits
	err := s.db.WithContext(ctx).First(&l, 1).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DefaultLoadTestLimits(), nil
	}
	if err != nil {
		return LoadTestLimits{}, wrap("load test limits", err)
	}
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = DefaultLoadTestLimits().MaxConcurrent
	}
	return l, nil
}

// SetLoadTestLimits saves the admin caps.
func (s *Store) SetLoadTestLimits(ctx context.Context, l LoadTestLimits) error {
	_, err := s.ReplaceLoadTestLimits(ctx, l)
	return err
}

// ReplaceLoadTestLimits saves the admin caps and returns the ones they
// replace (DefaultLoadTestLimits when none were saved), read under a lock
// so that two admins saving at once each see what the other wrote. Call
// it in the transaction that audits the change (Store.Tx); outside one it
// opens its own.
func (s *Store) ReplaceLoadTestLimits(ctx context.Context, l LoadTestLimits) (before LoadTestLimits, err error) {
	if _, inTx := s.SQLTx(); !inTx {
		err = s.Tx(ctx, func(tx *Store) error {
			before, err = tx.ReplaceLoadTestLimits(ctx, l)
			return err
		})
		return before, err
	}
	db := s.db.WithContext(ctx)
	// Make sure the row exists, then lock it (PostgreSQL; SQLite's write
	// transactions are already exclusive) before reading what it holds.
	d := DefaultLoadTestLimits()
	d.ID, d.UpdatedAt = 1, time.Now().UTC()
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Omit(clause.Associations).Create(&d).Error; err != nil {
		return before, wrap("replace load test limits", err)
	}
	q := db
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.First(&before, 1).Error; err != nil {
		return before, wrap("replace load test limits", err)
	}
	if before.MaxConcurrent <= 0 {
		before.MaxConcurrent = DefaultLoadTestLimits().MaxConcurrent
	}
	l.ID, l.UpdatedAt, l.UpdatedBy = 1, time.Now().UTC(), nil
	err = db.Model(&LoadTestLimits{}).Where("id = ?", 1).Updates(map[string]any{
		"max_rate": l.MaxRate, "max_duration": l.MaxDuration, "max_concurrent": l.MaxConcurrent, "max_workers": l.MaxWorkers,
		"updated_by_id": l.UpdatedByID, "updated_at": l.UpdatedAt,
	}).Error
	return before, wrap("replace load test limits", err)
}

// PassedLoadTest returns the newest run that passed against envID while
// artifactSHA was live there.
func (s *Store) PassedLoadTest(ctx context.Context, envID int64, artifactSHA string) (*LoadTest, error) {
	return s.lastLoadTestOf(ctx, envID, artifactSHA, true)
}

// LastLoadTestOf returns the newest finished run of artifactSHA in envID,
// whatever its verdict.
func (s *Store) LastLoadTestOf(ctx context.Context, envID int64, artifactSHA string) (*LoadTest, error) {
	return s.lastLoadTestOf(ctx, envID, artifactSHA, false)
}

// lastLoadTestOf returns the newest finished run of artifactSHA in envID,
// only passing ones if passed.
func (s *Store) lastLoadTestOf(ctx context.Context, envID int64, artifactSHA string, passed bool) (*LoadTest, error) {
	q := s.db.WithContext(ctx).Where("environment_id = ? AND artifact_sha256 = ?", envID, artifactSHA)
	if passed {
		q = q.Where("status = ?", LoadTestPassed)
	} else {
		q = q.Where("status NOT IN ?", []string{LoadTestQueued, LoadTestRunning})
	}
	var l LoadTest
	if err := q.Order("id DESC").First(&l).Error; err != nil {
		return nil, wrap("load test of artifact", err)
	}
	return &l, nil
}

// LoadTestGate is the promotions' load-test hook (policy.LoadTestGate):
// it reports whether the artifact artifactSHA passed a load test in the
// environment envID, the environment a promotion takes it from. Either way
// reason says so in words an approver can act on, naming the run; err is
// only for failures to decide. The caller decides whether the policy asks
// for a load test at all (see PromotionLoadTestGate).
func (s *Store) LoadTestGate(ctx context.Context, envID int64, artifactSHA string) (ok bool, reason string, err error) {
	env, err := s.Environment(ctx, envID)
	if err != nil {
		return false, "", err
	}
	short := ShortDigest(artifactSHA)
	if l, err := s.PassedLoadTest(ctx, env.ID, artifactSHA); err == nil {
		return true, fmt.Sprintf("load test %s of artifact %s passed in %s", l.Ref(), short, env.Name), nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, "", err
	}
	last, err := s.lastLoadTestOf(ctx, env.ID, artifactSHA, false)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, fmt.Sprintf("a passing load test of artifact %s in %s is required; none has run yet", short, env.Name), nil
	case err != nil:
		return false, "", err
	}
	return false, fmt.Sprintf("a passing load test of artifact %s in %s is required; the last one, %s, ended %s", short, env.Name, last.Ref(), last.Status), nil
}

// PromotionLoadTestGate applies the load-test policy of the environment
// targetEnvID to the artifact artifactSHA: open when the policy does not
// require a load test, otherwise LoadTestGate of the environment just
// before it in the project's chain.
func (s *Store) PromotionLoadTestGate(ctx context.Context, targetEnvID int64, artifactSHA string) (ok bool, reason string, err error) {
	env, err := s.Environment(ctx, targetEnvID)
	if err != nil {
		return false, "", err
	}
	if !env.RequireLoadTest {
		return true, "", nil
	}
	var prev Environment
	err = s.db.WithContext(ctx).Where("project_id = ? AND position < ?", env.ProjectID, env.Position).
		Order("position DESC, id DESC").First(&prev).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, fmt.Sprintf("%s requires a passing load test in the previous environment, but it is the first environment of the chain", env.Name), nil
	}
	if err != nil {
		return false, "", wrap("promotion load test gate", err)
	}
	return s.LoadTestGate(ctx, prev.ID, artifactSHA)
}
