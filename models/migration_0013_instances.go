package models

import (
	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0013Instances adds how many instances of its live release an
// environment runs (0: what the release's .slipway.yml says, else 1).
func migration0013Instances() *gormigrate.Migration {
	type Environment struct {
		Instances int `gorm:"not null;default:0"`
	}
	return &gormigrate.Migration{
		ID: "0013_instances",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().AddColumn(&Environment{}, "Instances")
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropColumn(&Environment{}, "Instances")
		},
	}
}
