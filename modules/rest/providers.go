package rest

import (
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/oidc"
)

// stateCookie binds a provider sign-in to the browser that started it: only the
// callback route receives it (its path), and a state that comes back without it is
// refused (login CSRF).
const stateCookie = "strata_oauth_state"

// mountProviders mounts sign-in through OAuth2 / OpenID Connect providers: their
// configuration (admins, under /settings; the client secret write-only), the list a
// sign-in screen shows, and the flow (start, callback, the two-factor step).
func (a *API) mountProviders(t fiber.Router, adm fiber.Handler) {
	t.Get("/auth/providers", a.publicProviders)
	t.Get("/auth/login/:provider", a.providerLogin)
	t.Get("/auth/login/:provider/callback", a.providerCallback)
	t.Post("/auth/login/:provider/otp", a.providerOTP)
	t.Get("/settings/providers", adm, a.listProviders)
	t.Post("/settings/providers", adm, a.createProvider)
	t.Patch("/settings/providers/:name", adm, a.patchProvider)
	t.Delete("/settings/providers/:name", adm, a.deleteProvider)
}

// callbackPath is where provider p sends the browser back, on this tenant.
func callbackPath(c *fiber.Ctx, provider string) string {
	return "/api/t/" + tenantOf(c).t.Slug + "/auth/login/" + provider + "/callback"
}

// publicBase is where browsers reach the API: the node's public URL when it has one,
// else the request's.
func (a *API) publicBase(c *fiber.Ctx) string {
	if a.OIDC.PublicURL != "" {
		return strings.TrimSuffix(a.OIDC.PublicURL, "/")
	}
	return c.BaseURL()
}

// providerView is a provider as admins read it, with the callback URL to register at
// the provider.
func (a *API) providerView(c *fiber.Ctx, p *oidc.Provider) fiber.Map {
	return fiber.Map{"id": p.ID, "name": p.Name, "label": p.Label, "kind": p.Kind, "issuer": p.Issuer, "authorization_url": p.AuthorizationURL,
		"token_url": p.TokenURL, "userinfo_url": p.UserinfoURL, "client_id": p.ClientID, "client_secret_set": p.ClientSecretSet,
		"scopes": p.Scopes, "role_claim": p.RoleClaim, "role_map": p.RoleMap, "default_role": p.DefaultRole, "allow_signup": p.AllowSignup,
		"enabled": p.Enabled, "created_at": p.CreatedAt, "updated_at": p.UpdatedAt, "callback_url": a.publicBase(c) + callbackPath(c, p.Name)}
}

// publicProviders is GET /auth/providers: the enabled providers' names and labels, for
// a sign-in screen's buttons.
func (a *API) publicProviders(c *fiber.Ctx) error {
	list, err := a.OIDC.Enabled(c.UserContext(), idTenant(c, nil))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}

func (a *API) listProviders(c *fiber.Ctx) error {
	list, err := a.OIDC.Providers(c.UserContext(), idTenant(c, nil))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(list))
	for i := range list {
		out[i] = a.providerView(c, &list[i])
	}
	return c.JSON(fiber.Map{"data": out})
}

func (a *API) createProvider(c *fiber.Ctx) error {
	var in oidc.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := a.OIDC.CreateProvider(c.UserContext(), idTenant(c, nil), in)
	if err != nil {
		return err
	}
	a.logChange(c, "create", "strata_auth_providers", p.ID)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"data": a.providerView(c, p)})
}

func (a *API) patchProvider(c *fiber.Ctx) error {
	var in oidc.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := a.OIDC.UpdateProvider(c.UserContext(), idTenant(c, nil), c.Params("name"), in)
	if err != nil {
		return err
	}
	a.logChange(c, "update", "strata_auth_providers", p.ID)
	return c.JSON(fiber.Map{"data": a.providerView(c, p)})
}

