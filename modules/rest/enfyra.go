package rest

import (
	"github.com/gofiber/fiber/v2"

	"strata/modules/formats"
)

// applyEnfyraSnapshot applies Enfyra's snapshot.json: read into the snapshot it
// describes and planned like Strata's own, with steps and refusals named by where they
// are in the file (posts.columns[2]); as in Enfyra, only what it adds is run.
func (a *API) applyEnfyraSnapshot(c *fiber.Ctx, body []byte) error {
	want, origin, err := formats.ParseEnfyraSnapshot(body)
	if err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	steps, err := formats.PlanFrom(m, want, origin)
	if err != nil {
		return err
	}
	adds, skipped := formats.Additions(m, steps)
	return a.runPlan(c, m, formatEnfyra, adds, fiber.Map{"skipped": skipped}, nil)
}
