package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"strata/modules/database"
)

// hop is one answer of a browser that does not follow redirects.
type hop struct {
	status   int
	location string
	cookie   *http.Cookie // the sign-in's state cookie, when the answer set it
	body     string
}

// browserGet is a browser's GET: no redirect followed, cookie (when set) sent.
func browserGet(t *testing.T, rawURL string, cookie *http.Cookie) hop {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	h := hop{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
	for _, c := range resp.Cookies() {
		if c.Name == "strata_oauth_state" && c.Value != "" {
			h.cookie = c
		}
	}
	return h
}

// fragment reads the answer a sign-in handed to the redirect: its fragment's values,
// after checking it went to want.
func fragment(t *testing.T, h hop, want string) url.Values {
	t.Helper()
	if h.status != 302 || !strings.HasPrefix(h.location, want+"#") {
		t.Fatalf("callback: %d to %q, want a redirect to %s#…: %s", h.status, h.location, want, h.body)
	}
	u, _ := url.Parse(h.location)
	v, err := url.ParseQuery(u.Fragment)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// oidcFlow drives sign-ins through one provider of one tenant.
type oidcFlow struct {
	t        *testing.T
	base     string // the node
	tenant   string // /api/t/acme
	provider string
	redirect string
}

// start opens a sign-in: the provider's authorization URL and the state cookie.
func (f oidcFlow) start() (authorize string, cookie *http.Cookie) {
	f.t.Helper()
	h := browserGet(f.t, f.base+f.tenant+"/auth/login/"+f.provider+"?redirect="+url.QueryEscape(f.redirect), nil)
	if h.status != 302 || h.cookie == nil {
		f.t.Fatalf("start: %d %q %s", h.status, h.location, h.body)
	}
	return h.location, h.cookie
}

// authorize passes the provider's page (mockoidc signs the next queued user in at
// once) and returns the callback URL it sends the browser to.
func (f oidcFlow) authorize(authorizeURL string) string {
	f.t.Helper()
	h := browserGet(f.t, authorizeURL, nil)
	if h.status != 302 || !strings.HasPrefix(h.location, f.base+f.tenant+"/auth/login/"+f.provider+"/callback?") {
		f.t.Fatalf("authorize: %d %q %s", h.status, h.location, h.body)
	}
	return h.location
}

// signIn is a whole sign-in in one browser: the values handed to the redirect.
func (f oidcFlow) signIn() url.Values {
	f.t.Helper()
	authorize, cookie := f.start()
	return fragment(f.t, browserGet(f.t, f.authorize(authorize), cookie), f.redirect)
}

// TestOIDCSignIn: sign-in through an OpenID Connect provider (a real one, mockoidc, in
// process) with state, nonce and PKCE: a new user gets the mapped role and a second
// sign-in finds the same user; refused redirect origins, tampered, replayed and
// cross-browser states are 400 with no redirect; an unverified email is not linked to
// the account that has it, a verified one is; no sign-up where the provider does not
// allow it; suspended users are refused; a user with two-factor on gets a ticket and
// must send a code (wrong codes throttled, the ticket good once); the client secret is
// never answered.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			m, err := mockoidc.Run()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = m.Shutdown() })
			cfg := m.Config()

			admin := startNode(t, b.newControlURL(t), map[string]string{"STRATA_OIDC_PRIVATE": "true", "STRATA_LOGIN_MAX_FAILURES": "4"})
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true, "auth_redirect_origins": []string{"https://app.example.com"}})
			engineer := admin.mustCall(200, "POST", p+"/roles", map[string]any{"name": "engineer"}).get("data.id").(string)
			anon := &node{t: t, base: admin.base}

			// Configuration: the secret is written, sealed, and never answered.
			for _, bad := range []map[string]any{
				{"name": "Mock", "issuer": cfg.Issuer, "client_id": cfg.ClientID},
				{"name": "mock", "client_id": cfg.ClientID},
				{"name": "mock", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "role_claim": "groups", "role_map": map[string]string{"engineering": "00000000-0000-7000-8000-000000000000"}},
				{"name": "mock", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "default_role": "nope"},
				{"name": "mock", "issuer": cfg.Issuer, "client_id": cfg.ClientID, "client_secret_set": true},
			} {
				if st, r := admin.call("POST", p+"/settings/providers", bad, nil); st != 400 || r.get("errors.0.extensions.field") == nil {
					t.Errorf("provider %v: %d %s, want a 400 naming the field", bad, st, r)
				}
			}
			created := admin.mustCall(201, "POST", p+"/settings/providers", map[string]any{"name": "mock", "label": "Mock ID", "issuer": cfg.Issuer,
				"client_id": cfg.ClientID, "client_secret": cfg.ClientSecret, "scopes": []string{"openid", "email", "profile", "groups"},
				"role_claim": "groups", "role_map": map[string]string{"engineering": engineer}, "allow_signup": true})
			if created.get("data.client_secret_set") != true || created.get("data.kind") != "oidc" ||
				created.get("data.callback_url") != admin.base+p+"/auth/login/mock/callback" {
				t.Errorf("created: %s", created)
			}
			if st, _ := admin.call("POST", p+"/settings/providers", map[string]any{"name": "mock", "issuer": cfg.Issuer, "client_id": "x"}, nil); st != 400 {
				t.Errorf("a second provider named mock: %d", st)
			}
			patched := admin.mustCall(200, "PATCH", p+"/settings/providers/mock", map[string]any{"label": "Mock"})
			listed := admin.mustCall(200, "GET", p+"/settings/providers", nil)
			for _, r := range []reply{created, patched, listed} {
				if strings.Contains(r.String(), cfg.ClientSecret) || strings.Contains(r.String(), "client_secret\"") {
					t.Errorf("the client secret is answered: %s", r)
				}
			}
			db := admin.tenantDB("acme")
			var stored string
			if err := db.QueryRow("SELECT " + db.Dialect.Quote("client_secret") + " FROM " + db.Dialect.Quote("strata_auth_providers")).Scan(&stored); err != nil ||
				stored == cfg.ClientSecret || !strings.HasPrefix(stored, "v1:") {
				t.Errorf("the secret as stored: %q %v", stored, err)
			}
			if got := anon.mustCall(200, "GET", p+"/auth/providers", nil).get("data"); mustJSONString(got) != `[{"label":"Mock","name":"mock"}]` {
				t.Errorf("public providers: %v", got)
			}

			flow := oidcFlow{t: t, base: admin.base, tenant: p, provider: "mock", redirect: "https://app.example.com/done"}

			// The happy path: PKCE (S256) and a nonce are sent, mockoidc checks the verifier.
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-jane", Email: "Jane@Example.com", EmailVerified: true, Groups: []string{"staff", "engineering"}})
			authorize, cookie := flow.start()
			if cookie.Path != p+"/auth/login/mock/callback" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
				t.Errorf("state cookie: %+v", cookie)
			}
			au, _ := url.Parse(authorize)
			aq := au.Query()
			if !strings.HasPrefix(authorize, m.AuthorizationEndpoint()+"?") || aq.Get("code_challenge_method") != "S256" || len(aq.Get("code_challenge")) != 43 ||
				aq.Get("state") == "" || aq.Get("nonce") == "" || aq.Get("redirect_uri") != admin.base+p+"/auth/login/mock/callback" || strings.Contains(authorize, cookie.Value) {
				t.Fatalf("authorization URL: %s", authorize)
			}
			callback := flow.authorize(authorize)
			cu, _ := url.Parse(callback)
			if sess := m.SessionStore.Store[cu.Query().Get("code")]; sess == nil || sess.CodeChallengeMethod != "S256" || sess.CodeChallenge != aq.Get("code_challenge") {
				t.Fatalf("mockoidc did not get the PKCE challenge: %+v", sess)
			}
			got := fragment(t, browserGet(t, callback, cookie), flow.redirect)
			if got.Get("access_token") == "" || got.Get("refresh_token") == "" || got.Get("expires") != "900000" || got.Get("otp_ticket") != "" {
				t.Fatalf("tokens: %v", got)
			}
			jane := &node{t: t, base: admin.base, token: got.Get("access_token")}
			me := jane.mustCall(200, "GET", p+"/users/me", nil)
			janeID := me.get("data.id").(string)
			if me.get("data.email") != "jane@example.com" || me.get("data.role_id") != engineer || me.get("data.status") != "active" {
				t.Errorf("the new user: %s", me)
			}
			if logins := admin.mustCall(200, "GET", p+"/activity?filter="+url.QueryEscape(`{"action":{"_eq":"login"},"user":{"_eq":"`+janeID+`"}}`), nil).get("data").([]any); len(logins) != 1 {
				t.Errorf("the provider sign-in is not in the activity log: %v", logins)
			}
			anon.mustCall(200, "POST", p+"/auth/refresh", map[string]any{"refresh_token": got.Get("refresh_token")})
			// Replayed: the same callback again, cookie and all, is refused.
			if h := browserGet(t, callback, cookie); h.status != 400 || h.location != "" || !strings.Contains(h.body, "already") {
				t.Errorf("a replayed callback: %d %q %s", h.status, h.location, h.body)
			}
			// The second sign-in (the email changed at the provider) finds the same user.
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-jane", Email: "jane.new@example.com", EmailVerified: true})
			again := &node{t: t, base: admin.base, token: flow.signIn().Get("access_token")}
			if id := again.mustCall(200, "GET", p+"/users/me", nil).get("data.id"); id != janeID {
				t.Errorf("the second sign-in is user %v, want %s", id, janeID)
			}

			// Redirects the tenant does not allow: 400, and no redirect at all.
			for _, r := range []string{"https://evil.example.com/done", "", "https://app.example.com.evil.com/", "javascript:alert(1)", "https://app.example.com/done#x"} {
				h := browserGet(t, admin.base+p+"/auth/login/mock?redirect="+url.QueryEscape(r), nil)
				if h.status != 400 || h.location != "" || h.cookie != nil || !strings.Contains(h.body, `"field":"redirect"`) {
					t.Errorf("redirect %q: %d %q %s", r, h.status, h.location, h.body)
				}
			}
			if h := browserGet(t, admin.base+p+"/auth/login/nope?redirect="+url.QueryEscape(flow.redirect), nil); h.status != 404 || h.location != "" {
				t.Errorf("an unknown provider: %d %q", h.status, h.location)
			}

			// A tampered state, a missing one, and another browser's: 400, no redirect;
			// none of them spends the state, so its own browser still signs in.
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-jane", Email: "jane@example.com", EmailVerified: true})
			authorize, cookie = flow.start()
			callback = flow.authorize(authorize)
			_, otherCookie := flow.start()
			cu, _ = url.Parse(callback)
			state := cu.Query().Get("state")
			for name, c := range map[string]struct {
				url    string
				cookie *http.Cookie
			}{
				"a tampered state":        {strings.Replace(callback, "state="+url.QueryEscape(state), "state="+url.QueryEscape(state+"x"), 1), cookie},
				"no state":                {strings.Replace(callback, "state="+url.QueryEscape(state), "state=", 1), cookie},
				"no cookie":               {callback, nil},
				"another browser's state": {callback, otherCookie},
				"a forged cookie":         {callback, &http.Cookie{Name: "strata_oauth_state", Value: "forged"}},
			} {
				if h := browserGet(t, c.url, c.cookie); h.status != 400 || h.location != "" || !strings.Contains(h.body, `"field":"state"`) {
					t.Errorf("%s: %d %q %s", name, h.status, h.location, h.body)
				}
			}
			if got := fragment(t, browserGet(t, callback, cookie), flow.redirect); got.Get("access_token") == "" {
				t.Errorf("the right browser after the refusals: %v", got)
			}
			// The provider's own error goes to the redirect.
			authorize, cookie = flow.start()
			callback = flow.authorize(authorize)
			cu, _ = url.Parse(callback)
			denied := flow.base + cu.Path + "?error=access_denied&error_description=no&state=" + url.QueryEscape(cu.Query().Get("state"))
			if got := fragment(t, browserGet(t, denied, cookie), flow.redirect); got.Get("error") != "PROVIDER_ERROR" || !strings.Contains(got.Get("error_description"), "access_denied") {
				t.Errorf("the provider's error: %v", got)
			}

			// An email the provider does not say it verified is not linked to the account
			// that has it; once verified, it is (and the account keeps its role).
			ann := tenantUser(t, admin, "acme", "ann@example.com")
			annID := ann.mustCall(200, "GET", p+"/users/me", nil).get("data.id").(string)
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: false, Groups: []string{"engineering"}})
			if got := flow.signIn(); got.Get("error") != "EMAIL_NOT_VERIFIED" || got.Get("access_token") != "" {
				t.Errorf("an unverified email: %v", got)
			}
			if n := links(t, db, "sub-ann"); n != 0 {
				t.Errorf("an unverified email was linked: %d links", n)
			}
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: true, Groups: []string{"engineering"}})
			annSSO := &node{t: t, base: admin.base, token: flow.signIn().Get("access_token")}
			if me := annSSO.mustCall(200, "GET", p+"/users/me", nil); me.get("data.id") != annID || me.get("data.role_id") == engineer {
				t.Errorf("the verified email's sign-in: %s", me)
			}

			// Nor does an unverified email make an account, sign-up allowed or not.
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-mallory", Email: "victim@example.com", EmailVerified: false})
			if got := flow.signIn(); got.Get("error") != "EMAIL_NOT_VERIFIED" || got.Get("access_token") != "" {
				t.Errorf("an unverified email makes an account: %v", got)
			}
			if users := admin.mustCall(200, "GET", p+"/users", nil); strings.Contains(users.String(), "victim@example.com") {
				t.Errorf("a user was made for an unverified email: %s", users)
			}

			// No sign-up where the provider does not allow it; linked users still sign in.
			admin.mustCall(200, "PATCH", p+"/settings/providers/mock", map[string]any{"allow_signup": false})
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-new", Email: "new@example.com", EmailVerified: true})
			if got := flow.signIn(); got.Get("error") != "SIGNUP_DISABLED" || got.Get("access_token") != "" {
				t.Errorf("sign-up off: %v", got)
			}
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-jane", Email: "jane@example.com", EmailVerified: true})
			if got := flow.signIn(); got.Get("access_token") == "" {
				t.Errorf("a linked user with sign-up off: %v", got)
			}

			// A suspended user is refused.
			admin.mustCall(200, "PATCH", p+"/users/"+janeID, map[string]any{"status": "suspended"})
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-jane", Email: "jane@example.com", EmailVerified: true})
			if got := flow.signIn(); got.Get("error") != "USER_SUSPENDED" || got.Get("access_token") != "" {
				t.Errorf("a suspended user: %v", got)
			}

			// Two-factor on: the sign-in hands a ticket, not tokens; the code gets them.
			secret := ann.mustCall(200, "POST", p+"/users/me/tfa/generate", nil).get("data.secret").(string)
			now := time.Now()
			code := func(at time.Time) string {
				c, err := totp.GenerateCode(secret, at)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			ann.mustCall(200, "POST", p+"/users/me/tfa/enable", map[string]any{"secret": secret, "otp": code(now)})
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: true})
			got = flow.signIn()
			ticket := got.Get("otp_ticket")
			if ticket == "" || got.Get("provider") != "mock" || got.Get("access_token") != "" || got.Get("refresh_token") != "" {
				t.Fatalf("two-factor on: %v", got)
			}
			otp := func(ticket, code string) (int, reply) {
				return anon.call("POST", p+"/auth/login/mock/otp", map[string]any{"ticket": ticket, "otp": code}, nil)
			}
			if st, r := otp(ticket, ""); st != 401 || r.get("errors.0.extensions.code") != "INVALID_OTP" {
				t.Errorf("no code: %d %s", st, r)
			}
			if st, r := otp(ticket, "000000"); st != 401 || r.get("errors.0.extensions.code") != "INVALID_OTP" {
				t.Errorf("a wrong code: %d %s", st, r)
			}
			if st, r := otp(ticket, code(now)); st != 401 || r.get("errors.0.extensions.code") != "INVALID_OTP" {
				t.Errorf("the code enable used: %d %s", st, r)
			}
			if st, r := otp("not-a-ticket", code(now.Add(30*time.Second))); st != 401 || r.get("errors.0.extensions.code") != "INVALID_TOKEN" {
				t.Errorf("an unknown ticket: %d %s", st, r)
			}
			st, r := otp(ticket, code(now.Add(30*time.Second)))
			if st != 200 || r.get("data.access_token") == nil || r.get("data.refresh_token") == nil || r.get("data.expires") != float64(900000) {
				t.Fatalf("the right code: %d %s", st, r)
			}
			signedIn := &node{t: t, base: admin.base, token: r.get("data.access_token").(string)}
			if id := signedIn.mustCall(200, "GET", p+"/users/me", nil).get("data.id"); id != annID {
				t.Errorf("the two-factor sign-in is %v", id)
			}
			if st, r := otp(ticket, code(now.Add(60*time.Second))); st != 401 || r.get("errors.0.extensions.code") != "INVALID_TOKEN" {
				t.Errorf("the ticket again: %d %s", st, r)
			}
			// Wrong codes count against the account's sign-in throttle: four, then 429
			// even with a good code, and at the password sign-in too.
			m.QueueUser(&mockoidc.MockUser{Subject: "sub-ann", Email: "ann@example.com", EmailVerified: true})
			ticket = flow.signIn().Get("otp_ticket")
			for range 4 {
				if st, _ := otp(ticket, "999999"); st != 401 {
					t.Errorf("a wrong code: %d", st)
				}
			}
			if st, r := otp(ticket, code(now.Add(60*time.Second))); st != 429 {
				t.Errorf("after four wrong codes: %d %s, want 429", st, r)
			}
			if st, _ := anon.call("POST", p+"/auth/login", map[string]any{"email": "ann@example.com", "password": "user-pass-123", "otp": code(now.Add(60 * time.Second))}, nil); st != 429 {
				t.Errorf("the password sign-in after four wrong codes: %d, want 429", st)
			}

			// Disabled, the provider is neither listed nor usable; deleted, its links go.
			admin.mustCall(200, "PATCH", p+"/settings/providers/mock", map[string]any{"enabled": false})
			if got := anon.mustCall(200, "GET", p+"/auth/providers", nil).get("data").([]any); len(got) != 0 {
				t.Errorf("a disabled provider is listed: %v", got)
			}
			if h := browserGet(t, admin.base+p+"/auth/login/mock?redirect="+url.QueryEscape(flow.redirect), nil); h.status != 404 {
				t.Errorf("a disabled provider's sign-in: %d", h.status)
			}
			admin.mustCall(204, "DELETE", p+"/settings/providers/mock", nil)
			if n := links(t, db, "sub-jane") + links(t, db, "sub-ann"); n != 0 {
				t.Errorf("links of a deleted provider: %d", n)
			}
			if st, _ := admin.call("DELETE", p+"/settings/providers/mock", nil, nil); st != 404 {
				t.Errorf("deleted twice: %d", st)
			}
		})
	}
}

