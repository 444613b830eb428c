package models

import (
	"gorm.io/gorm"

	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// ErrNotDeployable is returned when a build cannot be deployed: it did not
// succeed or kept no artifact.
var ErrNotDeployable = errors.New("not deployable")

// CreateRelease inserts r as given (status, reason and config included).
func (s *Store) CreateRelease(ctx context.Context, r *Release) error {
	if r.ConfigSummary == "" {
		r.ConfigSummary = "[]"
	}
	return wrap("create release", s.db.WithContext(ctx).Omit(clause.Associations).Create(r).Error)
}

// SetReleaseJob records the River job that deploys r.
func (s *Store) SetReleaseJob(ctx context.Context, id, jobID int64) error {
	return wrap("set release job", s.db.WithContext(ctx).Model(&Release{}).Where("id = ?", id).Update("job_id", jobID).Error)
}

// Release returns the release with id, with its environment (and project),
// build and creator.
func (s *Store) Release(ctx context.Context, id int64) (*Release, error) {
	var r Release
	err := s.db.WithContext(ctx).Preload("Environment.Project").Preload("Build").Preload("CreatedBy").First(&r, id).Error
	if err != nil {
		return nil, wrap("release", err)
	}
	return &r, nil
}

// Releases lists an environment's releases, newest first, at most limit.
func (s *Store) Releases(ctx context.Context, envID int64, limit int) ([]Release, error) {
	if limit <= 0 {
		limit = 50
	}
	var rs []Release
	err := s.db.WithContext(ctx).Preload("Build").Preload("CreatedBy").Where("environment_id = ?", envID).
		Order("id DESC").Limit(limit).Find(&rs).Error
	return rs, wrap("releases", err)
}

// LiveRelease returns the environment's live release.
func (s *Store) LiveRelease(ctx context.Context, envID int64) (*Release, error) {
	var r Release
	err := s.db.WithContext(ctx).Preload("Build").Preload("CreatedBy").
		Where("environment_id = ? AND status = ?", envID, ReleaseLive).Order("id DESC").First(&r).Error
	if err != nil {
		return nil, wrap("live release", err)
	}
	return &r, nil
}

// LiveReleases returns the live release of each of envIDs that has one.
func (s *Store) LiveReleases(ctx context.Context, envIDs []int64) (map[int64]*Release, error) {
	out := map[int64]*Release{}
	if len(envIDs) == 0 {
		return out, nil
	}
	var rs []Release
	err := s.db.WithContext(ctx).Preload("Build").Preload("CreatedBy").
		Where("environment_id IN ? AND status = ?", envIDs, ReleaseLive).Order("id").Find(&rs).Error
	if err != nil {
		return nil, wrap("live releases", err)
	}
	for i := range rs {
		out[rs[i].EnvironmentID] = &rs[i]
	}
	return out, nil
}

// LiveProcessReleases lists the live releases of every environment with
// the process target, with their environments and builds: what must run
// again after the portal restarts.
func (s *Store) LiveProcessReleases(ctx context.Context) ([]Release, error) {
	var rs []Release
	err := s.db.WithContext(ctx).Preload("Environment.Project").Preload("Build").
		Joins("JOIN environments ON environments.id = releases.environment_id").
		Where("releases.status = ? AND environments.target = ?", ReleaseLive, TargetProcess).Order("releases.id").Find(&rs).Error
	return rs, wrap("live process releases", err)
}

// PreviousGoodRelease returns the rollback candidate of an environment:
// the most recently replaced release that was not rejected and differs
// from what is live (artifact or configuration).
func (s *Store) PreviousGoodRelease(ctx context.Context, envID int64) (*Release, error) {
	q := s.db.WithContext(ctx).Preload("Build").
		Where("environment_id = ? AND status = ? AND rejected = ?", envID, ReleaseSuperseded, false)
	if live, err := s.LiveRelease(ctx, envID); err == nil {
		q = q.Where("NOT (artifact_sha256 = ? AND config_version = ?)", live.ArtifactSHA256, live.ConfigVersion)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var r Release
	if err := q.Order("finished_at DESC, id DESC").First(&r).Error; err != nil {
		return nil, wrap("previous good release", err)
	}
	return &r, nil
}

// DeployableBuild returns a succeeded build of the project that kept an
// artifact; otherwise ErrNotFound or ErrNotDeployable.
func (s *Store) DeployableBuild(ctx context.Context, projectID, buildID int64) (*Build, error) {
	var b Build
	if err := s.db.WithContext(ctx).Where("id = ? AND project_id = ?", buildID, projectID).First(&b).Error; err != nil {
		return nil, wrap("deployable build", err)
	}
	if b.Status != BuildSucceeded || b.ArtifactSHA256 == nil {
		return &b, fmt.Errorf("models: deployable build: build #%d %s without an artifact: %w", b.Number, b.Status, ErrNotDeployable)
	}
	return &b, nil
}

// BuildForArtifact returns the project's newest succeeded build that made
// the artifact sha (its pipeline says how to run it).
func (s *Store) BuildForArtifact(ctx context.Context, projectID int64, sha string) (*Build, error) {
	var b Build
	err := s.db.WithContext(ctx).Where("project_id = ? AND artifact_sha256 = ? AND status = ?", projectID, sha, BuildSucceeded).
		Order("id DESC").First(&b).Error
	if err != nil {
		return nil, wrap("build for artifact", err)
	}
	return &b, nil
}

// AcquireDeployLock lets release id deploy into its environment when no
// other deploy runs there and no older pending release waits: deploys to
// one environment run one at a time, in order. It returns 0 when the lock
// is (or already was) id's, else the release it waits for. A lock held by
// a release that has finished (its deploy crashed) is taken over.
func (s *Store) AcquireDeployLock(ctx context.Context, envID, id int64) (int64, error) {
	var waitFor int64
	err := s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		var e Environment
		if err := db.First(&e, envID).Error; err != nil {
			return wrap("acquire deploy lock", err)
		}
		if e.DeployLockReleaseID != nil {
			holder := *e.DeployLockReleaseID
			if holder == id {
				return nil
			}
			var st string
			err := db.Model(&Release{}).Where("id = ?", holder).Select("status").Scan(&st).Error
			if err != nil {
				return wrap("acquire deploy lock", err)
			}
			if st != "" && !ReleaseFinished(st) {
				waitFor = holder
				return nil
			}
		}
		var older []int64
		if err := db.Model(&Release{}).Where("environment_id = ? AND status = ? AND id < ?", envID, ReleasePending, id).
			Order("id").Limit(1).Pluck("id", &older).Error; err != nil {
			return wrap("acquire deploy lock", err)
		}
		if len(older) > 0 {
			waitFor = older[0]
			return nil
		}
		q := db.Model(&Environment{}).Where("id = ?", envID)
		if e.DeployLockReleaseID == nil {
			q = q.Where("deploy_lock_release_id IS NULL")
		} else {
			q = q.Where("deploy_lock_release_id = ?", *e.DeployLockReleaseID)
		}
		res := q.Update("deploy_lock_release_id", id)
		if res.Error != nil {
			return wrap("acquire deploy lock", res.Error)
		}
		if res.RowsAffected == 0 {
			waitFor = -1 // lost a race; the caller retries
		}
		return nil
	})
	return waitFor, err
}

