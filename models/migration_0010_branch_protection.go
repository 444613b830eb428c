package models

import (
	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0010BranchProtection adds a hosted project's push policy for
// its default branch: who may move it, and whether it may be rewritten.
func migration0010BranchProtection() *gormigrate.Migration {
	type Project struct {
		ProtectDefaultBranch bool `gorm:"not null;default:false"`
		AllowForcePush       bool `gorm:"not null;default:false"`
	}
	return &gormigrate.Migration{
		ID: "0010_branch_protection",
		Migrate: func(tx *gorm.DB) error {
			for _, col := range []string{"ProtectDefaultBranch", "AllowForcePush"} {
				if err := tx.Migrator().AddColumn(&Project{}, col); err != nil {
					return err
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			for _, col := range []string{"ProtectDefaultBranch", "AllowForcePush"} {
				if err := tx.Migrator().DropColumn(&Project{}, col); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
