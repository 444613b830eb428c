package runner

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

const (
	// DefaultMaxLineBytes is where a line without a newline is cut.
	DefaultMaxLineBytes = 64 << 10
	// Mask replaces every secret in output.
	Mask = "********"
	// minSecretLen: shorter values (e.g. "1", "yes") are still injected but
	// not masked, or every log would be confetti.
	minSecretLen = 4
)

// errWriterClosed is returned by Write after Close.
var errWriterClosed = errors.New("runner: line writer closed")

// masker replaces secrets and their encoded forms in text.
type masker struct {
	patterns [][]byte // longest first
	replacer *strings.Replacer
	longest  int
}

// newMasker builds the patterns for a set of secret values: the value
// itself, its base64 forms (standard and URL alphabets, padded and not,
// also of the value followed by a newline as `echo $S | base64` makes it),
// and each line of a multi-line value.
func newMasker(secrets []string) *masker {
	seen := map[string]bool{}
	add := func(p string) {
		if len(p) >= minSecretLen {
			seen[p] = true
		}
	}
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		add(s)
		for _, v := range []string{s, s + "\n"} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				add(enc.EncodeToString([]byte(v)))
			}
		}
		if strings.ContainsAny(s, "\r\n") {
			for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
				add(strings.TrimSpace(line))
			}
		}
	}
	m := &masker{}
	if len(seen) == 0 {
		return m
	}
	list := make([]string, 0, len(seen))
	for p := range seen {
		list = append(list, p)
	}
	// strings.Replacer tries patterns in argument order at each position:
	// longest first makes the padded form win over its unpadded prefix.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, p := range list {
		m.patterns = append(m.patterns, []byte(p))
		pairs = append(pairs, p, Mask)
	}
	m.replacer = strings.NewReplacer(pairs...)
	m.longest = len(list[0])
	return m
}

func (m *masker) mask(s string) string {
	if m.replacer == nil {
		return s
	}
	return m.replacer.Replace(s)
}

// safeCut moves a cut point c in buf back so that no secret straddles it.
// A secret that starts at 0 and reaches past c is kept whole instead.
func (m *masker) safeCut(buf []byte, c int) int {
	for changed := true; changed; {
		changed = false
		for _, p := range m.patterns {
			lo := max(0, c-len(p)+1)
			hi := min(len(buf), c+len(p)-1)
			for off := lo; off < hi; {
				i := bytes.Index(buf[off:hi], p)
				if i < 0 {
					break
				}
				s := off + i
				if s < c && s+len(p) > c {
					if s == 0 {
						return len(p)
					}
					c = s
					changed = true
					break
				}
				off = s + 1
			}
		}
	}
	return c
}

// lineWriter splits a byte stream into lines and emits each one masked,
// as valid UTF-8, with "\r\n" and lone "\r" both ending a line (so a
// progress bar becomes one line per update instead of one endless line).
type lineWriter struct {
	mu      sync.Mutex
	m       *masker
	max     int
	buf     []byte // the current line; never longer than limit()
	partial bool   // part of the current line was already emitted
	sawCR   bool   // the previous byte was "\r"
	crEnded bool   // ... and it ended a non-empty line
	closed  bool
	emit    func(string)
}

// NewLineWriter returns a writer that calls emit once per line of what is
// written to it, without the line ending ("\n", "\r\n", and a lone "\r"
// as progress bars print it, all end a line). Secrets (values of at least 4
// bytes, and their base64 forms) are replaced by Mask; invalid UTF-8 and
// NUL bytes become U+FFFD; a line longer than maxLine bytes (default
// DefaultMaxLineBytes when maxLine <= 0) is emitted as several lines, cut
// between UTF-8 characters and never inside a secret, so nothing is lost
// and memory stays bounded. Close emits a final unterminated line. Writes
// and Close may come from different goroutines; emit is never called
// concurrently by one writer.
func NewLineWriter(secrets []string, maxLine int, emit func(text string)) io.WriteCloser {
	return newLineWriter(newMasker(secrets), maxLine, emit)
}

func newLineWriter(m *masker, maxLine int, emit func(string)) *lineWriter {
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	// Below a few bytes a UTF-8 character would not fit in a line.
	maxLine = max(maxLine, utf8.UTFMax)
	return &lineWriter{m: m, max: maxLine, emit: emit}
}

// limit is how much of a line is buffered before a piece is cut off: the
// extra bytes let cut see the whole UTF-8 character and the whole secret
// that may straddle the cut point.
func (w *lineWriter) limit() int {
	return w.max + max(w.m.longest-1, utf8.UTFMax-1)
}

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errWriterClosed
	}
	n := len(p)
	for len(p) > 0 {
		if w.sawCR {
			w.sawCR = false
			if p[0] == '\n' {
				// "\r\n": the "\r" already ended a non-empty line;
				// otherwise this is an empty line.
				if !w.crEnded {
					w.endLine()
				}
				w.crEnded = false
				p = p[1:]
				continue
			}
			w.crEnded = false
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			w.add(p)
			break
		}
		w.add(p[:i])
		if p[i] == '\n' {
			w.endLine()
		} else {
			w.sawCR = true
			if len(w.buf) > 0 || w.partial {
				w.endLine()
				w.crEnded = true
			}
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close emits what is left of an unterminated line.
func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if len(w.buf) > 0 {
		w.endLine()
	}
	return nil
}

// add appends to the current line, cutting pieces off the front whenever
// it reaches the limit.
func (w *lineWriter) add(p []byte) {
	lim := w.limit()
	for len(p) > 0 {
		room := lim - len(w.buf)
		if room <= 0 {
			w.cut()
			continue
		}
		room = min(room, len(p))
		w.buf = append(w.buf, p[:room]...)
		p = p[room:]
		if len(w.buf) >= lim {
			w.cut()
		}
	}
}

// cut emits the first (at most) max bytes of an over-long line.
func (w *lineWriter) cut() {
	c := w.max
	// Back up to the start of a UTF-8 character (at most 3 bytes).
	for k := 0; k < utf8.UTFMax-1 && c > 0 && c < len(w.buf) && !utf8.RuneStart(w.buf[c]); k++ {
		c--
	}
	if c == 0 {
		c = w.max
	}
	c = w.m.safeCut(w.buf, c)
	w.send(w.buf[:c])
	rest := copy(w.buf, w.buf[c:])
	w.buf = w.buf[:rest]
	w.partial = true
}

// endLine emits the current line. An empty remainder of a line that was
// already emitted in pieces is not an extra empty line.
func (w *lineWriter) endLine() {
	if len(w.buf) > 0 || !w.partial {
		w.send(w.buf)
	}
	w.buf = w.buf[:0]
	w.partial = false
}

func (w *lineWriter) send(b []byte) {
	w.emit(sanitize(w.m.mask(string(b))))
}

// sanitize makes text safe to store and render: valid UTF-8 without NUL
// (PostgreSQL text cannot hold NUL). Escape sequences are kept for the
// viewer's colours.
func sanitize(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
