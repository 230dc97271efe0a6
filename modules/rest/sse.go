package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The one writer of server-sent events (an import's progress, a replay's steps, a fleet
// run's results).
//
// fasthttp writes an answer only after its handler returns, so a stream is a body that
// reads as the events come: the connection's goroutine asks for the next event and
// writes it out, and the work making them runs beside it. When the client goes away,
// fasthttp closes the body before it lets go of the request: Close tells the work (its
// sends fail from then on) and, for work that reads the request's body as it streams
// in, waits for it to end, so nothing reads a connection the server has moved on from.

// wantsEvents reports whether the client asked for server-sent events.
func wantsEvents(c *fiber.Ctx) bool {
	return strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream")
}

// sendEvent sends one event; false once the client is gone.
type sendEvent func(event string, v any) bool

// errClientGone stops work whose events no one reads any more.
var errClientGone = errors.New("the client has gone")

// sseKeepAlive is how long a stream may be silent before a comment keeps proxies from
// closing it.
const sseKeepAlive = 15 * time.Second

// streamEvents answers the request as server-sent events, which run sends. With
// readsBody, run reads the request's body (it must stop when a send fails) and the
// connection closes after the answer; otherwise run may go on after the client left,
// its sends failing. unrun, when given, is called instead of run when the client is
// gone before the stream began (what run would have let go of).
func streamEvents(c *fiber.Ctx, readsBody bool, run func(send sendEvent), unrun func()) {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // proxies must not hold the events back
	if readsBody {
		// What the client sends after the run stopped reading is not a request.
		c.Context().SetConnectionClose()
	}
	b := &sseBody{conn: c.Context().Conn(), run: run, unrun: unrun, readsBody: readsBody,
		events: make(chan []byte, 16), gone: make(chan struct{}), done: make(chan struct{})}
	c.Context().SetBodyStream(b, -1)
}

// sseBody is a stream of events as a response body.
type sseBody struct {
	conn      net.Conn
	run       func(send sendEvent)
	unrun     func()
	readsBody bool
	start     sync.Once
	events    chan []byte
	gone      chan struct{} // closed by Close
	goneOnce  sync.Once
	done      chan struct{} // closed when run has returned
	buf       []byte
}

func (b *sseBody) Read(p []byte) (int, error) {
	b.start.Do(func() { go b.produce() })
	for len(b.buf) == 0 {
		timer := time.NewTimer(sseKeepAlive)
		select {
		case ev, ok := <-b.events:
			timer.Stop()
			if !ok {
				return 0, io.EOF
			}
			b.buf = ev
		case <-timer.C:
			b.buf = []byte(": keep-alive\n\n")
		}
	}
	// The server's write timeout bounds a whole answer; a stream gets it afresh for
	// each event it writes.
	_ = b.conn.SetWriteDeadline(time.Now().Add(streamIdle))
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *sseBody) produce() {
	defer close(b.events)
	defer close(b.done)
	defer func() {
		if r := recover(); r != nil {
			b.send("error", map[string]any{"errors": []map[string]any{{"message": "an internal error occurred", "extensions": map[string]any{"code": "INTERNAL"}}}})
		}
	}()
	b.run(b.send)
}

func (b *sseBody) send(event string, v any) bool {
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte(`{"errors":[{"message":"unencodable event","extensions":{"code":"INTERNAL"}}]}`)
	}
	select {
	case <-b.gone:
		return false
	default:
	}
	select {
	case b.events <- fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, data):
		return true
	case <-b.gone:
		return false
	}
}

// Close is fasthttp's, once the answer is written or the client has gone.
func (b *sseBody) Close() error {
	b.goneOnce.Do(func() { close(b.gone) })
	started := false
	b.start.Do(func() { // never started: nothing to wait for
		close(b.done)
		if b.unrun != nil {
			b.unrun()
		}
	})
	select {
	case <-b.done:
	default:
		started = true
	}
	if started && b.readsBody {
		// A read of the body under way ends now, with an error the run stops on.
		_ = b.conn.SetReadDeadline(time.Now())
		<-b.done
	}
	return nil
}
