package handlers

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// loginLimiter slows password guessing without letting an attacker lock a
// user out from everywhere. Each attempt passes three limits, narrowest
// first, and a refused attempt spends nothing from the limits after the one
// that refused it:
//
//   - per username and client address: a small burst, refilled slowly;
//     this is what stops one address hammering one account;
//   - per client address, over all usernames: stops spraying many
//     accounts from one address;
//   - per username, over all addresses: a larger burst, refilled faster
//     than one address may try, so only several addresses at once (a
//     distributed guess) exhaust it.
//
// The client address is the one the IP extractor gives: the peer, or with
// --trusted-proxies the address a trusted proxy reported. It lives in
// memory, per process; behind several portal instances each one limits on
// its own.
type loginLimiter struct {
	mu     sync.Mutex
	keys   map[string]*limiterEntry
	userIP limit
	ip     limit
	user   limit
	swept  time.Time
}

// limit is a token bucket's shape: burst attempts, then one every refill.
type limit struct {
	burst  int
	refill time.Duration
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{
		keys:   map[string]*limiterEntry{},
		userIP: limit{burst: 10, refill: 2 * time.Minute},
		ip:     limit{burst: 30, refill: 20 * time.Second},
		user:   limit{burst: 60, refill: time.Minute},
	}
}

// allow reports whether another attempt from ip for username may proceed.
func (l *loginLimiter) allow(ip, username string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > 5*time.Minute {
		for k, e := range l.keys {
			if now.Sub(e.seen) > 3*time.Hour {
				delete(l.keys, k)
			}
		}
		l.swept = now
	}
	user := strings.ToLower(username)
	for _, step := range []struct {
		key string
		lim limit
	}{
		{"user-ip:" + user + "\x00" + ip, l.userIP},
		{"ip:" + ip, l.ip},
		{"user:" + user, l.user},
	} {
		e := l.keys[step.key]
		if e == nil {
			e = &limiterEntry{lim: rate.NewLimiter(rate.Every(step.lim.refill), step.lim.burst)}
			l.keys[step.key] = e
		}
		e.seen = now
		if !e.lim.AllowN(now, 1) {
			return false
		}
	}
	return true
}
