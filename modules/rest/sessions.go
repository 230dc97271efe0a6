package rest

import (
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"strata/modules/apierr"
	"strata/modules/auth"
)

// mySessions is GET /users/me/sessions: the signed-in user's sessions, the current one
// marked.
func (a *API) mySessions(c *fiber.Ctx) error {
	caller := callerOf(c)
	if err := tenantUserOnly(caller.Kind); err != nil {
		return err
	}
	return a.listSessions(c, caller.UserID, caller.Session)
}

// endMySession is DELETE /users/me/sessions/{id}: signs one of the user's own sessions
// out (the current one included).
func (a *API) endMySession(c *fiber.Ctx) error {
	caller := callerOf(c)
	if err := tenantUserOnly(caller.Kind); err != nil {
		return err
	}
	return a.endSession(c, caller.UserID)
}

// tenantUserOnly refuses a caller that is no signed-in user of the tenant, so has no
// sessions or second factor of its own here: the anonymous (sign in first), API keys
// and platform admins (whose sessions are the platform's).
func tenantUserOnly(kind string) error {
	switch kind {
	case "user":
		return nil
	case "anonymous":
		return apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	}
	return apierr.Forbidden("only a signed-in tenant user has sessions here")
}

// userSessions is GET /users/{id}/sessions, for admins.
func (a *API) userSessions(c *fiber.Ctx) error {
	return a.listSessions(c, c.Params("id"), "")
}

// endUserSession is DELETE /users/{id}/sessions/{sid}, for admins.
func (a *API) endUserSession(c *fiber.Ctx) error {
	return a.endSession(c, c.Params("id"))
}

func (a *API) listSessions(c *fiber.Ctx, user, current string) error {
	list, err := a.Auth.Sessions(c.UserContext(), a.tenantRealm(c.UserContext(), tenantOf(c)), user, current)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}

func (a *API) endSession(c *fiber.Ctx, user string) error {
	id := c.Params("sid")
	if _, err := uuid.Parse(id); err != nil {
		return apierr.NotFound("no session %q", id)
	}
	if err := a.Auth.EndSession(c.UserContext(), a.tenantRealm(c.UserContext(), tenantOf(c)), user, id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// tfaAccount is whose two-factor a route changes: the signed-in tenant user, or the
// signed-in platform admin. scope keys its throttle; changed tells the nodes.
type tfaAccount struct {
	realm          *auth.Realm
	subject, label string
	scope          string
	changed        func()
}

// tenantTFA is the signed-in tenant user's account.
func (a *API) tenantTFA(c *fiber.Ctx) (tfaAccount, error) {
	caller := callerOf(c)
	if err := tenantUserOnly(caller.Kind); err != nil {
		return tfaAccount{}, err
	}
	tc := tenantOf(c)
	return tfaAccount{realm: a.tenantRealm(c.UserContext(), tc), subject: caller.UserID, label: "Strata " + tc.t.Slug, scope: tc.t.ID,
		changed: func() { a.invalidateSessions(tc.t.ID, caller.UserID) }}, nil
}

// platformTFA is the signed-in platform admin's account (platform keys have none).
func (a *API) platformTFA(c *fiber.Ctx) (tfaAccount, error) {
	claims := platformCaller(c)
	if claims == nil || claims.Session == "" {
		return tfaAccount{}, apierr.Forbidden("two-factor sign-in is for platform admins who sign in, not for platform keys")
	}
	return tfaAccount{realm: a.Auth.PlatformRealm(), subject: claims.Subject, label: "Strata platform", scope: "platform",
		changed: func() { a.invalidateSessions("", claims.Subject) }}, nil
}

type tfaInput struct {
	Secret string `json:"secret,omitempty"`
	OTP    string `json:"otp"`
}

// tfaGenerate is POST /users/me/tfa/generate: a new secret and its otpauth:// URL for
// the account's authenticator app; nothing changes until tfa/enable.
func (a *API) tfaGenerate(account func(*fiber.Ctx) (tfaAccount, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		acc, err := account(c)
		if err != nil {
			return err
		}
		email, _, _, err := acc.realm.Subject(c.UserContext(), acc.subject)
		if err != nil {
			return fmt.Errorf("read the account: %w", err)
		}
		secret, url, err := auth.GenerateTOTP(acc.label, email)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"data": fiber.Map{"secret": secret, "otpauth_url": url}})
	}
}

// tfaEnable is POST /users/me/tfa/enable {secret, otp}: two-factor on, the recovery
// codes shown this once.
func (a *API) tfaEnable(account func(*fiber.Ctx) (tfaAccount, error)) fiber.Handler {
	return a.tfaChange(account, func(c *fiber.Ctx, acc tfaAccount, in tfaInput) error {
		codes, err := a.Auth.EnableTOTP(c.UserContext(), acc.realm, acc.subject, in.Secret, in.OTP)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"data": fiber.Map{"recovery_codes": codes}})
	})
}

// tfaDisable is POST /users/me/tfa/disable {otp}: two-factor off, given a current code
// or a recovery code.
func (a *API) tfaDisable(account func(*fiber.Ctx) (tfaAccount, error)) fiber.Handler {
	return a.tfaChange(account, func(c *fiber.Ctx, acc tfaAccount, in tfaInput) error {
		if err := a.Auth.DisableTOTP(c.UserContext(), acc.realm, acc.subject, in.OTP); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// tfaChange runs a two-factor change for the signed-in account, throttled like
// sign-ins: a wrong code counts as a failed attempt, so codes cannot be guessed here
// either.
func (a *API) tfaChange(account func(*fiber.Ctx) (tfaAccount, error), do func(c *fiber.Ctx, acc tfaAccount, in tfaInput) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		acc, err := account(c)
		if err != nil {
			return err
		}
		var in tfaInput
		if err := decode(c, &in); err != nil {
			return err
		}
		wrongCode := func(ae *apierr.Error) bool { return ae.Code == "INVALID_OTP" }
		return a.throttled(c, acc.scope+"\x00tfa\x00"+acc.subject, "wrong one-time passwords", wrongCode, func() error {
			err := do(c, acc, in)
			if err == nil {
				// Sessions are checked again: an admin's token held back for want of
				// two-factor serves at once.
				acc.changed()
			}
			return err
		})
	}
}
