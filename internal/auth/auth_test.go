package auth

import (
	"strings"
	"testing"
)

func TestCanFollowsTheTable(t *testing.T) {
	cases := []struct {
		role Role
		perm Permission
		want bool
	}{
		{"", Public, true},
		{"", Authenticated, false},
		{Viewer, Authenticated, true},
		{Admin, ManageUsers, true},
		{Lead, ManageUsers, false},
		{Developer, DeployUnprotected, true},
		{Developer, DeployProtected, false},
		{QA, RunLoadTest, true},
		{Developer, RunLoadTest, false},
		{Viewer, RunBuild, false},
		{Lead, Approve, true},
		{"", ViewProjects, false},
		{Admin, Permission("made.up"), false},
	}
	for _, c := range cases {
		if got := Can(c.role, c.perm); got != c.want {
			t.Errorf("Can(%q, %q) = %v, want %v", c.role, c.perm, got, c.want)
		}
	}
}

func TestPasswordsHashAndCheck(t *testing.T) {
	t.Setenv("SLIPWAY_BCRYPT_COST", "4")
	if _, err := HashPassword("short"); err != ErrWeakPassword {
		t.Fatalf("short password: got %v", err)
	}
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct") {
		t.Fatal("hash contains the password")
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "wrong horse battery") || CheckPassword("", "x") {
		t.Fatal("CheckPassword gave a wrong answer")
	}
}

func TestTokensAreRandomAndPrefixed(t *testing.T) {
	a, da := NewToken()
	b, _ := NewToken()
	if a == b || !strings.HasPrefix(a, TokenPrefix) || !strings.HasPrefix(a, da) || len(a) < 50 {
		t.Fatalf("bad tokens %q %q (display %q)", a, b, da)
	}
	if HashSecret(a) == HashSecret(b) || len(HashSecret(a)) != 64 {
		t.Fatal("HashSecret must differ per input and be hex SHA-256")
	}
}

func TestParseRole(t *testing.T) {
	if r, err := ParseRole("qa"); err != nil || r != QA {
		t.Fatal(r, err)
	}
	if _, err := ParseRole("root"); err == nil || !strings.Contains(err.Error(), "root") {
		t.Fatalf("unknown role error must name it: %v", err)
	}
}

func TestBcryptCostDefaultsToTwelve(t *testing.T) {
	t.Setenv("SLIPWAY_BCRYPT_COST", "")
	if bcryptCost() != 12 {
		t.Fatalf("default cost %d", bcryptCost())
	}
	t.Setenv("SLIPWAY_BCRYPT_COST", "2")
	if bcryptCost() != 12 {
		t.Fatal("a cost below bcrypt's minimum must be ignored")
	}
}
