package oidc

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// account is what a provider said of who signed in: from a verified ID token's claims
// (OpenID Connect) or the userinfo answer (plain OAuth2).
type account struct {
	Subject       string
	Email         string
	EmailVerified bool
	FirstName     string
	LastName      string
	// Roles are the values of the provider's role claim, in the order it gave them.
	Roles []string
}

// readClaims reads an account from claims. The subject is "sub", or "id" where a plain
// OAuth2 provider names it so (GitHub, as a number); email_verified counts only when it
// is true (or "true"); roleClaim may be a dotted path into nested objects
// (realm_access.roles).
func readClaims(claims map[string]any, roleClaim string) (account, error) {
	var a account
	a.Subject = scalar(claims["sub"])
	if a.Subject == "" {
		a.Subject = scalar(claims["id"])
	}
	if a.Subject == "" || len(a.Subject) > 255 {
		return a, fmt.Errorf("the provider named no subject (sub) of at most 255 characters")
	}
	if e, ok := claims["email"].(string); ok {
		a.Email = strings.ToLower(strings.TrimSpace(e))
	}
	switch v := claims["email_verified"].(type) {
	case bool:
		a.EmailVerified = v
	case string:
		a.EmailVerified = strings.EqualFold(v, "true")
	}
	a.FirstName, a.LastName = text(claims["given_name"], 255), text(claims["family_name"], 255)
	if roleClaim != "" {
		v, ok := claims[roleClaim]
		if !ok && strings.Contains(roleClaim, ".") {
			v = claims
			for _, part := range strings.Split(roleClaim, ".") {
				m, _ := v.(map[string]any)
				v = m[part]
			}
		}
		switch x := v.(type) {
		case string:
			a.Roles = []string{x}
		case []any:
			for _, e := range x {
				if s := scalar(e); s != "" {
					a.Roles = append(a.Roles, s)
				}
			}
		}
	}
	return a, nil
}

// scalar is a string or a number claim as text ("" for anything else).
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// text is a string claim cut to n bytes.
func text(v any, n int) string {
	s, _ := v.(string)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// role is the role a new user gets: the first of the account's role claim values that
// role_map maps, else default_role ("" for the built-in authenticated role).
func (p *Provider) role(a account) string {
	for _, v := range a.Roles {
		if r, ok := p.RoleMap[v]; ok {
			return r
		}
	}
	return p.DefaultRole
}

// Fragment is redirect with values in its fragment: tokens and tickets travel there so
// that the browser hands them to the page without sending them to any server or log.
func Fragment(redirect string, values url.Values) string {
	return redirect + "#" + values.Encode()
}
