// Package notifytest runs real receivers on loopback for notification
// tests: an HTTP receiver that records every request and an SMTP server
// (go-smtp) that records every message.
package notifytest

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Request is one request an HTTP receiver got.
type Request struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// Receiver is an HTTP server on loopback that records requests and answers
// with Respond (200 when nil).
type Receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Request
	// Respond answers request n (0-based); nil answers 200.
	Respond func(n int, w http.ResponseWriter, r *http.Request)
	got     chan struct{}
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t testing.TB, respond func(n int, w http.ResponseWriter, r *http.Request)) *Receiver {
	rc := &Receiver{Respond: respond, got: make(chan struct{}, 1000)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, Request{Header: r.Header.Clone(), Body: body, At: time.Now()})
		rc.mu.Unlock()
		rc.got <- struct{}{}
		if rc.Respond != nil {
			rc.Respond(n, w, r)
		}
	}))
	t.Cleanup(rc.Server.Close)
	return rc
}

// Requests returns what was received so far.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.reqs...)
}

// Wait waits until n requests arrived or d passed, and returns them.
func (rc *Receiver) Wait(t testing.TB, n int, d time.Duration) []Request {
	t.Helper()
	deadline := time.After(d)
	for len(rc.Requests()) < n {
		select {
		case <-rc.got:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %s", len(rc.Requests()), n, d)
		}
	}
	return rc.Requests()
}

// Mail is one message an SMTP server got.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// SMTPServer is a go-smtp server on loopback that keeps every message.
type SMTPServer struct {
	Addr string
	mu   sync.Mutex
	mail []Mail
	got  chan struct{}
}

// NewSMTPServer starts an SMTP server (no TLS, no auth), closed when the
// test ends.
func NewSMTPServer(t testing.TB) *SMTPServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), got: make(chan struct{}, 1000)}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return s
}

// Messages returns the messages received so far.
func (s *SMTPServer) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

// Wait waits until n messages arrived or d passed, and returns them.
func (s *SMTPServer) Wait(t testing.TB, n int, d time.Duration) []Mail {
	t.Helper()
	deadline := time.After(d)
	for len(s.Messages()) < n {
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("smtp server got %d messages, want %d within %s", len(s.Messages()), n, d)
		}
	}
	return s.Messages()
}

type backend struct{ s *SMTPServer }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s   *SMTPServer
	cur Mail
}

func (ss *session) Reset()        { ss.cur = Mail{} }
func (ss *session) Logout() error { return nil }
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur.From = from
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.cur.To = append(ss.cur.To, to)
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(ss.cur.To) == 0 {
		return errors.New("no recipients")
	}
	ss.cur.Data = b
	ss.s.mu.Lock()
	ss.s.mail = append(ss.s.mail, ss.cur)
	ss.s.mu.Unlock()
	ss.s.got <- struct{}{}
	return nil
}
