package oidc

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"strata/modules/apierr"
)

// plainSealer seals by prefixing, so tests can see what would be stored.
type plainSealer struct{}

func (plainSealer) Seal(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	return "sealed:" + s, nil
}
func (plainSealer) Open(s string) (string, error) { return strings.TrimPrefix(s, "sealed:"), nil }

func str(s string) *string { return &s }

// TestProviderInput: what an admin writes is checked field by field, with the field
// named in the 400; what has a default gets it.
func TestProviderInput(t *testing.T) {
	oidcIn := func(mod func(*Input)) Input {
		in := Input{Name: str("google"), Issuer: str("https://accounts.example.com"), ClientID: str("client")}
		if mod != nil {
			mod(&in)
		}
		return in
	}
	oauthIn := func(mod func(*Input)) Input {
		in := Input{Name: str("github"), AuthorizationURL: str("https://github.com/login/oauth/authorize"), TokenURL: str("https://github.com/login/oauth/access_token"),
			UserinfoURL: str("https://api.github.com/user"), ClientID: str("client")}
		if mod != nil {
			mod(&in)
		}
		return in
	}
	for _, c := range []struct {
		name    string
		in      Input
		private bool
		field   string // "" when it must pass
	}{
		{"oidc", oidcIn(nil), false, ""},
		{"plain oauth2", oauthIn(nil), false, ""},
		{"name with upper case", oidcIn(func(in *Input) { in.Name = str("Google") }), false, "name"},
		{"name too long", oidcIn(func(in *Input) { in.Name = str(strings.Repeat("a", 33)) }), false, "name"},
		{"name starting with -", oidcIn(func(in *Input) { in.Name = str("-x") }), false, "name"},
		{"name with a slash", oidcIn(func(in *Input) { in.Name = str("a/b") }), false, "name"},
		{"no endpoints at all", Input{Name: str("x"), ClientID: str("c")}, false, "issuer"},
		{"issuer and endpoints", oidcIn(func(in *Input) { in.TokenURL = str("https://x.example.com/token") }), false, "issuer"},
		{"oauth2 without userinfo", oauthIn(func(in *Input) { in.UserinfoURL = nil }), false, "userinfo_url"},
		{"http issuer", oidcIn(func(in *Input) { in.Issuer = str("http://accounts.example.com") }), false, "issuer"},
		{"http issuer on a private node", oidcIn(func(in *Input) { in.Issuer = str("http://127.0.0.1:5556/dex") }), true, ""},
		{"loopback issuer", oidcIn(func(in *Input) { in.Issuer = str("https://127.0.0.1/") }), false, "issuer"},
		{"private token url", oauthIn(func(in *Input) { in.TokenURL = str("https://10.0.0.8/token") }), false, "token_url"},
		{"metadata address", oauthIn(func(in *Input) { in.UserinfoURL = str("https://169.254.169.254/latest") }), false, "userinfo_url"},
		{"localhost", oidcIn(func(in *Input) { in.Issuer = str("https://localhost:8443") }), false, "issuer"},
		{"issuer with a query", oidcIn(func(in *Input) { in.Issuer = str("https://accounts.example.com/?a=b") }), false, "issuer"},
		{"url with credentials", oauthIn(func(in *Input) { in.TokenURL = str("https://u:p@github.com/token") }), false, "token_url"},
		{"relative url", oauthIn(func(in *Input) { in.AuthorizationURL = str("/authorize") }), false, "authorization_url"},
		{"another scheme", oidcIn(func(in *Input) { in.Issuer = str("ftp://accounts.example.com") }), false, "issuer"},
		{"no client id", oidcIn(func(in *Input) { in.ClientID = str("") }), false, "client_id"},
		{"scopes without openid", oidcIn(func(in *Input) { in.Scopes = &[]string{"email"} }), false, "scopes"},
		{"a scope with a space", oauthIn(func(in *Input) { in.Scopes = &[]string{"read user"} }), false, "scopes"},
		{"too many scopes", oauthIn(func(in *Input) {
			s := make([]string, 21)
			for i := range s {
				s[i] = "s"
			}
			in.Scopes = &s
		}), false, "scopes"},
		{"role map without claim", oidcIn(func(in *Input) { in.RoleMap = &map[string]string{"admins": "x"} }), false, "role_claim"},
		{"role claim with a newline", oidcIn(func(in *Input) { in.RoleClaim = str("groups\n") }), true, ""}, // trimmed
		{"role claim with a control", oidcIn(func(in *Input) { in.RoleClaim = str("gro\x01ups") }), false, "role_claim"},
		{"empty claim value", oidcIn(func(in *Input) { in.RoleClaim = str("groups"); in.RoleMap = &map[string]string{"": "x"} }), false, "role_map"},
		{"secret too long", oidcIn(func(in *Input) { in.ClientSecret = str(strings.Repeat("s", 1025)) }), false, "client_secret"},
		{"label too long", oidcIn(func(in *Input) { in.Label = str(strings.Repeat("l", 101)) }), false, "label"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &Provider{Enabled: true}
			err := merge(p, c.in, c.private, plainSealer{})
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ae, ok := err.(*apierr.Error)
			if !ok || ae.Status != 400 || ae.Code != "INVALID_PAYLOAD" || ae.Details["field"] != c.field {
				t.Fatalf("got %v, want a 400 INVALID_PAYLOAD naming %s", err, c.field)
			}
		})
	}

	p := &Provider{Enabled: true}
	if err := merge(p, oidcIn(func(in *Input) { in.ClientSecret = str("s3cret") }), false, plainSealer{}); err != nil {
		t.Fatal(err)
	}
	if p.Label != "google" || p.Kind != KindOIDC || !reflect.DeepEqual(p.Scopes, DefaultScopes) || !p.ClientSecretSet || p.secret != "sealed:s3cret" {
		t.Errorf("defaults: %+v", p)
	}
	if b, _ := json.Marshal(p); strings.Contains(string(b), "s3cret") {
		t.Errorf("the secret is in the provider's JSON: %s", b)
	}
	// A patch: the name cannot change; a secret of "" removes it; the kind may change.
	if err := merge(p, Input{Name: str("other")}, false, plainSealer{}); err == nil {
		t.Error("a provider was renamed")
	}
	if err := merge(p, Input{ClientSecret: str("")}, false, plainSealer{}); err != nil || p.ClientSecretSet || p.secret != "" {
		t.Errorf("secret removed: %v %+v", err, p)
	}
	gh := oauthIn(nil)
	gh.Name, gh.Issuer = nil, str("")
	if err := merge(p, gh, false, plainSealer{}); err != nil || p.Kind != KindOAuth2 {
		t.Errorf("to plain OAuth2: %v %+v", err, p)
	}
}

