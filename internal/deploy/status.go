package deploy

import (
	"fmt"
	"time"
)

// State is the lifecycle state of an app instance.
type State string

// Instance states.
const (
	// StateStarting: the first process runs and has not passed its health check yet.
	StateStarting State = "starting"
	// StateHealthy: the process passed its health check and is running.
	StateHealthy State = "healthy"
	// StateCrashed: the process ended on its own; a restart is scheduled.
	StateCrashed State = "crashed"
	// StateRestarting: a restarted process runs and has not passed its health check yet.
	StateRestarting State = "restarting"
	// StateStopped: the instance was stopped (or never became healthy) and will not run again.
	StateStopped State = "stopped"
)

// Exit describes how a process ended.
type Exit struct {
	// Code is the exit status, or -1 when a signal ended the process.
	Code int
	// Signal names the signal that ended the process, if one did.
	Signal string
	// Time is when the process ended.
	Time time.Time
	// Lines are the last lines of output before the end (at most Options.OutputLines).
	Lines []string
}

func (e *Exit) describe() string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	if e.Code < 0 {
		return "ended" // adopted: its exit status went to another process
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// InstanceStatus is a snapshot of one app instance.
type InstanceStatus struct {
	ReleaseID int64
	// Slot is the instance's number in its pool, from 1.
	Slot  int
	State State
	// Health is what the active checks and passive ejection say; the edge
	// sends requests only to a healthy instance whose Health is up
	// (Routable).
	Health   Health
	Routable bool
	// Requests and Errors count what the edge sent to the instance and
	// what failed (no answer, or a 5xx); RPS is the request rate over the
	// last health interval.
	Requests int64
	Errors   int64
	RPS      float64
	// PID and Port of the current process (0 when none runs).
	PID  int
	Port int
	// Restarts counts the restarts after crashes.
	Restarts int
	// StartedAt is when the current process was started.
	StartedAt time.Time
	// InFlight counts requests the edge is proxying to this instance now.
	InFlight int64
	// WarmUntil is when a warm instance will be stopped; zero unless warm.
	WarmUntil time.Time
	// LastExit is the most recent unexpected end of the process, if any.
	LastExit *Exit
}

// EnvStatus is a snapshot of one environment's edge and instances.
type EnvStatus struct {
	Env string
	// EdgeAddr is the edge's bound address, or "" when it has no edge.
	EdgeAddr string
	// LiveReleaseID is the release the edge serves, or 0 when none.
	LiveReleaseID int64
	// Live describes the first instance of the live pool; nil when nothing
	// is live.
	Live *InstanceStatus
	// Pool lists the instances the edge balances over, by slot.
	Pool []InstanceStatus
	// Desired is the pool size the last Rollout or Scale asked for (0
	// when neither ran).
	Desired int
	// Balance is how the edge spreads requests over the live pool ("" when
	// nothing is live).
	Balance Balance
	// Warm lists the instances kept for instant rollback, newest first.
	Warm []InstanceStatus
	// Other lists the remaining instances, ordered by release: those still
	// starting, started but not switched to, or being drained and stopped.
	Other []InstanceStatus
}

// EventKind says what happened to an instance.
type EventKind string

// Event kinds.
const (
	// EventCrashed: a running instance's process ended on its own, or a
	// restarted one failed its health check; a restart follows after Delay.
	EventCrashed EventKind = "crashed"
	// EventRestarted: a restarted process passed its health check.
	EventRestarted EventKind = "restarted"
	// EventStopped: an instance was stopped on purpose (rollback window over,
	// Stop, StopEnv or Close).
	EventStopped EventKind = "stopped"
)

// Event reports something that happened to an instance outside of a call,
// for the caller to persist and show.
type Event struct {
	Kind      EventKind
	Env       string
	ReleaseID int64
	Time      time.Time
	// PID of the process concerned (the new one for EventRestarted).
	PID int
	// Restarts is the instance's restart count after this event.
	Restarts int
	// Delay before the next restart (EventCrashed only).
	Delay time.Duration
	// Reason says why, in words (EventCrashed only).
	Reason string
	// Exit is how the process ended, when it ended on its own.
	Exit *Exit
}
