package models

import (
	"context"

	"gorm.io/gorm"
)

// BuildWithSteps returns the build with id, its project, and its steps in
// order: what a log viewer needs to frame the build's log.
func (s *Store) BuildWithSteps(ctx context.Context, id int64) (*Build, error) {
	var b Build
	err := s.db.WithContext(ctx).Preload("Project").
		Preload("Steps", func(db *gorm.DB) *gorm.DB { return db.Order("position") }).
		First(&b, id).Error
	if err != nil {
		return nil, wrap("build with steps", err)
	}
	return &b, nil
}