// ReleaseWaitingFor returns the release a pending release waits for (the
// deploy running in its environment, or an older pending one), or 0.
func (s *Store) ReleaseWaitingFor(ctx context.Context, r *Release) (int64, error) {
	if r.Status != ReleasePending {
		return 0, nil
	}
	db := s.db.WithContext(ctx)
	var e Environment
	if err := db.First(&e, r.EnvironmentID).Error; err != nil {
		return 0, wrap("release waiting for", err)
	}
	if h := e.DeployLockReleaseID; h != nil && *h != r.ID {
		var st string
		if err := db.Model(&Release{}).Where("id = ?", *h).Select("status").Scan(&st).Error; err != nil {
			return 0, wrap("release waiting for", err)
		}
		if st != "" && !ReleaseFinished(st) {
			return *h, nil
		}
	}
	var older []int64
	if err := db.Model(&Release{}).Where("environment_id = ? AND status = ? AND id < ?", r.EnvironmentID, ReleasePending, r.ID).
		Order("id").Limit(1).Pluck("id", &older).Error; err != nil {
		return 0, wrap("release waiting for", err)
	}
	if len(older) > 0 {
		return older[0], nil
	}
	return 0, nil
}

// StartRelease moves a pending release to deploying. It reports false when
// the release was no longer pending (another attempt got there first, or
// it finished).
func (s *Store) StartRelease(ctx context.Context, id int64, now time.Time) (bool, error) {
	res := s.db.WithContext(ctx).Model(&Release{}).Where("id = ? AND status = ?", id, ReleasePending).
		Updates(map[string]any{"status": ReleaseDeploying, "started_at": now})
	return res.RowsAffected == 1, wrap("start release", res.Error)
}

