package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/internal/artifact"
	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/internal/testkit"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// appSecret is the secret the hostile app of these tests prints.
const appSecret = "s3cret-tokenvalue"

// seedApp gives the portal a project whose one build ships the jobs test
// app started with run, and gives dev the secret TOKEN (sealed with key).
// It returns the build's ID.
func seedApp(t *testing.T, p *Portal, key, run string) int64 {
	t.Helper()
	ctx := context.Background()
	store, err := models.Open(ctx, models.Config{DataDir: p.DataDir})
	must(t, err)
	defer store.Close()
	proj := &models.Project{Slug: "shop", Name: "Shop", RepoURL: "https://example.invalid/shop.git", DefaultBranch: "main",
		WebhookSecretSealed: []byte("x"), NextBuildNumber: 2}
	must(t, testkit.InsertFixture(ctx, store, proj))
	must(t, store.CreateDefaultEnvironments(ctx, proj.ID, "main"))
	id := addBuild(t, p, store, proj.ID, 1, run, "v1")

	env, err := store.EnvironmentByName(ctx, "shop", "dev")
	must(t, err)
	k, err := secretbox.DecodeKey(key)
	must(t, err)
	box, err := secretbox.New(k)
	must(t, err)
	must(t, store.SetEnvironmentVariable(ctx, &models.EnvironmentVariable{EnvironmentID: env.ID, Name: "TOKEN", Secret: true,
		ValueSealed: box.Seal([]byte(appSecret), models.SecretAD(env.ID, "TOKEN"))}))
	return id
}

// seedNextBuild adds build number of the project seedApp made: the same
// app with another version.txt, so another artifact.
func seedNextBuild(t *testing.T, p *Portal, number int, run, version string) int64 {
	t.Helper()
	ctx := context.Background()
	store, err := models.Open(ctx, models.Config{DataDir: p.DataDir})
	must(t, err)
	defer store.Close()
	proj, err := store.ProjectBySlug(ctx, "shop")
	must(t, err)
	return addBuild(t, p, store, proj.ID, number, run, version)
}

