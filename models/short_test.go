package models

import "testing"

func TestShortSHAAndDigest(t *testing.T) {
	tests := []struct {
		name, in, sha, digest string
	}{
		{"a full commit SHA", "0123456789abcdef0123456789abcdef01234567", "0123456789", "0123456789ab"},
		{"a short ref stays whole", "abc1234", "abc1234", "abc1234"},
		{"exactly ten characters", "0123456789", "0123456789", "0123456789"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShortSHA(tt.in); got != tt.sha {
				t.Errorf("ShortSHA(%q) = %q, want %q", tt.in, got, tt.sha)
			}
			if got := ShortDigest(tt.in); got != tt.digest {
				t.Errorf("ShortDigest(%q) = %q, want %q", tt.in, got, tt.digest)
			}
		})
	}
}
