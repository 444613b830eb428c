package models

import (
	"context"
	"fmt"
	"sort"

	"github.com/go-gormigrate/gormigrate/v2"
)

// migrations returns every schema migration in order. Each migration works
// on snapshot structs of its own so later model changes never rewrite
// history. Add new ones at the end with the next ID.
func migrations() []*gormigrate.Migration {
	all := []*gormigrate.Migration{
		migration0001Accounts(),
		migration0002LogChunks(),
		migration0003ProjectsBuilds(),
		migration0004Audit(),
		migration0005EnvironmentsReleases(),
		migration0008BuildsExtra(),
		migration0006Promotions(),
		migration0007LoadTests(),
		migration0009Evidence(),
		migration0009HostedRepos(),
		migration0010BranchProtection(),
		migration0011DORA(),
		migration0013Instances(),
		migration0012Notifications(),
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// Migrate applies every pending migration.
func (s *Store) Migrate(ctx context.Context) error {
	m := gormigrate.New(s.db.WithContext(ctx), &gormigrate.Options{
		TableName:                 "schema_migrations",
		IDColumnName:              "id",
		IDColumnSize:              64,
		UseTransaction:            true,
		ValidateUnknownMigrations: false,
	}, migrations())
	if err := m.Migrate(); err != nil {
		return fmt.Errorf("models: migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the ID of the last applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (string, error) {
	var id string
	err := s.db.WithContext(ctx).Raw("SELECT id FROM schema_migrations ORDER BY id DESC LIMIT 1").Scan(&id).Error
	return id, wrap("schema version", err)
}
