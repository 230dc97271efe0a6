package realtime

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/modules/apierr"
	"strata/modules/bus"
	"strata/modules/query"
)

func TestCoalesce(t *testing.T) {
	ev := func(tenant, table, action string, ids ...string) bus.Message {
		raw, _ := json.Marshal(ItemsEvent{Table: table, Action: action, IDs: ids})
		return bus.Message{Topic: bus.TopicItems, Tenant: tenant, Data: raw}
	}
	in := []bus.Message{
		ev("t1", "posts", "create", "a"), ev("t1", "posts", "create", "b"), ev("t1", "posts", "update", "a"),
		ev("t2", "posts", "update", "c"), ev("t1", "posts", "update", "b"), {Topic: bus.TopicSchema, Tenant: "t1"},
		ev("t1", "posts", "update", "d"), ev("t1", "posts", "update", "e"),
	}
	var got []string
	for _, e := range coalesce(in) {
		var ev ItemsEvent
		if e.items != nil {
			ev = *e.items
		}
		got = append(got, e.msg.Tenant+" "+e.msg.Topic+" "+ev.Action+" "+joinIDs(ev.IDs))
	}
	want := []string{"t1 items create a,b", "t1 items update a", "t2 items update c", "t1 items update b", "t1 schema  ", "t1 items update d,e"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ","
		}
		out += id
	}
	return out
}

// fakeSocket feeds a session scripted frames and collects what it writes.
type fakeSocket struct {
	in  chan []byte
	out chan []byte
}

func (f *fakeSocket) ReadMessage() (int, []byte, error) {
	m, ok := <-f.in
	if !ok {
		return 0, nil, io.EOF
	}
	return textMessage, m, nil
}
func (f *fakeSocket) WriteMessage(_ int, data []byte) error {
	f.out <- append([]byte(nil), data...)
	return nil
}
func (f *fakeSocket) WriteControl(int, []byte, time.Time) error { return nil }
func (f *fakeSocket) SetReadLimit(int64)                        {}
func (f *fakeSocket) SetReadDeadline(time.Time) error           { return nil }
func (f *fakeSocket) SetWriteDeadline(time.Time) error          { return nil }
func (f *fakeSocket) Close() error                              { return nil }

// fakeScope reads nothing and refuses nothing but the table "secret".
type fakeScope struct{}

func (fakeScope) TenantID() string                          { return "t" }
func (fakeScope) Key() string                               { return "k" }
func (fakeScope) Expires() time.Time                        { return time.Time{} }
func (fakeScope) Authenticated() bool                       { return false }
func (fakeScope) Subject() string                           { return "" }
func (fakeScope) Unrestricted(context.Context, string) bool { return true }
func (fakeScope) List(_ context.Context, table string, _ query.Params) ([]map[string]any, error) {
	if table == "secret" {
		return nil, apierr.Forbidden("no")
	}
	return []map[string]any{{"id": "a"}}, nil
}

