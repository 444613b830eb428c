// Package layout holds the page frame every screen is drawn in.
package layout

import "time"

// Page carries what the frame needs around every screen.
type Page struct {
	Title string
	// Nav is the active navigation area ("projects", "builds", …).
	Nav  string
	User *User
	// CSRF is the token forms send back.
	CSRF   string
	Flash  []Flash
	Assets Assets
	// PendingApprovals is the count shown next to Approvals.
	PendingApprovals int
	Now              time.Time
}

// User is the signed-in user as the frame shows them.
type User struct {
	Name string
	Role string
}

// IsAdmin reports whether the user is an admin.
func (u *User) IsAdmin() bool { return u != nil && u.Role == "admin" }

// Flash is a one-time message after a redirect.
type Flash struct {
	Kind    string // "success" | "error" | "info"
	Message string
}

// Assets are the content-hashed URLs of the built CSS and JS.
type Assets struct {
	CSS  string
	JS   string
	Icon string
}

// NavItem is one entry in the navigation.
type NavItem struct {
	Key, Label, Href string
}

// NavItems lists the navigation areas in order.
func NavItems(u *User) []NavItem {
	items := []NavItem{
		{"dashboard", "Dashboard", "/"},
		{"projects", "Projects", "/projects"},
		{"builds", "Builds", "/builds"},
		{"environments", "Environments", "/environments"},
		{"loadtests", "Load tests", "/loadtests"},
		{"approvals", "Approvals", "/approvals"},
	}
	if u != nil && (u.Role == "admin" || u.Role == "lead") {
		items = append(items, NavItem{"audit", "Audit", "/audit"})
	}
	if u.IsAdmin() {
		items = append(items, NavItem{"admin", "Admin", "/admin/users"})
	}
	return items
}
