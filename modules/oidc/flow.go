package oidc

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/database"
	"strata/modules/identity"
	"strata/schema"
)

const statesTable = "strata_auth_states"

// What a row of strata_auth_states is.
const (
	kindState  = "state"
	kindTicket = "otp"
)

// Codes a failed sign-in hands to the redirect (error=…), beside a description.
const (
	// CodeProviderError: the provider refused or answered what cannot be trusted (its
	// own error, a code it would not exchange, an ID token that does not verify).
	CodeProviderError = "PROVIDER_ERROR"
	// CodeProviderUnavailable: the provider could not be reached (or is on an address
	// the node may not reach).
	CodeProviderUnavailable = "PROVIDER_UNAVAILABLE"
	// CodeEmailRequired: the provider gave no email, which a new user needs.
	CodeEmailRequired = "EMAIL_REQUIRED"
	// CodeEmailNotVerified: a user has the email, and the provider does not say it
	// verified it, so the sign-in is not linked to that user.
	CodeEmailNotVerified = "EMAIL_NOT_VERIFIED"
	// CodeSignupDisabled: no user is linked or has the email, and the provider does
	// not create users.
	CodeSignupDisabled = "SIGNUP_DISABLED"
	// CodeUserSuspended: the user may not sign in (suspended, invited, unverified).
	CodeUserSuspended = "USER_SUSPENDED"
)

// Failure is a sign-in that failed once its redirect was trusted: the browser goes back
// there with the code and the description in the fragment.
type Failure struct {
	Redirect, Code, Description string
}

func (f *Failure) Error() string { return f.Code + ": " + f.Description }

// Location is where the browser goes: redirect#error=…&error_description=….
func (f *Failure) Location() string {
	return Fragment(f.Redirect, url.Values{"error": {f.Code}, "error_description": {f.Description}})
}

// Result is a sign-in that came through: tokens, or (two-factor on) a ticket to trade
// for them with a one-time password.
type Result struct {
	Redirect string
	Provider string
	Tokens   *auth.Tokens
	Ticket   string
}

// Location is where the browser goes: redirect#access_token=…&refresh_token=…&expires=…
// (expires in ms), or redirect#otp_ticket=…&provider=….
func (r *Result) Location() string {
	if r.Tokens == nil {
		return Fragment(r.Redirect, url.Values{"otp_ticket": {r.Ticket}, "provider": {r.Provider}})
	}
	return Fragment(r.Redirect, url.Values{"access_token": {r.Tokens.AccessToken}, "refresh_token": {r.Tokens.RefreshToken},
		"expires": {fmt.Sprint(r.Tokens.Expires)}})
}

// Callback is what the provider sent the browser back with.
type Callback struct {
	Code, State, Error, ErrorDescription string
}

// Start begins a sign-in through provider name. redirect is the app's URL the answer
// goes to (on the tenant's auth_redirect_origins, else 400 and nothing else happens);
// callbackURL is where the provider sends the browser back (the callback route). It
// keeps the state, nonce and PKCE verifier server-side, bound to the browser by the
// digest of binding, which the caller sets as a cookie only the callback route gets;
// and returns the provider's authorization URL. A provider that cannot be reached is a
// *Failure (the redirect is trusted by then).
func (s *Service) Start(ctx context.Context, tn identity.Tenant, name, redirect, callbackURL string) (authURL, binding string, err error) {
	p, err := s.enabled(ctx, tn, name)
	if err != nil {
		return "", "", err
	}
	if err := s.checkRedirect(ctx, tn, redirect); err != nil {
		return "", "", err
	}
	ep, err := s.resolve(ctx, tn.ID, p)
	if err != nil {
		return "", "", &Failure{Redirect: redirect, Code: CodeProviderUnavailable, Description: describe(err)}
	}
	cfg, err := s.config(p, ep, callbackURL)
	if err != nil {
		return "", "", err
	}
	state, nonce, verifier := auth.RandomToken(32), auth.RandomToken(32), oauth2.GenerateVerifier()
	binding = auth.RandomToken(32)
	d := tn.DB.Dialect
	q := d.Quote
	// Sign-ins abandoned long ago go first: the table holds only what is under way.
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("DELETE FROM "+q(statesTable)+" WHERE "+q("expires_at")+" < ?"), d.TimeValue(s.now().Add(-time.Hour))); err != nil {
		return "", "", fmt.Errorf("drop old sign-ins: %w", err)
	}
	if err := s.saveState(ctx, tn, kindState, p.Name, state, StateTTL, map[string]any{
		"browser_hash": auth.HashToken(binding), "nonce": nonce, "verifier": verifier, "callback_url": callbackURL, "redirect": redirect,
	}); err != nil {
		return "", "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if ep.oidc != nil {
		opts = append(opts, gooidc.Nonce(nonce))
	}
	return cfg.AuthCodeURL(state, opts...), binding, nil
}

