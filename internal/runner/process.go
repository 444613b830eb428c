package runner

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// pollEvery is how often a dying process group is looked at.
const pollEvery = 10 * time.Millisecond

// stopGroup sends SIGTERM to every process of the group, SIGKILL to what
// is left after grace, and reports whether the group is gone (within
// killWait of the SIGKILL).
func stopGroup(pgid int, grace time.Duration) bool {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	if waitGroupGone(pgid, grace) {
		return true
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return waitGroupGone(pgid, killWait)
}

func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !groupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollEvery)
	}
}

// groupAlive reports whether any live process is in the process group.
// kill(-pgid, 0) answers ESRCH once the group is empty; it also succeeds
// for zombies, which are dead but wait for a parent (the shell not yet
// reaped by cmd.Wait, orphans of an init that does not reap), so a
// "yes" is checked against /proc for a member that is not a zombie.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return len(liveMembers(pgid)) > 0
}

// liveMembers lists the pids of non-zombie processes in a process group.
func liveMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		// No /proc: trust kill(2), zombies and all.
		return []int{pgid}
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and
		// parentheses, so split after the last ")".
		end := bytes.LastIndexByte(stat, ')')
		if end < 0 {
			continue
		}
		f := bytes.Fields(stat[end+1:])
		if len(f) < 3 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
