package rest

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/auth"
)

// claimsKey is where requirePlatformAdmin leaves the caller's claims.
const claimsKey = "strata.claims"

// requirePlatformAdmin refuses requests without a platform admin's bearer token.
func (a *API) requirePlatformAdmin() fiber.Handler {
	s := a.Auth
	return func(c *fiber.Ctx) error {
		h := c.Get(fiber.HeaderAuthorization)
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			if tok = c.Query("access_token"); tok == "" {
				return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
			}
		}
		claims, err := s.Verify(tok)
		if err != nil {
			return err
		}
		if claims.Role != auth.RolePlatformAdmin || claims.Tenant != "" {
			return apierr.Forbidden("platform admin role required")
		}
		if err := s.Check(c.UserContext(), s.PlatformRealm, claims); err != nil {
			return err
		}
		c.Locals(claimsKey, claims)
		return c.Next()
	}
}

// platformCaller returns the verified claims of the request, or nil.
func platformCaller(c *fiber.Ctx) *auth.Claims {
	cl, _ := c.Locals(claimsKey).(*auth.Claims)
	return cl
}
