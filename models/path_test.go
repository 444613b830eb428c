package models

import "testing"

func TestPathEscapesEachSegment(t *testing.T) {
	tests := []struct {
		name     string
		segments []string
		want     string
	}{
		{"plain names", []string{"projects", "web", "environments", "staging"}, "/projects/web/environments/staging"},
		{"a slash stays inside its segment", []string{"projects", "a/b", "ide"}, "/projects/a%2Fb/ide"},
		{"a query or fragment character is escaped", []string{"projects", "x?y#z"}, "/projects/x%3Fy%23z"},
		{"spaces and non-ASCII", []string{"projects", "my app", "é"}, "/projects/my%20app/%C3%A9"},
		{"no segments is the root", nil, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Path(tt.segments...); got != tt.want {
				t.Fatalf("Path(%q) = %q, want %q", tt.segments, got, tt.want)
			}
		})
	}
}
