package notify

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Schedule is the wait before each retry: after the first failed attempt
// 5 s, then 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 20 h —
// eleven attempts over about three days.
var Schedule = []time.Duration{
	5 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 20 * time.Hour,
}

// MaxRetryAfter caps how long a receiver's Retry-After can delay the next
// attempt.
const MaxRetryAfter = 24 * time.Hour

// NextDelay says how long to wait after failed attempts (1 after the
// first failure) before trying again, and false when the schedule is used
// up. A Retry-After longer than the scheduled wait is honoured, up to
// MaxRetryAfter.
func NextDelay(schedule []time.Duration, failed int, retryAfter time.Duration) (time.Duration, bool) {
	if failed < 1 || failed > len(schedule) {
		return 0, false
	}
	d := schedule[failed-1]
	if retryAfter > d {
		d = min(retryAfter, MaxRetryAfter)
	}
	return d, true
}

// ParseRetryAfter reads a Retry-After header: seconds, or an HTTP date
// (relative to now). Anything else, or a time in the past, is zero.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), MaxRetryAfter)
	}
	return 0
}
