package deploy

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ScriptSpec says how to run a team's own deploy command (the `script`
// target), for hosts the portal does not run itself.
type ScriptSpec struct {
	// Command is run with /bin/sh -ec: the first failing command fails it.
	Command string
	// Dir is the working directory, usually the unpacked artifact.
	Dir string
	// Env is the script's whole environment besides PATH (which it may
	// override) and the SLIPWAY_* variables below (which win). None of the
	// portal's own environment is passed on.
	Env map[string]string
	// Artifact, Environment and Release become SLIPWAY_ARTIFACT,
	// SLIPWAY_ENVIRONMENT and SLIPWAY_RELEASE.
	Artifact    string
	Environment string
	Release     string
	// Lines, if set, splits (and masks) the script's output into lines.
	Lines LineSplitter
	// Timeout bounds the whole run. Default 30 minutes.
	Timeout time.Duration
}

// scriptKillGrace is the wait between SIGTERM and SIGKILL when a script is
// cancelled or times out; short, because a cancel must take effect quickly.
const scriptKillGrace = 500 * time.Millisecond

// ScriptDeploy runs spec.Command in its own process group and passes each
// line of its output (stdout and stderr, in order) to log. It returns nil
// when the script exits 0, an error wrapping ErrScriptFailed (and the
// *exec.ExitError) when it fails, and one wrapping context.DeadlineExceeded
// on timeout or ctx's error on cancel; then the whole group is killed.
func ScriptDeploy(ctx context.Context, spec ScriptSpec, log func(line string)) error {
	if strings.TrimSpace(spec.Command) == "" {
		return fmt.Errorf("deploy: script: %w: empty command", ErrInvalid)
	}
	for k := range spec.Env {
		if !validEnvName(k) {
			return fmt.Errorf("deploy: script: %w: bad variable name %q", ErrInvalid, k)
		}
	}
	if fi, err := os.Stat(spec.Dir); err != nil {
		return fmt.Errorf("deploy: script: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("deploy: script: %w: %s is not a directory", ErrInvalid, spec.Dir)
	}
	if log == nil {
		log = func(string) {}
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	vars := maps.Clone(spec.Env)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["SLIPWAY_ARTIFACT"] = spec.Artifact
	vars["SLIPWAY_ENVIRONMENT"] = spec.Environment
	vars["SLIPWAY_RELEASE"] = spec.Release

	p, err := startProc([]string{"/bin/sh", "-ec", spec.Command}, spec.Dir, buildEnv(vars), spec.Lines, log)
	if err != nil {
		return fmt.Errorf("deploy: script: start: %w", err)
	}
	select {
	case <-p.exited:
		p.finish() // nothing the script left behind outlives it
	case <-ctx.Done():
		p.terminate(scriptKillGrace, nil)
		return fmt.Errorf("deploy: script: %w", context.Cause(ctx))
	}
	if p.state.Success() {
		return nil
	}
	exitErr := &exec.ExitError{ProcessState: p.state}
	return fmt.Errorf("deploy: script: %s: %w: %w", p.exit(nil).describe(), ErrScriptFailed, exitErr)
}
