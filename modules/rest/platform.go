package rest

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/auth"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Mode     string `json:"mode,omitempty"`
	OTP      string `json:"otp,omitempty"`
}

func (a *API) platformLogin(c *fiber.Ctx) error {
	var in credentials
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Email == "" || in.Password == "" {
		return apierr.InvalidPayload("email", "email and password are required")
	}
	return a.login(c, a.Auth.PlatformRealm(), "platform", in)
}

// login signs in within a realm, throttling failed attempts per account and address.
func (a *API) login(c *fiber.Ctx, realm *auth.Realm, scope string, in credentials) error {
	account := scope + "\x00" + in.Email
	if ok, wait := a.Throttle.Allow(account, c.IP()); !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())+1))
		return apierr.New(fiber.StatusTooManyRequests, "REQUESTS_EXCEEDED", "too many failed sign-ins; try again later")
	}
	tok, err := a.Auth.Login(c.UserContext(), realm, in.Email, in.Password)
	var ae *apierr.Error
	if errors.As(err, &ae) && ae.Code == "INVALID_CREDENTIALS" {
		a.Throttle.Fail(account, c.IP())
	}
	if err != nil {
		return err
	}
	a.Throttle.Succeed(account)
	return c.JSON(fiber.Map{"data": tok})
}

type refreshInput struct {
	RefreshToken string `json:"refresh_token"`
	Mode         string `json:"mode,omitempty"`
}

func (a *API) refresh(c *fiber.Ctx) error {
	var in refreshInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tok, err := a.Auth.Refresh(c.UserContext(), a.Auth.PlatformRealm(), in.RefreshToken)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": tok})
}

func (a *API) logout(c *fiber.Ctx) error {
	var in refreshInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := a.Auth.Logout(c.UserContext(), a.Auth.PlatformRealm(), in.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) listTenants(c *fiber.Ctx) error {
	ts, err := a.Tenants.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": ts})
}

type tenantInput struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	DatabaseURL string `json:"database_url"`
}

func (a *API) createTenant(c *fiber.Ctx) error {
	var in tenantInput
	if err := decode(c, &in); err != nil {
		return err
	}
	t, err := a.Tenants.Create(c.UserContext(), in.Slug, in.Name, in.DatabaseURL)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"data": t})
}

func (a *API) getTenant(c *fiber.Ctx) error {
	t, err := a.Tenants.Get(c.UserContext(), c.Params("slug"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": t})
}

// deleteTenant drops a whole tenant: the most destructive call there is, so it takes
// the same confirm-hash challenge as a dropped table.
func (a *API) deleteTenant(c *fiber.Ctx) error {
	t, err := a.Tenants.Get(c.UserContext(), c.Params("slug"))
	if err != nil {
		return err
	}
	subject := "delete tenant " + t.ID
	if err := a.Migration.Confirm(t.ID, subject, c.Get("X-Schema-Confirm-Hash"), c.Get("X-Schema-Confirm-Token"), []string{"tenant:" + t.Slug}); err != nil {
		return err
	}
	if err := a.Tenants.Delete(c.UserContext(), t); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
