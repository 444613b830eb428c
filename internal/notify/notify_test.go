package notify

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/mail"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/notify/notifytest"
)

// The Standard Webhooks specification's published test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	got, err := Sign(vectorID, vectorTS, []byte(vectorBody), vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Fatalf("signature %q, want %q", got, vectorSig)
	}
	if !Verify(vectorSecret, vectorID, vectorTS, []byte(vectorBody), vectorSig) {
		t.Fatal("the vector does not verify")
	}
	if Verify(vectorSecret, vectorID, vectorTS, []byte(`{"test": 2432232315}`), vectorSig) {
		t.Fatal("a changed body verifies")
	}
}

func TestSignWithTwoSecretsDuringRotation(t *testing.T) {
	old, cur := vectorSecret, NewSecret()
	sig, err := Sign("msg_1", 42, []byte("{}"), cur, old)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("header %q has %d signatures, want 2", sig, n)
	}
	for _, s := range []string{old, cur} {
		if !Verify(s, "msg_1", 42, []byte("{}"), sig) {
			t.Errorf("a receiver holding %s… rejects the message", s[:10])
		}
	}
	if Verify(NewSecret(), "msg_1", 42, []byte("{}"), sig) {
		t.Error("a third secret verifies")
	}
}

func TestDecodeSecretRefusesMalformedSecrets(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="} {
		if _, err := DecodeSecret(s); !errors.Is(err, ErrBadSecret) {
			t.Errorf("DecodeSecret(%q) = %v, want ErrBadSecret", s, err)
		}
	}
	if k, err := DecodeSecret(NewSecret()); err != nil || len(k) != 32 {
		t.Fatalf("a new secret decodes to %d bytes, %v", len(k), err)
	}
}

func sampleEvent() Event {
	return Event{Type: BuildFailed, Timestamp: time.Unix(1700000000, 0).UTC(), Data: Data{
		Project: "shop", Path: "/projects/shop/builds/7", URL: "https://ci.example.com/projects/shop/builds/7",
		Build: &Build{Number: 7, Ref: "feature/<b>&x", Commit: "0123456789abcdef0123", Status: "failed", Reason: "step test exited 1"},
	}}
}

func TestSlackPayloadHasTextAndBlocksAndEscapesMarkup(t *testing.T) {
	var p struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Text     *struct{ Type, Text string }
			Elements []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(SlackPayload(sampleEvent()), &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Text, "build #7 of feature/&lt;b&gt;&amp;x failed") {
		t.Errorf("text %q lacks the escaped summary", p.Text)
	}
	if !strings.Contains(p.Text, "<https://ci.example.com/projects/shop/builds/7|open>") {
		t.Errorf("text %q lacks the link", p.Text)
	}
	if len(p.Blocks) != 3 || p.Blocks[0].Type != "section" || p.Blocks[0].Text.Type != "mrkdwn" || p.Blocks[2].Type != "actions" {
		t.Fatalf("blocks %+v", p.Blocks)
	}
	if !strings.Contains(p.Blocks[1].Text.Text, "*Commit:* 0123456789ab") {
		t.Errorf("details block %q", p.Blocks[1].Text.Text)
	}
	if p.Blocks[2].Elements[0].URL != "https://ci.example.com/projects/shop/builds/7" {
		t.Errorf("button url %q", p.Blocks[2].Elements[0].URL)
	}
	if strings.Contains(string(SlackPayload(sampleEvent())), "<b>") {
		t.Error("raw markup from the ref reached the payload")
	}
}

func TestNextDelayFollowsTheScheduleAndHonoursRetryAfter(t *testing.T) {
	var total time.Duration
	for i := 1; i <= len(Schedule); i++ {
		d, ok := NextDelay(Schedule, i, 0)
		if !ok {
			t.Fatalf("attempt %d: schedule used up early", i)
		}
		total += d
	}
	if total < 60*time.Hour || total > 80*time.Hour {
		t.Errorf("retries span %s, want about three days", total)
	}
	if _, ok := NextDelay(Schedule, len(Schedule)+1, 0); ok {
		t.Error("retries go on past the schedule")
	}
	if d, _ := NextDelay(Schedule, 1, 2*time.Minute); d != 2*time.Minute {
		t.Errorf("Retry-After 2m after the first failure waits %s", d)
	}
	if d, _ := NextDelay(Schedule, 2, time.Second); d != time.Minute {
		t.Errorf("a Retry-After shorter than the schedule shortened the wait to %s", d)
	}
	if d, _ := NextDelay(Schedule, 1, 1000*time.Hour); d != MaxRetryAfter {
		t.Errorf("a huge Retry-After waits %s", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"soon":                          0,
		"Fri, 04 Dec 2026 10:00:30 GMT": 30 * time.Second,
		"Fri, 04 Dec 2026 09:00:00 GMT": 0,
		"99999999999":                   MaxRetryAfter,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPostToALoopbackReceiverSignsAndReportsTheAnswer(t *testing.T) {
	secret := NewSecret()
	rc := notifytest.NewReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("busy"))
	})
	body := []byte(`{"type":"test"}`)
	h := http.Header{}
	at := time.Now()
	if err := SignHeaders(h, "msg_abc", at, body, secret); err != nil {
		t.Fatal(err)
	}
	var s Sender
	res := s.Post(context.Background(), gitrepo.Network{AllowPrivate: true}, rc.URL+"/hook", h, body)
	if res.StatusCode != 503 || res.RetryAfter != 7*time.Second || res.Response != "busy" || res.OK() || res.Err == nil {
		t.Fatalf("result %+v", res)
	}
	got := rc.Wait(t, 1, 5*time.Second)[0]
	ts, _ := strconv.ParseInt(got.Header.Get("webhook-timestamp"), 10, 64)
	if got.Header.Get("webhook-id") != "msg_abc" || ts != at.Unix() {
		t.Fatalf("headers %v", got.Header)
	}
	if !Verify(secret, "msg_abc", ts, got.Body, got.Header.Get("webhook-signature")) {
		t.Fatal("the receiver cannot verify the signature")
	}
}

