package models

import (
	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0009Evidence keeps what pages must not recompute later: the
// evidence a promotion was decided on (frozen when it starts deploying, so
// a later policy or configuration edit cannot rewrite it), and the reason
// a person gave for a direct deploy.
func migration0009Evidence() *gormigrate.Migration {
	type Promotion struct {
		Evidence string `gorm:"type:text;not null;default:''"`
	}
	type Release struct {
		Note string `gorm:"type:text;not null;default:''"`
	}
	return &gormigrate.Migration{
		ID: "0009_evidence",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Migrator().AddColumn(&Promotion{}, "Evidence"); err != nil {
				return err
			}
			return tx.Migrator().AddColumn(&Release{}, "Note")
		},
		Rollback: func(tx *gorm.DB) error {
			if err := tx.Migrator().DropColumn(&Promotion{}, "Evidence"); err != nil {
				return err
			}
			return tx.Migrator().DropColumn(&Release{}, "Note")
		},
	}
}
