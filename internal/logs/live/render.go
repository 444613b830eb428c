package live

import (
	"sync"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/internal/logs"
	"github.com/slipway-ci/slipway/internal/termhtml"
)

// renderSlots is how many rendered lines of one stream are kept for
// sharing: enough for every live viewer to be a few frames apart.
const renderSlots = 8192

// renderCache shares rendered lines between the sockets following a
// stream in this process, so each line is turned into HTML (the costly
// part, ~10µs with colours) and JSON-quoted once however many watch it.
type renderCache struct {
	mu      sync.Mutex
	streams map[string]*renderedStream
}

// renderedStream is a direct-mapped table of a stream's recent lines:
// line n lives in slot n % renderSlots while nothing newer displaces it.
type renderedStream struct {
	stream string
	refs   int // guarded by renderCache.mu

	mu    sync.RWMutex
	slots []renderedLine
}

type renderedLine struct {
	n    int
	text string
	json []byte // the line's HTML as a JSON string
}

func newRenderCache() *renderCache {
	return &renderCache{streams: map[string]*renderedStream{}}
}

// acquire returns the stream's table; release it when the socket ends.
func (rc *renderCache) acquire(stream string) *renderedStream {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rs := rc.streams[stream]
	if rs == nil {
		rs = &renderedStream{stream: stream, slots: make([]renderedLine, renderSlots)}
		rc.streams[stream] = rs
	}
	rs.refs++
	return rs
}

func (rc *renderCache) release(rs *renderedStream) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rs.refs--
	if rs.refs == 0 && rc.streams[rs.stream] == rs {
		delete(rc.streams, rs.stream)
	}
}

// appendLines appends the events' lines as comma-separated JSON strings
// of HTML, rendering those not rendered yet. Lines already rendered are
// copied under the read lock, so the viewers of a stream copy in
// parallel; rendering takes the write lock on purpose: the viewers of a
// live stream ask for the same lines at the same moment, and without it
// every one of them would render them.
func (rs *renderedStream) appendLines(dst []byte, evs []logs.Event) []byte {
	rs.mu.RLock()
	i := 0
	for ; i < len(evs); i++ {
		q := rs.lookup(evs[i])
		if q == nil {
			break
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, q...)
	}
	rs.mu.RUnlock()
	if i == len(evs) {
		return dst
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for ; i < len(evs); i++ {
		ev := evs[i]
		q := rs.lookup(ev)
		if q == nil {
			q = appendJSONString(nil, termhtml.Line(ev.Text))
			rs.slots[ev.Line%renderSlots] = renderedLine{n: ev.Line, text: ev.Text, json: q}
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, q...)
	}
	return dst
}

// lookup returns the rendered line for ev, or nil. Comparing the text too
// keeps a line renumbered by a writer that took over a crashed one from
// showing the old line's HTML. The caller holds rs.mu.
func (rs *renderedStream) lookup(ev logs.Event) []byte {
	s := &rs.slots[ev.Line%renderSlots]
	if s.n != ev.Line || s.json == nil || s.text != ev.Text {
		return nil
	}
	return s.json
}

// appendRawLines appends the events' text as comma-separated JSON strings.
func appendRawLines(dst []byte, evs []logs.Event) []byte {
	for i, ev := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, ev.Text)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does; <, > and & are escaped too, so a frame is
// inert even if something mistook it for HTML.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
