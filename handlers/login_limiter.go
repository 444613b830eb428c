package handlers

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// loginLimiter slows password guessing: each client address and each
// username gets a small burst of attempts, refilled slowly. It lives in
// memory, per process; behind several portal instances each one limits on
// its own.
type loginLimiter struct {
	mu   sync.Mutex
	keys map[string]*limiterEntry
	// per key: burst attempts, then one every refill.
	burst  int
	refill time.Duration
	swept  time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{keys: map[string]*limiterEntry{}, burst: 10, refill: 30 * time.Second}
}

// allow reports whether another attempt from ip for username may proceed.
func (l *loginLimiter) allow(ip, username string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > 5*time.Minute {
		for k, e := range l.keys {
			if now.Sub(e.seen) > 30*time.Minute {
				delete(l.keys, k)
			}
		}
		l.swept = now
	}
	ok := true
	for _, k := range []string{"ip:" + ip, "user:" + strings.ToLower(username)} {
		e := l.keys[k]
		if e == nil {
			e = &limiterEntry{lim: rate.NewLimiter(rate.Every(l.refill), l.burst)}
			l.keys[k] = e
		}
		e.seen = now
		if !e.lim.AllowN(now, 1) {
			ok = false
		}
	}
	return ok
}
