package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"strata/modules/apierr"
	"strata/modules/query"
)

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
