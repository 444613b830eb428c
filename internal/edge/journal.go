package edge

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backlog bounds: the edge keeps at least the last DefaultBacklogLines
// lines or DefaultBacklogBytes bytes (whichever is less) of each release's
// output, for a portal that was away; its journal file holds at most
// twice that between compactions.
const (
	DefaultBacklogLines = 10000
	DefaultBacklogBytes = 4 << 20
	// maxReadLines and maxReadBytes bound one answer of GET /v1/output.
	maxReadLines = 5000
	maxReadBytes = 2 << 20
)

// journalHeader starts every journal file; the number after it is the
// journal's first sequence number.
const journalHeader = "#slipway app output, first seq "

// OutputLine is one numbered line of an app's output.
type OutputLine struct {
	Seq  int64  `json:"seq"`
	Line string `json:"line"`
}

// Backlog is an answer of GET /v1/output: the lines of a release's output
// after a sequence number that the edge still keeps.
type Backlog struct {
	// Start is the journal's first sequence number ever (0: no journal).
	// Sequence numbers of a (environment, release) only grow: a journal
	// made anew after the old one was removed starts past every number the
	// old one gave (they start at the creation time in microseconds).
	Start int64 `json:"start,omitempty"`
	// First is the first line the edge still keeps (Last+1 when none).
	First int64 `json:"first,omitempty"`
	// Last is the last line's number (0: nothing printed yet).
	Last int64 `json:"last"`
	// Dropped counts the lines after the asked position that the backlog
	// no longer holds: it overflowed while nobody read it.
	Dropped int64 `json:"dropped,omitempty"`
	// Lines are the kept lines after the asked position, in order.
	Lines []OutputLine `json:"lines"`
	// More is set when the answer was cut at its bound: ask again after
	// the last line.
	More bool `json:"more,omitempty"`
}

// journal is the backlog of one release's output in an environment: an
// append-only file of numbered lines under the run dir, compacted to its
// bounds when it holds twice as much. One process writes it at a time:
// the successor of an upgrade holds the lines it reads until its
// predecessor has exited (see Daemon.holdJournals), then reads the file
// afresh and numbers on.
type journal struct {
	path     string
	maxLines int
	maxBytes int64

	mu      sync.Mutex
	f       *os.File // nil until the first line (or after an error)
	start   int64
	last    int64
	n       int   // lines in the file
	bytes   int64 // their text's bytes
	removed bool
	// held are the lines read while the predecessor still writes;
	// heldDropped counts those beyond the bound.
	held        []string
	heldDropped int64
	buf         []byte // the line being written
}

// journalDir is where the journals of env live.
func journalDir(runDir, env string) string {
	// No dots: an environment key never names a parent directory.
	return filepath.Join(runDir, "output", strings.ReplaceAll(url.PathEscape(env), ".", "%2E"))
}

func journalPath(runDir, env string, rel int64) string {
	return filepath.Join(journalDir(runDir, env), strconv.FormatInt(rel, 10)+".journal")
}

// hold keeps line until release. The caller holds j.mu.
func (j *journal) hold(line string) {
	if len(j.held) >= j.maxLines {
		j.held = j.held[1:]
		j.heldDropped++
	}
	j.held = append(j.held, line)
}

// append numbers line, writes it to the journal and returns its number.
// A journal that cannot be written still numbers the line (err says why).
// The caller holds j.mu.
func (j *journal) append(line string) (int64, error) {
	if strings.IndexByte(line, '\n') >= 0 {
		line = strings.ReplaceAll(line, "\n", " ")
	}
	var err error
	if j.f == nil {
		err = j.open()
	}
	seq := j.last + 1
	j.last = seq
	if err != nil {
		return seq, err
	}
	b := strconv.AppendInt(j.buf[:0], seq, 10)
	b = append(b, ' ')
	b = append(b, line...)
	b = append(b, '\n')
	j.buf = b[:0]
	if _, err := j.f.Write(b); err != nil {
		j.closeFile()
		return seq, err
	}
	j.n++
	j.bytes += int64(len(line)) + 1
	if j.n > 2*j.maxLines || j.bytes > 2*j.maxBytes {
		if err := j.compact(); err != nil {
			return seq, fmt.Errorf("compact: %w", err)
		}
	}
	return seq, nil
}

func (j *journal) closeFile() {
	if j.f != nil {
		_ = j.f.Close()
		j.f = nil
	}
}

