package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/auth"
)

// forge describes how one forge signs and labels a webhook delivery.
type forge struct {
	name       string
	pushEvent  string
	otherEvent string
	tagEvent   string
	// headers returns the headers of a delivery with a valid signature.
	headers func(secret string, body []byte, event, delivery string) map[string]string
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

var forges = []forge{
	{name: "GitHub", pushEvent: "push", otherEvent: "issues", tagEvent: "push",
		headers: func(secret string, body []byte, event, delivery string) map[string]string {
			return map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": "sha256=" + hmacHex(secret, body)}
		}},
	{name: "Gitea", pushEvent: "push", otherEvent: "pull_request", tagEvent: "push",
		headers: func(secret string, body []byte, event, delivery string) map[string]string {
			return map[string]string{"X-Gitea-Event": event, "X-Gitea-Delivery": delivery, "X-Gitea-Signature": hmacHex(secret, body)}
		}},
	{name: "Forgejo", pushEvent: "push", otherEvent: "issues", tagEvent: "push",
		headers: func(secret string, body []byte, event, delivery string) map[string]string {
			return map[string]string{"X-Forgejo-Event": event, "X-Forgejo-Delivery": delivery, "X-Forgejo-Signature": hmacHex(secret, body),
				"X-Hub-Signature-256": "sha256=" + hmacHex(secret, body)}
		}},
	{name: "GitLab", pushEvent: "Push Hook", otherEvent: "Merge Request Hook", tagEvent: "Tag Push Hook",
		headers: func(secret string, body []byte, event, delivery string) map[string]string {
			return map[string]string{"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Token": secret}
		}},
}

// hook sends a webhook delivery with the given headers.
func (ts *testServer) hook(slug string, body []byte, headers map[string]string) (int, map[string]any) {
	ts.t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.srv.URL+"/hooks/"+slug, bytes.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
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

func pushBody(ref, after string, deleted bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"ref": ref, "before": strings.Repeat("1", 40), "after": after, "deleted": deleted,
		"repository": map[string]any{"name": "app"}, "commits": []any{},
	})
	return b
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	repo := newGitFixture(t)
	repo.git("tag", "v1.0")
	repo.git("checkout", "--quiet", "-b", "feature")
	featureSHA := repo.commit("on feature")
	mainSHA := repo.head("main")
	zero := strings.Repeat("0", 40)
	huge := bytes.Repeat([]byte(" "), 26<<20)

	for i, f := range forges {
		t.Run(f.name, func(t *testing.T) {
			slug := "app-" + strings.ToLower(f.name)
			p, secret := ts.linkProject(slug, repo.Dir)
			delivery := func(name string) string { return f.name + "-" + name + "-" + itoa(int64(i)) }
			builds := func() int { return ts.countBuilds(p.ID) }

			t.Run("a signed push builds the pushed commit", func(t *testing.T) {
				body := pushBody("refs/heads/feature", featureSHA, false)
				status, got := ts.hook(slug, body, f.headers(secret, body, f.pushEvent, delivery("push")))
				if status != http.StatusCreated || got["build_id"] == nil {
					t.Fatalf("got %d %v", status, got)
				}
				b, err := ts.store.LatestBuildForRef(context.Background(), p.ID, "feature")
				if err != nil || b.CommitSHA != featureSHA || b.Trigger != "webhook" || b.RefType != "branch" {
					t.Fatalf("build: %v %+v", err, b)
				}
				if int64(got["build_id"].(float64)) != b.ID {
					t.Fatalf("answer names build %v, want %d", got["build_id"], b.ID)
				}
			})
			t.Run("a repeated delivery creates nothing new", func(t *testing.T) {
				before := builds()
				body := pushBody("refs/heads/feature", featureSHA, false)
				status, got := ts.hook(slug, body, f.headers(secret, body, f.pushEvent, delivery("push")))
				if status != http.StatusOK || got["status"] != "duplicate" || builds() != before {
					t.Fatalf("got %d %v, builds %d → %d", status, got, before, builds())
				}
			})
			t.Run("a pushed tag builds the tag", func(t *testing.T) {
				body := pushBody("refs/tags/v1.0", mainSHA, false)
				status, got := ts.hook(slug, body, f.headers(secret, body, f.tagEvent, delivery("tag")))
				if status != http.StatusCreated {
					t.Fatalf("got %d %v", status, got)
				}
				b, err := ts.store.LatestBuildForRef(context.Background(), p.ID, "v1.0")
				if err != nil || b.RefType != "tag" || b.CommitSHA != mainSHA {
					t.Fatalf("build: %v %+v", err, b)
				}
			})

			before := builds()
			good := pushBody("refs/heads/main", mainSHA, false)
			for _, tc := range []struct {
				name    string
				body    []byte
				headers map[string]string
				status  int
				want    string // in the error or status
			}{
				{"a wrong signature is 401", good, f.headers("not-the-secret", good, f.pushEvent, delivery("wrong")), 401, "does not match"},
				{"a signature over another body is 401", good, f.headers(secret, pushBody("refs/heads/main", featureSHA, false), f.pushEvent, delivery("other-body")), 401, "does not match"},
				{"a missing signature is 401", good, map[string]string{"X-GitHub-Event": "push", "X-Gitea-Event": "push", "X-Gitlab-Event": "Push Hook"}, 401, "missing signature"},
				{"a body over 25 MiB is 413", huge, f.headers(secret, huge, f.pushEvent, delivery("big")), 413, "too large"},
				{"a ping answers 200", []byte(`{"zen":"hi"}`), f.headers(secret, []byte(`{"zen":"hi"}`), "ping", delivery("ping")), 200, "ok"},
				{"another event is accepted and ignored", good, f.headers(secret, good, f.otherEvent, delivery("other")), 202, "ignored"},
				{"a deleted branch builds nothing", pushBody("refs/heads/gone", zero, true), f.headers(secret, pushBody("refs/heads/gone", zero, true), f.pushEvent, delivery("delete")), 202, "deleted"},
				{"a deleted tag (zero SHA only) builds nothing", pushBody("refs/tags/v0", zero, false), f.headers(secret, pushBody("refs/tags/v0", zero, false), f.tagEvent, delivery("delete-tag")), 202, "deleted"},
				{"a truncated body is 400", good[:len(good)/2], f.headers(secret, good[:len(good)/2], f.pushEvent, delivery("truncated")), 400, "invalid JSON body"},
				{"a body that is not JSON is 400", []byte("ref=main"), f.headers(secret, []byte("ref=main"), f.pushEvent, delivery("form")), 400, "invalid JSON body"},
				{"a push without a ref is 400", []byte(`{"after":"` + mainSHA + `"}`), f.headers(secret, []byte(`{"after":"`+mainSHA+`"}`), f.pushEvent, delivery("noref")), 400, `"ref" is missing`},
				{"a push with a bad SHA is 400", pushBody("refs/heads/main", "main", false), f.headers(secret, pushBody("refs/heads/main", "main", false), f.pushEvent, delivery("badsha")), 400, "not a commit SHA"},
				{"a push of another kind of ref is ignored", pushBody("refs/notes/x", mainSHA, false), f.headers(secret, pushBody("refs/notes/x", mainSHA, false), f.pushEvent, delivery("notes")), 202, "not a branch or tag"},
				{"an unknown project is 404", good, f.headers(secret, good, f.pushEvent, delivery("nope")), 404, "no project"},
			} {
				if strings.Contains(tc.name, "another body") && f.name == "GitLab" {
					continue // GitLab sends the secret itself, it signs nothing
				}
				t.Run(tc.name, func(t *testing.T) {
					target := slug
					if tc.status == 404 {
						target = "nope"
					}
					status, got := ts.hook(target, tc.body, tc.headers)
					text, _ := got["error"].(string)
					if text == "" {
						text, _ = got["status"].(string)
						text += " " + asString(got["reason"])
					}
					if status != tc.status || !strings.Contains(text, tc.want) {
						t.Fatalf("got %d %v, want %d with %q", status, got, tc.status, tc.want)
					}
					if n := builds(); n != before {
						t.Fatalf("builds %d → %d: nothing may be built", before, n)
					}
				})
			}
		})
	}
	t.Run("a commit the repository does not have is refused and can be redelivered", func(t *testing.T) {
		p, secret := ts.linkProject("redeliver", repo.Dir)
		body := pushBody("refs/heads/main", strings.Repeat("a", 40), false)
		h := forges[0].headers(secret, body, "push", "redeliver-1")
		status, got := ts.hook("redeliver", body, h)
		if status != http.StatusUnprocessableEntity || ts.countBuilds(p.ID) != 0 {
			t.Fatalf("got %d %v", status, got)
		}
		status, got = ts.hook("redeliver", body, h)
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("a redelivery of a failed delivery must be handled again, got %d %v", status, got)
		}
	})
	t.Run("a delivery without an ID is still built", func(t *testing.T) {
		p, secret := ts.linkProject("noid", repo.Dir)
		body := pushBody("refs/heads/main", mainSHA, false)
		status, got := ts.hook("noid", body, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret})
		if status != http.StatusCreated || ts.countBuilds(p.ID) != 1 {
			t.Fatalf("got %d %v", status, got)
		}
	})
	t.Run("a signed-in user gains nothing on the hook route", func(t *testing.T) {
		body := pushBody("refs/heads/main", mainSHA, false)
		req, _ := http.NewRequest(http.MethodPost, ts.srv.URL+"/hooks/noid", bytes.NewReader(body))
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: ts.session(ts.user("hooker", auth.Admin))})
		req.Header.Set("X-GitHub-Event", "push")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %d, want 401: a hook needs its signature whoever sends it", resp.StatusCode)
		}
	})
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}