func (a *API) deleteProvider(c *fiber.Ctx) error {
	if err := a.OIDC.DeleteProvider(c.UserContext(), idTenant(c, nil), c.Params("name")); err != nil {
		return err
	}
	a.logChange(c, "delete", "strata_auth_providers", c.Params("name"))
	return c.SendStatus(fiber.StatusNoContent)
}

// providerLogin is GET /auth/login/{provider}?redirect=: 302 to the provider, with the
// state cookie set for the callback. A redirect the tenant does not allow is a 400 and
// nothing else; once it is allowed, a failure goes back to it (redirect#error=…).
func (a *API) providerLogin(c *fiber.Ctx) error {
	name := c.Params("provider")
	if !oidc.ValidName(name) {
		return apierr.NotFound("no sign-in provider %q", name)
	}
	path := callbackPath(c, name)
	to, binding, err := a.OIDC.Start(c.UserContext(), idTenant(c, nil), name, c.Query("redirect"), a.publicBase(c)+path)
	var f *oidc.Failure
	if errors.As(err, &f) {
		return c.Redirect(f.Location(), fiber.StatusFound)
	}
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: stateCookie, Value: binding, Path: path, MaxAge: int(oidc.StateTTL.Seconds()),
		Expires: time.Now().Add(oidc.StateTTL), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: strings.HasPrefix(a.publicBase(c), "https:")})
	return c.Redirect(to, fiber.StatusFound)
}

// providerCallback is GET /auth/login/{provider}/callback: the provider sends the
// browser back here; it goes on to the redirect with the tokens (or a two-factor
// ticket, or the error) in the fragment. A bad state is a 400: nothing is trusted yet.
func (a *API) providerCallback(c *fiber.Ctx) error {
	name := c.Params("provider")
	if !oidc.ValidName(name) {
		return apierr.NotFound("no sign-in provider %q", name)
	}
	binding := c.Cookies(stateCookie)
	// The cookie serves one callback, whatever comes of it.
	c.Cookie(&fiber.Cookie{Name: stateCookie, Value: "", Path: callbackPath(c, name), MaxAge: -1, Expires: time.Unix(1, 0),
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: strings.HasPrefix(a.publicBase(c), "https:")})
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	res, err := a.OIDC.Finish(c.UserContext(), tn, name, oidc.Callback{Code: c.Query("code"), State: c.Query("state"),
		Error: c.Query("error"), ErrorDescription: c.Query("error_description")}, binding)
	var f *oidc.Failure
	if errors.As(err, &f) {
		return c.Redirect(f.Location(), fiber.StatusFound)
	}
	if err != nil {
		return err
	}
	if res.Tokens != nil {
		a.recordLogin(c, a.tenantRealm(c.UserContext(), tenantOf(c)), res.Tokens)
	}
	return c.Redirect(res.Location(), fiber.StatusFound)
}

// providerOTP is POST /auth/login/{provider}/otp {ticket, otp}: the second factor of a
// provider sign-in. Wrong codes count against the account's sign-in throttle, as at
// POST /auth/login.
func (a *API) providerOTP(c *fiber.Ctx) error {
	var in struct {
		Ticket string `json:"ticket"`
		OTP    string `json:"otp"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	ticket, err := a.OIDC.Ticket(c.UserContext(), tn, c.Params("provider"), in.Ticket)
	if err != nil {
		return err
	}
	wrongCode := func(ae *apierr.Error) bool { return ae.Code == "INVALID_OTP" && in.OTP != "" }
	return a.throttled(c, tn.ID+"\x00"+ticket.Email, "failed sign-ins", wrongCode, func() error {
		tok, err := a.OIDC.FinishTicket(c.UserContext(), tn, ticket, in.OTP)
		if err != nil {
			return err
		}
		a.recordLogin(c, a.tenantRealm(c.UserContext(), tenantOf(c)), tok)
		return c.JSON(fiber.Map{"data": tok})
	})
}
