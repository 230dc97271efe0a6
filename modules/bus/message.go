package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"regexp"
	"time"
)

// SchemaChange is the Data of a TopicSchema message: the tenant's new schema version.
type SchemaChange struct {
	Version int64 `json:"version"`
}

// What a TopicInvalidate message is about (Invalidation.What).
const (
	// InvalidateAccess: the tenant's roles or permissions changed.
	InvalidateAccess = "access"
	// InvalidateSettings: the tenant's settings changed.
	InvalidateSettings = "settings"
	// InvalidateWebhooks: the tenant's webhooks changed.
	InvalidateWebhooks = "webhooks"
	// InvalidateTenant: the tenant was created or deleted.
	InvalidateTenant = "tenant"
	// InvalidateSessions: sessions of Subject (every subject when empty) were revoked,
	// or the subject's role or status changed; Tenant is empty for platform admins.
	InvalidateSessions = "sessions"
)

// Invalidation is the Data of a TopicInvalidate message.
type Invalidation struct {
	What string `json:"what"`
	// Slug and Deleted describe an InvalidateTenant message.
	Slug    string `json:"slug,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Subject is the user or admin of an InvalidateSessions message.
	Subject string `json:"subject,omitempty"`
}

// NewMessage builds a message whose Data is v encoded as JSON.
func NewMessage(topic, tenant string, v any) (Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Message{}, err
	}
	return Message{Topic: topic, Tenant: tenant, Data: b}, nil
}

// Tell publishes data as a message of topic about tenant, for news the other nodes
// also catch up with by their caches' TTL: the change it reports is done, so a
// failure is logged rather than returned, and the wait for the bus is bounded.
func Tell(b Bus, log *slog.Logger, topic, tenant string, data any) {
	if b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := NewMessage(topic, tenant, data)
	if err == nil {
		err = b.Publish(ctx, m)
	}
	if err != nil {
		log.Warn("bus: publish failed; other nodes catch up within the cache TTL", "topic", topic, "tenant_id", tenant, "err", err)
	}
}

// Node is a bus as one node uses it: what it publishes carries the node's id as Origin
// (unless the publisher set one), so receivers can tell their own messages apart.
//
// A node's own messages reach its own subscribers in process, at once, rather than
// after the round trip through PostgreSQL or Redis (a NOTIFY waits for its commit and
// for the listening connection to be read: milliseconds that every realtime event on the
// publishing node paid); the transport's echo of them is skipped.
type Node struct {
	Bus
	ID    string
	local *Local // nil when Bus is itself in process
}

// NewNode wraps b for the node id.
func NewNode(b Bus, id string) *Node {
	n := &Node{Bus: b, ID: id}
	if _, inProcess := b.(*Local); !inProcess {
		n.local = NewLocal()
	}
	return n
}

// Publish stamps m with the node's id and publishes it.
func (n *Node) Publish(ctx context.Context, m Message) error {
	if m.Origin == "" {
		m.Origin = n.ID
	}
	if n.local != nil && m.Origin == n.ID {
		// Delivered here even if the transport is down: this node's subscribers do
		// not depend on it.
		if err := n.local.Publish(ctx, m); err != nil {
			return err
		}
	}
	return n.Bus.Publish(ctx, m)
}

// Subscribe registers f for this node's own messages (in process) and everyone
// else's (through the transport).
func (n *Node) Subscribe(f func(Message)) func() {
	if n.local == nil {
		return n.Bus.Subscribe(f)
	}
	own := n.local.Subscribe(f)
	others := n.Bus.Subscribe(func(m Message) {
		if m.Origin != n.ID {
			f(m)
		}
	})
	return func() { own(); others() }
}

// Rejected counts the payloads the transport refused as not sealed by this cluster
// (0 for the in-process bus, which has no outside writers).
func (n *Node) Rejected() uint64 {
	if r, ok := n.Bus.(interface{ Rejected() uint64 }); ok {
		return r.Rejected()
	}
	return 0
}

// Close stops both deliveries.
func (n *Node) Close() error {
	err := n.Bus.Close()
	if n.local != nil {
		_ = n.local.Close()
	}
	return err
}

// backoff is how long a transport waits before its attempt-th reconnect (from 0):
// doubling from 100 ms to 5 s, with jitter so that nodes that lost a shared server
// together do not return to it together.
func backoff(attempt int) time.Duration {
	d := 5 * time.Second
	if attempt < 6 {
		d = 100 * time.Millisecond << attempt
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends, reporting whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// DefaultChannel is the PostgreSQL and Redis channel the cluster bus uses, unless the
// URL names another with a channel parameter (clusters sharing one Redis need their
// own: Redis channels ignore the database number).
const DefaultChannel = "strata_bus"

// channelPattern keeps a channel a plain name: PostgreSQL truncates identifiers at 63
// bytes (two names differing only after that would meet on one channel), and the
// channel is part of the Redis client name, which takes no spaces.
var channelPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)

// channelOf takes the bus's channel parameter out of a database URL, so the driver
// never sees it.
func channelOf(raw string) (rest, channel string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("bus: parse url: %w", err)
	}
	q := u.Query()
	channel = DefaultChannel
	if q.Has("channel") {
		channel = q.Get("channel")
		q.Del("channel")
		u.RawQuery = q.Encode()
	}
	if !channelPattern.MatchString(channel) {
		return "", "", fmt.Errorf("bus: channel must match %s, got %q", channelPattern, channel)
	}
	return u.String(), channel, nil
}