// checkRedirect refuses a redirect the tenant does not allow, or one with a fragment
// of its own (the answer goes there).
func (s *Service) checkRedirect(ctx context.Context, tn identity.Tenant, redirect string) error {
	if redirect == "" {
		return apierr.InvalidPayload("redirect", "redirect is required: the app's URL the sign-in's answer goes to")
	}
	st, err := s.Settings.Get(ctx, tn.ID, tn.DB)
	if err != nil {
		return err
	}
	if !st.AllowsRedirect(redirect) {
		return apierr.InvalidPayload("redirect", "redirect must be on one of the tenant's auth_redirect_origins (a setting)")
	}
	if strings.Contains(redirect, "#") || len(redirect) > MaxURL {
		return apierr.InvalidPayload("redirect", "redirect has no fragment (#…), which is where the sign-in's answer goes, and is at most %d characters", MaxURL)
	}
	return nil
}

// config is the OAuth2 client of p.
func (s *Service) config(p *Provider, ep *endpoints, callbackURL string) (*oauth2.Config, error) {
	secret, err := s.clientSecret(p)
	if err != nil {
		return nil, err
	}
	return &oauth2.Config{ClientID: p.ClientID, ClientSecret: secret, Endpoint: ep.Endpoint, RedirectURL: callbackURL, Scopes: p.Scopes}, nil
}

// Finish completes a sign-in where the provider sent the browser back. A state that is
// missing, unknown, for another provider, expired, used, or started in another browser
// (binding is the callback's cookie) is a 400 error: there is no trusted redirect to
// send anything to. It is spent by a conditional update, so it serves once. From there
// on a failure is a *Failure, for the redirect.
func (s *Service) Finish(ctx context.Context, tn identity.Tenant, name string, cb Callback, binding string) (*Result, error) {
	p, err := s.enabled(ctx, tn, name)
	if err != nil {
		return nil, err
	}
	if cb.State == "" {
		return nil, apierr.InvalidPayload("state", "the callback carries no state")
	}
	st, err := s.readState(ctx, tn, kindState, cb.State)
	if err != nil {
		return nil, err
	}
	switch {
	case st == nil || st.provider != p.Name:
		return nil, apierr.InvalidPayload("state", "unknown state: this sign-in was not started here")
	case st.used:
		return nil, apierr.InvalidPayload("state", "this sign-in was already completed; start again")
	case st.expires.Before(s.now()):
		return nil, apierr.InvalidPayload("state", "this sign-in took too long; start again")
	case binding == "" || subtle.ConstantTimeCompare([]byte(auth.HashToken(binding)), []byte(st.browserHash)) != 1:
		return nil, apierr.InvalidPayload("state", "this sign-in was started in another browser (or its cookie is gone); start again")
	}
	if ok, err := s.spend(ctx, tn, st.id); err != nil {
		return nil, err
	} else if !ok {
		return nil, apierr.InvalidPayload("state", "this sign-in was already completed; start again")
	}
	fail := func(code, format string, args ...any) (*Result, error) {
		return nil, &Failure{Redirect: st.redirect, Code: code, Description: fmt.Sprintf(format, args...)}
	}
	if cb.Error != "" {
		return fail(CodeProviderError, "the provider answered %s%s", clip(cb.Error, 64), prefixed(": ", clip(cb.ErrorDescription, 200)))
	}
	if cb.Code == "" {
		return fail(CodeProviderError, "the provider sent no code")
	}
	a, err := s.exchange(ctx, tn, p, st, cb.Code)
	if err != nil {
		var f *Failure
		if errors.As(err, &f) {
			f.Redirect = st.redirect
		}
		return nil, err
	}
	userID, err := s.user(ctx, tn, p, a)
	if err != nil {
		var f *Failure
		if errors.As(err, &f) {
			f.Redirect = st.redirect
		}
		return nil, err
	}
	realm := s.Identity.Realm(ctx, tn)
	tok, err := s.Auth.SignInVerified(ctx, realm, userID, "", nil)
	var ae *apierr.Error
	switch {
	case errors.Is(err, auth.ErrSecondFactorRequired):
		ticket := auth.RandomToken(32)
		if err := s.saveState(ctx, tn, kindTicket, p.Name, ticket, TicketTTL, map[string]any{"user_id": userID, "redirect": st.redirect}); err != nil {
			return nil, err
		}
		return &Result{Redirect: st.redirect, Provider: p.Name, Ticket: ticket}, nil
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		return fail(CodeUserSuspended, "this account may not sign in")
	case err != nil:
		return nil, err
	}
	return &Result{Redirect: st.redirect, Provider: p.Name, Tokens: tok}, nil
}

