package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0005EnvironmentsReleases adds each project's chain of
// environments (target, edge address, auto-deploy, the policy fields the
// promotions work fills in), their variables and secrets, the releases
// deployed into them, and what happened to each release's instances.
//
// releases.artifact_sha256 references artifacts with ON DELETE RESTRICT:
// an artifact that any release (and so any rollback candidate) names can
// never be deleted.
func migration0005EnvironmentsReleases() *gormigrate.Migration {
	type User struct{ ID int64 }
	type Project struct{ ID int64 }
	type Artifact struct {
		SHA256 string `gorm:"primaryKey;size:64"`
	}
	type Build struct{ ID int64 }
	type Environment struct {
		ID                     int64   `gorm:"primaryKey"`
		ProjectID              int64   `gorm:"not null;uniqueIndex:idx_environments_project_name,priority:1;index:idx_environments_project_position,priority:1"`
		Project                Project `gorm:"constraint:OnDelete:CASCADE"`
		Name                   string  `gorm:"size:64;not null;uniqueIndex:idx_environments_project_name,priority:2"`
		Position               int     `gorm:"not null;index:idx_environments_project_position,priority:2"`
		Target                 string  `gorm:"size:16;not null;default:'process'"`
		ScriptCommand          string  `gorm:"type:text;not null;default:''"`
		EdgeAddr               string  `gorm:"size:128;not null;default:''"`
		AutoDeployBranch       string  `gorm:"size:255;not null;default:''"`
		AutoDeployPaused       bool    `gorm:"not null;default:false"`
		AutoDeployPausedReason string  `gorm:"size:1024;not null;default:''"`
		ConfigVersion          int64   `gorm:"not null;default:1"`
		Protected              bool    `gorm:"not null;default:false"`
		ApprovalsRequired      int     `gorm:"not null;default:0"`
		ApproverRoles          string  `gorm:"size:255;not null;default:''"`
		AllowSelfApproval      bool    `gorm:"not null;default:false"`
		RequireLoadTest        bool    `gorm:"not null;default:false"`
		FreezeWindows          string  `gorm:"type:text;not null;default:'[]'"`
		DeployLockReleaseID    *int64
		CreatedAt              time.Time
		UpdatedAt              time.Time
	}
	type EnvironmentVariable struct {
		ID            int64       `gorm:"primaryKey"`
		EnvironmentID int64       `gorm:"not null;uniqueIndex:idx_environment_variables_env_name,priority:1"`
		Environment   Environment `gorm:"constraint:OnDelete:CASCADE"`
		Name          string      `gorm:"size:255;not null;uniqueIndex:idx_environment_variables_env_name,priority:2"`
		Value         string      `gorm:"type:text;not null;default:''"`
		Secret        bool        `gorm:"not null;default:false"`
		ValueSealed   []byte
		CreatedAt     time.Time
		UpdatedAt     time.Time
	}
	type Release struct {
		ID                int64       `gorm:"primaryKey"`
		EnvironmentID     int64       `gorm:"not null;index:idx_releases_env_status,priority:1"`
		Environment       Environment `gorm:"constraint:OnDelete:CASCADE"`
		BuildID           *int64      `gorm:"index"`
		Build             *Build      `gorm:"constraint:OnDelete:SET NULL"`
		ArtifactSHA256    string      `gorm:"size:64;not null;index"`
		Artifact          Artifact    `gorm:"foreignKey:ArtifactSHA256;references:SHA256;constraint:OnDelete:RESTRICT"`
		ConfigVersion     int64       `gorm:"not null"`
		ConfigSealed      []byte
		ConfigSummary     string `gorm:"type:text;not null;default:'[]'"`
		Status            string `gorm:"size:16;not null;index:idx_releases_env_status,priority:2"`
		Rejected          bool   `gorm:"not null;default:false"`
		CreatedByID       *int64
		CreatedBy         *User  `gorm:"constraint:OnDelete:SET NULL"`
		Reason            string `gorm:"size:16;not null"`
		RollbackOfID      *int64
		SourceReleaseID   *int64
		InstanceReleaseID *int64
		JobID             int64
		Error             string `gorm:"type:text;not null;default:''"`
		Output            string `gorm:"type:text;not null;default:''"`
		CreatedAt         time.Time
		StartedAt         *time.Time
		FinishedAt        *time.Time
	}
	type ReleaseEvent struct {
		ID            int64       `gorm:"primaryKey"`
		EnvironmentID int64       `gorm:"not null;index"`
		Environment   Environment `gorm:"constraint:OnDelete:CASCADE"`
		ReleaseID     int64       `gorm:"not null;index"`
		Kind          string      `gorm:"size:16;not null"`
		Message       string      `gorm:"size:2048;not null;default:''"`
		PID           int
		Restarts      int
		ExitCode      *int
		Output        string `gorm:"type:text;not null;default:''"`
		CreatedAt     time.Time
	}
	return &gormigrate.Migration{
		ID: "0005_environments_releases",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&Environment{}, &EnvironmentVariable{}, &Release{}, &ReleaseEvent{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("release_events", "releases", "environment_variables", "environments")
		},
	}
}
