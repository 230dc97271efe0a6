package rest

import (
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"strata/modules/apierr"
)

// mySessions is GET /users/me/sessions: the signed-in user's sessions, the current one
// marked.
func (a *API) mySessions(c *fiber.Ctx) error {
	caller := callerOf(c)
	if err := ownSessions(caller.Kind); err != nil {
		return err
	}
	return a.listSessions(c, caller.UserID, caller.Session)
}

// endMySession is DELETE /users/me/sessions/{id}: signs one of the user's own sessions
// out (the current one included).
func (a *API) endMySession(c *fiber.Ctx) error {
	caller := callerOf(c)
	if err := ownSessions(caller.Kind); err != nil {
		return err
	}
	return a.endSession(c, caller.UserID)
}

// ownSessions refuses a caller with no sessions of its own in the tenant: the anonymous
// (sign in first), API keys and platform admins (whose sessions are the platform's).
func ownSessions(kind string) error {
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
