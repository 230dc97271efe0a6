// Package realtime pushes row changes to websocket subscribers, speaking Directus's
// protocol (auth, subscribe with a query, init snapshot, create/update/delete events,
// unsubscribe, ping/pong). Writes publish small events on the bus (ids, not rows); every
// node reads the rows its own subscribers may see, through the same query and
// permission engine as REST, once per group of subscribers asking the same thing as
// the same caller — never once per subscriber.
package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"strata/modules/bus"
	"strata/modules/query"
)

// Scope is who a socket reads as, in which tenant: REST builds it from the caller, so
// every read goes through REST's permission engine.
type Scope interface {
	// TenantID is the tenant the socket belongs to.
	TenantID() string
	// Key identifies the caller's permissions (user, role): subscribers with the same
	// key and query see the same rows.
	Key() string
	// Expires is when the caller's token expires (zero: never).
	Expires() time.Time
	// List runs a REST list query as the caller.
	List(ctx context.Context, table string, p query.Params) ([]map[string]any, error)
	// Authenticated reports whether the caller showed credentials (not the public role).
	Authenticated() bool
	// Subject is the signed-in user or platform admin the socket reads as ("" for the
	// public role and API keys).
	Subject() string
	// Unrestricted reports whether the caller reads every row of table (no row rule):
	// such a subscriber saw every row, so it needs no record of which ones.
	Unrestricted(ctx context.Context, table string) bool
}

// Authenticate turns a token sent over the socket into a scope for the same tenant.
type Authenticate func(ctx context.Context, token string) (Scope, error)

// Limits bound what sockets may do.
//
// The auth modes follow Directus's WEBSOCKETS_REST_AUTH.
type Limits struct {
	MaxConnections   int           // sockets per node
	MaxSubscriptions int           // per socket
	MaxMessageBytes  int64         // a frame from a client
	SendQueue        int           // messages waiting to be written to one socket
	MessagesPerSec   int           // from one client, averaged over a second
	Heartbeat        time.Duration // ping interval; a socket silent for two is closed
	InitRows         int           // rows of an init snapshot when the query sets no limit
	KnownIDs         int           // ids a subscription remembers, to send deletes only to those who saw the row
	WriteTimeout     time.Duration
	// FrameGap is the least time between two text frames to one socket (see pace.go);
	// 0 takes the default, a negative value sends every frame at once.
	FrameGap time.Duration
	// AuthMode is what a socket without credentials may do: "public" (act as the
	// public role, the default), "handshake" (send an auth message first, within
	// AuthTimeout, or be closed) or "strict" (credentials in the upgrade request; the
	// HTTP layer refuses the upgrade).
	AuthMode    string
	AuthTimeout time.Duration
}

// WithDefaults fills in the defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxConnections, 10000)
	def(&l.MaxSubscriptions, 100)
	def(&l.SendQueue, 256)
	def(&l.MessagesPerSec, 50)
	def(&l.InitRows, 100)
	def(&l.KnownIDs, 2000)
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 64 << 10
	}
	if l.Heartbeat <= 0 {
		l.Heartbeat = 30 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 10 * time.Second
	}
	if l.FrameGap == 0 {
		l.FrameGap = 20 * time.Millisecond
	}
	if l.AuthMode == "" {
		l.AuthMode = "public"
	}
	if l.AuthTimeout <= 0 {
		l.AuthTimeout = 10 * time.Second
	}
	return l
}

// Close codes.
const (
	CloseGoingAway      = 1001
	ClosePolicyViolated = 1008
	CloseTooBig         = 1009
	CloseTryAgainLater  = 1013
)

// ItemsEvent is what a write publishes on the bus (TopicItems): the rows' ids.
type ItemsEvent struct {
	Table  string   `json:"table"`
	Action string   `json:"action"` // create, update, delete
	IDs    []string `json:"ids"`
	// Status and Error carry a migration's new state (TopicMigration), as it was when
	// it changed: a subscriber must see "running" even if the row reads "executed" by
	// the time the event is handled.
	Status string  `json:"status,omitempty"`
	Error  *string `json:"error,omitempty"`
}

// maxIDsPerMessage keeps an event within the bus's payload bound.
const maxIDsPerMessage = 150

// Publish announces written rows to every node, split to fit the bus.
func Publish(ctx context.Context, b bus.Bus, tenantID, topic string, ev ItemsEvent) error {
	if b == nil || len(ev.IDs) == 0 {
		return nil
	}
	for start := 0; start < len(ev.IDs); start += maxIDsPerMessage {
		part := ev
		part.IDs = ev.IDs[start:min(start+maxIDsPerMessage, len(ev.IDs))]
		raw, err := json.Marshal(part)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		if err := b.Publish(ctx, bus.Message{Topic: topic, Tenant: tenantID, Data: raw}); err != nil {
			return fmt.Errorf("publish event: %w", err)
		}
	}
	return nil
}
