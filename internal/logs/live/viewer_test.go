package live

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/slipway-ci/slipway/internal/logs"
)

func TestAppendJSONStringDecodesToTheSameText(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnl\ncr\r", "\x00\x01\x1b[31m",
		"<script>&amp;</script>", "é ü 日本", "\u2028\u2029", "bad \xff utf8 \xc3",
	} {
		t.Run(s, func(t *testing.T) {
			q := appendJSONString(nil, s)
			var got string
			if err := json.Unmarshal(q, &got); err != nil {
				t.Fatalf("%q is not a JSON string: %v", q, err)
			}
			want, _ := json.Marshal(s) // encoding/json also maps bad UTF-8 to U+FFFD
			var w string
			json.Unmarshal(want, &w)
			if got != w {
				t.Fatalf("decoded %q, want %q", got, w)
			}
		})
	}
}

func TestRenderCacheSharesLinesAndNoticesRenumbering(t *testing.T) {
	rc := newRenderCache()
	a, b := rc.acquire("build:1"), rc.acquire("build:1")
	if a != b {
		t.Fatal("two sockets of one stream got different tables")
	}
	evs := []logs.Event{{Line: 1, Text: "<a>"}, {Line: 2, Text: "\x1b[1mb"}}
	first := string(a.appendLines(nil, evs))
	if first != `"\u0026lt;a\u0026gt;","\u003cspan class=\"term-fg1\"\u003eb\u003c/span\u003e"` {
		t.Fatalf("rendered %s", first)
	}
	if a.lookup(evs[0]) == nil || a.lookup(evs[1]) == nil {
		t.Fatal("rendered lines were not kept")
	}
	// A writer that replaced a crashed one reuses line 2 for new text.
	if got := string(b.appendLines(nil, []logs.Event{{Line: 2, Text: "new"}})); got != `"new"` {
		t.Fatalf("a renumbered line rendered as %s", got)
	}
	rc.release(a)
	rc.release(b)
	if len(rc.streams) != 0 {
		t.Fatal("the table outlived its last socket")
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		name   string
		origin string
		api    bool
		want   bool
	}{
		{"same host", "http://portal.example:8080", false, true},
		{"same host over https", "https://portal.example:8080", false, true},
		{"other host", "http://evil.example", false, false},
		{"other port", "http://portal.example:9090", false, false},
		{"missing origin on the browser endpoint", "", false, false},
		{"missing origin on the API", "", true, true},
		{"other host on the API", "http://evil.example", true, false},
		{"null origin", "null", false, false},
		{"not a web origin", "file://portal.example:8080", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "http://portal.example:8080/builds/1/log/ws", nil)
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := OriginAllowed(r, tt.api); got != tt.want {
				t.Fatalf("OriginAllowed = %v, want %v", got, tt.want)
			}
		})
	}
}
