// Package cache keeps values read from a database for a short while. Entries are
// dropped when the node hears they changed (from its own writes or the cluster bus),
// and are trusted for TTL at most, which bounds how long a lost message goes unnoticed.
package cache

import (
	"strings"
	"sync"
	"time"
)

// TTL is a cache of values by key. Its zero value is ready: one second, no bound.
//
// A value read from the database while a drop happens may predate that drop: Get
// returns a generation, and Put keeps the value only if no drop came in between (it
// is still served to its reader, just not kept).
type TTL[V any] struct {
	// TTL is how long an entry is trusted (default 1s).
	TTL time.Duration
	// Max bounds the entries (0: none); past it the cache starts over rather than grow.
	Max int

	mu  sync.Mutex
	m   map[string]entry[V]
	gen uint64
}

type entry[V any] struct {
	v  V
	at time.Time
}

// Get returns key's value and whether it is fresh, with the generation to Put under.
func (c *TTL[V]) Get(key string) (v V, gen uint64, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	ttl := c.TTL
	if ttl <= 0 {
		ttl = time.Second
	}
	return e.v, c.gen, ok && time.Since(e.at) < ttl
}

// Put keeps v for key, unless something was dropped since gen was taken.
func (c *TTL[V]) Put(key string, v V, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || (c.Max > 0 && len(c.m) >= c.Max) {
		c.m = map[string]entry[V]{}
	}
	c.m[key] = entry[V]{v: v, at: time.Now()}
}

// Drop forgets key's entry.
func (c *TTL[V]) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, key)
}

// DropPrefix forgets the entries whose key starts with prefix.
func (c *TTL[V]) DropPrefix(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.m {
		if strings.HasPrefix(k, prefix) {
			delete(c.m, k)
		}
	}
}

// DropAll forgets every entry.
func (c *TTL[V]) DropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}
