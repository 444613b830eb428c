package loadtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Limits on target text, so a stored spec stays small and an attack's
// in-memory target list stays bounded.
const (
	// MaxTargetsText is the largest target text ParseTargets accepts, in bytes.
	MaxTargetsText = 1 << 20
	// MaxTargets is the largest number of targets ParseTargets accepts.
	MaxTargets = 1000
)

// Target is one request blueprint of a load test. Its URL is absolute and has
// already passed the host policy.
type Target struct {
	// Method is one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS.
	Method string `json:"method"`
	// URL is absolute.
	URL string `json:"url"`
	// Header holds the target's headers, keys canonicalized.
	Header http.Header `json:"header,omitempty"`
	// Body is the request body; only the JSON format can set it.
	Body []byte `json:"body,omitempty"`
}

// TargetError reports a problem in target text. Line is 1-based; it is 0 for
// problems of the text as a whole (empty, too large).
type TargetError struct {
	Line int
	Msg  string
}

// Error returns the message prefixed by its line, e.g.
// `line 3: unknown method "GETT"`.
func (e *TargetError) Error() string {
	if e.Line <= 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// methods are the request methods a target may use. CONNECT and TRACE are
// left out: neither makes sense against a web app under load.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// ParseTargets parses and checks target text against the environment URL base
// and the admin allow-list allow.
//
// Two formats are accepted, chosen by the first line that is neither blank
// nor a '#' comment:
//
//   - Vegeta's HTTP format: a request line "METHOD URL" followed by header
//     lines "Name: value"; a blank line between targets is optional (a line
//     that starts with an upper-case word and a space begins the next target).
//     Body files ("@path") are refused: the worker must never read its own
//     disk on a user's behalf.
//   - Vegeta's JSON format, one object per line:
//     {"method":"POST","url":"/x","header":{"K":["v"]},"body":"<base64>"}.
//     This is the way to send a request body.
//
// A URL is either a path starting with "/", resolved against base (keeping
// base's own path as a prefix), or an absolute http(s) URL whose host is
// base's host or on the allow-list. An allow-list entry "host" admits any port
// of that host, "host:port" only that port. A Host header must name an
// allowed host too. Every error is a *TargetError naming the line.
func ParseTargets(base string, text string, allow []string) ([]Target, error) {
	pol, err := newHostPolicy(base, allow)
	if err != nil {
		return nil, &TargetError{Msg: err.Error()}
	}
	if len(text) > MaxTargetsText {
		return nil, &TargetError{Msg: fmt.Sprintf("targets are larger than %d bytes", MaxTargetsText)}
	}
	lines := strings.Split(text, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	var tgts []Target
	for _, l := range lines {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "{") {
			tgts, err = parseJSONTargets(pol, lines)
		} else {
			tgts, err = parseHTTPTargets(pol, lines)
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if len(tgts) == 0 {
		return nil, &TargetError{Msg: "no targets"}
	}
	return tgts, nil
}

// parseHTTPTargets parses Vegeta's HTTP target format.
func parseHTTPTargets(pol hostPolicy, lines []string) ([]Target, error) {
	var (
		tgts []Target
		cur  *Target // target whose header lines are being read; nil between targets
	)
	for i, l := range lines {
		n := i + 1
		switch {
		case strings.HasPrefix(l, "#"):
			continue
		case l == "":
			cur = nil
			continue
		case isRequestLine(l):
			fields := strings.Fields(l)
			if len(fields) != 2 {
				return nil, &TargetError{Line: n, Msg: fmt.Sprintf("want \"METHOD URL\", got %q", l)}
			}
			t, err := pol.target(fields[0], fields[1])
			if err != nil {
				return nil, &TargetError{Line: n, Msg: err.Error()}
			}
			if len(tgts) == MaxTargets {
				return nil, &TargetError{Line: n, Msg: fmt.Sprintf("more than %d targets", MaxTargets)}
			}
			tgts = append(tgts, t)
			cur = &tgts[len(tgts)-1]
		case cur == nil:
			return nil, &TargetError{Line: n, Msg: fmt.Sprintf("want a request line \"METHOD URL\", got %q", l)}
		case strings.HasPrefix(l, "@"):
			return nil, &TargetError{Line: n, Msg: "body files (@path) are not supported; use the JSON target format for a body"}
		default:
			name, value, ok := strings.Cut(l, ":")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if !ok || name == "" || value == "" {
				return nil, &TargetError{Line: n, Msg: fmt.Sprintf("bad header line %q: want \"Name: value\"", l)}
			}
			if err := pol.header(cur.Header, name, value); err != nil {
				return nil, &TargetError{Line: n, Msg: err.Error()}
			}
		}
	}
	return tgts, nil
}

// jsonTarget is one line of Vegeta's JSON target format; encoding/json
// decodes the body from base64 as Vegeta does.
type jsonTarget struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Header map[string][]string `json:"header"`
	Body   []byte              `json:"body"`
}

// parseJSONTargets parses Vegeta's JSON target format, one object per line.
func parseJSONTargets(pol hostPolicy, lines []string) ([]Target, error) {
	var tgts []Target
	for i, l := range lines {
		n := i + 1
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		var jt jsonTarget
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&jt); err != nil {
			return nil, &TargetError{Line: n, Msg: fmt.Sprintf("bad JSON target: %v", err)}
		}
		if dec.More() {
			return nil, &TargetError{Line: n, Msg: "bad JSON target: one object per line"}
		}
		t, err := pol.target(jt.Method, jt.URL)
		if err != nil {
			return nil, &TargetError{Line: n, Msg: err.Error()}
		}
		for name, values := range jt.Header {
			for _, v := range values {
				if err := pol.header(t.Header, name, v); err != nil {
					return nil, &TargetError{Line: n, Msg: err.Error()}
				}
			}
		}
		if len(jt.Body) > 0 {
			t.Body = jt.Body
		}
		if len(tgts) == MaxTargets {
			return nil, &TargetError{Line: n, Msg: fmt.Sprintf("more than %d targets", MaxTargets)}
		}
		tgts = append(tgts, t)
	}
	return tgts, nil
}

// isRequestLine reports whether l starts a new target, by Vegeta's rule: an
// upper-case ASCII word followed by white space.
func isRequestLine(l string) bool {
	i := 0
	for i < len(l) && l[i] >= 'A' && l[i] <= 'Z' {
		i++
	}
	return i > 0 && i < len(l) && (l[i] == ' ' || l[i] == '\t')
}

// hostPolicy decides which URLs a load test may reach: the environment's own
// host and the admin allow-list, nothing else. It is used both when parsing
// targets and for every redirect during the attack.
type hostPolicy struct {
	base  *url.URL
	self  string   // base's normalized host:port
	allow []string // lower-case entries, "host" or "host:port"
}

// newHostPolicy parses the environment URL and the allow-list.
func newHostPolicy(base string, allow []string) (hostPolicy, error) {
	u, err := url.Parse(base)
	if err != nil {
		return hostPolicy{}, fmt.Errorf("bad base URL %q: %v", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return hostPolicy{}, fmt.Errorf("bad base URL %q: want http(s)://host[:port][/path]", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return hostPolicy{}, fmt.Errorf("bad base URL %q: no query or fragment allowed", base)
	}
	p := hostPolicy{base: u, self: hostPort(u)}
	for _, a := range allow {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" || strings.ContainsAny(a, "/@?# ") {
			return hostPolicy{}, fmt.Errorf("bad allowed host %q: want host or host:port", a)
		}
		p.allow = append(p.allow, a)
	}
	return p, nil
}

// hostPort returns u's lower-case host with its port made explicit, so that
// http://x and http://x:80 compare equal.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// allows reports whether the attack may send a request to u.
func (p hostPolicy) allows(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
		return false
	}
	return p.allowsHost(hostPort(u))
}

// allowsHost reports whether hp (a normalized host:port) may be reached.
func (p hostPolicy) allowsHost(hp string) bool {
	if hp == p.self {
		return true
	}
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return false
	}
	for _, a := range p.allow {
		if a == hp || strings.Trim(a, "[]") == host {
			return true
		}
	}
	return false
}