// addBuild builds the test app, packs it with a version.txt saying
// version as the artifact of a succeeded build number of project, whose
// app runs run, and returns the build's ID.
func addBuild(t *testing.T, p *Portal, store *models.Store, project int64, number int, run, version string) int64 {
	t.Helper()
	ctx := context.Background()
	root, err := ModuleRoot()
	must(t, err)
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	if out, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", filepath.Join(dir, "bin", "app"), filepath.Join(root, "jobs", "testdata", "app")).CombinedOutput(); err != nil {
		t.Fatalf("build the test app: %v\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(dir, "version.txt"), []byte(version), 0o644))
	arts, err := artifact.NewStore(filepath.Join(p.DataDir, "artifacts"))
	must(t, err)
	var buf bytes.Buffer
	must(t, artifact.Pack(dir, []string{"bin", "version.txt"}, &buf))
	info, err := arts.Put(ctx, &buf)
	must(t, err)
	sha := info.SHA256
	yml, _ := json.Marshal(run) // a JSON string is a YAML string
	b := &models.Build{ProjectID: project, Number: int64(number), Ref: "main", RefType: "branch", CommitSHA: strings.Repeat(strconv.Itoa(number%10), 40),
		CommitMessage: "Ship " + version, Trigger: "manual", Status: models.BuildSucceeded, ArtifactSHA256: &sha,
		PipelineYAML: "build:\n  - run: go build -o bin/app .\nartifact:\n  paths: [bin, version.txt]\napp:\n  run: " + string(yml) + "\n  health: /healthz\n"}
	must(t, testkit.InsertFixture(ctx, store, &models.Artifact{SHA256: sha, Size: info.Size}, b))
	return b.ID
}

// adminToken creates an API token of the user admin on p.
func adminToken(t *testing.T, p *Portal) string {
	t.Helper()
	res := p.CLI("token", "create", "--user", "admin", "--name", "e2e")
	if res.ExitCode != 0 {
		t.Fatalf("token create:\n%s", res)
	}
	return strings.TrimSpace(res.Stdout)
}

// apiCall sends an API request with token and returns the status and body.
func apiCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// deployLive deploys build id to dev through the API and waits until the
// release is live; it returns the release's ID.
func deployLive(t *testing.T, p *Portal, token string, id int64) int64 {
	t.Helper()
	code, body := apiCall(t, http.MethodPost, p.URL+"/api/v1/projects/shop/environments/dev/deploys", token, `{"build_id":`+strconv.FormatInt(id, 10)+`}`)
	if code/100 != 2 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	var rel struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	must(t, json.Unmarshal([]byte(body), &rel))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		_, body = apiCall(t, http.MethodGet, p.URL+"/api/v1/releases/"+strconv.FormatInt(rel.ID, 10), token, "")
		must(t, json.Unmarshal([]byte(body), &rel))
		switch rel.Status {
		case models.ReleaseLive:
			return rel.ID
		case models.ReleaseFailed:
			t.Fatalf("release %d failed: %s", rel.ID, rel.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("release %d is still %s", rel.ID, rel.Status)
	return 0
}

// sleepers counts live "sleep <arg>" processes on the machine.
func sleepers(arg string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || string(b) != "sleep\x00"+arg+"\x00" {
			continue
		}
		st, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
			continue
		}
		pid, _ := strconv.Atoi(e.Name())
		pids = append(pids, pid)
	}
	return pids
}

// killPortal ends p with SIGKILL, as a crash or an OOM kill would.
func killPortal(t *testing.T, p *Portal) {
	t.Helper()
	must(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
	p.stopOnce.Do(func() { p.stopCode = -1 }) // the cleanup has nothing to stop
}

// TestAppOutputThroughTheAPIIsMaskedAndNothingOutlivesAKilledPortal runs
// the real binary with a hostile app: it prints its secret (plain, base64,
// split across two writes), leaves a child process behind, and must be
// reachable only as the API shows its output. Then the portal is killed
// with SIGKILL: in the sandbox the app and its child die with it; without
// one the child survives until the restarted portal ends it.
func TestAppOutputThroughTheAPIIsMaskedAndNothingOutlivesAKilledPortal(t *testing.T) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		testpg.SkipOrFail(t, "no bwrap here")
	}
	for _, mode := range []string{"auto", "off"} {
		t.Run("sandbox "+mode, func(t *testing.T) {
			key := secretbox.NewKey()
			// The in-process edge: its apps belong to the portal (with the
			// edge process, the default, they outlive it on purpose).
			opts := Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_SANDBOX=" + mode, "SLIPWAY_EDGE=inprocess"}}
			p := StartPortal(t, opts)
			marker := strconv.Itoa(200000 + rand.IntN(700000))
			t.Cleanup(func() {
				for _, pid := range sleepers(marker) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			run := `echo "plain $TOKEN"; echo "b64 $(printf %s "$TOKEN" | base64)"; printf 'split %s' "${TOKEN%%-*}-"; sleep 0.2; printf '%s\n' "${TOKEN#*-}"; ` +
				`(sleep ` + marker + ` &); exec ./bin/app`
			id := seedApp(t, p, key, run)
			token := adminToken(t, p)
			rel := deployLive(t, p, token, id)

			// The output, through the API: JSON lines, masked.
			var body string
			testkit.Eventually(t, 30*time.Second, func() bool {
				var code int
				code, body = apiCall(t, http.MethodGet, p.URL+"/api/v1/projects/shop/environments/dev/output?lines=50", token, "")
				return code == http.StatusOK && strings.Contains(body, "listening on")
			}, "the app's output")
			var texts []string
			for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
				var ol struct {
					Line int    `json:"line"`
					Text string `json:"text"`
				}
				if err := json.Unmarshal([]byte(l), &ol); err != nil || ol.Line < 1 {
					t.Fatalf("not a JSON line: %q (%v)", l, err)
				}
				texts = append(texts, ol.Text)
			}
			out := strings.Join(texts, "\n")
			for _, want := range []string{"plain ********", "b64 ********", "split ********", "listening on 127.0.0.1:"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, leak := range []string{appSecret, base64.StdEncoding.EncodeToString([]byte(appSecret)), "s3cret-"} {
				if strings.Contains(out, leak) {
					t.Errorf("output shows %q:\n%s", leak, out)
				}
			}
			_, deployLog := apiCall(t, http.MethodGet, p.URL+"/api/v1/releases/"+strconv.FormatInt(rel, 10)+"/log", token, "")
			if strings.Contains(deployLog, appSecret) || !strings.Contains(deployLog, "plain ********") {
				t.Errorf("release log is not masked:\n%s", deployLog)
			}
			if mode == "auto" && !strings.Contains(deployLog, "sandbox: bubblewrap") {
				t.Errorf("release log does not say the app is sandboxed:\n%s", deployLog)
			}

			// The same, live, through the API's websocket.
			hdr := http.Header{"Authorization": {"Bearer " + token}}
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.URL, "http")+"/api/v1/projects/shop/environments/dev/output/ws?from=1", hdr)
			if err != nil {
				t.Fatalf("output socket: %v (%v)", err, resp)
			}
			defer ws.Close()
			_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			var frames string
			for !strings.Contains(frames, "listening on") {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					t.Fatalf("output socket: %v after %s", err, frames)
				}
				frames += string(msg)
			}
			if strings.Contains(frames, appSecret) || !strings.Contains(frames, "plain ********") {
				t.Errorf("socket frames are not masked: %s", frames)
			}
			ws.Close()

			// Other roles: a viewer may read it, nobody anonymous.
			if code, _ := apiCall(t, http.MethodGet, p.URL+"/api/v1/projects/shop/environments/dev/output", "bad-token", ""); code != http.StatusUnauthorized {
				t.Errorf("output with a bad token: %d, want 401", code)
			}
			if code, b := apiCall(t, http.MethodGet, p.URL+"/api/v1/projects/shop/environments/staging/output", token, ""); code != http.StatusNotFound {
				t.Errorf("output of an environment with nothing live: %d %s, want 404", code, b)
			}

			// kill -9 of the portal.
			if len(sleepers(marker)) != 1 {
				t.Fatalf("the app's child is not running: %v", sleepers(marker))
			}
			killPortal(t, p)
			if mode == "auto" {
				testkit.Eventually(t, 30*time.Second, func() bool { return len(sleepers(marker)) == 0 }, "the app's child to die with the portal")
				return
			}
			time.Sleep(300 * time.Millisecond)
			orphans := sleepers(marker)
			if len(orphans) != 1 {
				t.Fatal("without a sandbox the child should outlive the portal (else this case proves nothing)")
			}
			p2, err := startOnce(t, opts, p.DataDir, t.TempDir(), 1)
			must(t, err)
			// The restarted portal starts the live release again, with a
			// new child of the same name: the old one must be gone.
			testkit.Eventually(t, 30*time.Second, func() bool {
				err := syscall.Kill(orphans[0], 0)
				return err != nil || !slices.Contains(sleepers(marker), orphans[0])
			}, "the restarted portal to end the orphan")
			if !strings.Contains(p2.Stderr(), "ended app processes left by a previous run") {
				t.Errorf("the restarted portal does not say it ended the orphan:\n%s", p2.Stderr())
			}
		})
	}
}

