package models

import (
	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0009HostedRepos marks projects whose repository Slipway hosts
// itself (a bare repository under the data dir) instead of linking one.
func migration0009HostedRepos() *gormigrate.Migration {
	type Project struct {
		Hosted bool `gorm:"not null;default:false"`
	}
	return &gormigrate.Migration{
		ID: "0009_hosted_repos",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().AddColumn(&Project{}, "Hosted")
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropColumn(&Project{}, "Hosted")
		},
	}
}
