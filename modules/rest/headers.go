package rest

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// securityHeaders sets the headers every API answer carries: no MIME sniffing, no
// framing, no referrer leaks, and no caching of tenant data by intermediaries.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	if strings.HasPrefix(c.Path(), "/api/") {
		c.Set("Cache-Control", "no-store")
	}
	return c.Next()
}

// cors answers browsers per the tenant's cors_origins setting ("*" allows any origin).
// Preflight requests end here; other requests go on with the headers set.
func (a *API) cors(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return c.Next()
	}
	tc := tenantOf(c)
	allowed, err := a.corsOrigins(c, tc)
	if err != nil {
		return err
	}
	if slices.Contains(allowed, "*") || slices.Contains(allowed, origin) {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
		c.Vary(fiber.HeaderOrigin)
		// What browsers may read: the asset validators and ranges, and the state of a
		// resumable upload (tus).
		c.Set(fiber.HeaderAccessControlExposeHeaders, "ETag, Content-Range, Content-Disposition, Location, Upload-Offset, Upload-Length, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, Strata-File-Id")
		if c.Method() == fiber.MethodOptions {
			c.Set(fiber.HeaderAccessControlAllowMethods, "GET, HEAD, POST, PATCH, DELETE, OPTIONS")
			c.Set(fiber.HeaderAccessControlAllowHeaders, "Authorization, Content-Type, Range, If-None-Match, X-Schema-Confirm-Hash, X-Schema-Confirm-Token, Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset")
			c.Set(fiber.HeaderAccessControlMaxAge, "600")
			return c.SendStatus(fiber.StatusNoContent)
		}
	} else if c.Method() == fiber.MethodOptions {
		return c.SendStatus(fiber.StatusNoContent) // no CORS headers: the browser refuses
	}
	return c.Next()
}

func (a *API) corsOrigins(c *fiber.Ctx, tc *tenantCtx) ([]string, error) {
	st, err := a.Settings.Get(c.UserContext(), tc.t.ID, tc.db)
	return st.CORSOrigins, err
}
