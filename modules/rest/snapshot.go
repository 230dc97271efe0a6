package rest

import (
	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/schema"
)

func (a *API) getSnapshot(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	switch c.Query("format") {
	case "", formatSnapshot:
		return c.JSON(fiber.Map{"data": formats.Take(m)})
	case formatEnfyra:
		// Enfyra's file as it is, not in the envelope: it is saved and applied whole.
		body, err := formats.Enfyra(formats.Take(m))
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(body)
	}
	return apierr.InvalidQuery("format", "unknown format %q: want %s or %s", c.Query("format"), formatSnapshot, formatEnfyra)
}

// applySnapshotFile applies a snapshot.json body: the difference between the tenant's
// model and the snapshot, planned and run by runPlan.
func (a *API) applySnapshotFile(c *fiber.Ctx, body []byte) error {
	var want formats.Snapshot
	if err := formats.Decode(body, &want); err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	steps, err := formats.Plan(m, want)
	if err != nil {
		return err
	}
	return a.runPlan(c, m, formatSnapshot, steps, nil, nil)
}

// runPlan validates steps in order against the model each will meet, before anything
// runs, so that a refusal names the input entry at fault; then it answers the plan (dry
// run) or sends the steps down the one path as one request (Migration.ApplyAll): each
// its own migration, what they remove together confirmed once with the usual hash and
// token, and where the tenant holds changes for approval, the first held holding the
// rest (answered 202). then, when set, runs after the steps; extra is added to the answer.
func (a *API) runPlan(c *fiber.Ctx, m *schema.Model, format string, steps []formats.Step, extra fiber.Map, then func() error) error {
	tc := tenantOf(c)
	ps, err := formats.PlanIn(m, tc.db.Dialect, steps, a.NewID)
	if err != nil {
		return err
	}
	planned := make([]fiber.Map, 0, len(steps))
	removal := schema.Removal{RemovedColumns: []string{}, DroppedTables: []string{}}
	for _, p := range ps {
		r := p.Removal
		removal.RemovedColumns = append(removal.RemovedColumns, r.RemovedColumns...)
		removal.DroppedTables = append(removal.DroppedTables, r.DroppedTables...)
		removal.RemovedRelations += r.RemovedRelations
		removal.Narrowing = append(removal.Narrowing, r.Narrowing...)
		planned = append(planned, fiber.Map{"type": p.Change.Type, "name": migration.DefaultName(p.Change), "up_sql": p.UpSQL, "destructive": !r.Empty()})
	}
	answer := func(data fiber.Map) error {
		data["format"] = format
		for k, v := range extra {
			data[k] = v
		}
		return c.JSON(fiber.Map{"data": data})
	}
	if c.QueryBool("dry_run") {
		return answer(fiber.Map{"dry_run": true, "changes": planned, "removal": removal})
	}
	migrations := []*migration.Migration{}
	if len(steps) > 0 {
		phrase, err := a.confirmPhrase(c)
		if err != nil {
			return err
		}
		reqs := make([]migration.Request, len(steps))
		for i, st := range steps {
			reqs[i] = migration.Request{Change: st.Change, CreatedBy: callerID(c),
				ConfirmHash: c.Get("X-Schema-Confirm-Hash"), ConfirmToken: c.Get("X-Schema-Confirm-Token"), ConfirmPhrase: phrase}
		}
		results, err := a.Migration.ApplyAll(c.UserContext(), a.Tenants.Target(tc.t, tc.db), reqs)
		if err != nil {
			return err
		}
		for _, res := range results {
			migrations = append(migrations, res.Migration)
			if res.Migration.Status == migration.StatusPending {
				c.Status(fiber.StatusAccepted) // held for approval
			}
		}
	}
	if then != nil {
		if err := then(); err != nil {
			return err
		}
	}
	return answer(fiber.Map{"migrations": migrations})
}
