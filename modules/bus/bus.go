// Package bus carries events between the nodes of a Strata cluster: row changes for
// realtime subscribers, schema and migration events, and cache invalidations. A node
// publishes after its commit; every node (the publisher included) receives. Messages
// are small — ids, never rows — so every transport can carry them; receivers read what
// they need from the database with their own subscribers' permissions.
//
// Transports: Local (one process), Postgres (LISTEN/NOTIFY on the control database) and
// Redis (pub/sub, when STRATA_REDIS_URL is set).
package bus

import (
	"context"
	"encoding/json"
	"sync"
)

// Topics of the messages Strata publishes.
const (
	// TopicItems: rows of a tenant table were created, updated or deleted.
	TopicItems = "items"
	// TopicMigration: a migration changed status.
	TopicMigration = "migration"
	// TopicSchema: a tenant's model changed (a new schema version).
	TopicSchema = "schema"
	// TopicInvalidate: something cached per tenant changed (permissions, roles,
	// settings, the tenant itself); Payload says what.
	TopicInvalidate = "invalidate"
)

// MaxPayload bounds a message's payload, so it fits every transport (PostgreSQL's
// NOTIFY takes under 8,000 bytes, envelope included). Publishers split bigger events.
const MaxPayload = 7000

// Message is one event.
type Message struct {
	Topic  string          `json:"t"`
	Tenant string          `json:"n,omitempty"`
	Data   json.RawMessage `json:"d,omitempty"`
	// Origin is the publishing node's id; receivers may skip what they did themselves.
	Origin string `json:"o,omitempty"`
}

// Bus publishes messages to every node and delivers theirs.
type Bus interface {
	// Publish sends m to every node, this one included. It does not wait for delivery.
	Publish(ctx context.Context, m Message) error
	// Subscribe registers f for every message received; f runs on the bus's delivery
	// goroutine, one message at a time, and must not block. It returns a function that
	// removes f.
	Subscribe(f func(Message)) (unsubscribe func())
	// Close stops delivery and releases the transport.
	Close() error
}

// fanout keeps subscribers and delivers to them; transports embed it.
type fanout struct {
	mu   sync.RWMutex
	subs map[int]func(Message)
	next int
}

func (f *fanout) Subscribe(fn func(Message)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[int]func(Message){}
	}
	id := f.next
	f.next++
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

func (f *fanout) deliver(m Message) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, fn := range f.subs {
		fn(m)
	}
}

// Local is the bus of a single node: delivery in process, in publish order, on one
// goroutine, so a slow subscriber never holds up a publisher (up to a bounded queue).
type Local struct {
	fanout
	queue chan Message
	done  chan struct{}
	once  sync.Once
}

// NewLocal returns a running in-process bus.
func NewLocal() *Local {
	l := &Local{queue: make(chan Message, 4096), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for m := range l.queue {
			l.deliver(m)
		}
	}()
	return l
}

// Publish queues m for delivery; it blocks only while the queue is full.
func (l *Local) Publish(ctx context.Context, m Message) error {
	select {
	case l.queue <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close delivers what is queued and stops.
func (l *Local) Close() error {
	l.once.Do(func() { close(l.queue) })
	<-l.done
	return nil
}