// exchange trades the code for tokens, with the PKCE verifier, and reads who signed in:
// an OpenID Connect provider's ID token is verified (signature by the provider's keys,
// issuer, audience the client id, expiry, and the nonce of this sign-in); a plain
// OAuth2 provider's userinfo is read with the access token.
func (s *Service) exchange(ctx context.Context, tn identity.Tenant, p *Provider, st *state, code string) (account, error) {
	failed := func(code string, err error) (account, error) {
		return account{}, &Failure{Code: code, Description: describe(err)}
	}
	ep, err := s.resolve(ctx, tn.ID, p)
	if err != nil {
		return failed(CodeProviderUnavailable, err)
	}
	cfg, err := s.config(p, ep, st.callbackURL)
	if err != nil {
		return account{}, err
	}
	ctx = s.withClient(ctx)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(st.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return failed(CodeProviderError, fmt.Errorf("the provider would not exchange the code: %s %s", re.ErrorCode, re.ErrorDescription))
		}
		return failed(CodeProviderUnavailable, err)
	}
	claims := map[string]any{}
	if ep.oidc != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return failed(CodeProviderError, errors.New("the provider sent no ID token"))
		}
		idt, err := ep.oidc.Verifier(&gooidc.Config{ClientID: p.ClientID, Now: s.now}).Verify(ctx, raw)
		if err != nil {
			return failed(CodeProviderError, fmt.Errorf("the ID token does not verify: %w", err))
		}
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.nonce)) != 1 {
			return failed(CodeProviderError, errors.New("the ID token is not this sign-in's (nonce)"))
		}
		if err := idt.Claims(&claims); err != nil {
			return failed(CodeProviderError, err)
		}
		if _, ok := claims["email"]; !ok && ep.userinfo != "" {
			// Some providers keep the email out of the ID token: ask, for the same subject.
			if info, err := s.userinfo(ctx, ep.userinfo, tok); err == nil && scalar(info["sub"]) == idt.Subject {
				for k, v := range info {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
			}
		}
	} else {
		if claims, err = s.userinfo(ctx, ep.userinfo, tok); err != nil {
			return failed(CodeProviderError, err)
		}
	}
	a, err := readClaims(claims, p.RoleClaim)
	if err != nil {
		return failed(CodeProviderError, err)
	}
	return a, nil
}