// FinishReleaseLive records that release id is live, served by the engine
// instance instanceID. In the same transaction the release it replaced
// becomes superseded; for a rollback, the release rolled back becomes
// rolled_back and rejected, and auto-deploy pauses with pauseReason. Any
// other successful deploy resumes a paused auto-deploy: something newer
// is live. The environment's deploy lock is released.
func (s *Store) FinishReleaseLive(ctx context.Context, id, instanceID int64, now time.Time, pauseReason string) error {
	return s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		var r Release
		if err := db.First(&r, id).Error; err != nil {
			return wrap("finish release", err)
		}
		if err := db.Model(&Release{}).Where("environment_id = ? AND status = ? AND id <> ?", r.EnvironmentID, ReleaseLive, id).
			Updates(map[string]any{"status": ReleaseSuperseded}).Error; err != nil {
			return wrap("finish release", err)
		}
		env := map[string]any{}
		if r.Reason == ReasonRollback && r.RollbackOfID != nil {
			if err := db.Model(&Release{}).Where("id = ? AND status IN ?", *r.RollbackOfID, []string{ReleaseLive, ReleaseSuperseded}).
				Updates(map[string]any{"status": ReleaseRolledBack, "rejected": true}).Error; err != nil {
				return wrap("finish release", err)
			}
			// Only auto-deploy has something to pause; an environment
			// that never deploys by itself keeps no flag to trip over
			// if auto-deploy is turned on later.
			env["auto_deploy_paused"] = gorm.Expr("auto_deploy_branch <> ''")
			env["auto_deploy_paused_reason"] = gorm.Expr("CASE WHEN auto_deploy_branch <> '' THEN ? ELSE '' END", pauseReason)
		} else {
			env["auto_deploy_paused"], env["auto_deploy_paused_reason"] = false, ""
		}
		if err := db.Model(&Release{}).Where("id = ?", id).Updates(map[string]any{
			"status": ReleaseLive, "finished_at": now, "instance_release_id": instanceID, "error": "", "output": "",
		}).Error; err != nil {
			return wrap("finish release", err)
		}
		q := db.Model(&Environment{}).Where("id = ?", r.EnvironmentID)
		if err := q.Updates(env).Error; err != nil {
			return wrap("finish release", err)
		}
		if err := tx.notifyRelease(ctx, id); err != nil {
			return err
		}
		return tx.unlock(ctx, r.EnvironmentID, id)
	})
}

// FailRelease records that release id's deploy failed, with the error and
// the instance's last output, and releases the environment's deploy lock.
func (s *Store) FailRelease(ctx context.Context, id int64, now time.Time, errText, output string) error {
	return s.Tx(ctx, func(tx *Store) error {
		var r Release
		if err := tx.db.WithContext(ctx).First(&r, id).Error; err != nil {
			return wrap("fail release", err)
		}
		if err := tx.db.WithContext(ctx).Model(&Release{}).Where("id = ?", id).Updates(map[string]any{
			"status": ReleaseFailed, "finished_at": now, "error": errText, "output": output,
		}).Error; err != nil {
			return wrap("fail release", err)
		}
		if err := tx.notifyRelease(ctx, id); err != nil {
			return err
		}
		return tx.unlock(ctx, r.EnvironmentID, id)
	})
}

func (s *Store) unlock(ctx context.Context, envID, id int64) error {
	err := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ? AND deploy_lock_release_id = ?", envID, id).
		Update("deploy_lock_release_id", nil).Error
	return wrap("release deploy lock", err)
}

// SetReleaseInstance records which engine instance serves a live release
// (after a restart brought it up again).
func (s *Store) SetReleaseInstance(ctx context.Context, id, instanceID int64) error {
	err := s.db.WithContext(ctx).Model(&Release{}).Where("id = ?", id).Update("instance_release_id", instanceID).Error
	return wrap("set release instance", err)
}

