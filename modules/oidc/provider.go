// Package oidc signs a tenant's users in through OAuth2 and OpenID Connect providers:
// the providers a tenant admin configures (strata_auth_providers, the client secret
// sealed), the sign-ins under way and the two-factor tickets (strata_auth_states, single
// use, short-lived, by hash), and the resolution of a provider's account to a user
// (linked, matched by a verified email, or created). Outbound calls go through a client
// that refuses private and loopback addresses unless the node allows them. It knows
// nothing of HTTP routes, cookies or redirects' transport: the rest package serves it,
// and auth opens the session.
package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/files"
	"strata/modules/identity"
	"strata/schema"
)

const providersTable = "strata_auth_providers"

// Kinds of provider: OpenID Connect, found by discovery from its issuer, or plain OAuth2
// with its three endpoints.
const (
	KindOIDC   = "oidc"
	KindOAuth2 = "oauth2"
)

// Provider is one sign-in provider of a tenant, as admins read it: the client secret is
// never answered, only whether one is kept.
type Provider struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Label            string            `json:"label"`
	Kind             string            `json:"kind"`
	Issuer           string            `json:"issuer"`
	AuthorizationURL string            `json:"authorization_url"`
	TokenURL         string            `json:"token_url"`
	UserinfoURL      string            `json:"userinfo_url"`
	ClientID         string            `json:"client_id"`
	ClientSecretSet  bool              `json:"client_secret_set"`
	Scopes           []string          `json:"scopes"`
	RoleClaim        string            `json:"role_claim"`
	RoleMap          map[string]string `json:"role_map"`
	DefaultRole      string            `json:"default_role"`
	AllowSignup      bool              `json:"allow_signup"`
	Enabled          bool              `json:"enabled"`
	CreatedAt        *time.Time        `json:"created_at"`
	UpdatedAt        *time.Time        `json:"updated_at"`
	// secret is the client secret as stored (sealed); Open reads it.
	secret string
}

// Public is what anyone may know of an enabled provider: enough for a sign-in button.
type Public struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// Input is a provider as admins write it; nil fields stay as they are (a new provider
// starts empty). A client_secret of "" removes the secret.
type Input struct {
	Name             *string            `json:"name,omitempty"`
	Label            *string            `json:"label,omitempty"`
	Issuer           *string            `json:"issuer,omitempty"`
	AuthorizationURL *string            `json:"authorization_url,omitempty"`
	TokenURL         *string            `json:"token_url,omitempty"`
	UserinfoURL      *string            `json:"userinfo_url,omitempty"`
	ClientID         *string            `json:"client_id,omitempty"`
	ClientSecret     *string            `json:"client_secret,omitempty"`
	Scopes           *[]string          `json:"scopes,omitempty"`
	RoleClaim        *string            `json:"role_claim,omitempty"`
	RoleMap          *map[string]string `json:"role_map,omitempty"`
	DefaultRole      *string            `json:"default_role,omitempty"`
	AllowSignup      *bool              `json:"allow_signup,omitempty"`
	Enabled          *bool              `json:"enabled,omitempty"`
}

// Bounds of what an admin writes into a provider.
const (
	MaxProviders = 50
	MaxURL       = 2048
	MaxScopes    = 20
	MaxRoleMap   = 100
	MaxSecret    = 1024
)

