package realtime

import (
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

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
	// Read receipts (pace.go): receipts is set once, before the session starts; the
	// rest, under pmu, count the text frames sent and known read, and hold the ping in
	// flight (pingSent zero when none) with the count it covers.
	receipts           bool
	textSent, textRead uint64
	lastText           time.Time
	pingSeq            uint64
	pingCovers         uint64
	pingSent           time.Time
	receiptsLate       bool
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
		// Pings of the session's own are written raw too; their pongs are read receipts.
		if p, ok := sock.(interface{ SetPongHandler(func(string) error) }); ok {
			p.SetPongHandler(func(data string) error {
				s.lastSeen.Store(time.Now().UnixNano())
				s.receipt(data)
				return nil
			})
			s.receipts = true
		}
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
