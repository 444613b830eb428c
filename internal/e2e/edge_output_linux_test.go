package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// storedOutput returns the texts of the last 500 lines of dev's stored
// app output.
func storedOutput(t *testing.T, p *Portal, token string) []string {
	t.Helper()
	code, body := apiCall(t, http.MethodGet, p.URL+"/api/v1/projects/shop/environments/dev/output?lines=500", token, "")
	if code != http.StatusOK {
		t.Fatalf("GET output: %d %s", code, body)
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct {
			Text string `json:"text"`
		}
		must(t, json.Unmarshal(sc.Bytes(), &l))
		out = append(out, l.Text)
	}
	return out
}

// TestAppOutputPrintedWhileThePortalIsDownIsStored: the portal is killed
// (-9) while its app keeps serving through the edge process and printing;
// the next portal stores every line printed meanwhile, once, in order,
// after the ones the killed portal had stored, with the app's secret
// masked.
func TestAppOutputPrintedWhileThePortalIsDownIsStored(t *testing.T) {
	key := secretbox.NewKey()
	opts := Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}}
	p := StartPortal(t, opts)
	data := p.DataDir
	id := seedApp(t, p, key, "exec ./bin/app")
	token := adminToken(t, p)
	deployLive(t, p, token, id)
	addr, _, _ := livePool(t, edgeClient(t, data))
	say := func(msg string) {
		t.Helper()
		if code, body := apiCall(t, http.MethodGet, "http://"+addr+"/say?msg="+url.QueryEscape(msg), "", ""); code != http.StatusOK {
			t.Fatalf("/say: %d %s", code, body)
		}
	}

	say("before-the-kill")
	testkit.Eventually(t, 30*time.Second, func() bool { return slices.Contains(storedOutput(t, p, token), "before-the-kill") },
		"the line before the kill in the stored output")
	// The portal saves how far its store got at most once a second.
	posFile := filepath.Join(data, "app-output-positions.json")
	testkit.Eventually(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(posFile)
		return err == nil && strings.Contains(string(b), `"env-`)
	}, "the output positions saved")
	time.Sleep(1500 * time.Millisecond)
	killPortal(t, p)

	var away []string
	for i := 1; i <= 30; i++ {
		away = append(away, fmt.Sprintf("while-away-%d", i))
		say(away[i-1])
	}
	say("the secret is " + appSecret)
	away = append(away, "the secret is ********")

	p2, err := startOnce(t, opts, data, t.TempDir(), 1)
	must(t, err)
	say("after-the-restart")
	var got []string
	testkit.Eventually(t, 60*time.Second, func() bool {
		got = storedOutput(t, p2, token)
		return slices.Contains(got, "after-the-restart")
	}, "the line after the restart in the stored output")
	i := slices.Index(got, "before-the-kill")
	if i < 0 {
		t.Fatalf("stored output lost the line before the kill:\n%q", got)
	}
	want := slices.Concat([]string{"before-the-kill"}, away, []string{"after-the-restart"})
	if !slices.Equal(got[i:], want) {
		t.Errorf("stored output after the kill:\n%q\nwant every line printed while the portal was down, once, in order:\n%q", got[i:], want)
	}
	if strings.Contains(strings.Join(got, "\n"), appSecret) {
		t.Errorf("the app's secret reached the stored output")
	}
	if strings.Contains(p2.Stderr(), appSecret) {
		t.Errorf("the app's secret reached the portal's log")
	}

	// Now the app prints all along, every 10 ms, while the portal is
	// killed in the middle of storing and started again: every line is
	// stored at least once, in order of first appearance; repeats (the
	// lines of the last second before the kill at most) are allowed.
	stop := make(chan struct{})
	printed := make(chan int)
	go func() {
		n := 0
		defer func() { printed <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			n++
			if code, _ := apiCall(t, http.MethodGet, "http://"+addr+"/say?msg=stream-"+strconv.Itoa(n), "", ""); code != http.StatusOK {
				t.Errorf("/say stream-%d: %d", n, code)
				return
			}
		}
	}()
	time.Sleep(1200 * time.Millisecond)
	killPortal(t, p2)
	time.Sleep(300 * time.Millisecond)
	p3, err := startOnce(t, opts, data, t.TempDir(), 1)
	must(t, err)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	n := <-printed
	last := "stream-" + strconv.Itoa(n)
	testkit.Eventually(t, 60*time.Second, func() bool {
		got = storedOutput(t, p3, token)
		return slices.Contains(got, last)
	}, "the last streamed line in the stored output")
	next, repeats := 1, 0
	for _, l := range got {
		k, ok := strings.CutPrefix(l, "stream-")
		if !ok {
			continue
		}
		i, _ := strconv.Atoi(k)
		switch {
		case i == next:
			next++
		case i < next:
			repeats++
		default:
			t.Fatalf("stream-%d stored right after stream-%d: %d line(s) lost across the kill", i, next-1, i-next)
		}
	}
	if next != n+1 {
		t.Errorf("stored stream lines up to %d, printed %d", next-1, n)
	}
	t.Logf("%d lines printed every 10 ms across a kill -9 and a start of the portal: all stored, %d stored twice", n, repeats)
}
