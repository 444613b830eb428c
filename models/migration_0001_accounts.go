package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

func migration0001Accounts() *gormigrate.Migration {
	type User struct {
		ID           int64  `gorm:"primaryKey"`
		Username     string `gorm:"size:64;not null;uniqueIndex"`
		PasswordHash string `gorm:"size:255;not null"`
		Role         string `gorm:"size:16;not null"`
		Disabled     bool   `gorm:"not null;default:false"`
		CreatedAt    time.Time
		UpdatedAt    time.Time
		LastLoginAt  *time.Time
	}
	type Session struct {
		ID         string `gorm:"primaryKey;size:64"`
		UserID     int64  `gorm:"not null;index"`
		User       User   `gorm:"constraint:OnDelete:CASCADE"`
		CreatedAt  time.Time
		ExpiresAt  time.Time `gorm:"not null;index"`
		LastSeenAt time.Time
		UserAgent  string `gorm:"size:255"`
		RemoteIP   string `gorm:"size:64"`
	}
	type APIToken struct {
		ID         int64  `gorm:"primaryKey"`
		UserID     int64  `gorm:"not null;index"`
		User       User   `gorm:"constraint:OnDelete:CASCADE"`
		Name       string `gorm:"size:100;not null"`
		Hash       string `gorm:"size:64;not null;uniqueIndex"`
		Prefix     string `gorm:"size:16;not null"`
		CreatedAt  time.Time
		LastUsedAt *time.Time
		RevokedAt  *time.Time
	}
	return &gormigrate.Migration{
		ID: "0001_accounts",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&User{}, &Session{}, &APIToken{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("api_tokens", "sessions", "users")
		},
	}
}
