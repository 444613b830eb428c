package loadtest

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const base = "http://127.0.0.1:41234"

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name  string
		base  string
		text  string
		allow []string
		want  []Target
	}{
		{
			name: "a relative path resolves against the base URL",
			text: "GET /health?x=1",
			want: []Target{{Method: "GET", URL: base + "/health?x=1", Header: http.Header{}}},
		},
		{
			name: "a base URL with a path keeps it as a prefix",
			base: base + "/app/",
			text: "GET /health",
			want: []Target{{Method: "GET", URL: base + "/app/health", Header: http.Header{}}},
		},
		{
			name: "headers follow their request line and targets need no blank line between them",
			text: "# smoke\nPOST /login\nContent-Type: application/json\nX-Trace:  a b \nDELETE /item/1\n\n\nHEAD /",
			want: []Target{
				{Method: "POST", URL: base + "/login", Header: http.Header{"Content-Type": {"application/json"}, "X-Trace": {"a b"}}},
				{Method: "DELETE", URL: base + "/item/1", Header: http.Header{}},
				{Method: "HEAD", URL: base + "/", Header: http.Header{}},
			},
		},
		{
			name: "every allowed method parses and CRLF line ends are fine",
			text: "GET /\r\nHEAD /\r\nPOST /\r\nPUT /\r\nPATCH /\r\nDELETE /\r\nOPTIONS /\r\n",
			want: []Target{
				{Method: "GET", URL: base + "/", Header: http.Header{}},
				{Method: "HEAD", URL: base + "/", Header: http.Header{}},
				{Method: "POST", URL: base + "/", Header: http.Header{}},
				{Method: "PUT", URL: base + "/", Header: http.Header{}},
				{Method: "PATCH", URL: base + "/", Header: http.Header{}},
				{Method: "DELETE", URL: base + "/", Header: http.Header{}},
				{Method: "OPTIONS", URL: base + "/", Header: http.Header{}},
			},
		},
		{
			name: "an absolute URL on the base host is kept, default ports included",
			base: "http://app.test",
			text: "GET http://APP.test:80/a\nGET http://app.test/b",
			want: []Target{
				{Method: "GET", URL: "http://APP.test:80/a", Header: http.Header{}},
				{Method: "GET", URL: "http://app.test/b", Header: http.Header{}},
			},
		},
		{
			name:  "an absolute URL on an allowed host is kept",
			text:  "GET http://api.test:9000/v1\nGET https://cdn.test/x.js",
			allow: []string{"api.test:9000", "cdn.test"},
			want: []Target{
				{Method: "GET", URL: "http://api.test:9000/v1", Header: http.Header{}},
				{Method: "GET", URL: "https://cdn.test/x.js", Header: http.Header{}},
			},
		},
		{
			name: "a Host header naming the base host is allowed",
			text: "GET /\nHost: 127.0.0.1:41234",
			want: []Target{{Method: "GET", URL: base + "/", Header: http.Header{"Host": {"127.0.0.1:41234"}}}},
		},
		{
			name: "the JSON format carries a body",
			text: `{"method":"POST","url":"/echo","header":{"Content-Type":["text/plain"]},"body":"aGVsbG8="}` + "\n\n" + `{"method":"GET","url":"/"}`,
			want: []Target{
				{Method: "POST", URL: base + "/echo", Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("hello")},
				{Method: "GET", URL: base + "/", Header: http.Header{}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.base
			if b == "" {
				b = base
			}
			got, err := ParseTargets(b, tt.text, tt.allow)
			if err != nil {
				t.Fatalf("ParseTargets: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTargets =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestParseTargetsRefuses(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		allow   []string
		line    int
		message string
	}{
		{"an empty text", "\n# only a comment\n", nil, 0, "no targets"},
		{"an unknown method, naming its line", "GET /\n\nGETT /x", nil, 3, `line 3: unknown method "GETT"`},
		{"CONNECT", "CONNECT 127.0.0.1:41234", nil, 1, `unknown method "CONNECT"`},
		{"a request line with extra words", "GET /a b", nil, 1, `want "METHOD URL"`},
		{"a header line without a colon", "GET /\nX-Ok: 1\nnot a header", nil, 3, `line 3: bad header line "not a header"`},
		{"a header line with an empty value", "GET /\nX-Empty:", nil, 2, "bad header line"},
		{"a header name with a space", "GET /\nBad Name: 1", nil, 2, `bad header name "Bad Name"`},
		{"a header line before any request line", "X-Foo: 1\nGET /", nil, 1, "want a request line"},
		{"a body file", "POST /upload\n@/etc/passwd", nil, 2, "body files (@path) are not supported"},
		{"an absolute URL on another host", "GET /\nGET http://evil.test/", nil, 2, `host "evil.test" is not allowed`},
		{"another port of the base host", "GET http://127.0.0.1:22/", nil, 1, `host "127.0.0.1:22" is not allowed`},
		{"an allowed host on the wrong port", "GET http://api.test:9001/", []string{"api.test:9000"}, 1, "is not allowed"},
		{"a protocol-relative URL", "GET //evil.test/x", nil, 1, "bad URL"},
		{"a path without a leading slash", "GET health", nil, 1, "bad URL"},
		{"a non-HTTP scheme", "GET file:///etc/passwd", nil, 1, "scheme must be http or https"},
		{"credentials in the URL", "GET http://u:p@127.0.0.1:41234/", nil, 1, "credentials"},
		{"a Host header naming another host", "GET /\nHost: evil.test", nil, 2, `Host header "evil.test" is not allowed`},
		{"a JSON line with an unknown field", `{"method":"GET","url":"/","bodyfile":"/etc/passwd"}`, nil, 1, "bad JSON target"},
		{"a JSON target on another host", "{\"method\":\"GET\",\"url\":\"/\"}\n{\"method\":\"GET\",\"url\":\"http://evil.test/\"}", nil, 2, "is not allowed"},
		{"a JSON target with a bad header", `{"method":"GET","url":"/","header":{"X":["a\nb"]}}`, nil, 1, "control characters"},
		{"too many targets", strings.Repeat("GET /\n", MaxTargets+1), nil, MaxTargets + 1, "more than"},
		{"a text too large", "GET /\n" + strings.Repeat("#", MaxTargetsText), nil, 0, "larger than"},
	}
	for _, tt := range tests {
		t.Run("refuses "+tt.name, func(t *testing.T) {
			_, err := ParseTargets(base, tt.text, tt.allow)
			var te *TargetError
			if !errors.As(err, &te) {
				t.Fatalf("ParseTargets error = %v, want a *TargetError", err)
			}
			if te.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", te.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
		})
	}
}

func TestParseTargetsRefusesABadBaseURL(t *testing.T) {
	for _, b := range []string{"", "127.0.0.1:41234", "ftp://127.0.0.1/", "http://127.0.0.1/?q=1", "http://u@127.0.0.1/"} {
		if _, err := ParseTargets(b, "GET /", nil); err == nil {
			t.Errorf("ParseTargets(base %q) succeeded, want an error", b)
		}
	}
}

// FuzzParseTargets checks that parsing never panics and that every target it
// accepts stays on the base host.
func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{
		"GET /", "POST /a\nX: 1\n\nGET http://127.0.0.1:41234/b", "GET //evil/x", "GET http://evil/",
		`{"method":"GET","url":"/","body":"eA=="}`, "GET /\nHost: evil", "GET /%zz", "GET /\n@x",
	} {
		f.Add(s)
	}
	pol, err := newHostPolicy(base, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tgts, err := ParseTargets(base, text, nil)
		if err != nil {
			var te *TargetError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TargetError", err)
			}
			return
		}
		for _, tg := range tgts {
			u, err := url.Parse(tg.URL)
			if err != nil || !pol.allows(u) {
				t.Fatalf("accepted target URL %q off the base host (%v)", tg.URL, err)
			}
			if h := tg.Header.Get("Host"); h != "" {
				if hu, err := url.Parse("http://" + h); err != nil || !pol.allows(hu) {
					t.Fatalf("accepted Host header %q off the base host", h)
				}
			}
		}
	})
}