// FuzzClientMessage: whatever a client sends, the session answers with JSON messages
// (or nothing) and never panics; a ping after it is still answered.
func FuzzClientMessage(f *testing.F) {
	for _, seed := range []string{`{"type":"ping"}`, `{"type":"subscribe","collection":"posts","uid":"u","query":{"fields":["id"],"filter":{"id":{"_eq":"a"}}}}`,
		`{"type":"subscribe","collection":"posts","query":{"filter":"{\"id\":1}"}}`, `{"type":"subscribe","collection":"secret"}`,
		`{"type":"unsubscribe","uid":"u"}`, `{"type":"auth","access_token":"x"}`, `not json`, `[]`, `{"type":5}`, `{"type":"subscribe","event":"nope"}`} {
		f.Add([]byte(seed))
	}
	b := bus.NewLocal()
	defer b.Close()
	h := NewHub(b, Limits{MessagesPerSec: 1000}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	f.Fuzz(func(t *testing.T, msg []byte) {
		sock := &fakeSocket{in: make(chan []byte, 2), out: make(chan []byte, 64)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.Serve(sock, fakeScope{}, func(context.Context, string) (Scope, error) { return nil, apierr.Unauthorized("AUTH_FAILED", "no") })
		}()
		sock.in <- msg
		sock.in <- []byte(`{"type":"ping"}`)
		for {
			select {
			case raw := <-sock.out:
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatalf("not JSON: %q", raw)
				}
				if m["type"] == "pong" {
					close(sock.in)
					<-done
					return
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no pong after %q", msg)
			}
		}
	})
}

// connSocket is a session's socket over a real connection: writes go to the
// connection's file descriptor as in production; reads wait until the test ends.
type connSocket struct {
	conn net.Conn
	stop chan struct{}
}

func (s *connSocket) NetConn() net.Conn { return s.conn }
func (s *connSocket) ReadMessage() (int, []byte, error) {
	<-s.stop
	return 0, nil, io.EOF
}
func (s *connSocket) WriteMessage(int, []byte) error            { return errors.New("not used") }
func (s *connSocket) WriteControl(int, []byte, time.Time) error { return nil }
func (s *connSocket) SetReadLimit(int64)                        {}
func (s *connSocket) SetReadDeadline(time.Time) error           { return nil }
func (s *connSocket) SetWriteDeadline(t time.Time) error        { return s.conn.SetWriteDeadline(t) }
func (s *connSocket) Close() error                              { return nil }

// TestFramesSurviveFullBuffers: frames written at once by senders, in part when the
// socket's buffer fills, and by the writer goroutine when it is full, reach a client
// that did not read for a while whole and in each sender's order.
func TestFramesSurviveFullBuffers(t *testing.T) {
	// A Unix socket: unlike loopback TCP (which takes a whole write of this size or
	// none of it), it takes writes in part when its buffer is nearly full.
	server, client := unixPair(t)
	_ = server.SetWriteBuffer(8 << 10)

	b := bus.NewLocal()
	defer b.Close()
	h := NewHub(b, Limits{SendQueue: 10000}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	sock := &connSocket{conn: server, stop: make(chan struct{})}
	defer close(sock.stop)
	go h.Serve(sock, fakeScope{}, nil)
	sess := onlySession(h)
	if sess.sys == nil {
		t.Fatal("a connection with a file descriptor should be written to directly")
	}

	// Two senders, each numbering its frames, with sizes from a few bytes to past what a
	// sender writes itself. The first sends while the client does not read, until the
	// buffer is full; the second while the client reads, so senders and the writer
	// goroutine take turns.
	const perSender = 3000
	size := func(i int) int {
		switch {
		case i%97 == 96:
			return maxDirectFrame + 1000
		case i%7 == 6:
			return 12000 // more than the socket takes at once (half its buffer)
		}
		return i*7919%3000 + 1
	}
	send := func(sender int) {
		for i := range perSender {
			msg := fmt.Sprintf("%d:%d:%s", sender, i, strings.Repeat("x", size(i)))
			sess.sendFrame(appendFrame(nil, opText, []byte(msg)))
		}
	}
	send(0)
	read := make(chan error, 1)
	go func() { read <- readFrames(client, 2*perSender, size) }()
	send(1)
	if err := <-read; err != nil {
		t.Fatal(err)
	}
}

// unixPair connects two ends of a Unix socket, closed when the test ends.
func unixPair(t *testing.T) (server *net.UnixConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = (<-accepted).(*net.UnixConn)
	t.Cleanup(func() { server.Close() })
	return server, client
}

// readFrames reads n text frames and checks that each sender's frames come whole and
// in order ("sender:i:xxx…", with size(i) x's).
func readFrames(conn net.Conn, n int, size func(int) int) error {
	r := bufio.NewReader(conn)
	next := map[int]int{}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for got := range n {
		op, payload, err := readFrame(r)
		if err != nil {
			return fmt.Errorf("frame %d: %w", got, err)
		}
		if op != opText {
			return fmt.Errorf("frame %d: opcode byte %#x", got, op)
		}
		var sender, i int
		var rest string
		if _, err := fmt.Sscanf(string(payload), "%d:%d:%s", &sender, &i, &rest); err != nil {
			return fmt.Errorf("frame %d: payload %.40q", got, payload)
		}
		if i != next[sender] || len(rest) != size(i) {
			return fmt.Errorf("sender %d: frame %d (%d bytes) where %d was due", sender, i, len(rest), next[sender])
		}
		next[sender]++
	}
	return nil
}

// readFrame reads one unmasked frame: its first byte (final bit and opcode) and payload.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, nil, err
	}
	length := int(head[1])
	switch length {
	case 126:
		ext := make([]byte, 2)
		if _, err := io.ReadFull(r, ext); err != nil {
			return 0, nil, err
		}
		length = int(binary.BigEndian.Uint16(ext))
	case 127:
		ext := make([]byte, 8)
		if _, err := io.ReadFull(r, ext); err != nil {
			return 0, nil, err
		}
		length = int(binary.BigEndian.Uint64(ext))
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("payload of %d bytes: %w", length, err)
	}
	return head[0], payload, nil
}

