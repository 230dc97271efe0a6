package rest

import (
	"strata/modules/formats"

	"github.com/gofiber/fiber/v2"
)

// applySnapshotMigration applies a snapshot-migration.json body: every entry checked
// against the model first, then run by runPlan; entries already applied are skipped.
func (a *API) applySnapshotMigration(c *fiber.Ctx, body []byte) error {
	sm, err := formats.ParseSnapshotMigration(body)
	if err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	s, err := formats.PlanSnapshotMigration(m, sm, a.NewID)
	if err != nil {
		return err
	}
	return a.runPlan(c, m, formatSnapshotMigration, s.Steps, fiber.Map{"skipped": s.Skipped}, nil)
}
