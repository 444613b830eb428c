package deploy

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScriptDeploy(t *testing.T) {
	t.Setenv("SLIPWAY_SECRET_KEY", "portal-secret")
	tests := []struct {
		name      string
		spec      ScriptSpec
		cancelOn  string // cancel the context once a line with this prefix is logged
		want      error
		wantLines []string
		verify    func(t *testing.T, err error, out *lineLog)
	}{
		{
			name: "a script sees the SLIPWAY variables and its own, not the portal's environment",
			spec: ScriptSpec{
				Command:     `echo "artifact=$SLIPWAY_ARTIFACT env=$SLIPWAY_ENVIRONMENT release=$SLIPWAY_RELEASE custom=$CUSTOM secret=${SLIPWAY_SECRET_KEY:-none}"`,
				Env:         map[string]string{"CUSTOM": "yes", "SLIPWAY_RELEASE": "overridden"},
				Artifact:    "/data/artifacts/abc.tar.gz",
				Environment: "proj/production",
				Release:     "42",
			},
			wantLines: []string{"artifact=/data/artifacts/abc.tar.gz env=proj/production release=42 custom=yes secret=none"},
		},
		{
			name:      "stdout and stderr are logged in order",
			spec:      ScriptSpec{Command: "echo out; echo err >&2; printf 'no newline'"},
			wantLines: []string{"out", "err", "no newline"},
		},
		{
			name:      "the first failing command fails the script",
			spec:      ScriptSpec{Command: "echo one; sh -c 'exit 7'; echo two"},
			want:      ErrScriptFailed,
			wantLines: []string{"one"},
			verify: func(t *testing.T, err error, out *lineLog) {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 7 {
					t.Errorf("err = %v, want an exit status 7", err)
				}
			},
		},
		{
			name: "a timeout kills the whole process group",
			spec: ScriptSpec{Command: `trap '' TERM; sleep 300 & echo "child $!"; wait`, Timeout: 300 * time.Millisecond},
			want: context.DeadlineExceeded,
		},
		{
			name:     "a cancel kills the whole process group",
			spec:     ScriptSpec{Command: `sleep 300 & echo "child $!"; wait`},
			cancelOn: "child ",
			want:     context.Canceled,
		},
		{
			name: "a background process does not outlive a finished script",
			spec: ScriptSpec{Command: `sleep 300 & echo "child $!"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Dir = t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &lineLog{}
			log := out.add
			if tt.cancelOn != "" {
				log = func(s string) {
					out.add(s)
					if strings.HasPrefix(s, tt.cancelOn) {
						cancel()
					}
				}
			}
			err := ScriptDeploy(ctx, tt.spec, log)
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.wantLines != nil && !slices.Equal(out.all(), tt.wantLines) {
				t.Errorf("lines = %q, want %q", out.all(), tt.wantLines)
			}
			if pid := out.childPID(); pid != 0 && !processGone(pid) {
				t.Errorf("child %d outlived the script", pid)
			}
			if strings.Contains(tt.spec.Command, "child") && out.childPID() == 0 {
				t.Errorf("no child pid in %q", out.all())
			}
			if tt.verify != nil {
				tt.verify(t, err, out)
			}
		})
	}
}

func TestScriptDeployRunsInDir(t *testing.T) {
	dir := t.TempDir()
	out := &lineLog{}
	if err := ScriptDeploy(context.Background(), ScriptSpec{Command: "pwd", Dir: dir}, out.add); err != nil {
		t.Fatal(err)
	}
	if got := out.all(); !slices.Equal(got, []string{dir}) {
		t.Errorf("pwd = %q, want %s", got, dir)
	}
	if err := ScriptDeploy(context.Background(), ScriptSpec{Command: "true", Dir: dir + "/missing"}, nil); err == nil {
		t.Error("a missing dir is not an error")
	}
	if err := ScriptDeploy(context.Background(), ScriptSpec{Command: "", Dir: dir}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty command: err = %v, want ErrInvalid", err)
	}
}
