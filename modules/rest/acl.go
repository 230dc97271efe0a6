package rest

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"strata/modules/bus"
	"strata/modules/identity"
)

// parseACL checks a table's permissions shorthand before anything is changed.
func (a *API) parseACL(c *fiber.Ctx, raw json.RawMessage) ([]identity.Grant, error) {
	return a.Identity.ParseACL(c.UserContext(), idTenant(c, nil), raw)
}

// applyACL replaces the table's permissions for the actions the shorthand names.
func (a *API) applyACL(c *fiber.Ctx, table string, raw json.RawMessage, grants []identity.Grant) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := a.Identity.ApplyACL(c.UserContext(), idTenant(c, nil), table, raw, grants); err != nil {
		return err
	}
	a.invalidate(tenantOf(c).t.ID, bus.InvalidateAccess)
	return nil
}
