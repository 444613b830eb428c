package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/internal/gitrepo"
)

// DefaultTimeout bounds one delivery attempt: connect, send, and read the
// response headers and the first bytes of the body.
const DefaultTimeout = 15 * time.Second

// ErrForbiddenAddress is the cause of a delivery refused because the
// address dialled is not allowed for the endpoint (loopback, private,
// link-local... for an endpoint no admin created).
var ErrForbiddenAddress = errors.New("address not allowed for notification endpoints")

// maxResponseSnippet is how much of a response body the delivery log keeps.
const maxResponseSnippet = 1024

// Sender posts notifications over HTTP. The zero value is ready to use.
type Sender struct {
	// Timeout bounds one attempt (DefaultTimeout when zero).
	Timeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// Result is the outcome of one attempt.
type Result struct {
	// StatusCode is the response's status, 0 when none came.
	StatusCode int
	// RetryAfter is the response's Retry-After, zero when absent.
	RetryAfter time.Duration
	// Response is the start of the response body (for the delivery log).
	Response string
	// Err says why the attempt failed (nil for a 2xx answer).
	Err error
	// Duration is how long the attempt took.
	Duration time.Duration
}

// OK reports whether the receiver accepted the message (2xx).
func (r Result) OK() bool { return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// Gone reports whether the receiver said the endpoint no longer exists
// (410): the endpoint is disabled and not tried again.
func (r Result) Gone() bool { return r.StatusCode == http.StatusGone }

// CheckURL checks that raw is an http(s) URL with a host, without user
// information (which would end up in logs), and at most 2000 bytes.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > 2000:
		return nil, fmt.Errorf("notify: %q is not a URL", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("notify: the URL must start with https:// or http://")
	case u.Hostname() == "":
		return nil, errors.New("notify: the URL has no host")
	case u.User != nil:
		return nil, errors.New("notify: the URL must not carry a user name or password; put credentials in the path or query")
	}
	return u, nil
}

// dialer connects only to addresses network allows. The check runs on the
// address actually dialled, after name resolution, so a host name whose
// answer changes between a check and the connection (DNS rebinding) cannot
// reach a forbidden address.
func dialer(network gitrepo.Network, timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			if !network.Allows(ap.Addr()) {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
			}
			return nil
		},
	}
}

// Post sends body to rawURL with header, connecting only to addresses
// network allows. Redirects are not followed (a redirect could point
// anywhere); proxies from the environment are not used.
func (s *Sender) Post(ctx context.Context, network gitrepo.Network, rawURL string, header http.Header, body []byte) Result {
	start := time.Now()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	res := Result{}
	if _, err := CheckURL(rawURL); err != nil {
		res.Err = err
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:            dialer(network, timeout).DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		res.Err = fmt.Errorf("notify: request: %w", err)
		return res
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	resp, err := client.Do(req)
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = describe(err, timeout)
		return res
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseSnippet))
	res.Response = strings.ToValidUTF8(string(snippet), string(utf8.RuneError))
	res.StatusCode = resp.StatusCode
	res.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	res.Duration = time.Since(start)
	if !res.OK() {
		res.Err = fmt.Errorf("notify: the receiver answered %s", resp.Status)
	}
	return res
}

// describe turns a transport error into a message for the delivery log
// that names the cause (timeout, refused address) without the URL, whose
// query may carry a token.
func describe(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return fmt.Errorf("refused: %w", err)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("timed out after %s", timeout)
	}
	return fmt.Errorf("notify: %w", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
