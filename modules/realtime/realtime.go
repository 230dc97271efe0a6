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
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"strata/modules/apierr"
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

// Hub holds a node's sockets and their subscriptions, and turns bus events into pushes.
type Hub struct {
	bus    bus.Bus
	limits Limits
	log    *slog.Logger

	mu       sync.RWMutex
	sessions map[*Session]struct{}
	count    atomic.Int64
	closed   bool
	// subs indexes the subscriptions by tenant and table, so an event looks only at
	// those it concerns.
	subs map[string]map[string]map[*subscription]struct{}

	// Events are handled by a few workers, each tenant always by the same one, so a
	// tenant's events keep their order and one busy tenant does not hold up the rest.
	workers []chan bus.Message
	stop    func()
	wg      sync.WaitGroup
}

// NewHub starts a hub on b.
func NewHub(b bus.Bus, l Limits, log *slog.Logger) *Hub {
	h := &Hub{bus: b, limits: l.WithDefaults(), log: log, sessions: map[*Session]struct{}{}, subs: map[string]map[string]map[*subscription]struct{}{}}
	for range 4 {
		ch := make(chan bus.Message, 1024)
		h.workers = append(h.workers, ch)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			var batch []bus.Message
			for m := range ch {
				// Under load events wait here: take what is waiting, so runs of the same
				// write (rows created one by one, say) become one read and one push.
				batch = append(batch[:0], m)
			drain:
				for len(batch) < maxCoalesce {
					select {
					case more, ok := <-ch:
						if !ok {
							break drain
						}
						batch = append(batch, more)
					default:
						break drain
					}
				}
				for _, e := range coalesce(batch) {
					h.handle(e)
				}
			}
		}()
	}
	h.stop = b.Subscribe(func(m bus.Message) {
		switch m.Topic {
		case bus.TopicItems, bus.TopicMigration, bus.TopicSchema:
		default:
			return
		}
		f := fnv.New32a()
		f.Write([]byte(m.Tenant))
		select {
		case h.workers[int(f.Sum32())%len(h.workers)] <- m:
		default:
			// The bus goroutine must not block: a node this far behind drops the event
			// and says so.
			h.log.Warn("realtime: event queue full, event dropped", "tenant_id", m.Tenant, "topic", m.Topic)
		}
	})
	return h
}

// maxCoalesce bounds the events a worker takes at once.
const maxCoalesce = 64

// event is a bus message as the hub handles it: a row or migration event decoded once
// (items is nil for a schema event, or for one that does not decode).
type event struct {
	msg   bus.Message
	items *ItemsEvent
}

