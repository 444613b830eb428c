package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// CreateAPIToken stores a token (its hash only).
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	return wrap("create api token", s.db.WithContext(ctx).Omit("User").Create(t).Error)
}

// APITokenByHash returns an unrevoked token and its user.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var t APIToken
	err := s.db.WithContext(ctx).Preload("User").Where("hash = ? AND revoked_at IS NULL", hash).First(&t).Error
	if err != nil {
		return nil, wrap("api token", err)
	}
	return &t, nil
}

// APITokens lists a user's tokens, newest first, revoked ones included.
func (s *Store) APITokens(ctx context.Context, userID int64) ([]APIToken, error) {
	var ts []APIToken
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).Order("id DESC").Find(&ts).Error
	return ts, wrap("api tokens", err)
}

// RevokeAPIToken revokes one of a user's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id int64) error {
	res := s.db.WithContext(ctx).Model(&APIToken{}).
		Where("id = ? AND user_id = ? AND revoked_at IS NULL", id, userID).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return wrap("revoke api token", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("revoke api token", gorm.ErrRecordNotFound)
	}
	return nil
}

// TouchAPIToken records a use, at most once a minute per token.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, now time.Time) error {
	err := s.db.WithContext(ctx).Model(&APIToken{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, now.Add(-time.Minute)).
		Update("last_used_at", now).Error
	return wrap("touch api token", err)
}
