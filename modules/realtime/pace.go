package realtime

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Pacing. Directus's JS SDK takes a socket's messages one wait at a time: a
// subscription's async iterator adds a message listener, removes it when a message
// comes, and adds it again only after its consumer has handled that one. Browsers, Node
// and the ws library dispatch every frame of one socket read in a row, before the
// iterator can listen again, so all but the first frame of a read are lost to it: 50
// rows created at once reached a `for await` loop as 3 to 5 events.
//
// The server cannot see when a client has read a frame; it can send fewer frames, and
// none in quick succession. So a session lets at most one text frame leave per
// FrameGap, and rows wait a moment before they leave: until the session's events have
// stopped for half a FrameGap (at most maxHold gaps). Meanwhile the rows of one
// subscription's event merge into one message (data is a list in Directus's protocol).
// A lone event leaves half a gap late; a burst of writes (50 inserts a client makes at
// once) leaves as one message after it, when that client is listening again.

// maxHold bounds how long rows of a burst wait, in FrameGaps: a steady stream, whose
// changes never pause for half a gap, leaves every 1.5 gaps. Decision 0020 raised it to
// 5 and then 10 gaps while the gap alone had to keep a stalled client from reading two
// frames at once; read receipts do that now, and the hold only merges rows.
const maxHold = 1.5

// heldFrame is a text frame waiting for its turn: finished (frame), or an event whose
// data lists are still merging.
type heldFrame struct {
	frame      []byte
	uid, event string
	parts      [][]byte // JSON arrays, joined into one when the frame leaves
	size       int
	since      time.Time // when it began to wait
	// single is the message of the first part alone, as built once for every
	// subscriber of a group: it leaves as it is when nothing merged into it.
	single []byte
}

// maxMergedBytes bounds the data of one merged event; past it the next rows wait in
// a message of their own.
const maxMergedBytes = 256 << 10

// receiptWait is how long a frame that follows another waits for the client's pong,
// and how long after a frame the next still asks for one.
const receiptWait = time.Second

