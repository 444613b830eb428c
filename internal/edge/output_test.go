package edge_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/deploy"
	"github.com/slipway-ci/slipway/internal/edge"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// collector keeps the lines a handle passes on.
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) add(l string) {
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
}

func (c *collector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines)
}

func (c *collector) has(l string) bool { return slices.Contains(c.all(), l) }

// waitLine waits until c got l.
func (c *collector) waitLine(t testing.TB, l string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() bool { return c.has(l) }, "the line %.40q", l)
}

// deploySay makes env serve release rel, the app that prints /say?msg=,
// on one instance; its output goes through lines to out. It returns the
// edge URL.
func deploySay(t testing.TB, cl *edge.Client, data, env string, rel int64, vars map[string]string, lines deploy.LineSplitter, out func(string)) string {
	t.Helper()
	addr, err := cl.EnsureEdge(env, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(data, "releases", "say")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "version.txt"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = cl.Rollout(ctx, deploy.RolloutSpec{InstanceSpec: deploy.InstanceSpec{Env: env, ReleaseID: rel, Dir: dir,
		Command: "exec " + sayBin, Vars: vars, HealthPath: "/healthz", Lines: lines}, Instances: 1, Output: out}, nil)
	if err != nil {
		t.Fatalf("rollout of release %d: %v", rel, err)
	}
	return "http://" + addr
}

var sayClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}

// say makes the app at base print msg.
func say(t testing.TB, base, msg string) {
	t.Helper()
	resp, err := sayClient.Get(base + "/say?msg=" + url.QueryEscape(msg))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/say: %s", resp.Status)
	}
}

// position waits until cl passed on every line of env's release rel
// that the edge numbered, and returns the last one's number.
func position(t testing.TB, cl *edge.Client, env string, rel int64) int64 {
	t.Helper()
	bl, err := cl.Backlog(context.Background(), env, rel, -1)
	if err != nil {
		t.Fatal(err)
	}
	var seq int64
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, p := range cl.OutputPositions() {
			if p.Env == env && p.ReleaseID == rel {
				seq = p.Seq
			}
		}
		return seq >= bl.Last
	}, "the client passed on line %d (at %d)", bl.Last, seq)
	return seq
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

// TestLinesPrintedWhileNoPortalFollowsAreReplayedOnceInOrder: the app
// prints while no client follows the edge; a new client that attaches
// after a stored position gets exactly the lines after it, in order, then
// the live ones, each once.
func TestLinesPrintedWhileNoPortalFollowsAreReplayedOnceInOrder(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	var first collector
	url := deploySay(t, cl, data, "7", 41, nil, nil, first.add)
	say(t, url, "before")
	first.waitLine(t, "before")
	stored := position(t, cl, "7", 41)
	if err := cl.Close(context.Background()); err != nil { // the portal goes away
		t.Fatal(err)
	}
	for _, m := range numbered("away-", 1, 50) {
		say(t, url, m)
	}

	cl2 := dial(t, data)
	bl, err := cl2.Backlog(context.Background(), "7", 41, stored)
	if err != nil || len(bl.Lines) != 50 || bl.Dropped != 0 || bl.Lines[0].Seq != stored+1 {
		t.Fatalf("backlog after %d: %+v %v, want the 50 lines printed meanwhile from %d", stored, bl, err, stored+1)
	}
	for i, l := range bl.Lines {
		if l.Seq != stored+1+int64(i) || l.Line != fmt.Sprintf("away-%d", i+1) {
			t.Fatalf("backlog line %d: %+v, want away-%d numbered %d", i, l, i+1, stored+1+int64(i))
		}
	}
	// The previous portal had stored up to away-10 (a position it saved).
	var got collector
	inst := cl2.Attach("7", 41, nil, got.add, bl.Lines[9].Seq)
	if inst == nil {
		t.Fatal("Attach found no instance")
	}
	say(t, url, "live")
	got.waitLine(t, "live")
	time.Sleep(200 * time.Millisecond) // a repeat would come now
	want := append(numbered("away-", 11, 50), "live")
	if lines := got.all(); !slices.Equal(lines, want) {
		t.Errorf("after attaching at away-10 the handle passed on\n%q\nwant\n%q", lines, want)
	}
	if p := position(t, cl2, "7", 41); p != bl.Lines[49].Seq+1 {
		t.Errorf("position after the live line: %d, want %d", p, bl.Lines[49].Seq+1)
	}

	// Bad questions get a clear 400.
	for _, q := range []string{"env=7&release=x", "env=&release=41", "env=7&release=41&after=-5", "env=7&release=0"} {
		code, body := rawGet(t, edge.DefaultSocket(data), "/v1/output?"+q)
		if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("GET /v1/output?%s: %d %s, want 400 with an error", q, code, body)
		}
	}
}

