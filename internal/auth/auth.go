// Package auth owns who may do what: roles, the one permission table,
// password hashing, and the random secrets behind sessions and API tokens.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Role is a user's role.
type Role string

// The roles, from most to least powerful.
const (
	Admin     Role = "admin"
	Lead      Role = "lead"
	Developer Role = "developer"
	QA        Role = "qa"
	Viewer    Role = "viewer"
)

// Roles lists every role in display order.
var Roles = []Role{Admin, Lead, Developer, QA, Viewer}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want one of admin, lead, developer, qa, viewer)", s)
}

// ErrWeakPassword is returned for passwords that are too short or too long.
var ErrWeakPassword = errors.New("password must be between 10 and 72 bytes")

// DefaultBcryptCost is the work factor for password hashes.
const DefaultBcryptCost = 12

// bcryptCost reads SLIPWAY_BCRYPT_COST (4–31), which test suites lower to
// keep thousands of logins fast; production keeps the default.
func bcryptCost() int {
	if n, err := strconv.Atoi(os.Getenv("SLIPWAY_BCRYPT_COST")); err == nil && n >= bcrypt.MinCost && n <= bcrypt.MaxCost {
		return n
	}
	return DefaultBcryptCost
}

// HashPassword hashes a password with bcrypt.
func HashPassword(pw string) (string, error) {
	if len(pw) < 10 || len(pw) > 72 {
		return "", ErrWeakPassword
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost())
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when a user does not exist, so a failed
// login takes as long whether or not the username is known.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("slipway-dummy-password"), bcryptCost())
	return h
})

// CheckPassword reports whether pw matches hash. An empty hash still costs
// one bcrypt comparison.
func CheckPassword(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// RandomSecret returns n random bytes encoded as lower-case base32.
func RandomSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return strings.ToLower(b32.EncodeToString(b))
}

// HashSecret returns the hex SHA-256 of a session ID or token, which is what
// the database stores.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TokenPrefix starts every API token so leaked tokens are easy to grep for.
const TokenPrefix = "slp_"

// NewToken returns a new API token and the short prefix shown in lists.
func NewToken() (token, display string) {
	token = TokenPrefix + RandomSecret(32)
	return token, token[:len(TokenPrefix)+6]
}

// NewPassword returns a random password for generated accounts.
func NewPassword() string { return RandomSecret(15) }
