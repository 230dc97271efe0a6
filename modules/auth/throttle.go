package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// Throttle limits failed sign-ins per account and per client address within a window,
// so passwords cannot be guessed at speed. Each node counts in memory; with Share set,
// it tells the other nodes of every failure and success (over the cluster bus), and
// Apply counts theirs, so the limit holds for the cluster rather than per node.
type Throttle struct {
	MaxPerAccount int
	MaxPerAddress int
	Window        time.Duration
	Now           func() time.Time
	// Share, when set, is called with each event this node records.
	Share func(ThrottleEvent)

	mu sync.Mutex
	m  map[string]*window
}

// ThrottleEvent is a failed or successful sign-in, by its counters' keys: digests of
// the account and the address, so the bus never carries either.
type ThrottleEvent struct {
	Failed bool     `json:"failed"`
	Keys   []string `json:"keys"`
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

func digest(kind, s string) string {
	h := sha256.Sum256([]byte(s))
	return kind + hex.EncodeToString(h[:16])
}

func accountKey(account string) string { return digest("a", strings.ToLower(account)) }
func addressKey(addr string) string    { return digest("i", addr) }

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
	}{{accountKey(account), t.MaxPerAccount}, {addressKey(addr), t.MaxPerAddress}} {
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
	t.record(ThrottleEvent{Failed: true, Keys: []string{accountKey(account), addressKey(addr)}}, true)
}

// Succeed clears an account's failures after a correct sign-in.
func (t *Throttle) Succeed(account string) {
	t.record(ThrottleEvent{Keys: []string{accountKey(account)}}, true)
}

// Apply records another node's event.
func (t *Throttle) Apply(ev ThrottleEvent) {
	t.record(ev, false)
}

func (t *Throttle) record(ev ThrottleEvent, own bool) {
	t.mu.Lock()
	if t.m == nil || len(t.m) > 100000 {
		t.m = map[string]*window{} // bounded memory: start over rather than grow
	}
	now := t.now()
	for _, key := range ev.Keys {
		if len(key) > 64 {
			continue // not a key this package makes
		}
		if !ev.Failed {
			delete(t.m, key)
			continue
		}
		w := t.m[key]
		if w == nil || now.Sub(w.start) >= t.Window {
			w = &window{start: now}
			t.m[key] = w
		}
		w.failures++
	}
	t.mu.Unlock()
	if own && t.Share != nil {
		t.Share(ev)
	}
}
