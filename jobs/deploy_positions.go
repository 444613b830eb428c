package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/logs"
)

// OutputPositionsFile is the file in the data dir where the portal keeps,
// for each release whose output an edge process numbers, the number of the
// last line its log store holds: a restarted portal asks the edge for the
// lines after it (see edge.Client.Attach).
const OutputPositionsFile = "app-output-positions.json"

// positionSource is an engine that numbers app output lines (a `slipway
// edge`): it says how far it passed each release's output on.
type positionSource interface {
	OutputPositions() []edge.OutputPosition
}

// outputMarks saves the output positions at most once a second, and at
// Stop: first it takes the positions, then it flushes every open output
// stream, and only then writes them, so that a position never names a
// line the store does not hold. A kill -9 repeats at most the lines of
// the last second after the restart; it loses none the edge still keeps.
type outputMarks struct {
	path string
	src  positionSource
	log  *slog.Logger

	mu   sync.Mutex
	outs map[*appOutput]int64 // open outputs and their release
	// saved is what the file holds; carried holds the positions read at
	// startup that no handle took up yet (until the restore ends).
	saved   map[string]int64
	carried map[string]int64
	// existed is set when the file was there at startup: without it, a
	// release's output is taken up from now on (a portal that did not
	// keep positions stored what it got already).
	existed bool

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func positionKey(env string, rel int64) string { return env + "/" + strconv.FormatInt(rel, 10) }

// newOutputMarks reads the positions file and starts saving.
func newOutputMarks(dataDir string, src positionSource, log *slog.Logger) *outputMarks {
	m := &outputMarks{path: filepath.Join(dataDir, OutputPositionsFile), src: src, log: log,
		outs: map[*appOutput]int64{}, saved: map[string]int64{}, carried: map[string]int64{},
		stop: make(chan struct{}), done: make(chan struct{})}
	b, err := os.ReadFile(m.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		log.Warn("app output positions not read: the output kept while the portal was away is taken up from its start", slog.Any("err", err))
		m.existed = true
	default:
		m.existed = true
		if err := json.Unmarshal(b, &m.carried); err != nil {
			log.Warn("app output positions file is not valid JSON: the output kept while the portal was away is taken up from its start",
				slog.String("file", m.path), slog.Any("err", err))
			m.carried = map[string]int64{}
		}
		maps.Copy(m.saved, m.carried)
	}
	if !m.existed {
		m.write(map[string]int64{})
	}
	go m.loop()
	return m
}

// position is where a restarted portal takes env's release rel up: after
// the saved position, from the start of what the edge keeps when there is
// none (the release went live moments before a crash), or from now on
// when this portal never kept positions (-1).
func (m *outputMarks) position(env string, rel int64) int64 {
	if m == nil {
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq, ok := m.carried[positionKey(env, rel)]; ok {
		return seq
	}
	if !m.existed {
		return -1
	}
	return 0
}

// restored drops the positions of releases no handle took up.
func (m *outputMarks) restored() {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.carried = map[string]int64{}
	m.mu.Unlock()
}

func (m *outputMarks) add(o *appOutput, rel int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.outs[o] = rel
	m.mu.Unlock()
}

func (m *outputMarks) remove(o *appOutput) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.outs, o)
	m.mu.Unlock()
}

func (m *outputMarks) loop() {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			m.save()
			return
		case <-t.C:
			m.save()
		}
	}
}

// close saves the positions one last time and stops.
func (m *outputMarks) close() {
	if m == nil {
		return
	}
	m.once.Do(func() { close(m.stop) })
	<-m.done
}

// save writes the positions whose lines the store holds.
func (m *outputMarks) save() {
	pos := m.src.OutputPositions()
	m.mu.Lock()
	outs := maps.Clone(m.outs)
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failed := map[int64]bool{}
	for o, rel := range outs {
		switch err := o.flush(ctx); {
		case errors.Is(err, logs.ErrReplaced):
			m.remove(o) // a newer writer of the stream stores its lines
		case err != nil:
			failed[rel] = true
		}
	}
	m.mu.Lock()
	next := map[string]int64{}
	for _, p := range pos {
		k := positionKey(p.Env, p.ReleaseID)
		if failed[p.ReleaseID] {
			if seq, ok := m.saved[k]; ok {
				next[k] = seq
			}
			continue
		}
		next[k] = p.Seq
	}
	for k, seq := range m.carried {
		if _, ok := next[k]; !ok {
			next[k] = seq
		}
	}
	same := maps.Equal(next, m.saved)
	m.mu.Unlock()
	if same {
		return
	}
	if m.write(next) {
		m.mu.Lock()
		m.saved = next
		m.mu.Unlock()
	}
}

// write replaces the file (a temporary file renamed over it: a crash
// leaves the old one or the new one).
func (m *outputMarks) write(pos map[string]int64) bool {
	b, _ := json.Marshal(pos)
	tmp := m.path + ".tmp"
	err := os.WriteFile(tmp, b, 0o600)
	if err == nil {
		err = os.Rename(tmp, m.path)
	}
	if err != nil {
		m.log.Warn("app output positions not saved", slog.String("file", m.path), slog.Any("err", err))
		return false
	}
	return true
}
