package rest

import (
	"context"
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
	// A missing code is no failed attempt: it is how a client learns one is needed.
	failed := func(ae *apierr.Error) bool {
		return ae.Code == "INVALID_CREDENTIALS" || (ae.Code == "INVALID_OTP" && in.OTP != "")
	}
	return a.throttled(c, scope+"\x00"+in.Email, "failed sign-ins", failed, func() error {
		tok, err := a.Auth.Login(c.UserContext(), realm, in.Email, in.Password, in.OTP)
		if err != nil {
			return err
		}
		a.recordLogin(c, realm, tok)
		return c.JSON(fiber.Map{"data": tok})
	})
}

// throttled runs do for account unless too many of its attempts failed lately (429,
// with Retry-After); an error failed says is a wrong guess counts against it, success
// clears it.
func (a *API) throttled(c *fiber.Ctx, account, what string, failed func(*apierr.Error) bool, do func() error) error {
	if err := a.allowed(c, account, what); err != nil {
		return err
	}
	err := do()
	var ae *apierr.Error
	switch {
	case errors.As(err, &ae) && failed(ae):
		a.Throttle.Fail(account, c.IP())
	case err == nil:
		a.Throttle.Succeed(account)
	}
	return err
}

// allowed is 429, with Retry-After, when account (or the caller's address) used up its
// attempts lately.
func (a *API) allowed(c *fiber.Ctx, account, what string) error {
	if ok, wait := a.Throttle.Allow(account, c.IP()); !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait.Seconds())+1))
		return apierr.New(fiber.StatusTooManyRequests, "REQUESTS_EXCEEDED", "too many %s; try again later", what)
	}
	return nil
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
	// The tenant's files go in the background (there may be many), recorded first so
	// that a node stopping midway leaves the purge to the next pass.
	if err := a.Purges.Enqueue(c.UserContext(), t.ID); err != nil {
		a.Log.Error("record a deleted tenant's storage purge", "tenant", t.Slug, "err", err)
	}
	go a.Purges.Run(context.WithoutCancel(c.UserContext()))
	return c.SendStatus(fiber.StatusNoContent)
}

// target resolves a tenant and its migration target.
func (a *API) target(c *fiber.Ctx, slug string) (*tenant.Tenant, migration.Target, error) {
	return a.Tenants.Open(c.UserContext(), slug)
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
	sb, err := a.Tenants.CreateSandbox(c.UserContext(), source, in.UpTo, in.Slug, in.Name, in.DatabaseURL)
	if err != nil {
		return err
	}
	_, target, err := a.target(c, sb.Slug)
	if err != nil {
		return err
	}
	return a.replay(c, source, target, in.UpTo, fiber.StatusCreated, func(r *migration.ReplayReport) any {
		return fiber.Map{"tenant": sb, "replay": r}
	})
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
	if in.From == "" {
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
	return a.replay(c, source, target, in.UpTo, fiber.StatusOK, func(r *migration.ReplayReport) any { return r })
}

// replay runs a replay and answers its report, wrapped by result. A caller that accepts
// text/event-stream gets the progress as server-sent events instead: "start" (steps
// to apply and skip), one "progress" per settled step, then "result" with the body the
// JSON answer would have had, or "error" in the contract's error envelope. A refusal
// known before anything runs (diverged histories, an unsettled source) is an ordinary
// error answer either way.
func (a *API) replay(c *fiber.Ctx, source, target migration.Target, upTo int64, status int, result func(*migration.ReplayReport) any) error {
	if !wantsEvents(c) {
		report, err := a.Migration.Replay(c.UserContext(), source, target, migration.ReplayOptions{UpTo: upTo})
		if err != nil {
			return err
		}
		return c.Status(status).JSON(fiber.Map{"data": result(report)})
	}
	pending, skipped, err := a.Migration.CheckReplay(c.UserContext(), source, target, upTo)
	if err != nil {
		return err
	}
	c.Status(status)
	// The stream outlives the handler, so the replay gets a context of its own: a
	// client that goes away does not stop it midway; it is resumable anyway, and its
	// steps are in the migrations list.
	ctx := context.WithoutCancel(c.UserContext())
	log := a.Log
	streamEvents(c, false, func(send sendEvent) {
		send("start", fiber.Map{"pending": pending, "skipped": skipped})
		report, err := a.Migration.Replay(ctx, source, target, migration.ReplayOptions{UpTo: upTo, Progress: func(p migration.ReplayProgress) {
			send("progress", p)
		}})
		if err != nil {
			e, ok := Translate(err).(*apierr.Error)
			if !ok || e.Status >= 500 {
				log.Error("replay failed", "target", target.TenantID, "err", err)
				e = apierr.New(fiber.StatusInternalServerError, "INTERNAL", "the replay stopped on an internal error")
			}
			send("error", apierr.Body(e))
			return
		}
		send("result", fiber.Map{"data": result(report)})
	}, nil)
	return nil
}
