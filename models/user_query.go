package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// CreateUser inserts u; a taken username returns ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	return wrap("create user", s.db.WithContext(ctx).Create(u).Error)
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id int64) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).First(&u, id).Error; err != nil {
		return nil, wrap("user", err)
	}
	return &u, nil
}

// UserByName returns the user called name.
func (s *Store) UserByName(ctx context.Context, name string) (*User, error) {
	var u User
	if err := s.db.WithContext(ctx).Where("username = ?", name).First(&u).Error; err != nil {
		return nil, wrap("user by name", err)
	}
	return &u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var us []User
	err := s.db.WithContext(ctx).Order("username").Find(&us).Error
	return us, wrap("users", err)
}

// CountUsers counts all users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Count(&n).Error
	return n, wrap("count users", err)
}

// CountActiveAdmins counts enabled admins (to refuse removing the last one).
func (s *Store) CountActiveAdmins(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&User{}).Where("role = ? AND disabled = ?", "admin", false).Count(&n).Error
	return n, wrap("count admins", err)
}

func (s *Store) updateUser(ctx context.Context, op string, id int64, fields map[string]any) error {
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap(op, gorm.ErrRecordNotFound)
	}
	return nil
}

// SetUserRole changes a user's role.
func (s *Store) SetUserRole(ctx context.Context, id int64, role string) error {
	return s.updateUser(ctx, "set user role", id, map[string]any{"role": role, "updated_at": time.Now().UTC()})
}

// SetUserPassword replaces a user's password hash and ends every session
// of the user but keepSession (the stored session ID of the user changing
// their own password; "" ends them all). It returns how many sessions
// ended. API tokens are left alone: they are revoked on their own.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash, keepSession string) (int64, error) {
	var ended int64
	err := s.Tx(ctx, func(tx *Store) error {
		if err := tx.updateUser(ctx, "set user password", id, map[string]any{"password_hash": hash, "updated_at": time.Now().UTC()}); err != nil {
			return err
		}
		res := tx.db.WithContext(ctx).Where("user_id = ? AND id <> ?", id, keepSession).Delete(&Session{})
		ended = res.RowsAffected
		return wrap("set user password: end sessions", res.Error)
	})
	return ended, err
}

// SetUserDisabled disables or enables a user; disabling also ends the
// user's sessions and revokes nothing else (tokens stop working because
// authentication checks the disabled flag).
func (s *Store) SetUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.updateUser(ctx, "set user disabled", id, map[string]any{"disabled": disabled, "updated_at": time.Now().UTC()}); err != nil {
			return err
		}
		if disabled {
			return wrap("end sessions", tx.db.WithContext(ctx).Where("user_id = ?", id).Delete(&Session{}).Error)
		}
		return nil
	})
}

// TouchUserLogin records a successful login.
func (s *Store) TouchUserLogin(ctx context.Context, id int64) error {
	return s.updateUser(ctx, "touch user login", id, map[string]any{"last_login_at": time.Now().UTC()})
}