// silentSocket is a client that never says anything: reads wait until the session
// wakes them with a read deadline, as it does when it closes.
type silentSocket struct {
	fakeSocket
	wake chan struct{}
	once sync.Once
}

func (s *silentSocket) ReadMessage() (int, []byte, error) {
	<-s.wake
	return 0, nil, io.EOF
}

func (s *silentSocket) SetReadDeadline(t time.Time) error {
	if !t.After(time.Now()) {
		s.once.Do(func() { close(s.wake) })
	}
	return nil
}

// TestHeartbeat: a socket is pinged every interval and closed once it has been silent
// for two.
func TestHeartbeat(t *testing.T) {
	b := bus.NewLocal()
	defer b.Close()
	h := NewHub(b, Limits{Heartbeat: 40 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	sock := &silentSocket{fakeSocket: fakeSocket{out: make(chan []byte, 64)}, wake: make(chan struct{})}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		h.Serve(sock, fakeScope{}, nil)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a silent socket was not closed")
	}
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Fatalf("closed after %s, before two intervals of silence", took)
	}
	pings := 0
	for len(sock.out) > 0 {
		var m map[string]any
		if err := json.Unmarshal(<-sock.out, &m); err == nil && m["type"] == "ping" {
			pings++
		}
	}
	if pings == 0 {
		t.Fatal("no ping before the close")
	}
	if h.Sessions() != 0 {
		t.Fatalf("%d sessions left", h.Sessions())
	}
}

// TestPacedEventsMerge: events of a burst merge with the waiting message of the same
// subscription and event, never across another event of that subscription, and every
// frame leaves in order.
func TestPacedEventsMerge(t *testing.T) {
	b := bus.NewLocal()
	defer b.Close()
	h := NewHub(b, Limits{FrameGap: 20 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	sock := &fakeSocket{in: make(chan []byte), out: make(chan []byte, 100)}
	defer close(sock.in)
	go h.Serve(sock, fakeScope{}, nil)
	sess := onlySession(h)
	event := func(uid, ev, data string) {
		sess.sendEvent(uid, ev, []byte(data), func() []byte {
			return appendFrame(nil, opText, eventMessage(uid, ev, []byte(data)))
		})
	}
	event("u", "create", `[{"id":"1"}]`)
	event("u", "create", `[{"id":"2"}]`)
	event("u", "create", `[]`)
	event("u", "create", `[{"id":"3"}]`)
	event("u", "update", `[{"id":"1"}]`)
	event("v", "create", `[{"id":"9"}]`)
	event("u", "create", `[{"id":"4"}]`)
	sess.send(map[string]any{"type": "pong"})
	want := []string{
		`{"type":"subscription","uid":"u","event":"create","data":[{"id":"1"},{"id":"2"},{"id":"3"}]}`,
		`{"type":"subscription","uid":"u","event":"update","data":[{"id":"1"}]}`,
		`{"type":"subscription","uid":"v","event":"create","data":[{"id":"9"}]}`,
		`{"type":"subscription","uid":"u","event":"create","data":[{"id":"4"}]}`,
		`{"type":"pong"}`,
	}
	for i, w := range want {
		select {
		case got := <-sock.out:
			if string(got) != w {
				t.Fatalf("frame %d = %s, want %s", i, got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("frame %d never came", i)
		}
	}
}

// onlySession waits for the hub's one session to register and returns it.
func onlySession(h *Hub) *Session {
	for {
		h.mu.RLock()
		for s := range h.sessions {
			h.mu.RUnlock()
			return s
		}
		h.mu.RUnlock()
		time.Sleep(time.Millisecond)
	}
}
