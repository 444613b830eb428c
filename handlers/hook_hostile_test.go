package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// githubPush is a push event shaped like GitHub's, with n commits of
// realistic size (messages, authors, file lists).
func githubPush(ref, before, after string, n int) []byte {
	person := map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "username": "ada"}
	commits := make([]map[string]any, n)
	for i := range commits {
		files := make([]string, 12)
		for j := range files {
			files[j] = fmt.Sprintf("internal/module%03d/file_%04d_%02d.go", i%97, i, j)
		}
		id := fmt.Sprintf("%040x", i+1)
		commits[i] = map[string]any{
			"id": id, "tree_id": id, "distinct": true, "timestamp": "2026-12-01T10:00:00+00:00",
			"message": fmt.Sprintf("Change %d: %s", i, strings.Repeat("a longer explanation of why this changed. ", 28)),
			"url":     "https://github.com/acme/app/commit/" + id,
			"author":  person, "committer": person,
			"added": files[:4], "removed": files[4:6], "modified": files[6:],
		}
	}
	b, _ := json.Marshal(map[string]any{
		"ref": ref, "before": before, "after": after, "created": false, "deleted": false, "forced": false,
		"base_ref": nil, "compare": "https://github.com/acme/app/compare/a...b",
		"commits": commits, "head_commit": commits[len(commits)-1],
		"repository": map[string]any{"id": 1, "name": "app", "full_name": "acme/app", "private": false,
			"owner": person, "html_url": "https://github.com/acme/app", "default_branch": "main"},
		"pusher": person, "sender": map[string]any{"login": "ada", "id": 1},
	})
	return b
}