// open opens (or creates) the file and reads where it stands.
func (j *journal) open() error {
	if err := os.MkdirAll(filepath.Dir(j.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		// A new journal numbers past any old one of the same release.
		start := max(time.Now().UnixMicro(), j.last+1)
		f, err = os.OpenFile(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(journalHeader + strconv.FormatInt(start, 10) + "\n"); err != nil {
			f.Close()
			return err
		}
		j.f, j.start, j.last, j.n, j.bytes = f, start, start-1, 0, 0
		return nil
	}
	if err != nil {
		return err
	}
	j.f = f
	if err := j.load(); err != nil {
		j.closeFile()
		return err
	}
	return nil
}

// load reads where the open file stands. A torn last line (a crash in the
// middle of a write) is cut off.
func (j *journal) load() error {
	fi, err := j.f.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, fi.Size())
	if _, err := j.f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		if err := j.f.Truncate(int64(i + 1)); err != nil {
			return err
		}
		b = b[:i+1]
	}
	j.n, j.bytes = 0, 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		ln := b[:i]
		b = b[i+1:]
		if rest, ok := bytes.CutPrefix(ln, []byte(journalHeader)); ok {
			if s, err := strconv.ParseInt(string(rest), 10, 64); err == nil {
				j.start, j.last = s, max(j.last, s-1)
			}
			continue
		}
		seq, text, ok := parseEntry(ln)
		if !ok {
			continue
		}
		j.last = max(j.last, seq)
		j.n++
		j.bytes += int64(len(text)) + 1
	}
	return nil
}

func parseEntry(ln []byte) (int64, []byte, bool) {
	sp := bytes.IndexByte(ln, ' ')
	if sp <= 0 {
		return 0, nil, false
	}
	seq, err := strconv.ParseInt(string(ln[:sp]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return seq, ln[sp+1:], true
}

// compact rewrites the file with the lines of its bounds only (a new file
// renamed over it: a reader sees the old or the new one).
func (j *journal) compact() error {
	b, err := os.ReadFile(j.path)
	if err != nil {
		return err
	}
	entries := parseJournal(b)
	keep := window(entries, j.maxLines, j.maxBytes)
	var buf bytes.Buffer
	buf.WriteString(journalHeader + strconv.FormatInt(j.start, 10) + "\n")
	var text int64
	for _, e := range entries[keep:] {
		buf.WriteString(strconv.FormatInt(e.Seq, 10))
		buf.WriteByte(' ')
		buf.WriteString(e.Line)
		buf.WriteByte('\n')
		text += int64(len(e.Line)) + 1
	}
	tmp := j.path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return err
	}
	j.closeFile()
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	j.f, j.n, j.bytes = f, len(entries)-keep, text
	return nil
}

// parseJournal returns a journal file's complete lines.
func parseJournal(b []byte) []OutputLine {
	var out []OutputLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ln := sc.Bytes()
		if bytes.HasPrefix(ln, []byte(journalHeader)) {
			continue
		}
		if seq, text, ok := parseEntry(ln); ok {
			out = append(out, OutputLine{Seq: seq, Line: string(text)})
		}
	}
	return out
}

// journalStart reads the first sequence number in a journal file's header.
func journalStart(b []byte) int64 {
	rest, ok := bytes.CutPrefix(b, []byte(journalHeader))
	if !ok {
		return 0
	}
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i]
	}
	s, _ := strconv.ParseInt(string(rest), 10, 64)
	return s
}

// window returns the index of the first entry of the backlog: the last
// entries within maxLines lines and maxBytes bytes.
func window(entries []OutputLine, maxLines int, maxBytes int64) int {
	var total int64
	i := len(entries)
	for i > 0 && len(entries)-i < maxLines {
		sz := int64(len(entries[i-1].Line)) + 1
		if total+sz > maxBytes {
			break
		}
		total += sz
		i--
	}
	return i
}

// readBacklog reads the journal at path: the lines after after, within
// the backlog's bounds, at most maxReadLines lines or maxReadBytes bytes.
// A missing journal is an empty backlog. It needs no lock: appends only
// add whole lines (a torn one is skipped) and compaction renames.
func readBacklog(path string, after int64, maxLines int, maxBytes int64) (Backlog, error) {
	bl := Backlog{Lines: []OutputLine{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return bl, nil
	}
	if err != nil {
		return bl, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		b = b[:i+1] // a line being written
	}
	bl.Start = journalStart(b)
	entries := parseJournal(b)
	bl.Last = max(bl.Start-1, 0)
	if len(entries) > 0 {
		bl.Last = entries[len(entries)-1].Seq
	}
	if after < 0 {
		bl.First = bl.Last + 1
		return bl, nil // only where the journal stands
	}
	keep := entries[window(entries, maxLines, maxBytes):]
	bl.First = bl.Last + 1
	if len(keep) > 0 {
		bl.First = keep[0].Seq
	}
	if after >= bl.Last {
		return bl, nil
	}
	if from := max(after+1, bl.Start, 1); from < bl.First {
		bl.Dropped = bl.First - from
	}
	size := 0
	for _, e := range keep {
		if e.Seq <= after {
			continue
		}
		if len(bl.Lines) >= maxReadLines || size+len(e.Line) > maxReadBytes {
			bl.More = true
			break
		}
		bl.Lines = append(bl.Lines, e)
		size += len(e.Line)
	}
	return bl, nil
}
