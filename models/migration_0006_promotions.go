package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0006Promotions adds promotions (an artifact live in one
// environment asked to go live in the next) and the approvals and
// rejections given on them. An approval records the artifact digest and
// the target's configuration version it was given for: a change of either
// makes it stale.
func migration0006Promotions() *gormigrate.Migration {
	type User struct{ ID int64 }
	type Project struct{ ID int64 }
	type Build struct{ ID int64 }
	type Environment struct{ ID int64 }
	type Release struct{ ID int64 }
	type Promotion struct {
		ID                   int64       `gorm:"primaryKey"`
		ProjectID            int64       `gorm:"not null;index"`
		Project              Project     `gorm:"constraint:OnDelete:CASCADE"`
		FromEnvironmentID    int64       `gorm:"not null;index"`
		FromEnvironment      Environment `gorm:"constraint:OnDelete:CASCADE"`
		ToEnvironmentID      int64       `gorm:"not null;index:idx_promotions_to_status,priority:1"`
		ToEnvironment        Environment `gorm:"constraint:OnDelete:CASCADE"`
		SourceReleaseID      *int64
		SourceRelease        *Release `gorm:"constraint:OnDelete:SET NULL"`
		BuildID              *int64
		Build                *Build `gorm:"constraint:OnDelete:SET NULL"`
		ArtifactSHA256       string `gorm:"size:64;not null"`
		ConfigVersion        int64  `gorm:"not null"`
		Status               string `gorm:"size:16;not null;index;index:idx_promotions_to_status,priority:2"`
		StatusReason         string `gorm:"size:2048;not null;default:''"`
		RequestedByID        *int64
		RequestedBy          *User `gorm:"constraint:OnDelete:SET NULL"`
		SupersededByID       *int64
		ReleaseID            *int64
		Release              *Release `gorm:"constraint:OnDelete:SET NULL"`
		FreezeOverrideByID   *int64
		FreezeOverrideBy     *User  `gorm:"constraint:OnDelete:SET NULL"`
		FreezeOverrideReason string `gorm:"size:1024;not null;default:''"`
		CreatedAt            time.Time
		UpdatedAt            time.Time
		FinishedAt           *time.Time
	}
	type Approval struct {
		ID             int64     `gorm:"primaryKey"`
		PromotionID    int64     `gorm:"not null;index"`
		Promotion      Promotion `gorm:"constraint:OnDelete:CASCADE"`
		UserID         int64     `gorm:"not null;index"`
		User           User      `gorm:"constraint:OnDelete:CASCADE"`
		Decision       string    `gorm:"size:16;not null"`
		Comment        string    `gorm:"size:4096;not null;default:''"`
		ArtifactSHA256 string    `gorm:"size:64;not null"`
		ConfigVersion  int64     `gorm:"not null"`
		CreatedAt      time.Time
	}
	return &gormigrate.Migration{
		ID: "0006_promotions",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&Promotion{}, &Approval{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("approvals", "promotions")
		},
	}
}
