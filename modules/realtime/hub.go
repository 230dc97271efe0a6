package realtime

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"strata/modules/bus"
)

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
