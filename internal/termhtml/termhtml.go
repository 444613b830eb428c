// Package termhtml turns one line of terminal output (as a build printed
// it, ANSI escapes included) into safe HTML, and into plain text for
// searching. It owns nothing else: the log viewer calls it line by line.
//
// Safety: every character a build printed is escaped. Colours and text
// styles become <span class="term-…"> elements; hyperlink (OSC 8,
// Buildkite 1339) and inline image (iTerm 1337, Buildkite 1338) sequences
// are removed before rendering, so a build can never put a link, an image
// or any other element in front of a viewer. The only markup Line emits is
// <span class="…"> and </span>, plus character references.
package termhtml

import (
	"strings"

	terminal "github.com/buildkite/terminal-to-html/v3"
)

const esc = '\x1b'

// maxStyledBytes is the longest line rendered with colours.
const maxStyledBytes = 8 << 10

// Line renders one line of terminal output as HTML. Each line is rendered
// on its own: a colour left open at the end of a line does not carry over
// to the next. Carriage returns and backspaces overwrite within the line,
// as a terminal shows them.
func Line(text string) string {
	switch {
	case isPlain(text):
		return escape(text)
	case len(text) > maxStyledBytes:
		// The emulator's cost grows with the escapes in a line; a huge
		// line keeps its text but loses its colours.
		return escape(Plain(text))
	}
	return terminal.Render([]byte(stripElements(text)))
}

// Plain returns the text of a line without escape sequences or control
// characters (tabs kept), as a reader sees it; search matches against it.
func Plain(text string) string {
	if isPlain(text) {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == esc:
			i = skipEscape(text, i)
		case c < 0x20 && c != '\t' || c == 0x7f:
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// isPlain reports whether text has no escape or control characters other
// than tab, so it can be escaped without a terminal emulator.
func isPlain(text string) bool {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// escape is the fast path for plain text; it escapes the same characters
// the terminal renderer does.
func escape(text string) string {
	if !strings.ContainsAny(text, `&<>"'`) {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 16)
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stripElements removes operating-system commands (ESC ] … BEL|ESC \) and
// application program commands (ESC _ … BEL|ESC \): the renderer turns
// some of them into links and images, which a log must never contain.
// Their payload is dropped; text around them stays.
func stripElements(text string) string {
	if !strings.Contains(text, "\x1b]") && !strings.Contains(text, "\x1b_") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		if text[i] == esc && i+1 < len(text) && (text[i+1] == ']' || text[i+1] == '_') {
			i = skipString(text, i+2)
			continue
		}
		b.WriteByte(text[i])
		i++
	}
	return b.String()
}

// skipEscape returns the index after the escape sequence starting at i.
func skipEscape(text string, i int) int {
	if i+1 >= len(text) {
		return len(text)
	}
	switch text[i+1] {
	case '[': // CSI: parameters and intermediates, then a final byte @..~
		j := i + 2
		for j < len(text) && (text[j] < 0x40 || text[j] > 0x7e) {
			j++
		}
		return min(j+1, len(text))
	case ']', '_', 'P', '^', 'X': // strings ended by BEL or ST
		return skipString(text, i+2)
	case '(', ')': // charset designation: one more byte
		return min(i+3, len(text))
	}
	return i + 2
}

// skipString returns the index after the BEL or ESC \ ending a control
// string that starts at i (the end of text if it is unterminated).
func skipString(text string, i int) int {
	for j := i; j < len(text); j++ {
		switch text[j] {
		case '\a':
			return j + 1
		case esc:
			if j+1 < len(text) && text[j+1] == '\\' {
				return j + 2
			}
		}
	}
	return len(text)
}