// TestABacklogOverflowBecomesOneMarkerWithTheCount: more than the backlog
// holds is printed while nobody follows; the replay starts with one line
// saying how many lines were not kept, then the kept ones, the newest
// last, and the journal never holds more than twice its bound.
func TestABacklogOverflowBecomesOneMarkerWithTheCount(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	url := deploySay(t, cl, data, "7", 41, nil, nil, nil)
	stored := position(t, cl, "7", 41)
	if err := cl.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 2,500 lines of 4,000 bytes: over twice the 4 MiB bound, so the
	// journal is compacted on the way.
	const n, size = 2500, 4000
	pad := strings.Repeat("x", size-6)
	for i := 1; i <= n; i++ {
		say(t, url, fmt.Sprintf("%05d%s", i, pad)[:size-1]+"|")
	}
	kept := edge.DefaultBacklogBytes / (size + 1)
	dropped := n - kept

	journal := filepath.Join(data, "run", "output", "7", "41.journal")
	fi, err := os.Stat(journal)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() > 2*edge.DefaultBacklogBytes+int64(n*8) {
		t.Fatalf("journal %s: %v %v, want mode 0600 and at most twice the bound", journal, fi, err)
	}

	cl2 := dial(t, data)
	var got collector
	if cl2.Attach("7", 41, nil, got.add, stored) == nil {
		t.Fatal("Attach found no instance")
	}
	lines := got.all()
	if len(lines) != kept+1 {
		t.Fatalf("replay: %d lines, want the marker and %d kept lines", len(lines), kept)
	}
	marker := fmt.Sprintf("… %s lines printed while the portal was away were not kept", groupDigits(dropped))
	if !strings.Contains(lines[0], marker) {
		t.Errorf("first replayed line %q, want the marker %q", lines[0], marker)
	}
	for i, l := range lines[1:] {
		if want := fmt.Sprintf("%05d", dropped+1+i); !strings.HasPrefix(l, want) {
			t.Fatalf("replayed line %d starts %q, want %s", i+1, l[:min(len(l), 8)], want)
		}
	}
}

func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestTheBacklogSurvivesAnEdgeCrashAndAnUpgrade: lines printed before, while
// and after the edge is killed (-9) and restarted, and across an upgrade,
// are all kept, numbered on from where they were; a client connected all
// along gets each once, in order, and so does a new one that attaches.
func TestTheBacklogSurvivesAnEdgeCrashAndAnUpgrade(t *testing.T) {
	data := t.TempDir()
	e := startEdge(t, data)
	cl := dial(t, data)
	var along collector
	url := deploySay(t, cl, data, "7", 41, nil, nil, along.add)
	say(t, url, "before")
	along.waitLine(t, "before")
	stored := position(t, cl, "7", 41)
	direct := fmt.Sprintf("http://127.0.0.1:%d", cl.Status("7").Live.Port)

	e.kill()
	for _, m := range numbered("while-dead-", 1, 5) {
		say(t, direct, m) // the app itself: its edge is down
	}
	e2 := startEdge(t, data)
	dial(t, data) // answers once the edge restored its state
	for _, m := range numbered("restarted-", 1, 5) {
		say(t, url, m)
	}
	if err := e2.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, m := range numbered("upgrading-", 1, 20) {
		say(t, url, m)
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-e2.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the old edge did not exit after the upgrade:\n%s", e2.output())
	}
	for _, m := range numbered("upgraded-", 1, 5) {
		say(t, url, m)
	}
	want := slices.Concat(numbered("while-dead-", 1, 5), numbered("restarted-", 1, 5), numbered("upgrading-", 1, 20), numbered("upgraded-", 1, 5))

	cl2 := dial(t, data)
	if info := cl2.Info(); info.PID == e2.cmd.Process.Pid {
		t.Fatalf("the upgrade did not happen: pid %d serves", info.PID)
	}
	bl, err := cl2.Backlog(context.Background(), "7", 41, stored)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i, l := range bl.Lines {
		texts = append(texts, l.Line)
		if l.Seq != stored+1+int64(i) {
			t.Errorf("line %q numbered %d, want %d: the numbers go on across the crash and the upgrade", l.Line, l.Seq, stored+1+int64(i))
		}
	}
	if !slices.Equal(texts, want) {
		t.Errorf("backlog after the crash and the upgrade:\n%q\nwant\n%q", texts, want)
	}
	var got collector
	if cl2.Attach("7", 41, nil, got.add, stored) == nil {
		t.Fatal("Attach found no instance")
	}
	if lines := got.all(); !slices.Equal(lines, want) {
		t.Errorf("a new client attaching at %d got\n%q\nwant\n%q", stored, lines, want)
	}
	// The client that followed all along reconnected twice and filled
	// both gaps from the backlog.
	along.waitLine(t, "upgraded-5")
	time.Sleep(300 * time.Millisecond)
	lines := along.all()
	if i := slices.Index(lines, "before"); i < 0 || !slices.Equal(lines[i+1:], want) {
		t.Errorf("the client connected all along got\n%q\nwant each line once, in order", lines)
	}
}

