package jobs

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/models"
)

// streamText reads a whole log stream.
func (h *deployHarness) streamText(stream string) string {
	h.t.Helper()
	read := func() string {
		page, err := h.logs.Read(context.Background(), stream, 1, 0)
		if err != nil {
			h.t.Fatal(err)
		}
		var lines []string
		for _, l := range page.Lines {
			lines = append(lines, l.Text)
		}
		return strings.Join(lines, "\n")
	}
	if !strings.HasPrefix(stream, "deploy:") {
		return read()
	}
	// A release is live before its log writer's last flush (every 50 ms)
	// reaches the store: read until the final line is there.
	text := read()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(text, "is live") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		text = read()
	}
	return text
}

// TestAppOutputIsMasked deploys an app that prints its secret plainly, in
// base64, and split across two writes: neither the release log nor the
// app's output stream may show it, while the app still gets the value.
func TestAppOutputIsMasked(t *testing.T) {
	h := newDeployHarness(t)
	ctx := context.Background()
	dev := h.envs["dev"]
	const secret = "s3cret-tokenvalue"
	sealed := h.box.Seal([]byte(secret), models.SecretAD(dev.ID, "TOKEN"))
	if err := h.store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: dev.ID, Name: "TOKEN", Secret: true, ValueSealed: sealed}); err != nil {
		t.Fatal(err)
	}
	run := `echo "plain $TOKEN"; echo "b64 $(printf %s "$TOKEN" | base64)"; printf 'split %s' "${TOKEN%%-*}-"; sleep 0.2; printf '%s\n' "${TOKEN#*-}"; exec ./bin/app`
	r := h.live("dev", h.build("v1", run))
	if got := h.get("dev"); got != "v1--"+secret {
		t.Fatalf("the app must still get its secret: %q", got)
	}
	deployLog := h.streamText(r.LogStream())
	var output string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(output, "split") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		output = h.streamText(models.AppOutputStream(r.ID))
	}
	for name, text := range map[string]string{"release log": deployLog, "app output": output} {
		for _, want := range []string{"plain ********", "b64 ********", "split ********"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, text)
			}
		}
		for _, leak := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), "s3cret-"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s shows %q:\n%s", name, leak, text)
			}
		}
	}
}

// TestListeningOnEveryInterfaceIsWarned: an app that ignores HOST gets a
// warning in its release log; one that uses it does not.
func TestListeningOnEveryInterfaceIsWarned(t *testing.T) {
	h := newDeployHarness(t)
	r := h.live("dev", h.build("v1", "./bin/app --listen-all"))
	if text := h.streamText(r.LogStream()); !strings.Contains(text, "WARNING: the app listens on port") {
		t.Errorf("no warning for an app listening on every interface:\n%s", text)
	}
	r = h.live("staging", h.build("v2", "./bin/app"))
	if text := h.streamText(r.LogStream()); strings.Contains(text, "WARNING: the app listens") {
		t.Errorf("a warning for an app listening on $HOST:\n%s", text)
	}
}
