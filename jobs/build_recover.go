package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/slipway-ci/slipway/internal/sandbox"
	"github.com/slipway-ci/slipway/models"
)

const (
	// ReasonWorkerDied is the reason of a build finished by recovery.
	ReasonWorkerDied = "the process running this build stopped (restart or crash)"
	// reasonShutdown is the reason of a build cut short by a shutdown.
	reasonShutdown = "the process running this build was shut down before the build finished"
	// heartbeatEvery is how often a running build says it is alive.
	heartbeatEvery = 5 * time.Second
	// staleAfter is how long without a heartbeat makes a build on another
	// machine count as lost.
	staleAfter = 90 * time.Second
	// buildReapEvery is the period of the job that finishes lost builds.
	buildReapEvery = time.Minute
	// workerEnv is the variable every step process carries, naming the
	// worker that started it, so orphans can be found after a crash.
	workerEnv = "SLIPWAY_WORKER_ID"
)

// newWorkerID names this process: host, pid and the pid's start time (in
// clock ticks since boot), so a pid reused after a restart never passes for
// the old process.
func newWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	host = strings.Map(func(r rune) rune {
		if r == '/' || r < 0x21 || r > 0x7e {
			return '_'
		}
		return r
	}, host)
	if len(host) > 64 {
		host = host[:64]
	}
	pid := os.Getpid()
	// The random part tells apart several clients of one process (tests).
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s/%d/%d/%x", host, pid, procStart(pid), r)
}

// procStart returns a process's start time from /proc/<pid>/stat (field
// 22), or 0 when it cannot be read.
func procStart(pid int) uint64 {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0
	}
	f := bytes.Fields(stat[end+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[19]), 10, 64)
	return n
}

// localWorkerDead reports whether id names a worker process of this host
// that no longer runs. A worker of another host is never "dead" here:
// only its heartbeat can tell.
func (j *Jobs) localWorkerDead(id string) bool {
	parts := strings.Split(id, "/")
	self := strings.Split(j.workerID, "/")
	if len(parts) != 4 || parts[0] != self[0] {
		return false
	}
	pidText, startText := parts[1], parts[2]
	pid, err1 := strconv.Atoi(pidText)
	start, err2 := strconv.ParseUint(startText, 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return false
	}
	return procStart(pid) != start || start == 0 && syscall.Kill(pid, 0) != nil
}