// sendText sends a finished text frame in its turn.
func (s *Session) sendText(frame []byte) {
	gap := s.hub.limits.FrameGap
	if gap <= 0 {
		s.sendFrame(frame)
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	now := time.Now()
	if len(s.held) == 0 && !now.Before(s.nextFrame) && !s.awaitingReceipt(now) {
		s.leave(frame, now)
		return
	}
	s.hold(&heldFrame{frame: frame, since: now}, now)
}

// sendEvent sends {"type":"subscription","uid":uid,"event":event,"data":data} in its
// turn, merged with a waiting message of the same subscription and event. frame
// builds the message of data alone, which subscribers of a group share; a merged
// message is built for its session when it leaves.
func (s *Session) sendEvent(uid, event string, data []byte, frame func() []byte) {
	gap := s.hub.limits.FrameGap
	if gap <= 0 {
		s.sendFrame(frame())
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	now := time.Now()
	s.lastEvent = now
	// Only the subscription's last waiting message may take the rows: merging into
	// an earlier one would put them before a different event of the same rows.
	for i := len(s.held) - 1; i >= 0; i-- {
		h := s.held[i]
		if h.uid != uid {
			continue
		}
		if h.frame == nil && h.event == event && h.size+len(data) <= maxMergedBytes {
			h.parts = append(h.parts, data)
			h.size += len(data)
			s.schedule(now)
			return
		}
		break
	}
	s.hold(&heldFrame{uid: uid, event: event, parts: [][]byte{data}, size: len(data), since: now, single: frame()}, now)
}

// hold queues h behind the frames already waiting. A client so far behind that the
// queue fills is cut off, as when the send queue fills. Under pmu.
func (s *Session) hold(h *heldFrame, now time.Time) {
	if len(s.held) >= s.hub.limits.SendQueue {
		go s.closeWith(ClosePolicyViolated, "slow consumer: send queue full")
		return
	}
	s.held = append(s.held, h)
	s.schedule(now)
}

// schedule sets the timer for the first waiting frame: not before the next frame may
// leave, and for an event, not before eventsDue. Under pmu.
func (s *Session) schedule(now time.Time) {
	if len(s.held) == 0 {
		return
	}
	head := s.held[0]
	at := now
	if head.frame == nil {
		at = s.eventsDue(head)
	}
	if at.Before(s.nextFrame) {
		at = s.nextFrame
	}
	if s.awaitingReceipt(now) {
		// The pong brings the frame forward (receipt); this is the time it gives up.
		if until := s.pingSent.Add(receiptWait); at.Before(until) {
			at = until
		}
	}
	wait := at.Sub(now)
	if s.paceTimer == nil {
		s.paceTimer = time.AfterFunc(wait, s.releaseHeld)
	} else {
		s.paceTimer.Reset(wait)
	}
}

// eventsDue is when a waiting event may leave: once the events have stopped for half
// a gap, or it has waited maxHold gaps. Under pmu.
func (s *Session) eventsDue(h *heldFrame) time.Time {
	gap := s.hub.limits.FrameGap
	at := s.lastEvent.Add(gap / 2)
	if most := h.since.Add(time.Duration(maxHold * float64(gap))); most.Before(at) {
		return most
	}
	return at
}

// releaseHeld lets the first waiting frame out when its time has come, and sets the
// timer for the next.
func (s *Session) releaseHeld() {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.isClosed() {
		s.held = nil
		return
	}
	if len(s.held) == 0 {
		return
	}
	now := time.Now()
	head := s.held[0]
	due := s.nextFrame
	if head.frame == nil {
		if at := s.eventsDue(head); at.After(due) {
			due = at
		}
	}
	// Too early when a timer set before the last event moved the time on, or when
	// the client has yet to confirm the frame before.
	if now.Before(due) || s.awaitingReceipt(now) {
		s.schedule(now)
		return
	}
	s.held[0] = nil
	s.held = s.held[1:]
	switch {
	case head.frame != nil:
	case len(head.parts) == 1:
		head.frame = head.single
	default:
		head.frame = appendFrame(nil, opText, eventMessage(head.uid, head.event, joinLists(head.parts)))
	}
	s.leave(head.frame, now)
	s.schedule(now)
}

// leave sends a text frame whose turn has come. Under pmu.
//
// A frame of a busy socket (more waiting, or one sent a moment ago) carries the ping
// that asks for its receipt in the same write: the pong is then usually back before the
// next frame's turn, and the ping costs no system call of its own.
func (s *Session) leave(frame []byte, now time.Time) {
	busy := len(s.held) > 0 || now.Sub(s.lastText) < receiptWait
	s.nextFrame = now.Add(s.hub.limits.FrameGap)
	s.lastText = now
	s.textSent++
	if s.receipts && busy && s.pingSent.IsZero() {
		// A shared frame is never changed: the ping goes behind a copy.
		frame = s.appendReceiptPing(append(make([]byte, 0, len(frame)+10), frame...), now)
	}
	s.sendFrame(frame)
}

// appendReceiptPing appends a ping asking the client to confirm every text frame
// sent so far. Under pmu.
func (s *Session) appendReceiptPing(b []byte, now time.Time) []byte {
	s.pingSeq++
	s.pingCovers = s.textSent
	s.pingSent = now
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], s.pingSeq)
	return appendFrame(b, opPing, seq[:])
}

// awaitingReceipt reports whether the next text frame must wait for the client to
// confirm the frames before it, and asks for that (a ping) if nothing has yet. Under pmu.
func (s *Session) awaitingReceipt(now time.Time) bool {
	if !s.receipts || s.textRead == s.textSent || now.Sub(s.lastText) >= receiptWait {
		return false
	}
	if s.pingSent.IsZero() {
		s.sendFrame(s.appendReceiptPing(nil, now))
		return true
	}
	if s.receiptsLate {
		return false
	}
	if now.Sub(s.pingSent) >= receiptWait {
		s.receiptsLate = true // the gap alone paces this client until its pong comes
		return false
	}
	return true
}

// receipt takes the client's pong: the frames sent before its ping have been read.
func (s *Session) receipt(data string) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.pingSent.IsZero() || len(data) != 8 || binary.BigEndian.Uint64([]byte(data)) != s.pingSeq {
		return // an answer to someone else's ping, or to one answered already
	}
	s.textRead = s.pingCovers
	s.pingSent = time.Time{}
	s.receiptsLate = false
	if len(s.held) > 0 && !s.isClosed() {
		s.schedule(time.Now())
	}
}

// joinLists joins JSON arrays (as json.Marshal writes them) into one.
func joinLists(parts [][]byte) []byte {
	out := []byte{'['}
	for _, p := range parts {
		p = bytes.TrimSpace(p)
		if len(p) < 2 || p[0] != '[' || p[len(p)-1] != ']' {
			continue
		}
		if inner := bytes.TrimSpace(p[1 : len(p)-1]); len(inner) > 0 {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, inner...)
		}
	}
	return append(out, ']')
}
