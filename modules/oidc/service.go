package oidc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"strata/modules/auth"
	"strata/modules/cache"
	"strata/modules/files"
	"strata/modules/identity"
	"strata/modules/settings"
)

// Sealer keeps client secrets unreadable at rest (settings.Sealer).
type Sealer interface {
	Seal(plain string) (string, error)
	Open(sealed string) (string, error)
}

// Service configures providers and runs sign-ins through them.
type Service struct {
	Identity *identity.Service
	Auth     *auth.Service
	// Settings says where a sign-in may send the browser back to
	// (auth_redirect_origins).
	Settings *settings.Service
	Sealer   Sealer
	// Private lets outbound calls reach private and loopback addresses, and endpoints
	// be http:// (STRATA_OIDC_PRIVATE: a provider on a development network, tests).
	Private bool
	// PublicURL is where browsers reach the API (scheme://host[:port]), the base of the
	// callback URL providers send them back to; "" takes the request's own (behind a
	// proxy, set it: the request's scheme or host may be the proxy's).
	PublicURL string
	// Timeout bounds each call to a provider (default 10s).
	Timeout time.Duration
	Now     func() time.Time
	NewID   func() string

	clientOnce sync.Once
	client     *http.Client
	// discovered keeps providers found by their issuers, per tenant, for DiscoveryTTL.
	discovered     cache.TTL[*gooidc.Provider]
	discoveredOnce sync.Once
}

// Lifetimes of what a sign-in keeps: a state from the provider's page to the callback,
// a two-factor ticket from the callback to the code, and a discovered provider.
const (
	StateTTL     = 10 * time.Minute
	TicketTTL    = 2 * time.Minute
	DiscoveryTTL = 5 * time.Minute
	// maxBody bounds what a provider may answer (discovery, keys, tokens, userinfo).
	maxBody = 1 << 20
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// httpClient is the client every call to a provider goes through: a provider's address
// is a tenant admin's choice, so it reaches public addresses only (unless Private), at
// connect time, after name resolution; follows no redirects; answers at most maxBody
// bytes; and takes at most Timeout.
func (s *Service) httpClient() *http.Client {
	s.clientOnce.Do(func() {
		timeout := s.Timeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		c := files.OutboundClient(s.Private, timeout, func(string) bool { return false })
		c.Transport = limitedBody{c.Transport}
		s.client = c
	})
	return s.client
}

// limitedBody cuts every answer at maxBody bytes.
type limitedBody struct{ next http.RoundTripper }

func (l limitedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxBody), resp.Body}
	}
	return resp, err
}

// withClient makes go-oidc and x/oauth2 call through httpClient.
func (s *Service) withClient(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, s.httpClient())
}

// endpoints are what a sign-in with a provider talks to.
type endpoints struct {
	oauth2.Endpoint
	userinfo string
	// oidc is the discovered provider (its keys verify ID tokens); nil for plain OAuth2.
	oidc *gooidc.Provider
}

// resolve finds p's endpoints: for OpenID Connect by discovery, kept for DiscoveryTTL
// per tenant and issuer (so an edit of the issuer takes effect at once), with the keys
// the provider fetched.
func (s *Service) resolve(ctx context.Context, tenantID string, p *Provider) (*endpoints, error) {
	if p.Kind != KindOIDC {
		return &endpoints{Endpoint: oauth2.Endpoint{AuthURL: p.AuthorizationURL, TokenURL: p.TokenURL}, userinfo: p.UserinfoURL}, nil
	}
	s.discoveredOnce.Do(func() { s.discovered.TTL, s.discovered.Max = DiscoveryTTL, 1000 })
	key := tenantID + "\x00" + p.Issuer
	prov, gen, fresh := s.discovered.Get(key)
	if !fresh {
		var err error
		if prov, err = gooidc.NewProvider(s.withClient(ctx), p.Issuer); err != nil {
			return nil, fmt.Errorf("discover %s: %w", p.Issuer, err)
		}
		s.discovered.Put(key, prov, gen)
	}
	return &endpoints{Endpoint: prov.Endpoint(), userinfo: prov.UserInfoEndpoint(), oidc: prov}, nil
}