// hookRaw sends a delivery with the given content type and length
// (chunked when length < 0) and returns the status and decoded answer.
func (ts *testServer) hookRaw(slug, ctype string, body []byte, chunked bool, headers map[string]string) (int, map[string]any) {
	ts.t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length: sent chunked
	}
	req, err := http.NewRequest(http.MethodPost, ts.srv.URL+"/hooks/"+slug, r)
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		ts.t.Fatalf("hook answered %d with non-JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

func TestWebhooksFromRealForges(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	repo := newGitFixture(t)
	mainSHA := repo.head("main")
	before := strings.Repeat("1", 40)

	t.Run("a 3 MB push of 1,500 commits is accepted from every forge", func(t *testing.T) {
		body := githubPush("refs/heads/main", before, mainSHA, 1500)
		if len(body) < 3_000_000 {
			t.Fatalf("payload is only %d bytes", len(body))
		}
		for _, f := range forges {
			slug := "big-" + strings.ToLower(f.name)
			p, secret := ts.linkProject(slug, repo.Dir)
			status, got := ts.hookRaw(slug, "application/json", body, false, f.headers(secret, body, f.pushEvent, f.name+"-big"))
			if status != http.StatusCreated || ts.countBuilds(p.ID) != 1 {
				t.Fatalf("%s: got %d %v", f.name, status, got)
			}
		}
	})
	t.Run("a chunked body over 25 MiB is 413 without a build", func(t *testing.T) {
		p, secret := ts.linkProject("huge", repo.Dir)
		body := append(githubPush("refs/heads/main", before, mainSHA, 1), bytes.Repeat([]byte(" "), 25<<20)...)
		status, got := ts.hookRaw("huge", "application/json", body, true, forges[0].headers(secret, body, "push", "huge-1"))
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(asString(got["error"]), "25 MiB") || ts.countBuilds(p.ID) != 0 {
			t.Fatalf("got %d %v", status, got)
		}
	})

	t.Run("a form-encoded delivery (GitHub's default) builds when signed", func(t *testing.T) {
		for _, f := range forges[:3] { // GitLab sends JSON only
			slug := "form-" + strings.ToLower(f.name)
			p, secret := ts.linkProject(slug, repo.Dir)
			payload := githubPush("refs/heads/main", before, mainSHA, 3)
			body := []byte(url.Values{"payload": {string(payload)}}.Encode())
			ctype := "application/x-www-form-urlencoded"
			if status, got := ts.hookRaw(slug, ctype, body, false, f.headers("wrong", body, "push", f.name+"-form-bad")); status != http.StatusUnauthorized {
				t.Fatalf("%s: a wrong signature got %d %v", f.name, status, got)
			}
			// The signature over the decoded JSON is not the one GitHub sends.
			if status, _ := ts.hookRaw(slug, ctype, body, false, f.headers(secret, payload, "push", f.name+"-form-json")); status != http.StatusUnauthorized {
				t.Fatalf("%s: a signature over the decoded payload got %d", f.name, status)
			}
			status, got := ts.hookRaw(slug, ctype, body, false, f.headers(secret, body, "push", f.name+"-form"))
			if status != http.StatusCreated || ts.countBuilds(p.ID) != 1 {
				t.Fatalf("%s: got %d %v", f.name, status, got)
			}
			noPayload := []byte("ref=refs%2Fheads%2Fmain")
			status, got = ts.hookRaw(slug, ctype, noPayload, false, f.headers(secret, noPayload, "push", f.name+"-form-none"))
			if status != http.StatusBadRequest || !strings.Contains(asString(got["error"]), "payload") {
				t.Fatalf("%s: a form without payload got %d %v", f.name, status, got)
			}
		}
	})

	t.Run("a refused delivery can be redelivered under the same ID", func(t *testing.T) {
		for _, f := range forges {
			slug := "redeliver-" + strings.ToLower(f.name)
			p, secret := ts.linkProject(slug, repo.Dir)
			id := f.name + "-redeliver"
			bad := pushBody("refs/heads/main", "not-a-sha", false)
			if status, got := ts.hook(slug, bad, f.headers(secret, bad, f.pushEvent, id)); status != http.StatusBadRequest {
				t.Fatalf("%s: got %d %v, want 400", f.name, status, got)
			}
			good := pushBody("refs/heads/main", mainSHA, false)
			status, got := ts.hook(slug, good, f.headers(secret, good, f.pushEvent, id))
			if status != http.StatusCreated || ts.countBuilds(p.ID) != 1 {
				t.Fatalf("%s: the redelivery got %d %v, want a build", f.name, status, got)
			}
		}
	})

	t.Run("refs that are not valid git ref names are refused with the reason", func(t *testing.T) {
		p, secret := ts.linkProject("badrefs", repo.Dir)
		for i, tc := range []struct{ ref, why string }{
			{"refs/heads/a..b", ".."}, {"refs/heads/main\nX-Injected: 1", "control character"},
			{"refs/heads/x.lock", ".lock"}, {"refs/heads/a~1", `"~"`}, {"refs/heads/a^", `"^"`},
			{"refs/heads/a:b", `":"`}, {"refs/heads/a?", `"?"`}, {"refs/heads/a*", `"*"`}, {"refs/heads/a[b", `"["`},
			{`refs/heads/a\b`, `"\\"`}, {"refs/heads/a b", `" "`}, {"refs/heads/x@{1}", "@{"},
			{"refs/heads/x/", "ends with /"}, {"refs/heads/.hidden", "begins with ."}, {"refs/heads/x.", "ends with ."},
			{"refs/heads//x", "//"}, {"refs/tags/v1\x7f", "control character"}, {"refs/heads/" + strings.Repeat("a", 300), "255"},
		} {
			body := pushBody(tc.ref, mainSHA, false)
			for _, f := range forges {
				status, got := ts.hook("badrefs", body, f.headers(secret, body, f.pushEvent, fmt.Sprintf("%s-badref-%d", f.name, i)))
				msg := asString(got["error"])
				if status != http.StatusBadRequest || !strings.Contains(msg, tc.why) {
					t.Fatalf("%s %q: got %d %q, want 400 naming %s", f.name, tc.ref, status, msg, tc.why)
				}
			}
		}
		if n := ts.countBuilds(p.ID); n != 0 {
			t.Fatalf("%d builds from invalid refs", n)
		}
	})

	t.Run("the same commit pushed twice under new delivery IDs builds once", func(t *testing.T) {
		for _, f := range forges {
			slug := "dup-" + strings.ToLower(f.name)
			p, secret := ts.linkProject(slug, repo.Dir)
			body := pushBody("refs/heads/main", mainSHA, false)
			status, first := ts.hook(slug, body, f.headers(secret, body, f.pushEvent, f.name+"-dup-1"))
			if status != http.StatusCreated {
				t.Fatalf("%s: got %d %v", f.name, status, first)
			}
			status, got := ts.hook(slug, body, f.headers(secret, body, f.pushEvent, f.name+"-dup-2"))
			if status != http.StatusOK || got["status"] != "duplicate" || got["build_id"] != first["build_id"] ||
				!strings.Contains(asString(got["reason"]), "within 10m0s") || ts.countBuilds(p.ID) != 1 {
				t.Fatalf("%s: the second push got %d %v, builds %d", f.name, status, got, ts.countBuilds(p.ID))
			}
			tag := pushBody("refs/tags/v-dup", mainSHA, false)
			repo.git("tag", "-f", "v-dup")
			if status, got := ts.hook(slug, tag, f.headers(secret, tag, f.tagEvent, f.name+"-dup-tag")); status != http.StatusCreated {
				t.Fatalf("%s: a tag of the same commit is its own build, got %d %v", f.name, status, got)
			}
		}
	})
	t.Run("after the window the same commit builds again", func(t *testing.T) {
		p, secret := ts.linkProject("dup-later", repo.Dir)
		body := pushBody("refs/heads/main", mainSHA, false)
		if status, got := ts.hook("dup-later", body, forges[0].headers(secret, body, "push", "later-1")); status != http.StatusCreated {
			t.Fatalf("got %d %v", status, got)
		}
		now := ts.h.now
		ts.h.now = func() time.Time { return now().Add(DuplicatePushWindow + time.Minute) }
		defer func() { ts.h.now = now }()
		if status, got := ts.hook("dup-later", body, forges[0].headers(secret, body, "push", "later-2")); status != http.StatusCreated || ts.countBuilds(p.ID) != 2 {
			t.Fatalf("got %d %v", status, got)
		}
	})
}

func TestParsePushStreams(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       pushPayload
		err        string
	}{
		{"fields in any order among others", `{"commits":[{"a":[1,{"b":null}]}],"after":"x","deleted":true,"ref":"r"}`, pushPayload{Ref: "r", After: "x", Deleted: true}, ""},
		{"GitLab has no deleted field", `{"object_kind":"push","ref":"r","after":"y","checkout_sha":null}`, pushPayload{Ref: "r", After: "y"}, ""},
		{"a null deleted is false", `{"ref":"r","deleted":null}`, pushPayload{Ref: "r"}, ""},
		{"a ref that is not a string", `{"ref":5}`, pushPayload{}, `"ref" must be a string`},
		{"an empty body", ``, pushPayload{}, "EOF"},
		{"a truncated body", `{"ref":"r","commits":[`, pushPayload{}, "unexpected EOF"},
		{"trailing data", `{"ref":"r"} {}`, pushPayload{}, "data after"},
		{"an array", `[]`, pushPayload{}, "not a JSON object"},
		{"every commit id is kept, odd entries skipped", `{"ref":"r","commits":[{"id":"a1","message":"x","added":["f"]},7,{"id":5},{"tree_id":"t","id":"b2"}],"after":"b2"}`,
			pushPayload{Ref: "r", After: "b2", Commits: []string{"a1", "b2"}}, ""},
		{"commits that are not an array are skipped", `{"ref":"r","commits":{"id":"a1"},"after":"c"}`, pushPayload{Ref: "r", After: "c"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePush(strings.NewReader(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	t.Run("the payload field of a form is decoded", func(t *testing.T) {
		body := "a=1&payload=" + url.QueryEscape(`{"ref":"refs/heads/a+b %","after":"z"}`) + "&z=2"
		got, err := parsePush(hookJSON("application/x-www-form-urlencoded; charset=utf-8", strings.NewReader(body)))
		if err != nil || got.Ref != "refs/heads/a+b %" || got.After != "z" {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
}

func BenchmarkParsePush3MB(b *testing.B) {
	body := githubPush("refs/heads/main", strings.Repeat("1", 40), strings.Repeat("2", 40), 1500)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parsePush(bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}
