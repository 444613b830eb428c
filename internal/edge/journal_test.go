package edge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func appendAll(t testing.TB, j *journal, lines ...string) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, l := range lines {
		if _, err := j.append(l); err != nil {
			t.Fatal(err)
		}
	}
}

// TestATornLineIsCutAndNumberingGoesOn: a crash in the middle of a write
// leaves half a line; the next edge cuts it off and numbers on from the
// last whole line, and a reader never sees it.
func TestATornLineIsCutAndNumberingGoesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o", "41.journal")
	j := &journal{path: path, maxLines: 100, maxBytes: 1 << 20}
	appendAll(t, j, "one", "two")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%d tor", j.last+1)
	f.Close()
	bl, err := readBacklog(path, 0, 100, 1<<20)
	if err != nil || len(bl.Lines) != 2 || bl.Lines[1].Line != "two" {
		t.Fatalf("backlog with a torn last line: %+v %v", bl, err)
	}

	j2 := &journal{path: path, maxLines: 100, maxBytes: 1 << 20}
	appendAll(t, j2, "three")
	bl, err = readBacklog(path, 0, 100, 1<<20)
	if err != nil || len(bl.Lines) != 3 || bl.Lines[2].Line != "three" || bl.Lines[2].Seq != bl.Lines[1].Seq+1 {
		t.Fatalf("after the next edge appended: %+v %v", bl, err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "tor") {
		t.Errorf("the torn line is still in the journal:\n%s", b)
	}
}

// TestTheSuccessorNumbersItsHeldLinesAfterItsPredecessors: during an
// upgrade the new edge holds the lines it reads while the old one still
// writes the journal; once released, it numbers them after the old
// one's, in one sequence, through a compaction too.
func TestTheSuccessorNumbersItsHeldLinesAfterItsPredecessors(t *testing.T) {
	dir := t.TempDir()
	d := New(Options{DataDir: dir, Socket: filepath.Join(dir, "run", "edge.sock"), BacklogLines: 10})
	path := journalPath(d.runDir(), "7", 41)
	old := &journal{path: path, maxLines: 10, maxBytes: 1 << 20}
	for i := range 30 {
		appendAll(t, old, fmt.Sprintf("line %d", i))
	}
	d.holdJournals()
	d.record("7", 41, "line 33")
	for i := 30; i < 33; i++ {
		appendAll(t, old, fmt.Sprintf("line %d", i)) // the predecessor goes on
	}
	d.releaseJournals()
	for i := 34; i < 50; i++ {
		d.record("7", 41, fmt.Sprintf("line %d", i))
	}
	bl, err := d.Backlog("7", 41, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(bl.Lines) != 10 || bl.Last-bl.Start != 49 || bl.Dropped != 40 {
		t.Fatalf("backlog: %+v, want the last 10 of 50 lines numbered in one sequence, 40 dropped", bl)
	}
	for i, l := range bl.Lines {
		if want := fmt.Sprintf("line %d", 40+i); l.Line != want || l.Seq != bl.Start+40+int64(i) {
			t.Errorf("line %d: %+v, want %q numbered %d", i, l, want, bl.Start+40+int64(i))
		}
	}
	if b, _ := os.ReadFile(path); strings.Count(string(b), "\n") > 21 {
		t.Errorf("the journal holds more than twice its bound:\n%s", b)
	}
}

// BenchmarkJournalAppend is the cost of keeping one 100-byte output line.
func BenchmarkJournalAppend(b *testing.B) {
	j := &journal{path: filepath.Join(b.TempDir(), "41.journal"), maxLines: DefaultBacklogLines, maxBytes: DefaultBacklogBytes}
	line := strings.Repeat("x", 100)
	j.mu.Lock()
	defer j.mu.Unlock()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.append(line); err != nil {
			b.Fatal(err)
		}
	}
}
