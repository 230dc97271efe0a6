package auth

import (
	"strings"
	"sync"
	"time"
)

// Throttle limits failed sign-ins per account and per client address within a window,
// so passwords cannot be guessed at speed. It lives in one node's memory: a cluster of
// N nodes allows up to N times the limit, which still stops brute force.
type Throttle struct {
	MaxPerAccount int
	MaxPerAddress int
	Window        time.Duration
	Now           func() time.Time

	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Allow reports whether a sign-in for account from addr may be tried, and if not, how
// long until it may.
func (t *Throttle) Allow(account, addr string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range []struct {
		key string
		max int
	}{{"a\x00" + strings.ToLower(account), t.MaxPerAccount}, {"i\x00" + addr, t.MaxPerAddress}} {
		w := t.m[k.key]
		if w == nil || now.Sub(w.start) >= t.Window || w.failures < k.max {
			continue
		}
		if left := t.Window - now.Sub(w.start); left > wait {
			wait = left
		}
	}
	return wait == 0, wait
}

// Fail records a failed sign-in; Succeed forgets the account's failures.
func (t *Throttle) Fail(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) > 100000 {
		t.m = map[string]*window{} // bounded memory: start over rather than grow
	}
	now := t.now()
	for _, key := range []string{"a\x00" + strings.ToLower(account), "i\x00" + addr} {
		w := t.m[key]
		if w == nil || now.Sub(w.start) >= t.Window {
			w = &window{start: now}
			t.m[key] = w
		}
		w.failures++
	}
}

// Succeed clears an account's failures after a correct sign-in.
func (t *Throttle) Succeed(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, "a\x00"+strings.ToLower(account))
}