var (
	nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	// scopeRe is a scope token (RFC 6749 3.3), bounded.
	scopeRe = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`)
	// DefaultScopes are an OpenID Connect provider's scopes when none are given.
	DefaultScopes = []string{"openid", "email", "profile"}
)

// ValidName reports whether name can be a provider's (a slug: it is in URLs and a
// cookie's path).
func ValidName(name string) bool { return nameRe.MatchString(name) }

// merge writes in over p (the provider as it is, or an empty one) and checks the
// result; name is refused on an existing provider, whose name is its address. private
// is the node's STRATA_OIDC_PRIVATE. Roles are checked by the caller, which can read
// them.
func merge(p *Provider, in Input, private bool, sealer Sealer) error {
	if in.Name != nil {
		if p.Name != "" && *in.Name != p.Name {
			return apierr.InvalidPayload("name", "a provider's name cannot change (it is in its callback URL): create another")
		}
		p.Name = *in.Name
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&p.Label, in.Label)
	set(&p.Issuer, in.Issuer)
	set(&p.AuthorizationURL, in.AuthorizationURL)
	set(&p.TokenURL, in.TokenURL)
	set(&p.UserinfoURL, in.UserinfoURL)
	set(&p.ClientID, in.ClientID)
	set(&p.RoleClaim, in.RoleClaim)
	set(&p.DefaultRole, in.DefaultRole)
	if in.Scopes != nil {
		p.Scopes = slices.Clone(*in.Scopes)
	}
	if in.RoleMap != nil {
		p.RoleMap = maps.Clone(*in.RoleMap)
	}
	if in.AllowSignup != nil {
		p.AllowSignup = *in.AllowSignup
	}
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	if in.ClientSecret != nil {
		if len(*in.ClientSecret) > MaxSecret {
			return apierr.InvalidPayload("client_secret", "client_secret is at most %d characters", MaxSecret)
		}
		sealed, err := sealer.Seal(*in.ClientSecret)
		if err != nil {
			return err
		}
		p.secret, p.ClientSecretSet = sealed, *in.ClientSecret != ""
	}
	return check(p, private)
}

// check refuses a provider that could not work, or would reach where it must not; it
// fills in what has a default (the label, an OpenID Connect provider's scopes).
func check(p *Provider, private bool) error {
	if !nameRe.MatchString(p.Name) {
		return apierr.InvalidPayload("name", "name is 1 to 32 lower-case letters, digits, - and _, starting with a letter or digit")
	}
	if p.Label == "" {
		p.Label = p.Name
	}
	if len(p.Label) > 100 {
		return apierr.InvalidPayload("label", "label is at most 100 characters")
	}
	endpoints := p.AuthorizationURL != "" || p.TokenURL != "" || p.UserinfoURL != ""
	switch {
	case p.Issuer != "" && endpoints:
		return apierr.InvalidPayload("issuer", "give issuer (OpenID Connect, found by discovery) or authorization_url, token_url and userinfo_url (plain OAuth2), not both")
	case p.Issuer != "":
		p.Kind = KindOIDC
		if err := checkURL("issuer", p.Issuer, private); err != nil {
			return err
		}
		if u, _ := url.Parse(p.Issuer); u.RawQuery != "" {
			return apierr.InvalidPayload("issuer", "an issuer has no query")
		}
	case endpoints:
		p.Kind = KindOAuth2
		for _, f := range []struct{ field, v string }{{"authorization_url", p.AuthorizationURL}, {"token_url", p.TokenURL}, {"userinfo_url", p.UserinfoURL}} {
			if f.v == "" {
				return apierr.InvalidPayload(f.field, "a plain OAuth2 provider needs authorization_url, token_url and userinfo_url (%s is missing)", f.field)
			}
			if err := checkURL(f.field, f.v, private); err != nil {
				return err
			}
		}
	default:
		return apierr.InvalidPayload("issuer", "give issuer (OpenID Connect) or authorization_url, token_url and userinfo_url (plain OAuth2)")
	}
	if p.ClientID == "" || len(p.ClientID) > 255 {
		return apierr.InvalidPayload("client_id", "client_id is required, at most 255 characters")
	}
	if len(p.Scopes) == 0 && p.Kind == KindOIDC {
		p.Scopes = slices.Clone(DefaultScopes)
	}
	if p.Scopes == nil {
		p.Scopes = []string{}
	}
	if len(p.Scopes) > MaxScopes {
		return apierr.InvalidPayload("scopes", "at most %d scopes", MaxScopes)
	}
	for _, sc := range p.Scopes {
		if !scopeRe.MatchString(sc) {
			return apierr.InvalidPayload("scopes", "%q is not a scope: one word of printable characters, no spaces or quotes", sc)
		}
	}
	if p.Kind == KindOIDC && !slices.Contains(p.Scopes, "openid") {
		return apierr.InvalidPayload("scopes", "an OpenID Connect provider's scopes include openid")
	}
	if len(p.RoleClaim) > 255 || strings.ContainsFunc(p.RoleClaim, isControl) {
		return apierr.InvalidPayload("role_claim", "role_claim is a claim's name, at most 255 characters")
	}
	if p.RoleMap == nil {
		p.RoleMap = map[string]string{}
	}
	if len(p.RoleMap) > 0 && p.RoleClaim == "" {
		return apierr.InvalidPayload("role_claim", "role_map needs role_claim: the claim whose values it maps")
	}
	if len(p.RoleMap) > MaxRoleMap {
		return apierr.InvalidPayload("role_map", "at most %d entries", MaxRoleMap)
	}
	for k := range p.RoleMap {
		if k == "" || len(k) > 255 {
			return apierr.InvalidPayload("role_map", "each claim value is 1 to 255 characters")
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkURL refuses an endpoint that is not an absolute https URL (http too where the
// node allows private addresses, for a provider on a development network), or that
// names a private or loopback address outright. A name that resolves to one is refused
// when connecting (the outbound client), which is what holds; this is the early, clear
// answer.
func checkURL(field, raw string, private bool) error {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > MaxURL || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" ||
		(u.Scheme != "https" && u.Scheme != "http") {
		return apierr.InvalidPayload(field, "%s must be an absolute https URL without credentials or fragment, at most %d characters", field, MaxURL)
	}
	if private {
		return nil
	}
	if u.Scheme != "https" {
		return apierr.InvalidPayload(field, "%s must be https (http only where the node sets STRATA_OIDC_PRIVATE, for a provider on a development network)", field)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); (err == nil && !files.PublicAddress(ip)) || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return apierr.InvalidPayload(field, "%s names a private or loopback address: providers must be public (the node's STRATA_OIDC_PRIVATE allows others)", field)
	}
	return nil
}

// checkRoles refuses roles that are not the tenant's.
func checkRoles(ctx context.Context, tn identity.Tenant, p *Provider) error {
	if p.DefaultRole != "" && !identity.RoleExists(ctx, tn, p.DefaultRole) {
		return apierr.InvalidPayload("default_role", "role %q does not exist", p.DefaultRole)
	}
	for _, k := range slices.Sorted(maps.Keys(p.RoleMap)) {
		if !identity.RoleExists(ctx, tn, p.RoleMap[k]) {
			return apierr.InvalidPayload("role_map", "role_map[%q]: role %q does not exist", k, p.RoleMap[k])
		}
	}
	return nil
}

// providerColumns are the columns a provider is read from, in scan order.
var providerColumns = []string{"id", "name", "label", "issuer", "authorization_url", "token_url", "userinfo_url", "client_id", "client_secret",
	"scopes", "role_claim", "role_map", "default_role", "allow_signup", "enabled", "created_at", "updated_at"}

// readProviders reads the providers where cond holds (args its parameters), by name.
func readProviders(ctx context.Context, db *database.DB, cond string, args ...any) ([]Provider, error) {
	d := db.Dialect
	cols := make([]string, len(providerColumns))
	for i, c := range providerColumns {
		cols[i] = d.Quote(c)
	}
	rows, err := db.QueryContext(ctx, d.Rebind("SELECT "+strings.Join(cols, ", ")+" FROM "+d.Quote(providersTable)+cond+" ORDER BY "+d.Quote("name")), args...)
	if err != nil {
		return nil, fmt.Errorf("read providers: %w", err)
	}
	defer rows.Close()
	out := []Provider{}
	for rows.Next() {
		v := make([]any, len(providerColumns))
		ptrs := make([]any, len(v))
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read providers: %w", err)
		}
		p := Provider{ID: database.Text(v[0]), Name: database.Text(v[1]), Label: database.Text(v[2]), Issuer: database.Text(v[3]),
			AuthorizationURL: database.Text(v[4]), TokenURL: database.Text(v[5]), UserinfoURL: database.Text(v[6]), ClientID: database.Text(v[7]),
			secret: database.Text(v[8]), RoleClaim: database.Text(v[10]), DefaultRole: database.Text(v[12]),
			AllowSignup: database.Bool(v[13]), Enabled: database.Bool(v[14]), CreatedAt: utc(v[15]), UpdatedAt: utc(v[16])}
		p.ClientSecretSet = p.secret != ""
		p.Kind = KindOAuth2
		if p.Issuer != "" {
			p.Kind = KindOIDC
		}
		p.Scopes, p.RoleMap = []string{}, map[string]string{}
		if raw := database.Text(v[9]); raw != "" {
			if err := json.Unmarshal([]byte(raw), &p.Scopes); err != nil {
				return nil, fmt.Errorf("read provider %s: scopes: %w", p.Name, err)
			}
		}
		if raw := database.Text(v[11]); raw != "" {
			if err := json.Unmarshal([]byte(raw), &p.RoleMap); err != nil {
				return nil, fmt.Errorf("read provider %s: role_map: %w", p.Name, err)
			}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func utc(v any) *time.Time {
	t := database.Time(v)
	if t != nil {
		u := t.UTC()
		t = &u
	}
	return t
}

// Providers lists the tenant's providers.
func (s *Service) Providers(ctx context.Context, tn identity.Tenant) ([]Provider, error) {
	return readProviders(ctx, tn.DB, "")
}

// Enabled lists what a sign-in screen shows of the tenant's enabled providers.
func (s *Service) Enabled(ctx context.Context, tn identity.Tenant) ([]Public, error) {
	d := tn.DB.Dialect
	list, err := readProviders(ctx, tn.DB, " WHERE "+d.Quote("enabled")+" = ?", d.BoolValue(true))
	if err != nil {
		return nil, err
	}
	out := make([]Public, len(list))
	for i, p := range list {
		out[i] = Public{Name: p.Name, Label: p.Label}
	}
	return out, nil
}

// Provider reads one provider; a missing one is 404.
func (s *Service) Provider(ctx context.Context, tn identity.Tenant, name string) (*Provider, error) {
	list, err := readProviders(ctx, tn.DB, " WHERE "+tn.DB.Dialect.Quote("name")+" = ?", name)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, apierr.NotFound("no sign-in provider %q", name)
	}
	return &list[0], nil
}

// enabled reads a provider anyone may sign in with: a missing or disabled one is 404.
func (s *Service) enabled(ctx context.Context, tn identity.Tenant, name string) (*Provider, error) {
	if !nameRe.MatchString(name) {
		return nil, apierr.NotFound("no sign-in provider %q", name)
	}
	p, err := s.Provider(ctx, tn, name)
	if err != nil {
		return nil, err
	}
	if !p.Enabled {
		return nil, apierr.NotFound("no sign-in provider %q", name)
	}
	return p, nil
}

// CreateProvider adds a provider.
func (s *Service) CreateProvider(ctx context.Context, tn identity.Tenant, in Input) (*Provider, error) {
	p := &Provider{Enabled: true}
	if in.Name == nil {
		return nil, apierr.InvalidPayload("name", "name is required")
	}
	if err := merge(p, in, s.Private, s.Sealer); err != nil {
		return nil, err
	}
	if err := checkRoles(ctx, tn, p); err != nil {
		return nil, err
	}
	list, err := s.Providers(ctx, tn)
	if err != nil {
		return nil, err
	}
	if len(list) >= MaxProviders {
		return nil, apierr.InvalidPayload("name", "a tenant has at most %d providers", MaxProviders)
	}
	if slices.ContainsFunc(list, func(o Provider) bool { return o.Name == p.Name }) {
		return nil, apierr.New(400, "RECORD_NOT_UNIQUE", "a provider named %q exists", p.Name).With("field", "name")
	}
	d := tn.DB.Dialect
	now := d.TimeValue(s.now())
	cols := s.columns(d, p)
	cols["id"], cols["name"], cols["created_at"], cols["updated_at"] = s.NewID(), p.Name, now, now
	names, args := make([]string, 0, len(cols)), make([]any, 0, len(cols))
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		names, args = append(names, d.Quote(k)), append(args, cols[k])
	}
	q := "INSERT INTO " + d.Quote(providersTable) + " (" + strings.Join(names, ", ") + ") VALUES (" + schema.Placeholders(len(names)) + ")"
	if _, err := tn.DB.ExecContext(ctx, d.Rebind(q), args...); err != nil {
		if e := strings.ToLower(err.Error()); strings.Contains(e, "unique") || strings.Contains(e, "duplicate") {
			return nil, apierr.New(400, "RECORD_NOT_UNIQUE", "a provider named %q exists", p.Name).With("field", "name")
		}
		return nil, fmt.Errorf("create provider: %w", err)
	}
	return s.Provider(ctx, tn, p.Name)
}

// columns are the stored values of what an admin writes.
func (s *Service) columns(d schema.Dialect, p *Provider) map[string]any {
	scopes, _ := json.Marshal(p.Scopes)
	roleMap, _ := json.Marshal(p.RoleMap)
	return map[string]any{"label": p.Label, "issuer": database.NullText(p.Issuer), "authorization_url": database.NullText(p.AuthorizationURL),
		"token_url": database.NullText(p.TokenURL), "userinfo_url": database.NullText(p.UserinfoURL), "client_id": p.ClientID,
		"client_secret": database.NullText(p.secret), "scopes": string(scopes), "role_claim": database.NullText(p.RoleClaim),
		"role_map": string(roleMap), "default_role": database.NullText(p.DefaultRole), "allow_signup": d.BoolValue(p.AllowSignup),
		"enabled": d.BoolValue(p.Enabled)}
}

// UpdateProvider changes a provider. Pointed at another issuer or other endpoints, its
// accounts are another provider's: the links to them are removed, so the old subjects
// (or the new provider's same ones) sign in as nobody until they link again.
func (s *Service) UpdateProvider(ctx context.Context, tn identity.Tenant, name string, in Input) (*Provider, error) {
	p, err := s.Provider(ctx, tn, name)
	if err != nil {
		return nil, err
	}
	before := *p
	if err := merge(p, in, s.Private, s.Sealer); err != nil {
		return nil, err
	}
	if err := checkRoles(ctx, tn, p); err != nil {
		return nil, err
	}
	d := tn.DB.Dialect
	cols := s.columns(d, p)
	cols["updated_at"] = d.TimeValue(s.now())
	sets, args := make([]string, 0, len(cols)), make([]any, 0, len(cols)+1)
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		sets, args = append(sets, d.Quote(k)+" = ?"), append(args, cols[k])
	}
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(providersTable)+" SET "+strings.Join(sets, ", ")+" WHERE "+d.Quote("id")+" = ?"), append(args, p.ID)...); err != nil {
		return nil, fmt.Errorf("update provider: %w", err)
	}
	if before.Issuer != p.Issuer || before.AuthorizationURL != p.AuthorizationURL || before.TokenURL != p.TokenURL || before.UserinfoURL != p.UserinfoURL {
		if err := s.Identity.UnlinkProvider(ctx, tn, p.Name); err != nil {
			return nil, err
		}
	}
	return s.Provider(ctx, tn, name)
}

// DeleteProvider removes a provider, the links to its accounts and its sign-ins under
// way.
func (s *Service) DeleteProvider(ctx context.Context, tn identity.Tenant, name string) error {
	p, err := s.Provider(ctx, tn, name)
	if err != nil {
		return err
	}
	d := tn.DB.Dialect
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(providersTable)+" WHERE "+d.Quote("id")+" = ?"), p.ID); err != nil {
		return fmt.Errorf("delete provider: %w", err)
	}
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(statesTable)+" WHERE "+d.Quote("provider")+" = ?"), p.Name); err != nil {
		return fmt.Errorf("delete provider's sign-ins: %w", err)
	}
	return s.Identity.UnlinkProvider(ctx, tn, p.Name)
}

// clientSecret opens the provider's client secret.
func (s *Service) clientSecret(p *Provider) (string, error) {
	secret, err := s.Sealer.Open(p.secret)
	if err != nil {
		return "", fmt.Errorf("provider %s: client secret: %w", p.Name, err)
	}
	return secret, nil
}
