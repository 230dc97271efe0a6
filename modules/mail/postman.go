package mail

import (
	"context"
	"net/url"
	"strings"

	"strata/modules/database"
	"strata/modules/settings"
)

// Postman is what the auth flows call: it words a message in the tenant's templates,
// builds its link and queues it, and finds the server a tenant sends through.
type Postman struct {
	Queue    *Queue
	Sender   *Sender
	Settings *settings.Service
	// Platform is the node's server (STRATA_SMTP_*), for tenants without their own.
	Platform Server
	// PublicURL is where users reach this node's UI (STRATA_PUBLIC_URL): the default
	// base of the links mails carry, and an origin a link may always point at.
	PublicURL string
}

// ServerOf is the server a tenant with settings st sends through: its own when it has
// one, else the platform's.
func (p *Postman) ServerOf(st settings.Settings) (Server, error) {
	if st.SMTP.Host == "" {
		srv := p.Platform
		srv.Trusted = true
		return srv, nil
	}
	password, err := p.Settings.SMTPPassword(st)
	if err != nil {
		return Server{}, err
	}
	return Server{Host: st.SMTP.Host, Port: st.SMTP.Port, Username: st.SMTP.Username, Password: password, From: st.SMTP.From, Security: st.SMTP.Security}, nil
}

// TenantServer reads a tenant's settings and answers ServerOf.
func (p *Postman) TenantServer(ctx context.Context, tenantID string, db *database.DB) (Server, error) {
	st, err := p.Settings.Get(ctx, tenantID, db)
	if err != nil {
		return Server{}, err
	}
	return p.ServerOf(st)
}

// LinkAllowed reports whether a link a client asked for (reset_url, invite_url) may be
// mailed: on this node's UI, or on one of the tenant's auth_redirect_origins.
func (p *Postman) LinkAllowed(st settings.Settings, link string) bool {
	if st.AllowsRedirect(link) {
		return true
	}
	u, err := url.Parse(link)
	pub, perr := url.Parse(p.PublicURL)
	return err == nil && perr == nil && u.User == nil && (u.Scheme == "http" || u.Scheme == "https") &&
		strings.EqualFold(u.Scheme, pub.Scheme) && strings.EqualFold(u.Host, pub.Host)
}

// DefaultLink is this node's UI page for a token (reset-password, accept-invite,
// verify-email).
func (p *Postman) DefaultLink(slug, page string) string {
	return strings.TrimSuffix(p.PublicURL, "/") + "/#/t/" + url.PathEscape(slug) + "/" + page
}

// WithToken adds token=… to a link: to the query of the route in its fragment where it
// has one (the UI routes by fragment), else to its query.
func WithToken(link, token string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	if u.Fragment != "" {
		sep := "?"
		if strings.Contains(u.Fragment, "?") {
			sep = "&"
		}
		u.Fragment += sep + "token=" + url.QueryEscape(token)
		return u.String()
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	return u.String()
}

// Send words template for the recipient with link and queues it for the tenant.
func (p *Postman) Send(ctx context.Context, tenantID string, st settings.Settings, template, to, link string) error {
	msg := Render(template, st.MailTemplates, Vars{URL: link, Email: to, ProjectName: st.ProjectName})
	return p.Queue.Enqueue(ctx, tenantID, msg)
}
