package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Orphans. Every app process group this manager starts is written to
// Options.StateFile while it runs. A portal killed with SIGKILL cannot stop
// its apps; Pdeathsig (and bwrap's --die-with-parent with its own pid
// namespace) ends the direct child and, in the sandbox, everything it
// started. Without a sandbox a forked child of the app survives in the
// app's process group; ReapOrphans, called at the next start, ends those
// groups.

// runningGroup is one entry of the state file.
type runningGroup struct {
	PGID int `json:"pgid"`
	// Start is the leader's start time in clock ticks since boot
	// (/proc/<pid>/stat field 22): with Boot it tells our group from a
	// later one that reused the number.
	Start uint64 `json:"start"`
	Boot  string `json:"boot"`
	Env   string `json:"env"`
}

// recordGroup adds a started process group to the state file.
func (m *Manager) recordGroup(pgid int, env string) {
	if m.opts.StateFile == "" {
		return
	}
	start, _ := procStartTime(pgid)
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.groups[pgid] = runningGroup{PGID: pgid, Start: start, Boot: bootID(), Env: env}
	m.saveGroupsLocked()
}

// forgetGroup removes a process group that has ended from the state file.
func (m *Manager) forgetGroup(pgid int) {
	if m.opts.StateFile == "" {
		return
	}
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if _, ok := m.groups[pgid]; ok {
		delete(m.groups, pgid)
		m.saveGroupsLocked()
	}
}

func (m *Manager) saveGroupsLocked() {
	list := make([]runningGroup, 0, len(m.groups))
	for _, g := range m.groups {
		list = append(list, g)
	}
	b, _ := json.Marshal(list)
	tmp := m.opts.StateFile + ".tmp"
	_ = os.MkdirAll(filepath.Dir(tmp), 0o700)
	if err := os.WriteFile(tmp, b, 0o600); err == nil {
		err = os.Rename(tmp, m.opts.StateFile)
		if err == nil {
			return
		}
	}
	m.log.Warn("deploy: cannot save the running app groups", "file", m.opts.StateFile)
}

// ReapOrphans ends the app process groups a previous run of the portal
// left in Options.StateFile (it was killed without stopping them) and
// returns how many groups still had a process. Call it once, before the
// first StartInstance. A group is ended only if a member started no earlier
// than the recorded leader in the same boot, so a number reused by an
// unrelated process is left alone.
func (m *Manager) ReapOrphans() (int, error) {
	if m.opts.StateFile == "" {
		return 0, nil
	}
	b, err := os.ReadFile(m.opts.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("deploy: reap orphans: %w", err)
	}
	var list []runningGroup
	if err := json.Unmarshal(b, &list); err != nil {
		m.log.Warn("deploy: unreadable app state file; nothing reaped", "file", m.opts.StateFile, "err", err)
		list = nil
	}
	boot, n := bootID(), 0
	for _, g := range list {
		if g.PGID <= 1 || g.Boot != boot {
			continue
		}
		if members := orphanMembers(g); len(members) > 0 {
			n++
			_ = syscall.Kill(-g.PGID, syscall.SIGKILL)
			for _, pid := range members {
				_ = syscall.Kill(pid, syscall.SIGKILL) // a member that left the group's leader dead
			}
			m.log.Warn("deploy: ended app processes left by a previous run", "env", g.Env, "pgid", g.PGID, "processes", len(members))
		}
	}
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.saveGroupsLocked()
	return n, nil
}

// orphanMembers lists the live processes of g's group that started no
// earlier than its leader.
func orphanMembers(g runningGroup) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pgrp, state, ok := procStat(e.Name())
		if !ok || pgrp != g.PGID || state == 'Z' || state == 'X' {
			continue
		}
		if st, ok := procStartTime(pid); ok && st >= g.Start {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStartTime reads the start time (clock ticks since boot) of pid.
func procStartTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// After ')': state(3) ppid(4) ... starttime is field 22, index 19 here.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// bootID identifies the current boot ("" where unknown).
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}
