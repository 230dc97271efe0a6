package rest

import (
	"context"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/bus"
	"strata/modules/identity"
	"strata/modules/settings"
	"strata/schema"
)

// idTenant is the request's tenant for the identity service, with the model m (nil
// where the call reads no rows through the query engine).
func idTenant(c *fiber.Ctx, m *schema.Model) identity.Tenant {
	return tenantOf(c).identity(m)
}

// tenantRealm is where a tenant's users sign in.
func (a *API) tenantRealm(ctx context.Context, tc *tenantCtx) *auth.Realm {
	return a.Identity.Realm(ctx, tc.identity(nil))
}

// identityTenant is idTenant with the request's model loaded.
func (a *API) identityTenant(c *fiber.Ctx) (identity.Tenant, error) {
	m, err := a.model(c)
	return idTenant(c, m), err
}

// oneRow answers one row of an identity table.
func (a *API) oneRow(c *fiber.Ctx, table, fields, id string) error {
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	row, err := a.Identity.Row(c.UserContext(), tn, table, fields, table, id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": row})
}

// rows answers every row of an identity table.
func (a *API) rows(c *fiber.Ctx, table, fields string) error {
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	rows, err := a.Identity.Rows(c.UserContext(), tn, table, fields, nil)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": rows})
}

func (a *API) tenantLogin(c *fiber.Ctx) error {
	var in credentials
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Email == "" || in.Password == "" {
		return apierr.InvalidPayload("email", "email and password are required")
	}
	tc := tenantOf(c)
	return a.login(c, a.tenantRealm(c.UserContext(), tc), tc.t.ID, in)
}

func (a *API) tenantRefresh(c *fiber.Ctx) error {
	var in refreshInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tok, err := a.Auth.Refresh(c.UserContext(), a.tenantRealm(c.UserContext(), tenantOf(c)), in.RefreshToken)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": tok})
}

func (a *API) tenantLogout(c *fiber.Ctx) error {
	var in refreshInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := a.Auth.Logout(c.UserContext(), a.tenantRealm(c.UserContext(), tenantOf(c)), in.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// register signs up an end user where the tenant allows it; where the tenant requires
// verification, the user stays unverified until they follow the mailed link. The
// answer is the same whether or not the email was taken, so sign-up cannot tell who
// has an account.
func (a *API) register(c *fiber.Ctx) error {
	tc := tenantOf(c)
	ctx := c.UserContext()
	st, err := a.Settings.Get(ctx, tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	if !st.AllowSignup {
		return apierr.Forbidden("this tenant does not allow sign-up")
	}
	var in struct {
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"first_name,omitempty"`
		LastName  string `json:"last_name,omitempty"`
		// VerificationURL is where the verification link leads (Directus's name).
		VerificationURL string `json:"verification_url,omitempty"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	// The link is checked before anyone is added: a refused link adds no user.
	link, err := a.mailLink(st, tc.t.Slug, in.VerificationURL, "verification_url", "verify-email")
	if err != nil {
		return err
	}
	tn := idTenant(c, nil)
	u, created, err := a.Identity.Register(ctx, tn, identity.UserInput{Email: &in.Email, Password: &in.Password, FirstName: &in.FirstName, LastName: &in.LastName},
		st.RequireEmailVerification)
	if err != nil {
		return err
	}
	if created && st.RequireEmailVerification {
		go a.afterAnswer(tc.t.Slug, "email verification", func(ctx context.Context) error {
			return a.mailToken(ctx, tn, st, u, identity.TokenVerification, settings.TemplateUserRegistration, link)
		})
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) me(c *fiber.Ctx) error {
	caller := callerOf(c)
	switch caller.Kind {
	case "anonymous":
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	case "platform":
		return c.JSON(fiber.Map{"data": fiber.Map{"id": caller.UserID, "role": auth.RolePlatformAdmin, "admin_access": true}})
	case "api_key":
		return c.JSON(fiber.Map{"data": fiber.Map{"id": nil, "role_id": caller.RoleID, "admin_access": caller.Admin()}})
	}
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	rows, err := a.Identity.Rows(c.UserContext(), tn, "strata_users", identity.UserFields, []string{caller.UserID})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return apierr.Unauthorized("INVALID_TOKEN", "the account no longer exists")
	}
	// admin_access (as Directus names a role's admin flag) tells a client which app to
	// show: the tenant admin's, or the data app limited by /permissions/me.
	rows[0]["admin_access"] = caller.Admin()
	f, err := a.tenantRealm(c.UserContext(), tenantOf(c)).TFA.Get(c.UserContext(), caller.UserID)
	if err != nil {
		return err
	}
	rows[0]["tfa_enabled"] = f.Secret != ""
	rows[0]["tfa_setup_required"] = caller.TFASetupRequired
	return c.JSON(fiber.Map{"data": rows[0]})
}

func (a *API) listUsers(c *fiber.Ctx) error { return a.rows(c, "strata_users", identity.UserFields) }

func (a *API) getUser(c *fiber.Ctx) error {
	return a.oneRow(c, "strata_users", identity.UserFields, c.Params("id"))
}

func (a *API) createUser(c *fiber.Ctx) error {
	var in identity.UserInput
	if err := decode(c, &in); err != nil {
		return err
	}
	id, err := a.Identity.CreateUser(c.UserContext(), idTenant(c, nil), in)
	if err != nil {
		return err
	}
	return a.oneRow(c, "strata_users", identity.UserFields, id)
}

func (a *API) patchUser(c *fiber.Ctx) error {
	var in identity.UserInput
	if err := decode(c, &in); err != nil {
		return err
	}
	id := c.Params("id")
	effect, err := a.Identity.UpdateUser(c.UserContext(), idTenant(c, nil), id, in)
	if err != nil {
		return err
	}
	switch effect {
	case identity.SessionsRevoked:
		a.revokeSessions(c, id)
	case identity.SessionsRechecked:
		a.invalidateSessions(tenantOf(c).t.ID, id)
	}
	return a.oneRow(c, "strata_users", identity.UserFields, id)
}

// revokeSessions ends a user's sessions: their refresh tokens, and their access tokens
// on every node from the next request (invalidateSessions).
func (a *API) revokeSessions(c *fiber.Ctx, userID string) {
	tc := tenantOf(c)
	if err := a.Identity.RevokeSessions(c.UserContext(), idTenant(c, nil), userID); err != nil {
		// The user's status or existence, which the check reads too, has changed already.
		a.Log.Warn("revoke sessions", "tenant", tc.t.Slug, "user", userID, "err", err)
	}
	a.invalidateSessions(tc.t.ID, userID)
}

func (a *API) deleteUser(c *fiber.Ctx) error {
	if err := a.Identity.DeleteUser(c.UserContext(), idTenant(c, nil), c.Params("id")); err != nil {
		return err
	}
	a.revokeSessions(c, c.Params("id"))
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) listRoles(c *fiber.Ctx) error { return a.rows(c, "strata_roles", identity.RoleFields) }

func (a *API) createRole(c *fiber.Ctx) error {
	var in identity.RoleInput
	if err := decode(c, &in); err != nil {
		return err
	}
	id, err := a.Identity.CreateRole(c.UserContext(), idTenant(c, nil), in)
	if err != nil {
		return err
	}
	a.invalidate(tenantOf(c).t.ID, bus.InvalidateAccess)
	return a.oneRow(c, "strata_roles", identity.RoleFields, id)
}

func (a *API) patchRole(c *fiber.Ctx) error {
	var in identity.RoleInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if err := a.Identity.UpdateRole(c.UserContext(), idTenant(c, nil), c.Params("id"), in); err != nil {
		return err
	}
	a.invalidate(tenantOf(c).t.ID, bus.InvalidateAccess)
	return a.oneRow(c, "strata_roles", identity.RoleFields, c.Params("id"))
}

func (a *API) deleteRole(c *fiber.Ctx) error {
	if err := a.Identity.DeleteRole(c.UserContext(), idTenant(c, nil), c.Params("id")); err != nil {
		return err
	}
	a.invalidate(tenantOf(c).t.ID, bus.InvalidateAccess)
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) listPermissions(c *fiber.Ctx) error {
	return a.rows(c, "strata_permissions", identity.PermissionFields)
}

func (a *API) createPermission(c *fiber.Ctx) error {
	var in identity.PermissionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	id, err := a.Identity.CreatePermission(c.UserContext(), tn, in)
	if err != nil {
		return err
	}
	a.invalidate(tn.ID, bus.InvalidateAccess)
	return a.oneRow(c, "strata_permissions", identity.PermissionFields, id)
}

func (a *API) patchPermission(c *fiber.Ctx) error {
	var in identity.PermissionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	tn, err := a.identityTenant(c)
	if err != nil {
		return err
	}
	if err := a.Identity.UpdatePermission(c.UserContext(), tn, c.Params("id"), in); err != nil {
		return err
	}
	a.invalidate(tn.ID, bus.InvalidateAccess)
	return a.oneRow(c, "strata_permissions", identity.PermissionFields, c.Params("id"))
}

func (a *API) deletePermission(c *fiber.Ctx) error {
	if err := a.Identity.DeletePermission(c.UserContext(), idTenant(c, nil), c.Params("id")); err != nil {
		return err
	}
	a.invalidate(tenantOf(c).t.ID, bus.InvalidateAccess)
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) listAPIKeys(c *fiber.Ctx) error {
	return a.rows(c, "strata_api_keys", identity.APIKeyFields)
}

func (a *API) createAPIKey(c *fiber.Ctx) error {
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	key, err := a.Identity.CreateAPIKey(c.UserContext(), idTenant(c, nil), in.Name, in.Role)
	if err != nil {
		return err
	}
	// The secret is shown once; only its hash is kept.
	return c.JSON(fiber.Map{"data": key})
}

func (a *API) deleteAPIKey(c *fiber.Ctx) error {
	if err := a.Identity.DeleteAPIKey(c.UserContext(), idTenant(c, nil), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *API) getSettings(c *fiber.Ctx) error {
	tc := tenantOf(c)
	st, err := a.Settings.Get(c.UserContext(), tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": st})
}

func (a *API) patchSettings(c *fiber.Ctx) error {
	var in settings.Patch
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.StorageDefault != nil && *in.StorageDefault != "" && !slices.Contains(a.Files.Locations.Names(), *in.StorageDefault) {
		return apierr.InvalidPayload("storage_default", "storage_default must name a configured location: %s", strings.Join(a.Files.Locations.Names(), ", "))
	}
	tc := tenantOf(c)
	st, err := a.Settings.Update(c.UserContext(), tc.t.ID, tc.db, in)
	if err != nil {
		return err
	}
	a.invalidate(tc.t.ID, bus.InvalidateSettings)
	a.logChange(c, "update", "settings", "settings")
	return c.JSON(fiber.Map{"data": st})
}
