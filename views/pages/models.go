// Package pages holds one templ component per screen and the view models
// they take.
package pages

import "time"

// LoginPage is the sign-in form.
type LoginPage struct {
	CSRF     string
	Username string
	Error    string
	Next     string
	// Notes are one-time messages (e.g. "You are signed out.").
	Notes         []string
	CSS, JS, Icon string
}

// DashboardPage is the home screen.
type DashboardPage struct {
	Now       time.Time
	Username  string
	Role      string
	UserCount int64
	IsAdmin   bool
	// CSRF signs the "Create a demo project" form.
	CSRF string
	// ProjectCount is how many projects are linked.
	ProjectCount int
	// OfferDemo shows "Create a demo project" (an admin, no demo yet).
	OfferDemo bool
	// DemoName is the demo project's name once it exists (admins only).
	DemoName string
	// Home holds the role's sections; see DashboardHome.
	Home DashboardHome
	// HomeSignature identifies Home's rendering (see HomeSignature), for
	// its refresh.
	HomeSignature string
}

// UserRow is one line of the user administration table.
type UserRow struct {
	ID        int64
	Username  string
	Role      string
	Disabled  bool
	CreatedAt time.Time
	LastLogin time.Time
	IsSelf    bool
}

// UsersPage is the user administration screen.
type UsersPage struct {
	CSRF  string
	Now   time.Time
	Users []UserRow
	Roles []string
	// Form keeps what was typed when creating failed.
	FormUsername, FormRole, FormError string
	// NewPassword is shown once after a user was created (or their
	// password reset) without one.
	NewUser, NewPassword string
	// ResetUser and ResetError say why a password reset was refused.
	ResetUser, ResetError string
}

// TokenRow is one API token as the profile lists it.
type TokenRow struct {
	ID        int64
	Name      string
	Prefix    string
	CreatedAt time.Time
	LastUsed  time.Time
	Revoked   bool
}

// ProfilePage is the current user's profile with their API tokens.
type ProfilePage struct {
	CSRF     string
	Now      time.Time
	Username string
	Role     string
	Tokens   []TokenRow
	// NewToken is the token just created, shown once.
	NewToken  string
	FormError string
	// PasswordError says why the password change was refused.
	PasswordError string
}

// ErrorPage is a 4xx/5xx page.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
	// RequestID helps operators find the log line of a 500.
	RequestID string
}
