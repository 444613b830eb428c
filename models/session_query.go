package models

import (
	"context"
	"time"
)

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	return wrap("create session", s.db.WithContext(ctx).Omit("User").Create(sess).Error)
}

// SessionByID returns an unexpired session and its user.
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*Session, error) {
	var sess Session
	err := s.db.WithContext(ctx).Preload("User").Where("id = ? AND expires_at > ?", id, now).First(&sess).Error
	if err != nil {
		return nil, wrap("session", err)
	}
	return &sess, nil
}

// TouchSession slides a session's expiry.
func (s *Store) TouchSession(ctx context.Context, id string, now, expires time.Time) error {
	err := s.db.WithContext(ctx).Model(&Session{}).Where("id = ?", id).
		Updates(map[string]any{"last_seen_at": now, "expires_at": expires}).Error
	return wrap("touch session", err)
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return wrap("delete session", s.db.WithContext(ctx).Where("id = ?", id).Delete(&Session{}).Error)
}

// DeleteExpiredSessions removes sessions past their expiry and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("expires_at <= ?", now).Delete(&Session{})
	return res.RowsAffected, wrap("delete expired sessions", res.Error)
}

// CountSessions counts stored sessions (expired or not).
func (s *Store) CountSessions(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Session{}).Count(&n).Error
	return n, wrap("count sessions", err)
}