// TestReadClaims: the subject, email and its verification, names and role values, as
// providers give them.
func TestReadClaims(t *testing.T) {
	var gh map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"id": 12345678901, "email": "Octo@Example.com", "login": "octo"}`))
	dec.UseNumber()
	if err := dec.Decode(&gh); err != nil {
		t.Fatal(err)
	}
	a, err := readClaims(gh, "")
	if err != nil || a.Subject != "12345678901" || a.Email != "octo@example.com" || a.EmailVerified {
		t.Errorf("github: %+v %v", a, err)
	}
	a, err = readClaims(map[string]any{"sub": "abc", "email": "x@example.com", "email_verified": "true", "given_name": "Ann", "family_name": "Lee",
		"groups": []any{"staff", "engineering"}}, "groups")
	if err != nil || !a.EmailVerified || a.FirstName != "Ann" || a.LastName != "Lee" || !reflect.DeepEqual(a.Roles, []string{"staff", "engineering"}) {
		t.Errorf("oidc: %+v %v", a, err)
	}
	a, _ = readClaims(map[string]any{"sub": "abc", "email_verified": false, "role": "admin"}, "role")
	if a.EmailVerified || !reflect.DeepEqual(a.Roles, []string{"admin"}) {
		t.Errorf("a single role: %+v", a)
	}
	a, _ = readClaims(map[string]any{"sub": "abc", "realm_access": map[string]any{"roles": []any{"r1"}}}, "realm_access.roles")
	if !reflect.DeepEqual(a.Roles, []string{"r1"}) {
		t.Errorf("a nested claim: %+v", a)
	}
	a, _ = readClaims(map[string]any{"sub": "abc", "https://example.com/roles": []any{"r2"}}, "https://example.com/roles")
	if !reflect.DeepEqual(a.Roles, []string{"r2"}) {
		t.Errorf("a claim named with dots: %+v", a)
	}
	for _, bad := range []map[string]any{{}, {"sub": ""}, {"sub": strings.Repeat("s", 256)}, {"sub": map[string]any{}}} {
		if _, err := readClaims(bad, ""); err == nil {
			t.Errorf("no subject in %v, yet read", bad)
		}
	}
	p := &Provider{RoleMap: map[string]string{"engineering": "role-eng", "admins": "role-adm"}, DefaultRole: "role-default"}
	if r := p.role(account{Roles: []string{"staff", "engineering", "admins"}}); r != "role-eng" {
		t.Errorf("mapped role: %s", r)
	}
	if r := p.role(account{Roles: []string{"staff"}}); r != "role-default" {
		t.Errorf("default role: %s", r)
	}
}

// TestFragment: answers travel in the fragment, each value escaped, never in the query.
func TestFragment(t *testing.T) {
	got := (&Failure{Redirect: "https://app.example.com/done?x=1", Code: CodeSignupDisabled, Description: "no & such"}).Location()
	if got != "https://app.example.com/done?x=1#error=SIGNUP_DISABLED&error_description=no+%26+such" {
		t.Errorf("failure: %s", got)
	}
	u, _ := url.Parse((&Result{Redirect: "https://app.example.com/cb", Provider: "mock", Ticket: "t/k"}).Location())
	if f, _ := url.ParseQuery(u.Fragment); f.Get("otp_ticket") != "t/k" || f.Get("provider") != "mock" || u.RawQuery != "" {
		t.Errorf("ticket: %s", u)
	}
}
