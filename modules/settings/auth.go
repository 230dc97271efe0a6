package settings

import (
	"encoding/json"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"strata/modules/apierr"
)

// SMTP is the mail server a tenant sends through; an empty Host means the platform's
// (STRATA_SMTP_*). The password is never answered: PasswordSet says whether one is kept.
type SMTP struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Username    string `json:"username"`
	From        string `json:"from"`
	Security    string `json:"security"`
	PasswordSet bool   `json:"password_set"`
	// sealedPassword is the password as stored (Service.SMTPPassword opens it).
	sealedPassword string
}

// SMTPSecurities are how a connection to the mail server is protected: STARTTLS on a
// plain port (587), TLS from the first byte (465), or nothing (a local relay).
var SMTPSecurities = []string{"starttls", "tls", "none"}

// SMTPPatch changes some of the SMTP settings; a password of "" removes it.
type SMTPPatch struct {
	Host     *string `json:"host,omitempty"`
	Port     *int    `json:"port,omitempty"`
	Username *string `json:"username,omitempty"`
	Password *string `json:"password,omitempty"`
	From     *string `json:"from,omitempty"`
	Security *string `json:"security,omitempty"`
}

// MailTemplate is a tenant's own wording of one message: {{url}}, {{email}} and
// {{project_name}} in either part are replaced when it is sent (HTML-escaped in html).
type MailTemplate struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
}

// The messages Strata sends, by Directus's template names.
const (
	TemplatePasswordReset    = "password-reset"
	TemplateUserInvitation   = "user-invitation"
	TemplateUserRegistration = "user-registration"
)

// MailTemplateNames are the messages a tenant may word itself.
var MailTemplateNames = []string{TemplatePasswordReset, TemplateUserInvitation, TemplateUserRegistration}

// Bounds of what a tenant writes into mail settings.
const (
	MaxTemplateSubject = 255
	MaxTemplateHTML    = 64 << 10
)

// smtpColumns checks an SMTP patch and returns the columns it writes.
func (s *Service) smtpColumns(p *SMTPPatch, cols map[string]any) error {
	if p.Host != nil {
		h := strings.ToLower(strings.TrimSpace(*p.Host))
		if h != "" && net.ParseIP(h) == nil && (len(h) > 253 || !hostPattern.MatchString(h) || strings.HasPrefix(h, "*.")) {
			return apierr.InvalidPayload("smtp.host", "%q is not a host name or address", *p.Host)
		}
		cols["smtp_host"] = h
	}
	if p.Port != nil {
		if *p.Port < 0 || *p.Port > 65535 {
			return apierr.InvalidPayload("smtp.port", "port is 1 to 65535 (0: the usual port of the security)")
		}
		cols["smtp_port"] = *p.Port
	}
	if p.Username != nil {
		if len(*p.Username) > 255 {
			return apierr.InvalidPayload("smtp.username", "at most 255 characters")
		}
		cols["smtp_username"] = *p.Username
	}
	if p.Password != nil {
		if len(*p.Password) > 1024 {
			return apierr.InvalidPayload("smtp.password", "at most 1024 characters")
		}
		sealed, err := s.Sealer.Seal(*p.Password)
		if err != nil {
			return err
		}
		cols["smtp_password"] = sealed
	}
	if p.From != nil {
		if *p.From != "" {
			if _, err := mail.ParseAddress(*p.From); err != nil || len(*p.From) > 320 {
				return apierr.InvalidPayload("smtp.from", "from is an address, like no-reply@example.com or Acme <no-reply@example.com>")
			}
		}
		cols["smtp_from"] = *p.From
	}
	if p.Security != nil {
		if !slices.Contains(SMTPSecurities, *p.Security) {
			return apierr.InvalidPayload("smtp.security", "security is starttls, tls or none")
		}
		cols["smtp_security"] = *p.Security
	}
	return nil
}

// templatesColumn checks a tenant's mail templates and returns them as stored.
func templatesColumn(in map[string]MailTemplate) (string, error) {
	for name, t := range in {
		field := "mail_templates." + name
		if !slices.Contains(MailTemplateNames, name) {
			return "", apierr.InvalidPayload(field, "templates are %s", strings.Join(MailTemplateNames, ", "))
		}
		if strings.TrimSpace(t.Subject) == "" || len(t.Subject) > MaxTemplateSubject || strings.ContainsAny(t.Subject, "\r\n") {
			return "", apierr.InvalidPayload(field, "a subject is one line of 1 to %d characters", MaxTemplateSubject)
		}
		if strings.TrimSpace(t.HTML) == "" || len(t.HTML) > MaxTemplateHTML {
			return "", apierr.InvalidPayload(field, "html is 1 to %d bytes", MaxTemplateHTML)
		}
	}
	b, err := json.Marshal(in)
	return string(b), err
}

// AllowsRedirect reports whether Strata may send a user to rawURL after a sign-in or in
// a mail's link: an http(s) URL on one of auth_redirect_origins. Anything else could
// hand a token, or a user, to whoever wrote the URL.
func (st Settings) AllowsRedirect(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	origin := u.Scheme + "://" + strings.ToLower(u.Host)
	return slices.Contains(st.AuthRedirectOrigins, origin)
}

// redirectOrigins checks auth_redirect_origins: origins as cors_origins, but never "*".
func redirectOrigins(in []string) (string, error) {
	if slices.Contains(in, "*") {
		return "", apierr.InvalidPayload("auth_redirect_origins", "list each origin: * would send tokens and reset links anywhere")
	}
	origins, err := originList("auth_redirect_origins", in)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(origins)
	return string(b), nil
}

// SMTPPassword opens the tenant's SMTP password.
func (s *Service) SMTPPassword(st Settings) (string, error) {
	p, err := s.Sealer.Open(st.SMTP.sealedPassword)
	if err != nil {
		return "", fmt.Errorf("smtp password: %w", err)
	}
	return p, nil
}
