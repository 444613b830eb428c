package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0011DORA adds what the DORA metrics need: when Slipway first
// saw each commit of a project (commit_sightings, backfilled from the
// builds that already exist), and the daily rollup the hourly job writes
// (dora_daily, one row per environment and UTC day).
func migration0011DORA() *gormigrate.Migration {
	type Project struct{ ID int64 }
	type Environment struct{ ID int64 }
	type CommitSighting struct {
		ID          int64     `gorm:"primaryKey"`
		ProjectID   int64     `gorm:"not null;uniqueIndex:idx_commit_sightings_project_sha,priority:1"`
		Project     Project   `gorm:"constraint:OnDelete:CASCADE"`
		SHA         string    `gorm:"column:sha;size:64;not null;uniqueIndex:idx_commit_sightings_project_sha,priority:2"`
		FirstSeenAt time.Time `gorm:"not null"`
		Source      string    `gorm:"size:16;not null"`
	}
	type DORADay struct {
		ID            int64       `gorm:"primaryKey"`
		EnvironmentID int64       `gorm:"not null;uniqueIndex:idx_dora_daily_env_day,priority:1"`
		Environment   Environment `gorm:"constraint:OnDelete:CASCADE"`
		Day           string      `gorm:"size:10;not null;uniqueIndex:idx_dora_daily_env_day,priority:2"`
		Deployments   int         `gorm:"not null;default:0"`
		Failures      int         `gorm:"not null;default:0"`
		Reworks       int         `gorm:"not null;default:0"`
		LeadTimes     string      `gorm:"type:text;not null;default:'[]'"`
		RecoveryTimes string      `gorm:"type:text;not null;default:'[]'"`
		ComputedAt    time.Time   `gorm:"not null"`
	}
	return &gormigrate.Migration{
		ID: "0011_dora",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Migrator().CreateTable(&CommitSighting{}); err != nil {
				return err
			}
			if err := tx.Table("dora_daily").Migrator().CreateTable(&DORADay{}); err != nil {
				return err
			}
			// Commits built before this migration were first seen (as far
			// as anyone can tell now) by their first build.
			return tx.Exec(`INSERT INTO commit_sightings (project_id, sha, first_seen_at, source)
				SELECT project_id, commit_sha, MIN(created_at), 'build' FROM builds
				WHERE commit_sha <> '' GROUP BY project_id, commit_sha`).Error
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("dora_daily", "commit_sightings")
		},
	}
}