func TestPostRefusesLoopbackForANonAdminEndpoint(t *testing.T) {
	rc := notifytest.NewReceiver(t, nil)
	var s Sender
	for _, u := range []string{rc.URL + "/hook?token=s3cr3t", strings.Replace(rc.URL, "127.0.0.1", "localhost", 1) + "/hook?token=s3cr3t"} {
		res := s.Post(context.Background(), gitrepo.Network{}, u, nil, []byte("{}"))
		if !errors.Is(res.Err, ErrForbiddenAddress) || res.StatusCode != 0 {
			t.Errorf("%s: result %+v, want a refusal", u, res)
		}
		if strings.Contains(res.Err.Error(), "s3cr3t") {
			t.Errorf("the error shows the URL's token: %v", res.Err)
		}
	}
	if n := len(rc.Requests()); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

func TestPostTimesOut(t *testing.T) {
	release := make(chan struct{})
	rc := notifytest.NewReceiver(t, func(int, http.ResponseWriter, *http.Request) { <-release })
	defer close(release)
	s := Sender{Timeout: 300 * time.Millisecond}
	start := time.Now()
	res := s.Post(context.Background(), gitrepo.Network{AllowPrivate: true}, rc.URL, nil, []byte("{}"))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "timed out") {
		t.Fatalf("result %+v, want a timeout", res)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the attempt took %s", d)
	}
}

func TestPostDoesNotFollowRedirects(t *testing.T) {
	target := notifytest.NewReceiver(t, nil)
	rc := notifytest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	var s Sender
	res := s.Post(context.Background(), gitrepo.Network{AllowPrivate: true}, rc.URL, nil, []byte("{}"))
	if res.OK() || res.StatusCode != 307 || len(target.Requests()) != 0 {
		t.Fatalf("result %+v, target got %d", res, len(target.Requests()))
	}
}

func TestCheckURL(t *testing.T) {
	for _, bad := range []string{"ftp://x", "http://", "https://user:pw@example.com/x", "::"} {
		if _, err := CheckURL(bad); err == nil {
			t.Errorf("CheckURL(%q) accepted", bad)
		}
	}
	if _, err := CheckURL("https://hooks.example.com/services/T/B/x?y=1"); err != nil {
		t.Fatal(err)
	}
}

func TestMailerSendsToARealSMTPServer(t *testing.T) {
	srv := notifytest.NewSMTPServer(t)
	cfg, err := ParseSMTPURL("smtp://" + srv.Addr + "?from=ci@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent()
	ev.Data.Build.Ref = "main\r\nBcc: evil@example.com"
	if err := NewMailer(cfg).Send(context.Background(), "msg_1", []string{"dev@example.com", "lead@example.com"}, ev); err != nil {
		t.Fatal(err)
	}
	m := srv.Wait(t, 1, 5*time.Second)[0]
	if m.From != "ci@example.com" || strings.Join(m.To, ",") != "dev@example.com,lead@example.com" {
		t.Fatalf("envelope %s → %v", m.From, m.To)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "[Slipway] shop: build #7 of main Bcc: evil@example.com failed" {
		t.Errorf("subject %q", subject)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Error("a ref added a Bcc header")
	}
	if !strings.Contains(string(m.Data), "https://ci.example.com/projects/shop/builds/7") || !strings.Contains(string(m.Data), "step test exited 1") {
		t.Errorf("body lacks the link or reason:\n%s", m.Data)
	}
}

func TestParseSMTPURL(t *testing.T) {
	for _, bad := range []string{"http://x?from=a@b.c", "smtp://x", "smtp://u:pw@x?from=a@b.c", "smtps://x?from=a@b.c&tls=none", "smtp://x:99999?from=a@b.c"} {
		if _, err := ParseSMTPURL(bad); err == nil {
			t.Errorf("ParseSMTPURL(%q) accepted", bad)
		}
	}
	c, err := ParseSMTPURL("smtps://ci@mail.example.com?from=ci@example.com")
	if err != nil || c.Port != 465 || c.TLS != TLSImplicit || c.Username != "ci" {
		t.Fatalf("%+v %v", c, err)
	}
	c.Password = "hunter2"
	if strings.Contains(c.String(), "hunter2") {
		t.Fatal("String shows the password")
	}
}

func TestPostReachesAnAllowListedNetwork(t *testing.T) {
	rc := notifytest.NewReceiver(t, nil)
	var s Sender
	res := s.Post(context.Background(), gitrepo.Network{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, rc.URL, nil, []byte("{}"))
	if !res.OK() || len(rc.Requests()) != 1 {
		t.Fatalf("result %+v", res)
	}
	res = s.Post(context.Background(), gitrepo.Network{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, rc.URL, nil, []byte("{}"))
	if !errors.Is(res.Err, ErrForbiddenAddress) {
		t.Fatalf("another network's allow-list let loopback through: %+v", res)
	}
}
