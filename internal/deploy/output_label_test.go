package deploy

import (
	"context"
	"encoding/base64"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// say makes the instance in slot print line, straight to its port (not
// through the edge, which picks an instance itself).
func say(t *testing.T, m *Manager, env string, slot int, line string) {
	t.Helper()
	for _, s := range m.Status(env).Pool {
		if s.Slot == slot {
			wantBody(t, "http://127.0.0.1:"+strconv.Itoa(s.Port)+"/say?line="+url.QueryEscape(line), "said")
			return
		}
	}
	t.Fatalf("no slot %d in the pool %q", slot, poolOf(m, env))
}

// The output of a pool comes from several instances at once: each line
// names its slot, after masking, so a secret is masked whichever instance
// printed it; one instance alone prints its lines as they are.
func TestPoolOutputNamesTheInstance(t *testing.T) {
	const secret = "hunter2-sw0rdfish"
	m := newTestManager(t, testOptions())
	if _, err := m.EnsureEdge("proj/dev", ""); err != nil {
		t.Fatal(err)
	}
	var out lineLog
	spec := appSpec(t, "proj/dev", 1, "v1")
	spec.Lines = func(emit func(string)) io.WriteCloser { return runner.NewLineWriter([]string{secret}, 0, emit) }
	if _, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: spec, Instances: 2, Output: out.add}, nil); err != nil {
		t.Fatal(err)
	}
	has := func(line string) func() bool {
		return func() bool { return slices.Contains(out.all(), line) }
	}
	for _, want := range []string{"[1] app v1 starting", "[2] app v1 starting"} {
		testkit.Eventually(t, 10*time.Second, has(want), "the line %q", want)
	}

	say(t, m, "proj/dev", 2, "token="+secret+" ok")
	say(t, m, "proj/dev", 2, "b64="+base64.StdEncoding.EncodeToString([]byte(secret)))
	say(t, m, "proj/dev", 1, "from one")
	for _, want := range []string{"[2] token=" + runner.Mask + " ok", "[2] b64=" + runner.Mask, "[1] from one"} {
		testkit.Eventually(t, 10*time.Second, has(want), "the line %q", want)
	}
	for _, l := range out.all() {
		if strings.Contains(l, secret) || strings.Contains(l, "aHVudGVy") {
			t.Errorf("a secret slipped past masking: %q", l)
		}
		if !strings.HasPrefix(l, "[1] ") && !strings.HasPrefix(l, "[2] ") {
			t.Errorf("a pool's line does not name its instance: %q", l)
		}
	}

	// Scaled down to one instance, its lines are the app's own again.
	if err := m.Scale(context.Background(), "proj/dev", 1); err != nil {
		t.Fatal(err)
	}
	say(t, m, "proj/dev", 1, "alone")
	testkit.Eventually(t, 10*time.Second, has("alone"), "the unlabelled line of a lone instance")
	if slices.Contains(out.all(), "[1] alone") {
		t.Error("a lone instance labelled its line")
	}
}

// The common case, a release on one instance, keeps the app's lines as
// they are, in the release output and in the instance's own buffer.
func TestSingleInstanceOutputIsUnlabelled(t *testing.T) {
	m := newTestManager(t, testOptions())
	if _, err := m.EnsureEdge("proj/dev", ""); err != nil {
		t.Fatal(err)
	}
	var out lineLog
	spec := appSpec(t, "proj/dev", 1, "v1")
	if _, err := m.Rollout(context.Background(), RolloutSpec{InstanceSpec: spec, Output: out.add}, nil); err != nil {
		t.Fatal(err)
	}
	say(t, m, "proj/dev", 1, "hello")
	testkit.Eventually(t, 10*time.Second, func() bool { return slices.Contains(out.all(), "hello") }, "the line hello")
	for _, l := range out.all() {
		if strings.HasPrefix(l, "[") {
			t.Errorf("a single instance labelled its line: %q", l)
		}
	}
}
