package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/auth"
)

// loginFrom signs in through the form with X-Forwarded-For set (empty:
// none) and returns the status.
func (ts *testServer) loginFrom(xff, user, pass string) int {
	ts.t.Helper()
	st, _ := ts.loginFromSession(xff, user, pass)
	return st
}

// loginFromSession is loginFrom also returning the address the new
// session recorded ("" without one).
func (ts *testServer) loginFromSession(xff, user, pass string) (int, string) {
	ts.t.Helper()
	hdr := map[string]string{}
	if xff != "" {
		hdr["X-Forwarded-For"] = xff
		hdr["X-Real-IP"] = xff
	}
	form := url.Values{"username": {user}, "password": {pass}, "_csrf": {ts.csrfFor("")}}
	resp := ts.postResp("/login", form, []*http.Cookie{{Name: csrfCookie, Value: testAnonCSRF}}, hdr)
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			sess, err := ts.store.SessionByID(ts.t.Context(), auth.HashSecret(ck.Value), time.Now().UTC())
			if err != nil {
				ts.t.Fatal(err)
			}
			return resp.StatusCode, sess.RemoteIP
		}
	}
	return resp.StatusCode, ""
}

func loopbackProxies(t *testing.T) []*net.IPNet {
	_, n, err := net.ParseCIDR("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return []*net.IPNet{n}
}

// Without trusted proxies a client cannot pick its address with
// X-Forwarded-For: spraying usernames with a new forged address each time
// still meets the per-address limit, and sessions record the peer.
func TestSpoofedForwardedForDoesNotChangeTheClientAddress(t *testing.T) {
	ts := newTestServer(t)
	ts.user("olga", auth.Viewer)
	limited := false
	for i := range 40 {
		if ts.loginFrom(fmt.Sprintf("198.51.100.%d", i+1), fmt.Sprintf("user%d", i), "guess") == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("40 attempts from one peer with forged X-Forwarded-For were never limited: the header chose the limiter key")
	}
	ts2 := newTestServer(t)
	ts2.user("olga", auth.Viewer)
	if st, ip := ts2.loginFromSession("203.0.113.9", "olga", "password-olga"); st != http.StatusSeeOther || ip != "127.0.0.1" {
		t.Fatalf("login: %d, session address %q; want 303 and 127.0.0.1 (the peer, not the forged header)", st, ip)
	}
}

// With the loopback proxy trusted, its X-Forwarded-For names the client.
func TestTrustedProxyForwardedForNamesTheClient(t *testing.T) {
	ts := newTestServerConfig(t, false, Config{TrustedProxies: loopbackProxies(t)})
	ts.user("pia", auth.Viewer)
	// The right-most untrusted address counts: what the client wrote left
	// of it could be forged.
	if st, ip := ts.loginFromSession("10.0.0.1, 203.0.113.7", "pia", "password-pia"); st != http.StatusSeeOther || ip != "203.0.113.7" {
		t.Fatalf("login: %d, session address %q; want 303 and 203.0.113.7", st, ip)
	}
}

// An attacker hammering one account from one address is stopped there,
// and the account's owner still signs in from elsewhere; many addresses
// at once still meet the per-user limit.
func TestLoginLimitsPerUserAndAddress(t *testing.T) {
	ts := newTestServerConfig(t, false, Config{TrustedProxies: loopbackProxies(t)})
	ts.user("quinn", auth.Developer)
	attacker := "198.51.100.66"
	statuses := map[int]int{}
	for range 200 {
		statuses[ts.loginFrom(attacker, "quinn", "guess")]++
	}
	if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusUnauthorized] > ts.h.limiter.userIP.burst {
		t.Fatalf("200 guesses from one address: %v; want at most %d tried, the rest limited", statuses, ts.h.limiter.userIP.burst)
	}
	if st := ts.loginFrom("203.0.113.10", "quinn", "password-quinn"); st != http.StatusSeeOther {
		t.Fatalf("the owner from another address: %d, want 303 (signed in)", st)
	}
	// A distributed guess: a few attempts from each of many addresses.
	tried := 0
	for i := 0; i < 200; i++ {
		addr := fmt.Sprintf("192.0.2.%d", i+1)
		st := ts.loginFrom(addr, "quinn", "guess")
		if st == http.StatusTooManyRequests {
			break
		}
		tried++
	}
	// 10 from the attacker, 1 by the owner, then the distributed ones.
	if want := ts.h.limiter.user.burst - ts.h.limiter.userIP.burst - 1; tried < want-1 || tried > want+1 {
		t.Fatalf("the per-user limit tripped after %d addresses, want about %d", tried, want)
	}
	if st := ts.loginFrom("192.0.2.250", "quinn", "password-quinn"); st != http.StatusTooManyRequests {
		t.Fatalf("right password while the account is limited: %d, want 429", st)
	}
}
