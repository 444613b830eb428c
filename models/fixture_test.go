package models

import (
	"context"

	"gorm.io/gorm/clause"
)

// insertFixture inserts rows exactly as given, without hooks or
// associations. Tests in other packages use testkit.InsertFixture, which
// does the same through the store's connection pool; these tests are
// inside the package that testkit imports.
func (s *Store) insertFixture(ctx context.Context, rows ...any) error {
	for _, r := range rows {
		if err := s.db.WithContext(ctx).Omit(clause.Associations).Create(r).Error; err != nil {
			return wrap("insert fixture", err)
		}
	}
	return nil
}
