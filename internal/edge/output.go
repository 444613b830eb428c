package edge

import (
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// runDir is the directory of the control socket: the state file, the
// output FIFOs and the journals live there (0700).
func (d *Daemon) runDir() string { return filepath.Dir(d.opts.Socket) }

// journal returns the journal of env's release rel, making one.
func (d *Daemon) journal(env string, rel int64) *journal {
	d.jmu.Lock()
	defer d.jmu.Unlock()
	k := handleKey{env, rel}
	j := d.journals[k]
	if j == nil {
		j = &journal{path: journalPath(d.runDir(), env, rel), maxLines: d.opts.BacklogLines, maxBytes: d.opts.BacklogBytes}
		d.journals[k] = j
	}
	return j
}

// record numbers one output line, appends it to its journal and publishes
// it. The journal's lock is held while publishing, so that subscribers get
// a release's lines in the order of their numbers.
func (d *Daemon) record(env string, rel int64, line string) {
	for {
		j := d.journal(env, rel)
		j.mu.Lock()
		if j.removed {
			j.mu.Unlock()
			continue // removed meanwhile: a new journal starts
		}
		if d.holding.Load() {
			j.hold(line)
			j.mu.Unlock()
			return
		}
		d.releaseHeldLocked(env, rel, j)
		d.appendLocked(env, rel, j, line)
		j.mu.Unlock()
		return
	}
}

// appendLocked numbers line, keeps it and publishes it. The caller holds
// j.mu.
func (d *Daemon) appendLocked(env string, rel int64, j *journal, line string) {
	seq, err := j.append(line)
	if err != nil {
		d.log.Warn("edge: app output not kept in its journal", slog.String("env", env), slog.Int64("release", rel),
			slog.String("file", j.path), slog.Any("err", err))
	}
	d.publish(Message{Type: "line", Env: env, ReleaseID: rel, Seq: seq, Line: line})
}

// holdJournals makes the journals hold the lines they get, unnumbered:
// the edge an upgrade started reads the apps' output alongside its
// predecessor until that one exits, and only one of them may write a
// journal. Call it before Restore.
func (d *Daemon) holdJournals() { d.holding.Store(true) }

// releaseJournals numbers and keeps the held lines, after the lines the
// predecessor wrote, and every line from now on.
func (d *Daemon) releaseJournals() {
	d.holding.Store(false)
	d.jmu.Lock()
	js := maps.Clone(d.journals)
	d.jmu.Unlock()
	for k, j := range js {
		j.mu.Lock()
		if !j.removed {
			d.releaseHeldLocked(k.env, k.rel, j)
		}
		j.mu.Unlock()
	}
}

// releaseHeldLocked writes j's held lines. The caller holds j.mu.
func (d *Daemon) releaseHeldLocked(env string, rel int64, j *journal) {
	if len(j.held) == 0 && j.heldDropped == 0 {
		return
	}
	if j.heldDropped > 0 {
		d.log.Warn("edge: app output lines read during the upgrade were not kept: too many", slog.String("env", env),
			slog.Int64("release", rel), slog.Int64("lines", j.heldDropped))
	}
	j.closeFile() // the predecessor wrote meanwhile: read the file afresh
	held := j.held
	j.held, j.heldDropped = nil, 0
	for _, l := range held {
		d.appendLocked(env, rel, j, l)
	}
}

// Backlog returns the lines of env's release rel after seq after that the
// journal still keeps (after < 0: none, only where the journal stands).
func (d *Daemon) Backlog(env string, rel, after int64) (Backlog, error) {
	return readBacklog(journalPath(d.runDir(), env, rel), after, d.opts.BacklogLines, d.opts.BacklogBytes)
}

// dropJournal removes the journal of env's release rel.
func (d *Daemon) dropJournal(env string, rel int64) {
	d.jmu.Lock()
	k := handleKey{env, rel}
	j := d.journals[k]
	delete(d.journals, k)
	d.jmu.Unlock()
	path := journalPath(d.runDir(), env, rel)
	if j != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.removed = true
		j.closeFile()
	}
	if err := os.Remove(path); err == nil {
		d.log.Debug("edge: output journal removed", slog.String("env", env), slog.Int64("release", rel))
	}
	_ = os.Remove(filepath.Dir(path)) // only when empty
}

// dropEnvJournals removes every journal of env.
func (d *Daemon) dropEnvJournals(env string) {
	d.jmu.Lock()
	var js []*journal
	for k, j := range d.journals {
		if k.env == env {
			js = append(js, j)
			delete(d.journals, k)
		}
	}
	d.jmu.Unlock()
	for _, j := range js {
		j.mu.Lock()
		j.removed = true
		j.closeFile()
		j.mu.Unlock()
	}
	_ = os.RemoveAll(journalDir(d.runDir(), env))
}

// releaseStopped removes the journal of a release whose last instance
// stopped for good: no instance of it runs any more, and it is not the
// one the environment should serve (whose instances start again). A
// handing-over or closing edge removes nothing: its successor, or the
// edge started again, runs the releases again.
func (d *Daemon) releaseStopped(env string, rel int64) {
	d.mu.Lock()
	if d.frozen || d.keepJournalLocked(env, rel) {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.dropJournal(env, rel)
}

// keepJournalLocked reports whether env's release rel still runs or
// should. The caller holds d.mu.
func (d *Daemon) keepJournalLocked(env string, rel int64) bool {
	er := d.envs[env]
	if er == nil {
		return false
	}
	if er.desired.Live == rel {
		return true
	}
	for _, ri := range d.mgr.Running(env) {
		if ri.ReleaseID == rel {
			return true
		}
	}
	return false
}

// sweepJournalsLocked removes, after a restore, the journals of releases
// that stopped while no edge ran (or whose removal a crash cut short), and
// those of environments the edge no longer knows. The caller holds d.mu.
func (d *Daemon) sweepJournalsLocked() {
	root := filepath.Join(d.runDir(), "output")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, de := range dirs {
		env, err := url.PathUnescape(de.Name())
		if err != nil || !de.IsDir() || d.envs[env] == nil {
			if err == nil && de.IsDir() {
				d.dropEnvJournals(env)
			}
			_ = os.RemoveAll(filepath.Join(root, de.Name()))
			continue
		}
		d.sweepEnvJournalsLocked(env)
	}
}

// sweepEnvJournalsLocked removes the journals of env's releases that
// neither run nor should: a release whose rollout failed, or one that
// stopped while nothing watched. The caller holds d.mu.
func (d *Daemon) sweepEnvJournalsLocked(env string) {
	files, err := os.ReadDir(journalDir(d.runDir(), env))
	if err != nil {
		return
	}
	for _, f := range files {
		name, ok := strings.CutSuffix(f.Name(), ".journal")
		rel, err := strconv.ParseInt(name, 10, 64)
		switch {
		case !ok || err != nil:
			_ = os.Remove(filepath.Join(journalDir(d.runDir(), env), f.Name()))
		case !d.keepJournalLocked(env, rel):
			d.dropJournal(env, rel)
		}
	}
}
