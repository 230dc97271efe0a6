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
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// TopicThrottle: a sign-in failed or succeeded on a node; Data is an
	// auth.ThrottleEvent, so every node counts failures for the whole cluster.
	TopicThrottle = "throttle"
	// TopicResync is never published: a transport delivers it, to its own node only,
	// after it lost its connection and got it back. Messages may have been missed in
	// between, so whatever a node cached on the strength of the bus must be dropped.
	TopicResync = "resync"
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

// ErrClosed is returned by Publish on a closed bus.
var ErrClosed = errors.New("bus: closed")

// ErrTooLarge is returned by Publish for a message over MaxPayload: the publisher
// splits it. Every transport refuses it, Local included, so an event too big for a
// cluster fails on a single node too rather than only once deployed.
var ErrTooLarge = errors.New("bus: message too large")

// maxEnvelope bounds a whole encoded message: PostgreSQL refuses a NOTIFY payload of
// 8,000 bytes or more, and the seal (seal.go) is added around what is sent.
const maxEnvelope = 7999 - sealOverhead

// encode checks a message against the limits and renders it for a transport.
func encode(m Message) ([]byte, error) {
	if len(m.Data) > MaxPayload {
		return nil, fmt.Errorf("%w: %s payload of %d bytes (at most %d)", ErrTooLarge, m.Topic, len(m.Data), MaxPayload)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("bus: encode %s message: %w", m.Topic, err)
	}
	if len(b) > maxEnvelope {
		return nil, fmt.Errorf("%w: %s message of %d bytes encoded (at most %d)", ErrTooLarge, m.Topic, len(b), maxEnvelope)
	}
	return b, nil
}

// fanout keeps subscribers and delivers to them, in the order they subscribed;
// transports embed it.
type fanout struct {
	mu   sync.RWMutex
	subs []subscriber
	next int
}

type subscriber struct {
	id int
	fn func(Message)
}

func (f *fanout) Subscribe(fn func(Message)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.subs = append(f.subs, subscriber{id: id, fn: fn})
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.subs = slices.DeleteFunc(f.subs, func(s subscriber) bool { return s.id == id })
	}
}

// deliver holds the read lock while subscribers run, so once unsubscribe returns its
// function is never called again.
func (f *fanout) deliver(m Message) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, s := range f.subs {
		s.fn(m)
	}
}

// deliverPayload delivers what a transport received: one encoded message, or a batch
// of them as a JSON array (the PostgreSQL sender packs what waits into one NOTIFY),
// once seal has checked that a node of this cluster sent it.
func (f *fanout) deliverPayload(log *slog.Logger, seal *Seal, channel string, frame []byte) {
	payload, err := seal.open(channel, frame)
	if err != nil {
		// Whoever can write to the channel could fill the log: only the 1st, 2nd, 4th,
		// 8th… refusal is logged; strata_bus_rejected_messages_total counts them all.
		if n := seal.Rejected(); n&(n-1) == 0 {
			log.Warn("bus: dropped a payload not sealed by this cluster (a forgery, or a node with another STRATA_BUS_KEY or STRATA_JWT_SECRET)",
				"channel", channel, "err", err, "rejected_total", n)
		}
		return
	}
	var ms []Message
	if len(payload) > 0 && payload[0] == '[' {
		err = json.Unmarshal(payload, &ms)
	} else {
		ms = make([]Message, 1)
		err = json.Unmarshal(payload, &ms[0])
	}
	if err != nil {
		log.Warn("bus: dropped a payload that is not bus messages", "channel", channel, "err", err)
		return
	}
	for _, m := range ms {
		f.deliver(m)
	}
}

// stayConnected receives on conn until ctx ends. Whenever the connection fails it is
// closed and made again, with backoff; after each new one, subscribers get a
// TopicResync (messages may have been missed in between). what names the connection
// in the log.
func stayConnected[C any](ctx context.Context, log *slog.Logger, what string, conn C,
	connect func(context.Context) (C, error), receive func(C) error, closeConn func(C), resync func()) {
	for {
		err := receive(conn)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		log.Warn("bus: lost the "+what+"; reconnecting", "err", err)
		for attempt := 0; ; attempt++ {
			if !sleep(ctx, backoff(attempt)) {
				return
			}
			c, err := connect(ctx)
			if err == nil {
				conn = c
				break
			}
			if ctx.Err() == nil {
				log.Warn("bus: cannot reconnect the "+what+"; retrying", "attempt", attempt+1, "err", err)
			}
		}
		log.Info("bus: " + what + " is back; dropping caches")
		resync()
	}
}

// Local is the bus of a single node: delivery in process, in publish order, on one
// goroutine, so a slow subscriber never holds up a publisher (up to a bounded queue).
type Local struct {
	fanout
	queue chan Message
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewLocal returns a running in-process bus.
func NewLocal() *Local {
	l := &Local{queue: make(chan Message, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// run delivers until Close, then what was queued before it.
func (l *Local) run() {
	defer close(l.done)
	for {
		select {
		case m := <-l.queue:
			l.deliver(m)
		case <-l.stop:
			for {
				select {
				case m := <-l.queue:
					l.deliver(m)
				default:
					return
				}
			}
		}
	}
}

// Publish queues m for delivery; it blocks only while the queue is full. The queue is
// never closed, so a publish racing Close is refused or dropped, never a panic.
func (l *Local) Publish(ctx context.Context, m Message) error {
	if _, err := encode(m); err != nil {
		return err
	}
	select {
	case <-l.stop:
		return ErrClosed
	default:
	}
	select {
	case l.queue <- m:
		return nil
	case <-l.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close delivers what is queued and stops.
func (l *Local) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	return nil
}