// TestASecretPrintedWhileThePortalIsAwayIsMaskedWhenReplayed: the edge
// keeps the line as printed (it knows no secrets); the replay goes through
// the release's masking like a live line.
func TestASecretPrintedWhileThePortalIsAwayIsMaskedWhenReplayed(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	const secret = "s3cret-value-9f2"
	url := deploySay(t, cl, data, "7", 41, map[string]string{"TOKEN": secret}, maskWith(secret), nil)
	stored := position(t, cl, "7", 41)
	if err := cl.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	say(t, url, "the token is "+secret+" today")

	cl2 := dial(t, data)
	var got collector
	if cl2.Attach("7", 41, maskWith(secret), got.add, stored) == nil {
		t.Fatal("Attach found no instance")
	}
	if lines := got.all(); !slices.Equal(lines, []string{"the token is **** today"}) {
		t.Errorf("replayed: %q, want the line masked", lines)
	}
}

// rawGet sends a GET over the socket and returns the status and body.
func rawGet(t testing.TB, socket, path string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	resp, err := hc.Get("http://edge" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestJournalsGoWithTheirReleases: a release's journal is removed once
// its last instance stops for good, and an environment's with it.
func TestJournalsGoWithTheirReleases(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	url := deploySay(t, cl, data, "7", 41, nil, nil, nil)
	say(t, url, "from 41")
	deploySay(t, cl, data, "7", 42, nil, nil, nil)
	dir := filepath.Join(data, "run", "output", "7")
	for _, f := range []string{"41.journal", "42.journal"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("journal %s: %v", f, err)
		}
	}
	// 41 is warm: it still runs and keeps its journal. Without it among
	// the warm releases the edge stops it for good.
	ds, err := cl.Desired(context.Background(), "7")
	if err != nil || len(ds.Warm) != 1 || ds.Warm[0].ID != 41 {
		t.Fatalf("desired state: %+v %v, want release 41 warm", ds, err)
	}
	ds.Warm = nil
	if _, err := cl.Put(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "41.journal"))
		return os.IsNotExist(err)
	}, "the journal of the stopped release removed")
	if _, err := os.Stat(filepath.Join(dir, "42.journal")); err != nil {
		t.Errorf("the live release's journal: %v", err)
	}
	if err := cl.StopEnv("7"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, func() bool {
		_, err := os.Stat(dir)
		return os.IsNotExist(err)
	}, "the environment's journals removed with it")
}

// TestAFollowerThatFallsBehindLosesNoLine: while the client does not read
// its event stream, the edge's queue for it overflows and drops lines; the
// client sees the gap in the numbers and fills it from the backlog, so
// every line still arrives once, in order.
func TestAFollowerThatFallsBehindLosesNoLine(t *testing.T) {
	data := t.TempDir()
	startEdge(t, data)
	cl := dial(t, data)
	var got collector
	var armed sync.Once
	gate := make(chan struct{})
	var stuck atomic.Bool
	url := deploySay(t, cl, data, "7", 41, nil, nil, func(l string) {
		if strings.HasPrefix(l, "slow-") {
			armed.Do(func() { stuck.Store(true); <-gate }) // the follower stops reading
		}
		got.add(l)
	})
	position(t, cl, "7", 41)
	const n = 6000
	pad := strings.Repeat("y", 1000)
	var want []string
	for i := 1; i <= n; i++ {
		m := fmt.Sprintf("slow-%d-%s", i, pad)
		want = append(want, m)
		say(t, url, m)
	}
	close(gate)
	got.waitLine(t, want[n-1])
	time.Sleep(200 * time.Millisecond)
	lines := got.all()
	i := slices.Index(lines, want[0])
	if !stuck.Load() || i < 0 || !slices.Equal(lines[i:], want) {
		var short []string
		for _, l := range lines[max(i, 0):] {
			short = append(short, l[:min(len(l), 12)])
		}
		t.Fatalf("the follower got %d lines (%q…), want the %d printed, each once, in order", len(lines[max(i, 0):]), short[:min(len(short), 5)], n)
	}
}
