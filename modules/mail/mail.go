// Package mail sends the messages of the auth flows (password reset, invitations,
// email verification) through a tenant's SMTP server or the platform's, from a queue in
// the control database that retries and survives a restart.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"strata/modules/files"
)

// Server is where a message is sent from.
type Server struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// Security is "starttls" (required, not merely tried), "tls" or "none".
	Security string
	// Trusted is the platform's own server (STRATA_SMTP_*): it may be on a private
	// address. A tenant's server may not, unless the node allows it, as a tenant admin
	// could otherwise make the node talk to the platform's own services.
	Trusted bool
}

// Configured reports whether there is a server to send through.
func (s Server) Configured() bool { return s.Host != "" && s.From != "" }

// Message is one mail to one recipient.
type Message struct {
	To      string
	Subject string
	HTML    string
	Text    string
}

// ErrNotConfigured is the answer where neither the tenant nor the platform has a mail
// server.
var ErrNotConfigured = errors.New("no mail server: set the tenant's smtp settings or the node's STRATA_SMTP_HOST and STRATA_SMTP_FROM")

// SendTimeout bounds one delivery: connecting, the conversation and the message.
const SendTimeout = 30 * time.Second

// Sender delivers messages.
type Sender struct {
	// Private lets a tenant's server be on a private or loopback address.
	Private bool
}

// Send delivers msg through srv now.
func (s *Sender) Send(ctx context.Context, srv Server, msg Message) error {
	if !srv.Configured() {
		return ErrNotConfigured
	}
	m := gomail.NewMsg()
	if err := m.From(srv.From); err != nil {
		return fmt.Errorf("from %q: %w", srv.From, err)
	}
	if err := m.To(msg.To); err != nil {
		return fmt.Errorf("to %q: %w", msg.To, err)
	}
	m.Subject(msg.Subject)
	m.SetMessageID()
	m.SetDate()
	// Automatic mail: auto-responders should not answer it.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	port := srv.Port
	opts := []gomail.Option{gomail.WithTimeout(SendTimeout),
		gomail.WithDialContextFunc(files.OutboundDialer(srv.Trusted || s.Private).DialContext)}
	switch srv.Security {
	case "tls":
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		if port == 0 {
			port = 25
		}
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		if port == 0 {
			port = 587
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if srv.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(srv.Username), gomail.WithPassword(srv.Password))
	}
	c, err := gomail.NewClient(srv.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		if files.IsPrivateAddress(err) {
			return fmt.Errorf("send through %s: the mail server's address is inside this network, which tenants' mail servers may not be", net.JoinHostPort(srv.Host, fmt.Sprint(port)))
		}
		return fmt.Errorf("send through %s: %w", net.JoinHostPort(srv.Host, fmt.Sprint(port)), err)
	}
	return nil
}

// ValidAddress reports whether to is one plain address (no display name, no list), as
// a recipient must be.
func ValidAddress(to string) bool {
	a, err := mail.ParseAddress(to)
	return err == nil && a.Address == to && !strings.ContainsAny(to, "\r\n,;")
}
