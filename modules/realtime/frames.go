package realtime

import (
	"net"
	"slices"
	"syscall"
	"time"
)

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
	opPing = 0x89
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
