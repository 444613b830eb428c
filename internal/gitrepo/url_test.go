package gitrepo

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"an https URL is accepted", "https://github.com/acme/app.git", false, true},
		{"an https URL with a token is accepted", "https://x-access-token:abc@github.com/acme/app.git", false, true},
		{"an ssh URL is accepted", "ssh://git@github.com:22/acme/app.git", false, true},
		{"an scp-like address is accepted", "git@github.com:acme/app.git", false, true},
		{"an scp-like address without user is accepted", "github.com:acme/app.git", false, true},
		{"a file URL is accepted", "file:///srv/git/app.git", false, true},
		{"an absolute local path is accepted", "/srv/git/app.git", false, true},
		{"plain http to loopback is accepted", "http://127.0.0.1:8080/app.git", false, true},
		{"plain http to localhost is accepted", "http://localhost/app.git", false, true},
		{"plain http to another host is refused", "http://git.example.com/app.git", false, false},
		{"plain http to another host is accepted when allowed", "http://git.example.com/app.git", true, true},
		{"an empty URL is refused", "", false, false},
		{"a URL starting with a dash is refused", "--upload-pack=touch /tmp/x", false, false},
		{"a URL with a newline is refused", "https://github.com/acme/app.git\n", false, false},
		{"a URL with a NUL is refused", "https://github.com/a\x00b", false, false},
		{"the ext remote helper is refused", "ext::sh -c touch% /tmp/pwned", false, false},
		{"the fd remote helper is refused", "fd::3", false, false},
		{"any remote helper is refused", "https::github.com/acme/app", false, false},
		{"git protocol is refused", "git://github.com/acme/app.git", false, false},
		{"an unknown scheme is refused", "ftp://example.com/app.git", false, false},
		{"a relative path is refused", "repos/app.git", false, false},
		{"an ssh host starting with a dash is refused", "ssh://-oProxyCommand=touch/app", false, false},
		{"an scp-like host starting with a dash is refused", "-oProxyCommand=x:app", false, false},
		{"an scp-like user starting with a dash is refused", "-u@host:app", false, false},
		{"a file URL with a host is refused", "file://server/srv/app.git", false, false},
		{"an https URL without host is refused", "https:///app.git", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateURL(tt.url, tt.allowHTTP)
			if tt.ok && err != nil {
				t.Fatalf("ValidateURL(%q) = %v, want ok", tt.url, err)
			}
			if !tt.ok {
				if !errors.Is(err, ErrInvalidURL) {
					t.Fatalf("ValidateURL(%q) = %v, want ErrInvalidURL", tt.url, err)
				}
				var e *Error
				if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, "invalid repository URL: ") {
					t.Fatalf("error %v is not an *Error with a user message", err)
				}
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"a password in an https URL is hidden", "https://user:s3cret@example.com/a.git", "https://***@example.com/a.git"},
		{"a token as https user is hidden", "https://ghp_token123@example.com/a.git", "https://***@example.com/a.git"},
		{"the ssh user is kept", "ssh://git@example.com/a.git", "ssh://git@example.com/a.git"},
		{"an ssh password is dropped", "ssh://git:pw@example.com/a.git", "ssh://git@example.com/a.git"},
		{"an URL without credentials is unchanged", "https://example.com/a.git", "https://example.com/a.git"},
		{"an scp-like address is unchanged", "git@example.com:a.git", "git@example.com:a.git"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Fatalf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
