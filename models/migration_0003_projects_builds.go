package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

func migration0003ProjectsBuilds() *gormigrate.Migration {
	type User struct{ ID int64 }
	type Project struct {
		ID                  int64  `gorm:"primaryKey"`
		Slug                string `gorm:"size:64;not null;uniqueIndex"`
		Name                string `gorm:"size:100;not null"`
		RepoURL             string `gorm:"size:1024;not null"`
		DefaultBranch       string `gorm:"size:255;not null"`
		WebhookSecretSealed []byte `gorm:"not null"`
		DeployKeySealed     []byte
		PollInterval        int64 `gorm:"not null;default:0"` // seconds; 0 = off
		LastPolledAt        *time.Time
		CreatedByID         *int64
		CreatedBy           *User `gorm:"constraint:OnDelete:SET NULL"`
		NextBuildNumber     int64 `gorm:"not null;default:1"`
		CreatedAt           time.Time
		UpdatedAt           time.Time
	}
	type Artifact struct {
		SHA256    string `gorm:"primaryKey;size:64"`
		Size      int64  `gorm:"not null"`
		CreatedAt time.Time
	}
	type Build struct {
		ID                int64   `gorm:"primaryKey"`
		ProjectID         int64   `gorm:"not null;uniqueIndex:idx_builds_project_number,priority:1;index:idx_builds_project_ref,priority:1"`
		Project           Project `gorm:"constraint:OnDelete:CASCADE"`
		Number            int64   `gorm:"not null;uniqueIndex:idx_builds_project_number,priority:2"`
		Ref               string  `gorm:"size:255;not null;index:idx_builds_project_ref,priority:2"`
		RefType           string  `gorm:"size:16;not null"` // branch | tag | commit
		CommitSHA         string  `gorm:"size:64;not null"`
		CommitAuthor      string  `gorm:"size:255"`
		CommitAuthorEmail string  `gorm:"size:255"`
		CommitMessage     string  `gorm:"size:1024"`
		Trigger           string  `gorm:"size:16;not null"` // manual | api | webhook | poll
		TriggeredByID     *int64
		TriggeredBy       *User  `gorm:"constraint:OnDelete:SET NULL"`
		Status            string `gorm:"size:16;not null;index"`
		StatusReason      string `gorm:"size:2048"`
		PipelineYAML      string `gorm:"type:text"`
		ArtifactSHA256    *string
		Artifact          *Artifact `gorm:"foreignKey:ArtifactSHA256;references:SHA256;constraint:OnDelete:RESTRICT"`
		LogTruncated      bool      `gorm:"not null;default:false"`
		JobID             int64
		CreatedAt         time.Time `gorm:"index"`
		StartedAt         *time.Time
		FinishedAt        *time.Time
	}
	type BuildStep struct {
		ID         int64  `gorm:"primaryKey"`
		BuildID    int64  `gorm:"not null;uniqueIndex:idx_build_steps_build_pos,priority:1"`
		Build      Build  `gorm:"constraint:OnDelete:CASCADE"`
		Position   int    `gorm:"not null;uniqueIndex:idx_build_steps_build_pos,priority:2"`
		Name       string `gorm:"size:64;not null"`
		Status     string `gorm:"size:16;not null"`
		ExitCode   *int
		FirstLine  int
		LastLine   int
		StartedAt  *time.Time
		FinishedAt *time.Time
		DurationMS int64
	}
	type WebhookDelivery struct {
		ID         int64   `gorm:"primaryKey"`
		ProjectID  int64   `gorm:"not null;uniqueIndex:idx_deliveries_project_delivery,priority:1"`
		Project    Project `gorm:"constraint:OnDelete:CASCADE"`
		DeliveryID string  `gorm:"size:128;not null;uniqueIndex:idx_deliveries_project_delivery,priority:2"`
		Event      string  `gorm:"size:64"`
		BuildID    *int64
		CreatedAt  time.Time
	}
	return &gormigrate.Migration{
		ID: "0003_projects_builds",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&Project{}, &Artifact{}, &Build{}, &BuildStep{}, &WebhookDelivery{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("webhook_deliveries", "build_steps", "builds", "artifacts", "projects")
		},
	}
}