// InterruptDeploys fails every release whose deploy was running when the
// portal stopped, and frees their environments. Call it at startup,
// before deploy workers run.
func (s *Store) InterruptDeploys(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		res := db.Model(&Release{}).Where("status = ?", ReleaseDeploying).Updates(map[string]any{
			"status": ReleaseFailed, "finished_at": now, "error": "interrupted: Slipway stopped while this deploy ran; the previous release kept serving",
		})
		if res.Error != nil {
			return wrap("interrupt deploys", res.Error)
		}
		n = res.RowsAffected
		return wrap("interrupt deploys", db.Model(&Environment{}).Where("deploy_lock_release_id IS NOT NULL").
			Update("deploy_lock_release_id", nil).Error)
	})
	return n, err
}

// CreateReleaseEvent records something that happened to a release's
// instance.
func (s *Store) CreateReleaseEvent(ctx context.Context, ev *ReleaseEvent) error {
	return wrap("create release event", s.db.WithContext(ctx).Create(ev).Error)
}

// ReleaseEvents lists an environment's instance events, newest first.
func (s *Store) ReleaseEvents(ctx context.Context, envID int64, limit int) ([]ReleaseEvent, error) {
	if limit <= 0 {
		limit = 50
	}
	var evs []ReleaseEvent
	err := s.db.WithContext(ctx).Where("environment_id = ?", envID).Order("id DESC").Limit(limit).Find(&evs).Error
	return evs, wrap("release events", err)
}

// ActiveReleases returns, for each of envIDs with one, the oldest release
// that is pending or deploying: the deploy running or next in line.
func (s *Store) ActiveReleases(ctx context.Context, envIDs []int64) (map[int64]*Release, error) {
	out := map[int64]*Release{}
	if len(envIDs) == 0 {
		return out, nil
	}
	var rs []Release
	err := s.db.WithContext(ctx).Preload("Build").Preload("CreatedBy").
		Where("environment_id IN ? AND status IN ?", envIDs, []string{ReleasePending, ReleaseDeploying}).Order("id DESC").Find(&rs).Error
	if err != nil {
		return nil, wrap("active releases", err)
	}
	for i := range rs {
		r := &rs[i]
		if cur := out[r.EnvironmentID]; cur == nil || r.Status == ReleaseDeploying || cur.Status != ReleaseDeploying {
			out[r.EnvironmentID] = r
		}
	}
	return out, nil
}

// DeployableBuilds lists the project's newest succeeded builds that kept an
// artifact, at most limit.
func (s *Store) DeployableBuilds(ctx context.Context, projectID int64, limit int) ([]Build, error) {
	var bs []Build
	err := s.db.WithContext(ctx).Where("project_id = ? AND status = ? AND artifact_sha256 IS NOT NULL", projectID, BuildSucceeded).
		Order("id DESC").Limit(limit).Find(&bs).Error
	return bs, wrap("deployable builds", err)
}

// HeadRelease returns the environment's newest release that is live or on
// its way there (pending or deploying), with its build: what the
// environment will run once its queue drains. Auto-deploy compares new
// builds against it.
func (s *Store) HeadRelease(ctx context.Context, envID int64) (*Release, error) {
	var r Release
	err := s.db.WithContext(ctx).Preload("Build").
		Where("environment_id = ? AND status IN ?", envID, []string{ReleasePending, ReleaseDeploying, ReleaseLive}).
		Order("id DESC").First(&r).Error
	if err != nil {
		return nil, wrap("head release", err)
	}
	return &r, nil
}

// SkipRelease ends a pending release without deploying it, as superseded
// with why (an auto-deploy that something newer overtook), and releases
// the environment's deploy lock. It reports false when the release was no
// longer pending.
func (s *Store) SkipRelease(ctx context.Context, id int64, now time.Time, why string) (bool, error) {
	skipped := false
	err := s.Tx(ctx, func(tx *Store) error {
		var r Release
		if err := tx.db.WithContext(ctx).First(&r, id).Error; err != nil {
			return wrap("skip release", err)
		}
		res := tx.db.WithContext(ctx).Model(&Release{}).Where("id = ? AND status = ?", id, ReleasePending).
			Updates(map[string]any{"status": ReleaseSuperseded, "finished_at": now, "error": why})
		if res.Error != nil {
			return wrap("skip release", res.Error)
		}
		skipped = res.RowsAffected == 1
		return tx.unlock(ctx, r.EnvironmentID, id)
	})
	return skipped, err
}
