package gitrepo

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// transport is the git protocol a validated URL uses; it is the only one
// git is allowed to speak for that command (protocol.<name>.allow).
type transport string

const (
	transportHTTPS transport = "https"
	transportHTTP  transport = "http"
	transportSSH   transport = "ssh"
	transportFile  transport = "file"
)

var (
	// "<helper>::<address>" runs an arbitrary remote helper (ext:: runs a
	// shell command); none is allowed.
	remoteHelperRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*::`)
	// scp-like syntax: [user@]host:path, where the colon comes before any
	// slash (that is how git itself tells it from a local path).
	scpRE = regexp.MustCompile(`^(?:([^@/:]+)@)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(.+)$`)
)

// ValidateURL checks a repository URL before git ever sees it.
//
// Accepted: https://host/path; ssh://[user@]host[:port]/path; scp-like
// [user@]host:path; file:///abs/path and absolute local paths; http:// only
// to a loopback host unless allowHTTP is set (plain HTTP leaks credentials
// and lets the network rewrite the code that gets built).
// Rejected: anything starting with "-" (option injection), control
// characters, remote helpers ("ext::", "fd::", any "<name>::"), git://,
// relative paths and other schemes.
func ValidateURL(raw string, allowHTTP bool) error {
	_, err := validateURL(raw, allowHTTP)
	return err
}

// endpoint is a validated URL taken apart: the transport, and for network
// transports the host (without brackets) and port git will connect to.
type endpoint struct {
	tr   transport
	host string
	port string
	// scp is set for the scp-like form user@host:path.
	scp        bool
	user, path string
	u          *url.URL
}

func validateURL(raw string, allowHTTP bool) (endpoint, error) {
	invalid := func(why string) (endpoint, error) {
		return endpoint{}, &Error{Kind: ErrInvalidURL, Msg: fmt.Sprintf("invalid repository URL: %s", why)}
	}
	if strings.TrimSpace(raw) == "" {
		return invalid("empty")
	}
	if strings.HasPrefix(raw, "-") {
		return invalid("must not start with \"-\"")
	}
	for _, c := range []byte(raw) {
		if c < 0x20 || c == 0x7f {
			return invalid("contains control characters")
		}
	}
	if remoteHelperRE.MatchString(raw) {
		return invalid("remote helpers (\"<name>::\") are not allowed")
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return invalid("cannot parse")
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
			if u.Hostname() == "" {
				return invalid("missing host")
			}
			return endpoint{tr: transportHTTPS, host: u.Hostname(), port: portOr(u.Port(), "443"), u: u}, nil
		case "http":
			if u.Hostname() == "" {
				return invalid("missing host")
			}
			if !allowHTTP && !isLoopback(u.Hostname()) {
				return invalid("plain http:// is only allowed to this machine; use https:// or ssh")
			}
			return endpoint{tr: transportHTTP, host: u.Hostname(), port: portOr(u.Port(), "80"), u: u}, nil
		case "ssh":
			host := u.Hostname()
			if host == "" {
				return invalid("missing host")
			}
			if strings.HasPrefix(host, "-") || strings.HasPrefix(u.User.Username(), "-") {
				return invalid("host and user must not start with \"-\"")
			}
			return endpoint{tr: transportSSH, host: host, port: portOr(u.Port(), "22"), u: u}, nil
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return invalid("file:// URLs must not name a host")
			}
			if !strings.HasPrefix(u.Path, "/") {
				return invalid("file:// URLs need an absolute path")
			}
			return endpoint{tr: transportFile}, nil
		default:
			return invalid(fmt.Sprintf("unsupported scheme %q (use https://, ssh:// or user@host:path)", u.Scheme))
		}
	}
	if strings.HasPrefix(raw, "/") {
		if !filepath.IsAbs(raw) {
			return invalid("local paths must be absolute")
		}
		return endpoint{tr: transportFile}, nil
	}
	if m := scpRE.FindStringSubmatch(raw); m != nil {
		user, host := m[1], m[2]
		if strings.HasPrefix(host, "-") || strings.HasPrefix(user, "-") {
			return invalid("host and user must not start with \"-\"")
		}
		return endpoint{tr: transportSSH, host: strings.Trim(host, "[]"), port: "22", scp: true, user: user, path: m[3]}, nil
	}
	return invalid("not a URL, user@host:path or absolute path")
}

func portOr(port, def string) string {
	if port == "" {
		return def
	}
	return port
}

// isLoopback reports whether host names this machine. A host whose form
// the address check refuses anyway (non-canonical numbers, a trailing
// dot...) counts too, so that it gets the check's one generic answer.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return hostNameProblem(host) != ""
	}
	return ip.IsLoopback() || ip.IsUnspecified()
}

// RedactURL returns the URL with any credentials of an http(s) URL replaced
// by "***", for messages and logs. ssh user names (usually "git") are kept.
func RedactURL(raw string) string {
	if !strings.Contains(raw, "://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		u.User = url.User("***")
		return strings.Replace(u.String(), "%2A%2A%2A@", "***@", 1)
	case "ssh":
		if _, has := u.User.Password(); has {
			u.User = url.User(u.User.Username())
		}
		return u.String()
	}
	return raw
}

// credentials returns the secret parts of a URL, to scrub from git's output.
func credentials(raw string) []string {
	if !strings.Contains(raw, "://") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
	}
	if s := strings.ToLower(u.Scheme); s == "http" || s == "https" {
		// A long user name is usually a token (https://TOKEN@host/...);
		// short ones ("git", "ci") are scrubbed too only as part of a URL.
		if n := u.User.Username(); len(n) >= 6 {
			out = append(out, n, url.QueryEscape(n), url.PathEscape(n))
		}
	}
	return out
}