// TestBrowserShowsTheAppOutputLive opens the environment page of a live
// app and watches a line the app prints after the page loaded arrive in
// the output viewer, without a reload, with the secret masked.
func TestBrowserShowsTheAppOutputLive(t *testing.T) {
	key := secretbox.NewKey()
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key}})
	id := seedApp(t, p, key, `echo "token $TOKEN"; exec ./bin/app`)
	deployLive(t, p, adminToken(t, p), id)

	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	must(t, Visit(ctx, p.URL+"/projects/shop/environments/dev"))
	must(t, WaitTestID(ctx, "app-output"))
	text, err := TextOf(ctx, "app-output")
	must(t, err)
	if !strings.Contains(text, "token ********") || strings.Contains(text, appSecret) {
		t.Fatalf("the output viewer shows:\n%s", text)
	}
	url, err := TextOf(ctx, "env-url")
	must(t, err)
	resp, err := http.Get(url + "/say?msg=hello-from-the-live-app")
	must(t, err)
	resp.Body.Close()
	testkit.Eventually(t, 30*time.Second, func() bool {
		text, _ = TextOf(ctx, "app-output")
		return strings.Contains(text, "hello-from-the-live-app")
	}, "the new line in the viewer")
	Screenshot(t, ctx, "env-app-output-live")
}
