package rest

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/auth"
)

// bearer returns the request's token: Authorization: Bearer, or ?access_token=.
func bearer(c *fiber.Ctx) string {
	if tok, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	return c.Query("access_token")
}

// resolveCaller works out who is calling a tenant route and loads their policy.
func (a *API) resolveCaller(c *fiber.Ctx) error {
	caller, _, err := a.callerFor(c.UserContext(), tenantOf(c), bearer(c))
	if err != nil {
		return err
	}
	if caller.TFASetupRequired && !tfaSetupRoute(c) {
		return apierr.New(fiber.StatusForbidden, "TFA_REQUIRED", "this tenant requires two-factor sign-in of its admins: set it up (POST /users/me/tfa/generate, then /users/me/tfa/enable) first")
	}
	c.Locals("caller", caller)
	return c.Next()
}

// callerFor works out who a token (empty: none) is in a tenant, with their policy and
// when the token expires: anonymous callers get the public role; a tenant token is only
// good for its own tenant; platform admins (and platform keys) are admins everywhere;
// any other bearer is the tenant's API key.
func (a *API) callerFor(ctx context.Context, tc *tenantCtx, tok string) (*access.Caller, time.Time, error) {
	caller := &access.Caller{Kind: "anonymous"}
	var expires time.Time
	var claims *auth.Claims
	realm := func() *auth.Realm { return a.tenantRealm(ctx, tc) }
	switch {
	case tok == "":
		id, err := a.Access.RoleID(ctx, tc.db, tc.t.ID, "public")
		if err != nil {
			return nil, expires, err
		}
		caller.RoleID = id
	case strings.HasPrefix(tok, auth.PlatformKeyPrefix):
		claims, err := a.Auth.PlatformAdmin(ctx, tok)
		if err != nil {
			return nil, expires, err
		}
		caller = &access.Caller{Kind: "platform", UserID: claims.Subject, Policy: &access.Policy{Admin: true}}
	case strings.Count(tok, ".") == 2:
		var err error
		if claims, err = a.Auth.Verify(tok); err != nil {
			return nil, expires, err
		}
		if claims.ExpiresAt != nil {
			expires = claims.ExpiresAt.Time
		}
		switch {
		case claims.Tenant == "" && claims.Role == auth.RolePlatformAdmin:
			caller = &access.Caller{Kind: "platform", UserID: claims.Subject, Policy: &access.Policy{Admin: true}}
			realm = a.Auth.PlatformRealm
		case claims.Tenant != tc.t.ID:
			return nil, expires, apierr.Unauthorized("INVALID_TOKEN", "this token belongs to another tenant")
		default:
			caller = &access.Caller{Kind: "user", UserID: claims.Subject, RoleID: claims.Role, Session: claims.Session}
		}
		// Signed out, revoked, disabled, deleted or given another role since the token
		// was issued: refused now, not at its expiry.
		if err := a.Auth.Check(ctx, realm, claims); err != nil {
			return nil, expires, err
		}
	default:
		role, err := a.apiKeyRole(ctx, tc, tok)
		if err != nil {
			return nil, expires, err
		}
		caller = &access.Caller{Kind: "api_key", RoleID: role}
	}
	if caller.Policy == nil {
		p, err := a.Access.Policy(ctx, tc.db, tc.t.ID, caller.RoleID)
		if err != nil {
			return nil, expires, err
		}
		caller.Policy = p
	}
	if caller.Kind == "user" && caller.Admin() {
		// Whether the admin has two-factor is read only where the tenant requires it.
		st, err := a.Settings.Get(ctx, tc.t.ID, tc.db)
		if err != nil {
			return nil, expires, err
		}
		if st.RequireAdminTFA {
			on, err := a.Auth.SecondFactorOn(ctx, realm, claims)
			if err != nil {
				return nil, expires, err
			}
			caller.TFASetupRequired = !on
		}
	}
	return caller, expires, nil
}

// tfaSetupRoutes are what an admin who must set up two-factor may still reach: who
// they are, their sessions, the two-factor routes, sign-out and refresh.
func tfaSetupRoute(c *fiber.Ctx) bool {
	rest := strings.TrimPrefix(c.Path(), "/api/t/"+c.Params("tenant"))
	return rest == "/users/me" || strings.HasPrefix(rest, "/users/me/") || strings.HasPrefix(rest, "/auth/") || rest == "/server/health"
}

// apiKeyRole finds the role of a static token.
func (a *API) apiKeyRole(ctx context.Context, tc *tenantCtx, tok string) (string, error) {
	return a.Identity.APIKeyRole(ctx, tc.identity(nil), tok)
}

func callerOf(c *fiber.Ctx) *access.Caller {
	caller, _ := c.Locals("caller").(*access.Caller)
	return caller
}

// requireAdmin lets only tenant admins and platform admins through.
func (a *API) requireAdmin(c *fiber.Ctx) error {
	caller := callerOf(c)
	switch {
	case caller != nil && caller.Admin():
		return c.Next()
	case caller == nil || caller.Kind == "anonymous":
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	}
	return apierr.Forbidden("this route is for tenant admins")
}

// perms is the caller's policy for the query engine; nil (everything) for admins.
func perms(c *fiber.Ctx) *access.Policy {
	caller := callerOf(c)
	if caller == nil || caller.Admin() {
		return nil
	}
	return caller.Policy
}

// adminOnly refuses metadata writes through /items to anyone but admins.
func adminOnly(c *fiber.Ctx) error {
	caller := callerOf(c)
	switch {
	case caller != nil && caller.Admin():
		return nil
	case caller == nil || caller.Kind == "anonymous":
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	}
	return apierr.Forbidden("schema changes are for tenant admins")
}
