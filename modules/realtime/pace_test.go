package realtime

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"strata/modules/bus"
)

// receiptSocket is a session's socket over a real connection, whose library would
// parse the client's pongs; the test hands them to the session itself.
type receiptSocket struct {
	connSocket
	pong func(string) error
}

func (s *receiptSocket) SetPingHandler(func(string) error)   {}
func (s *receiptSocket) SetPongHandler(h func(string) error) { s.pong = h }

// TestFramesWaitForReadReceipts: a frame that follows another leaves only once the
// client has answered the ping sent behind the first, however long the client takes
// (Directus's SDK loses every frame but the first of one socket read, and a stalled
// client reads two frames paced by the gap alone at once). Rows merge meanwhile. A
// client that does not answer still gets its frames, and its late pong brings the
// receipts back.
func TestFramesWaitForReadReceipts(t *testing.T) {
	server, client := unixPair(t)
	b := bus.NewLocal()
	defer b.Close()
	h := NewHub(b, Limits{FrameGap: 5 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	sock := &receiptSocket{connSocket: connSocket{conn: server, stop: make(chan struct{})}}
	defer close(sock.stop)
	go h.Serve(sock, fakeScope{}, nil)
	sess := onlySession(h)
	if !sess.receipts {
		t.Fatal("a socket that reports pongs should pace by read receipts")
	}

	event := func(ids string) {
		data := []byte("[" + ids + "]")
		sess.sendEvent("u", "create", data, func() []byte { return appendFrame(nil, opText, eventMessage("u", "create", data)) })
	}
	r := bufio.NewReader(client)
	next := func(within time.Duration) (byte, []byte, error) {
		_ = client.SetReadDeadline(time.Now().Add(within))
		return readFrame(r)
	}
	wantText := func(data string) {
		t.Helper()
		op, payload, err := next(5 * time.Second)
		if err != nil || op != opText || !strings.Contains(string(payload), `"data":`+data) {
			t.Fatalf("want the event with %s, got %#x %s (%v)", data, op, payload, err)
		}
	}
	wantPing := func() string {
		t.Helper()
		op, payload, err := next(5 * time.Second)
		if err != nil || op != opPing || len(payload) != 8 {
			t.Fatalf("want a receipt ping, got %#x %q (%v)", op, payload, err)
		}
		return string(payload)
	}
	wantNothing := func(d time.Duration) {
		t.Helper()
		if op, payload, err := next(d); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("nothing should leave before the receipt, got %#x %s (%v)", op, payload, err)
		}
	}

	event("1")
	wantText("[1]")
	time.Sleep(20 * time.Millisecond) // well past the gap
	event("2")
	ping := wantPing()
	event("3")
	wantNothing(300 * time.Millisecond) // sixty gaps: the client has not read [1]
	if err := sock.pong(ping); err != nil {
		t.Fatal(err)
	}
	wantText("[2,3]")

	// A client that does not answer gets the next frame after receiptWait.
	event("4")
	late := wantPing()
	wantText("[4]")
	// Its pong, however late, brings the receipts back: the next frame waits again.
	if err := sock.pong(late); err != nil {
		t.Fatal(err)
	}
	event("5")
	ping = wantPing()
	wantNothing(100 * time.Millisecond)
	if err := sock.pong(ping); err != nil {
		t.Fatal(err)
	}
	wantText("[5]")
}