// coalesce decodes a batch of messages and merges adjacent row events of the same
// tenant, table and action into one (ids in order), keeping everything else as it is
// and in order. A merged event is read and pushed once: its rows arrive in one
// message, as a bulk write's do.
func coalesce(batch []bus.Message) []event {
	out := make([]event, 0, len(batch))
	for _, m := range batch {
		e := event{msg: m}
		if m.Topic != bus.TopicSchema {
			var ev ItemsEvent
			if json.Unmarshal(m.Data, &ev) == nil && ev.Table != "" {
				e.items = &ev
			}
		}
		if last := len(out) - 1; last >= 0 && m.Topic == bus.TopicItems && e.items != nil {
			prev := out[last]
			if prev.msg.Topic == bus.TopicItems && prev.items != nil && prev.msg.Tenant == m.Tenant && prev.items.Table == e.items.Table &&
				prev.items.Action == e.items.Action && len(prev.items.IDs)+len(e.items.IDs) <= 1000 {
				prev.items.IDs = append(prev.items.IDs, e.items.IDs...)
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

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

// Close closes every socket with "going away" and stops handling events.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	sessions := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()
	h.stop()
	for _, s := range sessions {
		s.closeWith(CloseGoingAway, "server shutting down")
	}
	for _, ch := range h.workers {
		close(ch)
	}
	h.wg.Wait()
}

// Limits are the hub's limits, defaults filled in.
func (h *Hub) Limits() Limits { return h.limits }

// Sessions is the number of open sockets.
func (h *Hub) Sessions() int { return int(h.count.Load()) }

// handle turns one bus event into pushes to this node's subscribers.
func (h *Hub) handle(e event) {
	m := e.msg
	if m.Topic == bus.TopicSchema {
		// Every socket of the tenant gets the same message: encode it once.
		frame, err := json.Marshal(map[string]any{"type": "schema", "event": "update", "data": m.Data})
		if err != nil {
			return
		}
		frame = appendFrame(nil, opText, frame)
		h.each(m.Tenant, func(s *Session) { s.sendText(frame) })
		return
	}
	if e.items == nil {
		return
	}
	ev := *e.items
	if m.Topic == bus.TopicMigration {
		ev.Table = "custom_migrations"
	}
	// Group the subscriptions that would read the same rows.
	h.mu.RLock()
	subs := make([]*subscription, 0, len(h.subs[m.Tenant][ev.Table]))
	for sub := range h.subs[m.Tenant][ev.Table] {
		subs = append(subs, sub)
	}
	h.mu.RUnlock()
	type groupKey struct{ caller, query string }
	groups := map[groupKey][]*subscription{}
	for _, sub := range subs {
		sub.sess.mu.Lock()
		k := groupKey{sub.sess.scopeKey, sub.queryKey}
		sub.sess.mu.Unlock()
		groups[k] = append(groups[k], sub)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, subs := range groups {
		var rows []map[string]any
		if ev.Action != "delete" {
			var err error
			if rows, err = subs[0].read(ctx, ev.IDs); err != nil {
				h.log.Warn("realtime: read for subscribers failed", "tenant_id", m.Tenant, "table", ev.Table, "err", err)
				continue
			}
			if m.Topic == bus.TopicMigration {
				for _, r := range rows {
					if _, ok := r["status"]; ok && ev.Status != "" {
						r["status"] = ev.Status
					}
					if _, ok := r["error"]; ok && ev.Status != "" {
						r["error"] = ev.Error
					}
				}
			}
		}
		// Every subscription of a group gets the same rows: encode them once.
		var data []byte
		if len(rows) > 0 {
			var err error
			if data, err = json.Marshal(stripID(rows, subs[0].fields)); err != nil {
				h.log.Error("realtime: encode rows", "err", err)
				continue
			}
		}
		// Which rows each subscriber has seen matters only when it may not see them all:
		// a filter, or a row rule. Without either, nothing is recorded (at 1,000
		// subscribers and 100 writes a second, that record was a million ids in ten
		// seconds).
		subs[0].sess.mu.Lock()
		scope := subs[0].sess.scope
		subs[0].sess.mu.Unlock()
		track := len(subs[0].filter) > 0 || !scope.Unrestricted(ctx, ev.Table)
		fanOut(subs, func(part []*subscription) {
			frames := map[string][]byte{}
			for _, sub := range part {
				sub.deliver(ev, rows, data, frames, track)
			}
		})
	}
}

// fanOutChunk is the size from which deliveries are split over the CPUs: each is a
// system call of a few microseconds, so a thousand of them in a row hold the last
// subscriber back by several milliseconds on one core.
const fanOutChunk = 128

// fanOut runs deliver over subs, in parts on every CPU when there are many.
func fanOut(subs []*subscription, deliver func([]*subscription)) {
	parts := min(runtime.GOMAXPROCS(0), len(subs)/fanOutChunk)
	if parts < 2 {
		deliver(subs)
		return
	}
	var wg sync.WaitGroup
	size := (len(subs) + parts - 1) / parts
	for start := 0; start < len(subs); start += size {
		part := subs[start:min(start+size, len(subs))]
		wg.Go(func() { deliver(part) })
	}
	wg.Wait()
}

// Revoke closes the sockets signed in as subject in a tenant (in any tenant when
// tenantID is empty, for platform admins), after a sign-out, a revoked session, or a change of the subject's role,
// status or password: a socket must not outlive its session any more than a request
// may. The client is told TOKEN_EXPIRED, so an SDK refreshes and reconnects if it
// still can.
func (h *Hub) Revoke(tenantID, subject string) {
	h.mu.RLock()
	var list []*Session
	for s := range h.sessions {
		if tenantID != "" && s.tenant != tenantID {
			continue
		}
		s.mu.Lock()
		sc := s.scope
		s.mu.Unlock()
		if sc != nil && subject != "" && sc.Subject() == subject {
			list = append(list, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range list {
		go s.failAndClose("TOKEN_EXPIRED", "the session was signed out or changed; reconnect with a new token", "session revoked")
	}
}

// each runs f for every session of a tenant.
func (h *Hub) each(tenantID string, f func(*Session)) {
	h.mu.RLock()
	list := make([]*Session, 0, len(h.sessions))
	for s := range h.sessions {
		if s.tenant == tenantID {
			list = append(list, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range list {
		f(s)
	}
}

// index adds or removes a subscription from the tenant/table index.
func (h *Hub) index(tenantID string, sub *subscription, add bool) {
	if sub == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	tables := h.subs[tenantID]
	if add {
		if tables == nil {
			tables = map[string]map[*subscription]struct{}{}
			h.subs[tenantID] = tables
		}
		if tables[sub.table] == nil {
			tables[sub.table] = map[*subscription]struct{}{}
		}
		tables[sub.table][sub] = struct{}{}
		return
	}
	delete(tables[sub.table], sub)
	if len(tables[sub.table]) == 0 {
		delete(tables, sub.table)
	}
	if len(tables) == 0 {
		delete(h.subs, tenantID)
	}
}

// Socket is the websocket a session speaks over.
type Socket interface {
	ReadMessage() (int, []byte, error)
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadLimit(limit int64)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// Message types of the websocket library.
const (
	textMessage  = 1
	closeMessage = 8
)

// Session is one socket: its caller, its subscriptions, its send queue.
type Session struct {
	hub    *Hub
	sock   Socket
	auth   Authenticate
	queue  chan []byte
	closed chan struct{}
	once   sync.Once
	// ping and expiry are the heartbeat's timers; under mu.
	ping, expiry *time.Timer
	// waitingAuth is set while a handshake-mode socket has not authenticated.
	waitingAuth atomic.Bool

	// tenant never changes: an auth message changes the caller, within the tenant.
	tenant string
	mu     sync.Mutex
	scope  Scope
	// scopeKey is scope.Key(), kept: every event groups every subscriber by it.
	scopeKey string
	subs     map[string]*subscription
	// lastSeen is when the client last said anything (pong included).
	lastSeen atomic.Int64

	// Writing: wmu is held by whoever writes to the connection (a sender writing at
	// once, the writer goroutine, a close frame); pending counts frames queued and not
	// yet written, so a sender writes at once only when it cannot overtake one.
	wmu         sync.Mutex
	pending     atomic.Int64
	sys         *sysConn // nil when the socket's connection has no file descriptor
	rest        []byte   // of a frame a sender could write only in part; under wmu
	deadlineSet time.Time

	// Pacing (pace.go), under pmu: text frames waiting for their turn, when the next
	// may leave, when the last event came, and the timer that lets them out.
	pmu       sync.Mutex
	held      []*heldFrame
	nextFrame time.Time
	lastEvent time.Time
	paceTimer *time.Timer
}

// sysConn is a connection the hub writes to without blocking.
type sysConn struct {
	conn net.Conn // under the library's wrapper
	raw  syscall.RawConn
}

func (c *sysConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// sysConnOf finds the file descriptor under a socket, if there is one.
func sysConnOf(sock Socket) *sysConn {
	rc, ok := sock.(rawConn)
	if !ok {
		return nil
	}
	conn := rc.NetConn()
	// fasthttp hands a hijacked connection over wrapped; its reads go through the
	// wrapper's buffer, its writes straight to the connection under it.
	if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
		conn = u.UnsafeConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &sysConn{conn: conn, raw: raw}
}

// Serve runs a socket until it closes. scope is the caller of the upgrade request
// (public, or the token given in ?access_token=).
func (h *Hub) Serve(sock Socket, scope Scope, auth Authenticate) {
	if int(h.count.Add(1)) > h.limits.MaxConnections {
		h.count.Add(-1)
		_ = sock.WriteControl(closeMessage, closePayload(CloseTryAgainLater, "too many connections"), time.Now().Add(time.Second))
		_ = sock.Close()
		return
	}
	s := &Session{hub: h, sock: sock, auth: auth, scope: scope, scopeKey: scope.Key(), tenant: scope.TenantID(), subs: map[string]*subscription{},
		queue: make(chan []byte, h.limits.SendQueue), closed: make(chan struct{})}
	s.lastSeen.Store(time.Now().UnixNano())
	s.sys = sysConnOf(sock)
	if p, ok := sock.(interface{ SetPingHandler(func(string) error) }); ok && s.sys != nil {
		// The library answers a client's ping itself, with a write of its own that
		// could land inside a frame written in parts: the answer queues like the rest.
		p.SetPingHandler(func(data string) error {
			s.sendFrame(appendFrame(nil, opPong, []byte(data)))
			return nil
		})
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.count.Add(-1)
		_ = sock.WriteControl(closeMessage, closePayload(CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		_ = sock.Close()
		return
	}
	h.sessions[s] = struct{}{}
	h.mu.Unlock()
	var running sync.WaitGroup
	defer func() {
		h.mu.Lock()
		delete(h.sessions, s)
		h.mu.Unlock()
		s.mu.Lock()
		subs := s.subs
		s.subs = map[string]*subscription{}
		s.mu.Unlock()
		for _, sub := range subs {
			h.index(s.tenant, sub, false)
		}
		h.count.Add(-1)
		s.closeWith(0, "")
		s.stopHeartbeat()
		// The connection is the server's again once Serve returns: nothing may
		// touch it after that. The writer has stopped; a sender writing at once holds
		// wmu, and one that takes it after this sees the socket closed.
		running.Wait()
		s.wmu.Lock()
		s.wmu.Unlock() // a barrier: it only waits out a write in flight
	}()
	sock.SetReadLimit(h.limits.MaxMessageBytes)
	if h.limits.AuthMode == "handshake" && !scope.Authenticated() {
		s.waitingAuth.Store(true)
		timer := time.AfterFunc(h.limits.AuthTimeout, func() {
			if s.waitingAuth.Load() {
				s.failAndClose("AUTH_TIMEOUT", "authenticate within "+h.limits.AuthTimeout.String(), "auth timeout")
			}
		})
		defer timer.Stop()
	}
	running.Add(1)
	go func() { defer running.Done(); s.writer() }()
	s.startHeartbeat()
	s.reader()
}

func closePayload(code int, reason string) []byte {
	b := []byte{byte(code >> 8), byte(code)}
	return append(b, reason...)
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// closeWith closes the socket once, with a close frame when code is set.
func (s *Session) closeWith(code int, reason string) {
	s.once.Do(func() {
		close(s.closed)
		if code != 0 {
			// The close frame goes between whole frames: after what a writer is writing
			// (given a second at most), and not at all after part of one.
			if s.sys != nil {
				_ = s.sys.SetWriteDeadline(time.Now().Add(time.Second))
			}
			s.wmu.Lock()
			if s.rest == nil {
				_ = s.sock.WriteControl(closeMessage, closePayload(code, reason), time.Now().Add(time.Second))
			}
			s.wmu.Unlock()
		}
		// The server owns a hijacked connection until Serve returns (closing it here
		// may do nothing), so wake the reader and any blocked write: Serve then ends
		// and the connection goes.
		now := time.Now()
		readUntil := now
		if code != 0 && s.sys != nil {
			// Closing a connection with unread input resets it, and a reset can
			// overtake the close frame (a client flooding the socket never saw why it
			// was cut off). So: end the sending side, and read on (discarding) until
			// the client answers the close, or a second.
			if cw, ok := s.sys.conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				readUntil = now.Add(time.Second)
			}
		}
		_ = s.sock.SetReadDeadline(readUntil)
		_ = s.sock.SetWriteDeadline(now)
		if raw, ok := s.sock.(rawConn); ok {
			if c := raw.NetConn(); c != nil {
				_ = c.SetWriteDeadline(now)
			}
		}
		_ = s.sock.Close()
	})
}

// send queues a message; a client that does not keep up is cut off rather than
// allowed to slow anyone else down.
func (s *Session) send(v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		s.hub.log.Error("realtime: encode message", "err", err)
		return
	}
	s.sendText(appendFrame(nil, opText, raw))
}

// sendFrame writes a whole websocket frame at once when nothing waits for the socket
// and its buffer has room, and otherwise queues it for the writer goroutine.
//
// Writing from the sender spares a wake-up of the socket's writer per message: with
// 1,000 subscribers that was 1,000 goroutine switches per event, a quarter of the
// server's time in the realtime benchmark. Big frames (an init snapshot) always go
// through the writer, which may wait for a slow network without holding anyone up.
func (s *Session) sendFrame(frame []byte) {
	select {
	case <-s.closed:
		return
	default:
	}
	if s.sys != nil && len(frame) <= maxDirectFrame && s.pending.Load() == 0 && s.wmu.TryLock() {
		written := false
		if s.pending.Load() == 0 && !s.isClosed() {
			written = s.writeNow(frame)
		}
		s.wmu.Unlock()
		if written {
			return
		}
	}
	s.enqueue(frame)
}

// maxDirectFrame bounds the frames a sender writes itself.
const maxDirectFrame = 16 << 10

// enqueue hands a frame to the writer goroutine (a nil frame just wakes it).
func (s *Session) enqueue(frame []byte) {
	s.pending.Add(1)
	select {
	case <-s.closed:
	case s.queue <- frame:
	default:
		s.pending.Add(-1)
		go s.closeWith(ClosePolicyViolated, "slow consumer: send queue full")
	}
}

// writeNow writes frame without waiting, under wmu, and reports whether the frame is
// taken care of: written, or written in part with the rest left to the writer (first
// in line: nothing else was pending), or the socket failed and is closing. It reports
// false when the socket's buffer had no room at all.
func (s *Session) writeNow(frame []byte) bool {
	s.renewDeadline(s.sys.SetWriteDeadline)
	off := 0
	var werr error
	err := s.sys.raw.Write(func(fd uintptr) bool {
		for off < len(frame) {
			n, e := syscall.Write(int(fd), frame[off:])
			if n > 0 {
				off += n
			}
			switch e {
			case nil, syscall.EINTR:
			case syscall.EAGAIN:
				return true
			default:
				werr = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil || werr != nil:
		go s.closeWith(0, "")
		return true
	case off == 0:
		return false
	case off < len(frame):
		// Frames are never changed once built (a group shares one): the rest can be
		// kept as it is.
		s.rest = frame[off:]
		s.enqueue(nil)
	}
	return true
}

// renewDeadline moves the write deadline on, at most once a second rather than at
// every write: at a hundred messages a second each renewal was a timer update of its
// own. It runs under wmu.
func (s *Session) renewDeadline(set func(time.Time) error) {
	if now := time.Now(); now.Sub(s.deadlineSet) > time.Second {
		s.deadlineSet = now
		_ = set(now.Add(s.hub.limits.WriteTimeout))
	}
}

// rawConn is a socket whose connection the writer may write frames to directly.
type rawConn interface{ NetConn() net.Conn }

// maxBatchBytes bounds the frames one write carries.
const maxBatchBytes = 256 << 10

func (s *Session) writer() {
	raw, batching := s.sock.(rawConn)
	var buf []byte
	for {
		select {
		case <-s.closed:
			return
		case frame := <-s.queue:
			s.wmu.Lock()
			if !batching {
				s.renewDeadline(s.sock.SetWriteDeadline)
				err := s.sock.WriteMessage(textMessage, framePayload(frame))
				s.pending.Add(-1)
				s.wmu.Unlock()
				if err != nil {
					s.closeWith(0, "")
					return
				}
				continue
			}
			// Under load many frames wait: they leave in one write (one system call)
			// instead of one each. One Write is never split by the library's own
			// control frames; the rest of a frame a sender wrote in part goes first.
			buf = append(append(buf[:0], s.rest...), frame...)
			s.rest = nil
			n := int64(1)
		drain:
			for len(buf) < maxBatchBytes {
				select {
				case more := <-s.queue:
					buf = append(buf, more...)
					n++
				default:
					break drain
				}
			}
			conn := raw.NetConn()
			s.renewDeadline(conn.SetWriteDeadline)
			_, err := conn.Write(buf)
			s.pending.Add(-n)
			s.wmu.Unlock()
			if err != nil {
				s.closeWith(0, "")
				return
			}
			if cap(buf) > 4*maxBatchBytes {
				buf = nil // do not keep a huge buffer for a quiet socket
			}
		}
	}
}

// Frame opcodes (RFC 6455 §5.2), with the final-fragment bit.
const (
	opText = 0x81
	opPong = 0x8A
)

// appendFrame appends an unmasked final frame (servers do not mask).
func appendFrame(b []byte, op byte, payload []byte) []byte {
	n := len(payload)
	b = slices.Grow(b, n+10)
	b = append(b, op)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, payload...)
}

// framePayload is the payload of a frame appendFrame built.
func framePayload(frame []byte) []byte {
	switch frame[1] {
	case 126:
		return frame[4:]
	case 127:
		return frame[10:]
	default:
		return frame[2:]
	}
}

// The heartbeat pings every interval and closes a socket silent for two intervals, or
// whose token expired. Both are timers of the runtime, not a goroutine per socket: at
// ten thousand sockets a goroutine each was tens of megabytes of stacks doing nothing.

// startHeartbeat arms the ping and expiry timers; stopHeartbeat disarms them.
func (s *Session) startHeartbeat() {
	s.mu.Lock()
	s.ping = time.AfterFunc(s.hub.limits.Heartbeat, s.tick)
	s.mu.Unlock()
	s.armExpiry()
}

func (s *Session) stopHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range []*time.Timer{s.ping, s.expiry} {
		if t != nil {
			t.Stop()
		}
	}
}

func (s *Session) tick() {
	select {
	case <-s.closed:
		return
	default:
	}
	every := s.hub.limits.Heartbeat
	if time.Since(time.Unix(0, s.lastSeen.Load())) > 2*every {
		s.closeWith(ClosePolicyViolated, "no pong")
		return
	}
	s.send(map[string]any{"type": "ping"})
	s.mu.Lock()
	s.ping.Reset(every)
	s.mu.Unlock()
}

// armExpiry sets the timer of the caller's token expiry (again when the socket
// authenticates anew).
func (s *Session) armExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	if exp := s.scope.Expires(); !exp.IsZero() {
		s.expiry = time.AfterFunc(time.Until(exp), func() {
			s.failAndClose("TOKEN_EXPIRED", "the access token expired; reconnect with a new one", "token expired")
		})
	}
}

// inbound is any client message.
type inbound struct {
	Type        string          `json:"type"`
	UID         string          `json:"uid"`
	AccessToken string          `json:"access_token"`
	Collection  string          `json:"collection"`
	Event       string          `json:"event"`
	Query       json.RawMessage `json:"query"`
}

func (s *Session) reader() {
	window, count := time.Now(), 0
	for {
		_, raw, err := s.sock.ReadMessage()
		if err != nil {
			if strings.Contains(err.Error(), "read limit") {
				s.closeWith(CloseTooBig, "message too big")
			}
			return
		}
		select {
		case <-s.closed:
			continue // closing: only waiting for the client's close
		default:
		}
		s.lastSeen.Store(time.Now().UnixNano())
		// A flood is abuse: more than the allowance in a second closes the socket.
		if now := time.Now(); now.Sub(window) > time.Second {
			window, count = now, 0
		}
		if count++; count > s.hub.limits.MessagesPerSec {
			s.closeWith(ClosePolicyViolated, "too many messages")
			continue // to read what else comes until the client answers the close
		}
		var in inbound
		if err := json.Unmarshal(raw, &in); err != nil {
			s.fail("unknown", "", "INVALID_PAYLOAD", "a message must be a JSON object")
			continue
		}
		if s.waitingAuth.Load() && in.Type != "auth" && in.Type != "ping" && in.Type != "pong" {
			s.fail(orUnknown(in.Type), in.UID, "INVALID_CREDENTIALS", "authenticate first: send {\"type\":\"auth\",\"access_token\":…}")
			continue
		}
		switch in.Type {
		case "ping":
			s.send(map[string]any{"type": "pong"})
		case "pong":
		case "auth":
			s.authenticate(in)
		case "subscribe":
			s.subscribe(in)
		case "unsubscribe":
			s.unsubscribe(in)
		default:
			s.fail(orUnknown(in.Type), in.UID, "INVALID_PAYLOAD", fmt.Sprintf("unknown message type %q (want auth, subscribe, unsubscribe, ping, pong)", in.Type))
		}
	}
}

func orUnknown(t string) string {
	if t == "" || len(t) > 32 {
		return "unknown"
	}
	return t
}

// failAndClose tells the client why its socket ends (an auth error), then closes it
// as a policy violation.
func (s *Session) failAndClose(code, message, reason string) {
	s.fail("auth", "", code, message)
	time.Sleep(50 * time.Millisecond) // let the message out first
	s.closeWith(ClosePolicyViolated, reason)
}

// fail answers a message with an error in the protocol's shape.
func (s *Session) fail(typ, uid, code, msg string) {
	out := map[string]any{"type": typ, "status": "error", "error": map[string]any{"code": code, "message": msg}}
	if uid != "" {
		out["uid"] = uid
	}
	s.send(out)
}

func (s *Session) authenticate(in inbound) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	scope, err := s.auth(ctx, in.AccessToken)
	if err != nil {
		code, msg := "AUTH_FAILED", "invalid credentials"
		var ae *apierr.Error
		if errors.As(err, &ae) && ae.Code == "TOKEN_EXPIRED" {
			code, msg = "TOKEN_EXPIRED", ae.Message
		}
		s.fail("auth", "", code, msg)
		return
	}
	s.mu.Lock()
	s.scope, s.scopeKey = scope, scope.Key()
	s.mu.Unlock()
	if scope.Authenticated() {
		s.waitingAuth.Store(false)
	}
	s.armExpiry()
	s.send(map[string]any{"type": "auth", "status": "ok"})
}

// subscription is one uid of one socket: a table, a query, and the ids it has seen.
type subscription struct {
	sess     *Session
	uid      string
	table    string
	event    string // "" for every event
	fields   string
	filter   json.RawMessage
	queryKey string

	mu       sync.Mutex
	known    map[string]bool
	overflow bool // more ids than Limits.KnownIDs: deletes go out unfiltered
}

// query is the subscribe message's query.
type subQuery struct {
	Fields any             `json:"fields"`
	Filter json.RawMessage `json:"filter"`
	Sort   any             `json:"sort"`
	Limit  *int            `json:"limit"`
}

func (s *Session) subscribe(in inbound) {
	if in.UID == "" {
		in.UID = fmt.Sprintf("%d", time.Now().UnixNano())
	}
	if len(in.UID) > 64 {
		s.fail("subscribe", "", "INVALID_PAYLOAD", "uid is longer than 64 characters")
		return
	}
	if in.Collection == "" {
		s.fail("subscribe", in.UID, "INVALID_PAYLOAD", "collection is required")
		return
	}
	switch in.Event {
	case "", "create", "update", "delete":
	default:
		s.fail("subscribe", in.UID, "INVALID_PAYLOAD", "event must be create, update or delete")
		return
	}
	var q subQuery
	if len(in.Query) > 0 && string(in.Query) != "null" {
		if err := json.Unmarshal(in.Query, &q); err != nil {
			s.fail("subscribe", in.UID, "INVALID_QUERY", "query must be an object with fields, filter, sort, limit")
			return
		}
	}
	sub := &subscription{sess: s, uid: in.UID, table: in.Collection, event: in.Event, known: map[string]bool{}}
	switch f := q.Fields.(type) {
	case nil:
		sub.fields = "*"
	case string:
		sub.fields = f
	case []any:
		var parts []string
		for _, x := range f {
			str, ok := x.(string)
			if !ok {
				s.fail("subscribe", in.UID, "INVALID_QUERY", "fields must be strings")
				return
			}
			parts = append(parts, str)
		}
		sub.fields = strings.Join(parts, ",")
	default:
		s.fail("subscribe", in.UID, "INVALID_QUERY", "fields must be a string or a list of strings")
		return
	}
	// The filter may come as an object or as a JSON string.
	if len(q.Filter) > 0 && string(q.Filter) != "null" {
		var str string
		if json.Unmarshal(q.Filter, &str) == nil {
			q.Filter = json.RawMessage(str)
		}
		var probe map[string]any
		if err := json.Unmarshal(q.Filter, &probe); err != nil {
			s.fail("subscribe", in.UID, "INVALID_QUERY", "filter must be a JSON object")
			return
		}
		sub.filter = q.Filter
	}
	sub.queryKey = sub.fields + "\x00" + string(sub.filter)
	s.mu.Lock()
	if _, dup := s.subs[in.UID]; !dup && len(s.subs) >= s.hub.limits.MaxSubscriptions {
		s.mu.Unlock()
		s.fail("subscribe", in.UID, "INVALID_PAYLOAD", fmt.Sprintf("at most %d subscriptions per socket", s.hub.limits.MaxSubscriptions))
		return
	}
	s.mu.Unlock()

	// The init snapshot doubles as the permission and query check: REST's parser
	// refuses a table the caller may not read, a bad filter, unknown fields.
	p := sub.params(nil)
	if q.Sort != nil {
		switch v := q.Sort.(type) {
		case string:
			p["sort"] = []string{v}
		case []any:
			var parts []string
			for _, x := range v {
				if str, ok := x.(string); ok {
					parts = append(parts, str)
				}
			}
			p["sort"] = []string{strings.Join(parts, ",")}
		}
	}
	limit := s.hub.limits.InitRows
	if q.Limit != nil && *q.Limit >= 0 && *q.Limit < limit {
		limit = *q.Limit
	}
	p["limit"] = []string{fmt.Sprint(limit)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	scope := s.scope
	s.mu.Unlock()
	rows, err := scope.List(ctx, sub.table, p)
	if err != nil {
		code, msg := "INTERNAL", "the subscription could not be read"
		var ae *apierr.Error
		if errors.As(err, &ae) {
			code, msg = ae.Code, ae.Message
		} else {
			s.hub.log.Error("realtime: init snapshot", "table", sub.table, "err", err)
		}
		s.fail("subscribe", in.UID, code, msg)
		return
	}
	for _, r := range rows {
		if id, ok := r["id"].(string); ok {
			sub.known[id] = true
		}
	}
	s.mu.Lock()
	old := s.subs[in.UID]
	s.subs[in.UID] = sub
	s.mu.Unlock()
	s.hub.index(s.tenant, old, false)
	s.hub.index(s.tenant, sub, true)
	s.send(map[string]any{"type": "subscription", "uid": in.UID, "event": "init", "data": stripID(rows, sub.fields)})
}

func (s *Session) unsubscribe(in inbound) {
	s.mu.Lock()
	sub, ok := s.subs[in.UID]
	delete(s.subs, in.UID)
	s.mu.Unlock()
	s.hub.index(s.tenant, sub, false)
	if !ok && in.UID != "" {
		s.fail("unsubscribe", in.UID, "INVALID_PAYLOAD", "no subscription with this uid")
	}
}

// params are the REST parameters of the subscription's query, narrowed to ids when
// given. The id is always read, to tell events apart; stripID removes it when the
// subscriber did not ask for it.
func (sub *subscription) params(ids []string) query.Params {
	p := query.Params{"fields": {withID(sub.fields)}}
	var conds []any
	if len(sub.filter) > 0 {
		conds = append(conds, sub.filter)
	}
	if ids != nil {
		conds = append(conds, map[string]any{"id": map[string]any{"_in": ids}})
	}
	switch len(conds) {
	case 1:
		raw, _ := json.Marshal(conds[0])
		p["filter"] = []string{string(raw)}
	case 2:
		raw, _ := json.Marshal(map[string]any{"_and": conds})
		p["filter"] = []string{string(raw)}
	}
	if ids != nil {
		p["limit"] = []string{fmt.Sprint(len(ids))}
	}
	return p
}

func withID(fields string) string {
	for _, f := range strings.Split(fields, ",") {
		if f = strings.TrimSpace(f); f == "id" || f == "*" {
			return fields
		}
	}
	return fields + ",id"
}

func asksID(fields string) bool { return withID(fields) == fields }

// stripID removes the id the subscriber did not ask for.
func stripID(rows []map[string]any, fields string) []map[string]any {
	if asksID(fields) {
		return rows
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		c := make(map[string]any, len(r))
		for k, v := range r {
			if k != "id" {
				c[k] = v
			}
		}
		out[i] = c
	}
	return out
}

// read reads the event's rows as this subscription's caller with its query.
func (sub *subscription) read(ctx context.Context, ids []string) ([]map[string]any, error) {
	sub.sess.mu.Lock()
	scope := sub.sess.scope
	sub.sess.mu.Unlock()
	return scope.List(ctx, sub.table, sub.params(ids))
}

// deliver sends one event to one subscription: create and update with the rows it may
// see and that match; a row it saw before that no longer matches (or may no longer be
// seen) as a delete; deletes only of rows it saw.
func (sub *subscription) deliver(ev ItemsEvent, rows []map[string]any, data []byte, frames map[string][]byte, track bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	var matched []map[string]any
	var gone []string
	switch {
	case !track && ev.Action == "delete":
		// It may read every row and asked for all of them: it saw these.
		gone = ev.IDs
	case !track:
		matched = rows
	case ev.Action == "delete":
		for _, id := range ev.IDs {
			if sub.known[id] || sub.overflow {
				gone = append(gone, id)
				delete(sub.known, id)
			}
		}
	default:
		seen := map[string]bool{}
		for _, r := range rows {
			id, _ := r["id"].(string)
			seen[id] = true
			matched = append(matched, r)
			sub.remember(id)
		}
		for _, id := range ev.IDs {
			if !seen[id] && sub.known[id] {
				gone = append(gone, id)
				delete(sub.known, id)
			}
		}
	}
	event := ev.Action
	if len(matched) > 0 && (sub.event == "" || sub.event == event) {
		// Subscribers of a group often share a uid: they share the frame too.
		sub.sess.sendEvent(sub.uid, event, data, func() []byte {
			frame, ok := frames[sub.uid]
			if !ok {
				frame = appendFrame(nil, opText, eventMessage(sub.uid, event, data))
				frames[sub.uid] = frame
			}
			return frame
		})
	}
	if len(gone) > 0 && (sub.event == "" || sub.event == "delete") {
		gone = slices.Clone(gone)
		slices.Sort(gone)
		ids, _ := json.Marshal(gone)
		sub.sess.sendEvent(sub.uid, "delete", ids, func() []byte {
			return appendFrame(nil, opText, eventMessage(sub.uid, "delete", ids))
		})
	}
}

// eventMessage is {"type":"subscription","uid":…,"event":…,"data":…} around rows
// encoded once for every subscriber of a group.
func eventMessage(uid, event string, data []byte) []byte {
	u, _ := json.Marshal(uid)
	b := make([]byte, 0, len(data)+len(u)+64)
	b = append(b, `{"type":"subscription","uid":`...)
	b = append(b, u...)
	b = append(b, `,"event":"`...)
	b = append(b, event...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

func (sub *subscription) remember(id string) {
	if id == "" || sub.overflow {
		return
	}
	if len(sub.known) >= sub.sess.hub.limits.KnownIDs {
		// Past the bound, deletes go to this subscriber unfiltered (ids only, of a
		// table it may read) rather than the memory growing without end.
		sub.overflow = true
		sub.known = nil
		return
	}
	sub.known[id] = true
}
