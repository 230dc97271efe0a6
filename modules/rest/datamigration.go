package rest

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
)

// applyDataMigration applies a data-migration.json body as one records batch: the same
// writes, validation, permission checks and hooks as /items, in one transaction, so a
// bad record leaves nothing written. A dry run does it all and rolls back. Emptying
// tables is confirmed with the usual hash and token. Data changes are not migrations:
// the ledger is the schema's history, which sandboxes replay, and it records none.
func (a *API) applyDataMigration(c *fiber.Ctx, body []byte) error {
	dm, err := formats.ParseDataMigration(body, a.Limits.MaxLimit)
	if err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	sc := a.scopeAt(c, m)
	plan, err := a.Records.PlanBatch(sc, dm.Batch(), a.Limits.MaxLimit)
	if err != nil {
		return err
	}
	dry := c.QueryBool("dry_run")
	if emptied := plan.Emptied(); len(emptied) > 0 && !dry {
		err := a.Migration.Confirm(sc.TenantID, "apply data-migration "+string(formats.MustJSON(dm)), c.Get("X-Schema-Confirm-Hash"), c.Get("X-Schema-Confirm-Token"), []string{})
		if err != nil {
			var cr *migration.ConfirmRequiredError
			if errors.As(err, &cr) {
				if e, ok := Translate(err).(*apierr.Error); ok {
					e.Message = "emptying tables needs confirmation: " + cr.Reason
					return e.With("emptiedTables", emptied)
				}
			}
			return err
		}
	}
	report, err := a.Records.RunBatch(c.UserContext(), plan, dry)
	if err != nil {
		return err
	}
	data := fiber.Map{"format": formatDataMigration, "emptied_tables": report.Emptied, "deleted_records": report.Deleted, "tables": report.Tables}
	if dry {
		data["dry_run"] = true
	}
	return c.JSON(fiber.Map{"data": data})
}