// userinfo reads the userinfo endpoint with the access token.
func (s *Service) userinfo(ctx context.Context, endpoint string, tok *oauth2.Token) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Strata sign-in")
	tok.SetAuthHeader(req)
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("read userinfo: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("userinfo answered %s", resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber() // ids stay exact
	out := map[string]any{}
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("userinfo is not a JSON object: %w", err)
	}
	return out, nil
}

// user finds or makes the user an account signs in as: the one linked to it; else, only
// when the provider says it verified the email, the one with that email, linked now, or
// a new one where the provider allows sign-up.
func (s *Service) user(ctx context.Context, tn identity.Tenant, p *Provider, a account) (string, error) {
	ext := identity.ExternalAccount{Provider: p.Name, Subject: a.Subject, Email: a.Email}
	id, err := s.Identity.LinkedUser(ctx, tn, ext)
	if err != nil || id != "" {
		return id, err
	}
	if a.Email == "" {
		return "", &Failure{Code: CodeEmailRequired, Description: "the provider gave no email (its scopes may lack email)"}
	}
	u, found, err := s.Identity.UserByEmail(ctx, tn, a.Email)
	if err != nil {
		return "", err
	}
	// An email the provider did not verify neither links to an account nor makes one:
	// either would hand whoever typed it at the provider an account under someone
	// else's address.
	if !a.EmailVerified {
		return "", &Failure{Code: CodeEmailNotVerified, Description: "the provider does not say this email is verified, so it neither signs in to nor creates the account of that address"}
	}
	if found {
		if u.Status != "active" {
			return "", &Failure{Code: CodeUserSuspended, Description: "this account may not sign in"}
		}
		return u.ID, s.Identity.Link(ctx, tn, u.ID, ext)
	}
	if !p.AllowSignup {
		return "", &Failure{Code: CodeSignupDisabled, Description: "no account matches, and this provider does not create accounts"}
	}
	id, err = s.Identity.CreateLinkedUser(ctx, tn, ext, p.role(a), a.FirstName, a.LastName)
	var ae *apierr.Error
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		return "", &Failure{Code: CodeProviderError, Description: "the provider's account cannot be a user here: " + ae.Message}
	}
	return id, err
}

// Ticket is a two-factor ticket a sign-in handed out, with whose it is.
type Ticket struct {
	id, UserID, Email string
}

// Ticket reads a two-factor ticket of provider name: unknown, used, expired or another
// provider's is 401 INVALID_TOKEN.
func (s *Service) Ticket(ctx context.Context, tn identity.Tenant, name, ticket string) (*Ticket, error) {
	p, err := s.enabled(ctx, tn, name)
	if err != nil {
		return nil, err
	}
	bad := apierr.Unauthorized("INVALID_TOKEN", "the ticket is unknown, used or expired: sign in again")
	if ticket == "" {
		return nil, apierr.InvalidPayload("ticket", "ticket is required")
	}
	st, err := s.readState(ctx, tn, kindTicket, ticket)
	if err != nil {
		return nil, err
	}
	if st == nil || st.provider != p.Name || st.used || st.expires.Before(s.now()) || st.userID == "" {
		return nil, bad
	}
	email, _, _, err := s.Identity.Realm(ctx, tn).Subject(ctx, st.userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bad
	}
	if err != nil {
		return nil, fmt.Errorf("read the ticket's user: %w", err)
	}
	return &Ticket{id: st.id, UserID: st.userID, Email: email}, nil
}

// FinishTicket trades a ticket and the user's one-time password (or a recovery code)
// for tokens. A wrong code is 401 INVALID_OTP and leaves the ticket as it was; the
// ticket is spent, by a conditional update, only with a good code, so it serves once.
func (s *Service) FinishTicket(ctx context.Context, tn identity.Tenant, t *Ticket, code string) (*auth.Tokens, error) {
	if strings.TrimSpace(code) == "" {
		return nil, apierr.Unauthorized("INVALID_OTP", "a one-time password (otp) is required")
	}
	spend := func(ctx context.Context) error {
		ok, err := s.spend(ctx, tn, t.id)
		if err == nil && !ok {
			err = apierr.Unauthorized("INVALID_TOKEN", "the ticket is unknown, used or expired: sign in again")
		}
		return err
	}
	return s.Auth.SignInVerified(ctx, s.Identity.Realm(ctx, tn), t.UserID, code, spend)
}