// links counts the links to a subject's account.
func links(t *testing.T, db *database.DB, subject string) int {
	t.Helper()
	var n int
	d := db.Dialect
	if err := db.QueryRowContext(context.Background(), d.Rebind("SELECT COUNT(*) FROM "+d.Quote("strata_user_identities")+" WHERE "+d.Quote("subject")+" = ?"), subject).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOIDCPrivateProvider: without STRATA_OIDC_PRIVATE, a provider on a loopback or
// private address is refused when written (an address given outright) or when the
// node would connect (a name that resolves to one): nothing reaches it, and the
// sign-in goes back to the redirect with PROVIDER_UNAVAILABLE.
func TestOIDCPrivateProvider(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"auth_redirect_origins": []string{"https://app.example.com"}})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			var reached atomic.Int32
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					reached.Add(1)
					_ = c.Close()
				}
			}()
			port := ln.Addr().(*net.TCPAddr).Port
			addr := "127.0.0.1:" + strconv.Itoa(port)
			for _, issuer := range []string{"http://" + addr + "/oidc", "https://" + addr + "/oidc", "https://localhost:" + strconv.Itoa(port) + "/oidc",
				"https://[::1]/oidc", "https://10.1.2.3/oidc", "https://169.254.169.254/"} {
				if st, r := admin.call("POST", p+"/settings/providers", map[string]any{"name": "corp", "issuer": issuer, "client_id": "c"}, nil); st != 400 || r.get("errors.0.extensions.field") != "issuer" {
					t.Errorf("issuer %s: %d %s", issuer, st, r)
				}
			}
			// A name resolves when the node connects (and may resolve elsewhere later), so
			// one that leads to a private address passes when written: the connection is
			// refused. The stored issuer is pointed at localhost to stand for such a name.
			admin.mustCall(201, "POST", p+"/settings/providers", map[string]any{"name": "corp", "issuer": "https://idp.example.com/oidc", "client_id": "c"})
			db := admin.tenantDB("acme")
			d := db.Dialect
			if _, err := db.Exec(d.Rebind("UPDATE "+d.Quote("strata_auth_providers")+" SET "+d.Quote("issuer")+" = ?"), "https://localhost:"+strconv.Itoa(port)+"/oidc"); err != nil {
				t.Fatal(err)
			}
			h := browserGet(t, admin.base+p+"/auth/login/corp?redirect="+url.QueryEscape("https://app.example.com/done"), nil)
			got := fragment(t, h, "https://app.example.com/done")
			if got.Get("error") != "PROVIDER_UNAVAILABLE" || !strings.Contains(got.Get("error_description"), "private") || h.cookie != nil {
				t.Errorf("a provider on loopback: %v (cookie %v)", got, h.cookie)
			}
			if n := reached.Load(); n != 0 {
				t.Errorf("the node connected to the private address %d times", n)
			}
		})
	}
}