// target checks a method and URL and returns a target with an absolute URL.
func (p hostPolicy) target(method, raw string) (Target, error) {
	if !methods[method] {
		return Target{}, fmt.Errorf("unknown method %q", method)
	}
	var (
		u   *url.URL
		err error
	)
	switch {
	case strings.HasPrefix(raw, "//"):
		return Target{}, fmt.Errorf("bad URL %q: want a path starting with a single \"/\" or an http(s) URL", raw)
	case strings.HasPrefix(raw, "/"):
		// Join rather than ResolveReference: an environment served under a
		// path prefix keeps it.
		u, err = url.Parse(strings.TrimSuffix(p.base.String(), "/") + raw)
	default:
		u, err = url.Parse(raw)
		if err == nil && !u.IsAbs() {
			return Target{}, fmt.Errorf("bad URL %q: want a path starting with \"/\" or an http(s) URL", raw)
		}
	}
	if err != nil {
		return Target{}, fmt.Errorf("bad URL %q: %v", raw, unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Target{}, fmt.Errorf("bad URL %q: scheme must be http or https", raw)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("bad URL %q: credentials in URLs are not allowed; use an Authorization header", raw)
	}
	// Checked for relative paths too, as a second line of defense.
	if !p.allows(u) {
		return Target{}, fmt.Errorf("host %q is not allowed: targets must stay on the environment's host %q or an allowed host", u.Host, p.base.Host)
	}
	u.Fragment = ""
	return Target{Method: method, URL: u.String(), Header: http.Header{}}, nil
}

// header checks one header and adds it to h.
func (p hostPolicy) header(h http.Header, name, value string) error {
	if !validHeaderName(name) {
		return fmt.Errorf("bad header name %q", name)
	}
	if !validHeaderValue(value) {
		return fmt.Errorf("bad value for header %q: control characters are not allowed", name)
	}
	if http.CanonicalHeaderKey(name) == "Host" {
		// Vegeta sends a Host header as the request's Host, which an edge
		// proxy may route by: hold it to the same policy as URLs.
		// The base scheme gives a port-less value the base's default port.
		u, err := url.Parse(p.base.Scheme + "://" + value)
		if err != nil || u.Host != value || u.Path != "" || !p.allows(u) {
			return fmt.Errorf("Host header %q is not allowed", value)
		}
	}
	h.Add(name, value)
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s has no control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// unwrapURLError drops the "parse ..." prefix *url.Error adds, since the
// caller names the URL itself.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