// state is one row of strata_auth_states.
type state struct {
	id, provider, browserHash, nonce, verifier, callbackURL, redirect, userID string
	expires                                                                   time.Time
	used                                                                      bool
}

// saveState keeps a state or a ticket (by its digest) for ttl.
func (s *Service) saveState(ctx context.Context, tn identity.Tenant, kind, provider, token string, ttl time.Duration, cols map[string]any) error {
	d := tn.DB.Dialect
	q := d.Quote
	now := s.now()
	names := []string{q("id"), q("kind"), q("provider"), q("state_hash"), q("expires_at"), q("created_at"), q("updated_at")}
	args := []any{s.NewID(), kind, provider, auth.HashToken(token), d.TimeValue(now.Add(ttl)), d.TimeValue(now), d.TimeValue(now)}
	for _, k := range []string{"browser_hash", "nonce", "verifier", "callback_url", "redirect", "user_id"} {
		if v, ok := cols[k]; ok {
			names, args = append(names, q(k)), append(args, v)
		}
	}
	_, err := tn.DB.ExecContext(ctx, d.Rebind("INSERT INTO "+q(statesTable)+" ("+strings.Join(names, ", ")+") VALUES ("+schema.Placeholders(len(names))+")"), args...)
	if err != nil {
		return fmt.Errorf("keep the sign-in's state: %w", err)
	}
	return nil
}

// readState reads a state or ticket by its token (nil: none).
func (s *Service) readState(ctx context.Context, tn identity.Tenant, kind, token string) (*state, error) {
	d := tn.DB.Dialect
	q := d.Quote
	var id, provider string
	var browser, nonce, verifier, callback, redirect, user, expires, used any
	err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("id")+", "+q("provider")+", "+q("browser_hash")+", "+q("nonce")+", "+q("verifier")+", "+
		q("callback_url")+", "+q("redirect")+", "+q("user_id")+", "+q("expires_at")+", "+q("used_at")+" FROM "+q(statesTable)+
		" WHERE "+q("state_hash")+" = ? AND "+q("kind")+" = ?"), auth.HashToken(token), kind).
		Scan(&id, &provider, &browser, &nonce, &verifier, &callback, &redirect, &user, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the sign-in's state: %w", err)
	}
	st := &state{id: id, provider: provider, browserHash: database.Text(browser), nonce: database.Text(nonce), verifier: database.Text(verifier),
		callbackURL: database.Text(callback), redirect: database.Text(redirect), userID: database.Text(user), used: used != nil}
	if t := database.Time(expires); t != nil {
		st.expires = *t
	}
	return st, nil
}

// spend marks a state or ticket used, unless it was already (false) or has expired.
func (s *Service) spend(ctx context.Context, tn identity.Tenant, id string) (bool, error) {
	d := tn.DB.Dialect
	q := d.Quote
	now := d.TimeValue(s.now())
	res, err := tn.DB.ExecContext(ctx, d.Rebind("UPDATE "+q(statesTable)+" SET "+q("used_at")+" = ?, "+q("updated_at")+" = ? WHERE "+q("id")+" = ? AND "+
		q("used_at")+" IS NULL AND "+q("expires_at")+" > ?"), now, now, id, now)
	if err != nil {
		return false, fmt.Errorf("spend the sign-in's state: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// describe is an error's text for a description, one line, bounded.
func describe(err error) string {
	return clip(strings.Join(strings.Fields(err.Error()), " "), 300)
}

// clip cuts s to n bytes of printable text.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, s)
	return database.Clip(s, n)
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