// RecoverBuilds finishes as interrupted every build whose worker is gone:
// a running build of a dead process of this machine, a running build on
// any machine whose heartbeat is stale, and a queued build whose job will
// never run. Their logs keep what was stored before the crash and end with
// the reason. It also stops step processes that dead workers of this
// machine left behind. Start calls it before taking work.
func (j *Jobs) RecoverBuilds(ctx context.Context) error {
	j.killOrphans()
	j.removeStaleWorkspaces()
	j.removeStaleSeeds()
	sandbox.Sweep()
	bs, err := j.deps.Store.UnfinishedBuilds(ctx)
	if err != nil {
		return fmt.Errorf("jobs: recover builds: %w", err)
	}
	now := time.Now().UTC()
	var errs []error
	for _, b := range bs {
		lost, owner := false, ""
		switch b.Status {
		case models.BuildRunning:
			owner = b.WorkerID
			switch {
			case b.WorkerID == j.workerID:
			case j.localWorkerDead(b.WorkerID):
				lost = true
			case b.HeartbeatAt == nil || now.Sub(*b.HeartbeatAt) > staleAfter:
				lost = true
			}
		case models.BuildQueued:
			lost = j.jobLost(ctx, b.JobID)
		}
		if !lost {
			continue
		}
		if err := j.interrupt(ctx, b.ID, owner, ReasonWorkerDied); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// jobLost reports whether a queued build's River job will never run it:
// the job is gone or finished, or it was taken by a worker of this machine
// that died before it could mark the build running.
func (j *Jobs) jobLost(ctx context.Context, jobID int64) bool {
	if jobID == 0 {
		return false // still being created
	}
	job, err := j.client.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	switch job.State {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return true
	case rivertype.JobStateRunning:
		n := len(job.AttemptedBy)
		return n > 0 && job.AttemptedBy[n-1] != j.workerID && j.localWorkerDead(job.AttemptedBy[n-1])
	}
	return false
}

// interrupt ends one build as interrupted and closes its log with the
// reason. owner, when set, must still own the build.
func (j *Jobs) interrupt(ctx context.Context, id int64, owner, reason string) error {
	done, err := j.deps.Store.InterruptBuild(ctx, id, owner, reason, time.Now().UTC())
	if err != nil || !done {
		return err
	}
	j.log.Warn("build interrupted", slog.Int64("build_id", id), slog.String("worker", owner), slog.String("reason", reason))
	if j.deps.Logs == nil {
		return nil
	}
	w, err := j.deps.Logs.NewWriter(ctx, models.BuildLogStream(id))
	if err != nil {
		return fmt.Errorf("jobs: close log of interrupted build %d: %w", id, err)
	}
	w.Line("[slipway] build interrupted: " + reason)
	if err := w.Close(ctx, models.BuildInterrupted); err != nil {
		return fmt.Errorf("jobs: close log of interrupted build %d: %w", id, err)
	}
	return nil
}

// killOrphans stops every process group whose processes carry the worker
// ID of a dead worker of this machine: steps a crashed portal started.
// Steps run in their own session, so they outlive a process killed with
// SIGKILL; the sandbox's --die-with-parent covers only sandboxed steps.
func (j *Jobs) killOrphans() {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	prefix := []byte(workerEnv + "=")
	killed := map[int]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			id, ok := bytes.CutPrefix(kv, prefix)
			if !ok {
				continue
			}
			if string(id) != j.workerID && j.localWorkerDead(string(id)) {
				pgid, err := syscall.Getpgid(pid)
				if err == nil && pgid > 1 && !killed[pgid] && pgid != syscall.Getpgrp() {
					killed[pgid] = true
					_ = syscall.Kill(-pgid, syscall.SIGKILL)
					j.log.Warn("stopped a process group left by a crashed build", slog.Int("pgid", pgid), slog.String("worker", string(id)))
				}
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			break
		}
	}
}

// workspaceOwnerFile, beside a build's workspace, holds the ID of the
// worker running the build.
const workspaceOwnerFile = ".slipway-owner"

// staleWorkspaceAfter is how old a workspace without an owner file must
// be before it counts as a crash's leftover (the owner is written right
// after the directory is made).
const staleWorkspaceAfter = time.Hour

// removeStaleWorkspaces deletes the workspaces that dead workers of this
// machine left behind (a portal killed with -9 never ran its cleanup):
// every slipway-build-* directory in the workspace dir whose owner is a
// local worker that no longer runs. Workspaces of live workers, of
// workers on other hosts, and young ones without an owner are kept.
func (j *Jobs) removeStaleWorkspaces() {
	root := j.deps.WorkspaceDir
	if root == "" {
		root = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "slipway-build-*"))
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		owner, err := os.ReadFile(filepath.Join(d, workspaceOwnerFile))
		switch {
		case err == nil && string(owner) != j.workerID && j.localWorkerDead(string(owner)):
		case err != nil && time.Since(fi.ModTime()) > staleWorkspaceAfter:
		default:
			continue
		}
		removeTree(d)
		j.log.Warn("removed the workspace of a build whose worker stopped", slog.String("dir", d), slog.String("worker", string(owner)))
	}
}

// BuildReaperArgs is the periodic job that finishes builds whose worker
// stopped sending heartbeats (a machine that died for good).
type BuildReaperArgs struct{}

// Kind names the job for River.
func (BuildReaperArgs) Kind() string { return "build_reaper" }

// InsertOpts keeps one reaper pending at a time.
func (BuildReaperArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: buildReapEvery}}
}

// BuildReaperWorker runs BuildReaperArgs.
type BuildReaperWorker struct {
	river.WorkerDefaults[BuildReaperArgs]
	j *Jobs
}

// Timeout bounds one reaper run.
func (w *BuildReaperWorker) Timeout(*river.Job[BuildReaperArgs]) time.Duration { return time.Minute }

// Work finishes lost builds.
func (w *BuildReaperWorker) Work(ctx context.Context, _ *river.Job[BuildReaperArgs]) error {
	return w.j.RecoverBuilds(ctx)
}
