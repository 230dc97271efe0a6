package rest

import (
	"github.com/gofiber/fiber/v2"

	"strata/modules/auth"
)

// claimsKey is where requirePlatformAdmin leaves the caller's claims.
const claimsKey = "strata.claims"

// requirePlatformAdmin refuses requests without a platform admin's bearer token or a
// platform key.
func (a *API) requirePlatformAdmin() fiber.Handler {
	return func(c *fiber.Ctx) error {
		claims, err := a.Auth.PlatformAdmin(c.UserContext(), bearer(c))
		if err != nil {
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

func (a *API) listPlatformKeys(c *fiber.Ctx) error {
	keys, err := a.Auth.ListPlatformKeys(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": keys})
}

func (a *API) createPlatformKey(c *fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	key, err := a.Auth.CreatePlatformKey(c.UserContext(), in.Name, callerID(c))
	if err != nil {
		return err
	}
	// The token is shown once; only its hash is kept.
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"data": key})
}

func (a *API) deletePlatformKey(c *fiber.Ctx) error {
	if err := a.Auth.DeletePlatformKey(c.UserContext(), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
