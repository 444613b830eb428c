package termhtml

import (
	"regexp"
	"strings"
	"testing"
)

// safeHTML matches what Line may emit: spans with term-* classes, their
// closing tags, character references, and text with no markup characters.
var safeHTML = regexp.MustCompile(`^(?:<span class="[a-z0-9 -]*">|</span>|&(?:amp|lt|gt|quot|#39|#47|nbsp);|[^<>&"'])*$`)

func TestLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text passes through", "ok  github.com/x 1.2s", "ok  github.com/x 1.2s"},
		{"markup in plain text is escaped", `<script>window.__xss=1</script>`, "&lt;script&gt;window.__xss=1&lt;/script&gt;"},
		{"attributes in plain text are escaped", `<img src=x onerror="window.__xss=1">`, "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;"},
		{"a colour becomes a span", "\x1b[32mok\x1b[0m done", `<span class="term-fg32">ok</span> done`},
		{"markup inside a colour is escaped", "\x1b[31m<script>window.__xss=1</script>\x1b[0m", `<span class="term-fg31">&lt;script&gt;window.__xss=1&lt;&#47;script&gt;</span>`},
		{"an open colour closes at the end of the line", "\x1b[1;33mwarn", `<span class="term-fg33 term-fg1">warn</span>`},
		{"a carriage return overwrites", "50%\r\x1b[0m100%", "100%"},
		{"an OSC 8 hyperlink keeps only its text", "\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 \x1b[1mb\x1b[0m", `click <span class="term-fg1">b</span>`},
		{"a javascript hyperlink keeps only its text", "\x1b]8;;javascript:alert(1)\x1b\\click\x1b]8;;\x1b\\\x1b[0m", "click"},
		{"a Buildkite link sequence is dropped", "a\x1b]1339;url=https://x.example;content=hi\x07b\x1b[0m", "ab"},
		{"an inline image is dropped", "a\x1b]1338;url=https://x.example/a.png;alt=hi\x07b\x1b[0m", "ab"},
		{"an APC sequence is dropped", "a\x1b_bk;t=1700000000000\x07b\x1b[0m", "ab"},
		{"an unterminated OSC drops the rest of the line", "a\x1b]8;;http://x", "a"},
		{"an empty line stays empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Line(tt.in)
			if got != tt.want {
				t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !safeHTML.MatchString(got) {
				t.Errorf("Line(%q) = %q emits markup beyond spans", tt.in, got)
			}
		})
	}
}

func TestPlain(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain text is unchanged", "hello\tworld", "hello\tworld"},
		{"colours are removed", "\x1b[1;31mERROR\x1b[0m: boom", "ERROR: boom"},
		{"hyperlinks keep their text", "\x1b]8;;http://x\x07link\x1b]8;;\x07", "link"},
		{"control characters are removed", "a\rb\bc\x00d", "abcd"},
		{"a charset designation is removed", "\x1b(Bx", "x"},
		{"a lone escape at the end is removed", "x\x1b", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Plain(tt.in); got != tt.want {
				t.Errorf("Plain(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzLine checks that no input, however mangled, makes Line emit markup
// other than term-* spans.
func FuzzLine(f *testing.F) {
	for _, s := range []string{
		"<script>alert(1)</script>",
		"\x1b[31m<img src=x onerror=alert(1)>\x1b[0m",
		"\x1b]8;;javascript:alert(1)\x07x\x1b]8;;\x07",
		"\x1b]1337;File=name=eA==;inline=1:PHN2Zz4=\x07",
		"\x1b]1338;url=x;alt=\"><script>\x07",
		"\x1b_bk;t=1\x07<b>",
		"\x1b[38;5;196m\x1b[48;2;1;2;3mx\x1b[Ay\x1bMz",
		"a\rb\bc\x1b[2Kd\x1b7e\x1b8f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ReplaceAll(s, "\n", "") // Line gets one line
		if got := Line(s); !safeHTML.MatchString(got) {
			t.Fatalf("Line(%q) = %q emits markup beyond spans", s, got)
		}
	})
}

func BenchmarkLine(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"plain", "ok  github.com/slipway-ci/slipway/internal/pipeline 0.012s " + strings.Repeat("x", 20)},
		{"ansi", "\x1b[32mok\x1b[0m  github.com/slipway-ci/slipway/internal/pipeline 0.012s " + strings.Repeat("x", 20)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				Line(bc.line)
			}
		})
	}
}

func TestLineLongStyledLineKeepsItsText(t *testing.T) {
	in := strings.Repeat("\x1b[31m<b>", 2000)
	got := Line(in)
	if want := strings.Repeat("&lt;b&gt;", 2000); got != want {
		t.Fatalf("Line of a long styled line = %.40q…, want its escaped text", got)
	}
}
