package models

import "time"

// User is an account that signs in to the portal.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  *time.Time
}

// Session is a server-side browser session. ID holds the SHA-256 of the
// cookie value, so a copy of the database does not yield live sessions.
type Session struct {
	ID         string
	UserID     int64
	User       User
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
	UserAgent  string
	RemoteIP   string
}

// APIToken is a bearer token for the JSON API, stored as a SHA-256 hash.
type APIToken struct {
	ID         int64
	UserID     int64
	User       User
	Name       string
	Hash       string
	Prefix     string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TableName keeps the table name stable.
func (APIToken) TableName() string { return "api_tokens" }
