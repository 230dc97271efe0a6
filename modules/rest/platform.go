package rest

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/migration"
	"strata/modules/tenant"
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

// target resolves a tenant and its migration target.
func (a *API) target(c *fiber.Ctx, slug string) (*tenant.Tenant, migration.Target, error) {
	t, err := a.Tenants.Get(c.UserContext(), slug)
	if err != nil {
		return nil, migration.Target{}, err
	}
	db, err := a.Tenants.DB(c.UserContext(), t)
	if err != nil {
		return nil, migration.Target{}, err
	}
	return t, a.Tenants.Target(t, db), nil
}

type sandboxInput struct {
	Slug        string `json:"slug"`
	Name        string `json:"name,omitempty"`
	UpTo        int64  `json:"up_to,omitempty"`
	DatabaseURL string `json:"database_url,omitempty"`
}

// createSandbox makes a new tenant whose schema is the source's history replayed
// (optionally up to a seq, optionally on another server or dialect).
func (a *API) createSandbox(c *fiber.Ctx) error {
	var in sandboxInput
	if err := decode(c, &in); err != nil {
		return err
	}
	_, source, err := a.target(c, c.Params("slug"))
	if err != nil {
		return err
	}
	if in.UpTo < 0 {
		return apierr.InvalidPayload("up_to", "up_to must be a positive seq")
	}
	sb, err := a.Tenants.Create(c.UserContext(), in.Slug, in.Name, in.DatabaseURL)
	if err != nil {
		return err
	}
	_, target, err := a.target(c, sb.Slug)
	if err != nil {
		return err
	}
	report, err := a.Migration.Replay(c.UserContext(), source, target, in.UpTo)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"data": fiber.Map{"tenant": sb, "replay": report}})
}

// replayInto brings an existing tenant up to date with another's history.
func (a *API) replayInto(c *fiber.Ctx) error {
	var in struct {
		From string `json:"from"`
		UpTo int64  `json:"up_to,omitempty"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.From == "" || in.From == c.Params("slug") {
		return apierr.InvalidPayload("from", "from must name another tenant")
	}
	_, source, err := a.target(c, in.From)
	if err != nil {
		return err
	}
	_, target, err := a.target(c, c.Params("slug"))
	if err != nil {
		return err
	}
	report, err := a.Migration.Replay(c.UserContext(), source, target, in.UpTo)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": report})
}
