package deploy

import "context"

// Remote handles. A client of a `slipway edge` in another process
// implements Engine too; the *Instance it returns is a handle on an
// instance that process supervises. Only the read methods (Env, ReleaseID,
// PID, Port, State, Status, Output, Process), SetLog and Done work on it;
// the client, never a Manager, takes it back.

// NewRemoteInstance returns a handle on release releaseID of env run by
// another process, keeping its last outputLines lines (200 when 0).
func NewRemoteInstance(env string, releaseID int64, outputLines int) *Instance {
	if outputLines <= 0 {
		outputLines = 200
	}
	i := &Instance{env: env, releaseID: releaseID, out: newRing(outputLines),
		killCh: make(chan struct{}), done: make(chan struct{}), state: StateStarting}
	i.stopCtx, i.stopReq = context.WithCancelCause(context.Background())
	return i
}

// UpdateRemote sets a remote handle's status from its supervisor's report.
func (i *Instance) UpdateRemote(st InstanceStatus, pi ProcessInfo) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.state, i.pid, i.port, i.restarts, i.startedAt, i.lastExit = st.State, st.PID, st.Port, st.Restarts, st.StartedAt, st.LastExit
	i.procStart, i.outPath = pi.Start, pi.Output
}

// RemoteLine passes one line of a remote instance's output to the handle
// (its ring buffer and the function SetLog set).
func (i *Instance) RemoteLine(line string) { i.line(line) }

// EndRemote marks a remote handle stopped for good and closes Done.
func (i *Instance) EndRemote() {
	i.killOnce.Do(func() {
		i.setStopped()
		close(i.done)
	})
}
