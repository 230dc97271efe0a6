package bus

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A transport's channel is not private: on PostgreSQL any session of the control
// database (a tenant's custom SQL included) can pg_notify on it, and anyone who reaches
// Redis can PUBLISH. So every payload a transport sends is sealed, and one that does not
// open is dropped and counted:
//
//	b1.<unix ms>.<nonce>.<mac>.<body>
//
// mac is HMAC-SHA256, under the cluster key, of the channel, the time, the nonce and the
// body (the messages, each with its Origin node id). A frame is refused when its time is
// more than MaxAge away from the receiver's clock (so one captured frame cannot be sent
// again later), or when its nonce was already accepted (so it cannot be sent again
// sooner either). Nodes' clocks must agree within MaxAge, as NTP keeps them.

// sealVersion starts every sealed frame.
const sealVersion = "b1"

// sealOverhead bounds what sealing adds to a body: the version, a 13-digit time, a
// 16-character nonce, a 43-character MAC and four dots.
const sealOverhead = len(sealVersion) + 13 + 16 + 43 + 4

// DefaultMaxAge is how far a frame's time may be from the receiver's clock.
const DefaultMaxAge = 30 * time.Second

// ErrUnsealed is why a payload was refused: not sealed with the cluster key, too old,
// or seen before.
var ErrUnsealed = errors.New("bus: payload not sealed by this cluster")

// DeriveKey derives the cluster bus key from the JWT secret (when STRATA_BUS_KEY is not
// set). The label keeps it apart from every other use of that secret: a MAC the bus
// makes is never a valid token signature, nor the other way round.
func DeriveKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("strata cluster bus key v1"))
	return m.Sum(nil)
}

// Seal signs the payloads a transport sends and checks those it receives.
type Seal struct {
	key    []byte
	maxAge time.Duration
	now    func() time.Time

	rejected atomic.Uint64

	mu    sync.Mutex
	seen  map[string]int64 // nonces accepted, by their frame's time (unix ms)
	swept time.Time
}

// NewSeal returns a Seal with key (at least 32 bytes) and DefaultMaxAge.
func NewSeal(key []byte) (*Seal, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("bus: the cluster key must be at least 32 bytes, got %d", len(key))
	}
	return &Seal{key: bytes.Clone(key), maxAge: DefaultMaxAge, now: time.Now, seen: map[string]int64{}}, nil
}

// Rejected counts the payloads refused since the start.
func (s *Seal) Rejected() uint64 { return s.rejected.Load() }

func (s *Seal) mac(channel, ts, nonce string, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	// Lengths first, so no two different tuples write the same bytes.
	fmt.Fprintf(m, "%d:%s|%s|%s|", len(channel), channel, ts, nonce)
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// seal frames body for channel.
func (s *Seal) seal(channel string, body []byte) []byte {
	ts := strconv.FormatInt(s.now().UnixMilli(), 10)
	n := make([]byte, 12)
	if _, err := rand.Read(n); err != nil {
		panic(err) // the system's randomness source failing is not recoverable
	}
	nonce := base64.RawURLEncoding.EncodeToString(n)
	out := make([]byte, 0, len(body)+sealOverhead)
	out = append(out, sealVersion+"."+ts+"."+nonce+"."+s.mac(channel, ts, nonce, body)+"."...)
	return append(out, body...)
}

// open returns the body of a frame received on channel, or ErrUnsealed (and counts it).
func (s *Seal) open(channel string, frame []byte) ([]byte, error) {
	body, err := s.check(channel, frame)
	if err != nil {
		s.rejected.Add(1)
		return nil, fmt.Errorf("%w: %v", ErrUnsealed, err)
	}
	return body, nil
}

func (s *Seal) check(channel string, frame []byte) ([]byte, error) {
	parts := bytes.SplitN(frame, []byte{'.'}, 5)
	if len(parts) != 5 || string(parts[0]) != sealVersion {
		return nil, errors.New("no seal")
	}
	ts, nonce, mac, body := string(parts[1]), string(parts[2]), parts[3], parts[4]
	if !hmac.Equal(mac, []byte(s.mac(channel, ts, nonce, body))) {
		return nil, errors.New("bad mac")
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errors.New("bad time")
	}
	now := s.now()
	if d := now.Sub(time.UnixMilli(ms)); d > s.maxAge || d < -s.maxAge {
		return nil, fmt.Errorf("sent %s from this node's clock", d.Round(time.Millisecond))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.seen[nonce]; dup {
		return nil, errors.New("replayed")
	}
	// A nonce need only be remembered while its frame's time would still be accepted.
	if now.Sub(s.swept) > s.maxAge {
		oldest := now.Add(-s.maxAge).UnixMilli()
		for k, t := range s.seen {
			if t < oldest {
				delete(s.seen, k)
			}
		}
		s.swept = now
	}
	s.seen[nonce] = ms
	return body, nil
}
