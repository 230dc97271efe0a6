package testkit

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// MailCatcher is a real SMTP server on loopback that keeps what it is sent, for tests
// of the mail a server sends (as Mailpit does in development).
type MailCatcher struct {
	Addr string
	Port int

	mu       sync.Mutex
	caught   []CaughtMail
	failNext int
	arrived  chan struct{}
}

// CaughtMail is one message as it arrived.
type CaughtMail struct {
	From string
	To   []string
	Raw  []byte
}

// StartMailCatcher listens on a free loopback port until the test ends.
func StartMailCatcher(t testing.TB) *MailCatcher {
	t.Helper()
	m := &MailCatcher{arrived: make(chan struct{}, 100)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &catcherSession{m: m}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	m.Addr = ln.Addr().String()
	m.Port = ln.Addr().(*net.TCPAddr).Port
	return m
}

// FailNext makes the next n deliveries fail with a temporary error (451).
func (m *MailCatcher) FailNext(n int) {
	m.mu.Lock()
	m.failNext = n
	m.mu.Unlock()
}

// All returns what has arrived so far.
func (m *MailCatcher) All() []CaughtMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]CaughtMail(nil), m.caught...)
}

// To returns the messages sent to addr so far.
func (m *MailCatcher) To(addr string) []CaughtMail {
	var out []CaughtMail
	for _, c := range m.All() {
		for _, to := range c.To {
			if strings.EqualFold(to, addr) {
				out = append(out, c)
			}
		}
	}
	return out
}

// Wait waits up to timeout for the n-th message (counting from 1) to addr.
func (m *MailCatcher) Wait(t testing.TB, addr string, n int, timeout time.Duration) CaughtMail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := m.To(addr); len(got) >= n {
			return got[n-1]
		}
		select {
		case <-m.arrived:
		case <-deadline:
			t.Fatalf("no mail #%d to %s within %s (caught %d in all)", n, addr, timeout, len(m.All()))
		}
	}
}

// Header returns a header of the message, decoded.
func (c CaughtMail) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(c.Raw))
	if err != nil {
		return ""
	}
	v, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get(name))
	if err != nil {
		return msg.Header.Get(name)
	}
	return v
}

// Part returns the decoded body of the message's part of MIME type mediaType
// ("text/plain", "text/html"), or "".
func (c CaughtMail) Part(mediaType string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(c.Raw))
	if err != nil {
		return ""
	}
	return findPart(msg.Header, msg.Body, mediaType)
}

type headers interface{ Get(string) string }

func findPart(h headers, body io.Reader, want string) string {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err != nil {
				return ""
			}
			if s := findPart(p.Header, p, want); s != "" {
				return s
			}
		}
	}
	if mt != want {
		return ""
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

type catcherSession struct {
	m    *MailCatcher
	from string
	to   []string
}

func (s *catcherSession) Reset()        { s.from, s.to = "", nil }
func (s *catcherSession) Logout() error { return nil }
func (s *catcherSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *catcherSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *catcherSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.m
	m.mu.Lock()
	if m.failNext > 0 {
		m.failNext--
		m.mu.Unlock()
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m.caught = append(m.caught, CaughtMail{From: s.from, To: s.to, Raw: b})
	m.mu.Unlock()
	select {
	case m.arrived <- struct{}{}:
	default:
	}
	return nil
}
