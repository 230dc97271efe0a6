package rest

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/bus"
	"strata/modules/query"
	"strata/modules/records"
	"strata/modules/webhooks"
)

// deliveryStatuses are what a delivery may be: waiting (or between attempts),
// delivered, dead (refused, or failed every attempt), dropped (its webhook went first).
var deliveryStatuses = []string{"pending", "delivered", "dead", "dropped"}

// mountWebhooks mounts the tenant's webhooks and their delivery logs (admins).
func (a *API) mountWebhooks(t fiber.Router, adm fiber.Handler) {
	t.Get("/webhooks", adm, a.listWebhooks)
	t.Post("/webhooks", adm, a.createWebhook)
	t.Get("/webhooks/:id", adm, uuidParam, a.getWebhook)
	t.Patch("/webhooks/:id", adm, uuidParam, a.patchWebhook)
	t.Delete("/webhooks/:id", adm, uuidParam, a.deleteWebhook)
	t.Get("/webhooks/:id/deliveries", adm, uuidParam, a.webhookDeliveries)
	t.Post("/webhooks/:id/deliveries/:delivery/retry", adm, uuidParam, a.redeliver)
}

// webhookScope is the request's tenant scope with its model.
func (a *API) webhookScope(c *fiber.Ctx) (*records.Scope, error) {
	m, err := a.model(c)
	if err != nil {
		return nil, err
	}
	tc := tenantOf(c)
	return tc.scope(tc.version, m, callerOf(c)), nil
}

func (a *API) listWebhooks(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	list, err := a.Webhooks.List(c.UserContext(), sc)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}

func (a *API) getWebhook(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	w, err := a.Webhooks.Get(c.UserContext(), sc, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": w})
}

// createWebhook is POST /webhooks; a secret made for the webhook is in the answer,
// this once.
func (a *API) createWebhook(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	var in webhooks.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	w, secret, err := a.Webhooks.Create(c.UserContext(), sc, in)
	if err != nil {
		return err
	}
	a.invalidate(sc.TenantID, bus.InvalidateWebhooks)
	a.logChange(c, "create", webhooks.Table, w.ID)
	out := fiber.Map{"data": w}
	if secret != "" {
		out = fiber.Map{"data": struct {
			*webhooks.Webhook
			Secret string `json:"secret"`
		}{w, secret}}
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (a *API) patchWebhook(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	var in webhooks.Input
	if err := decode(c, &in); err != nil {
		return err
	}
	w, err := a.Webhooks.Update(c.UserContext(), sc, c.Params("id"), in)
	if err != nil {
		return err
	}
	a.invalidate(sc.TenantID, bus.InvalidateWebhooks)
	a.logChange(c, "update", webhooks.Table, w.ID)
	return c.JSON(fiber.Map{"data": w})
}

func (a *API) deleteWebhook(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	if err := a.Webhooks.Delete(c.UserContext(), sc, c.Params("id")); err != nil {
		return err
	}
	a.invalidate(sc.TenantID, bus.InvalidateWebhooks)
	a.logChange(c, "delete", webhooks.Table, c.Params("id"))
	return c.SendStatus(fiber.StatusNoContent)
}

// webhookDeliveries is GET /webhooks/{id}/deliveries: the log, newest first, a page at
// a time (limit, page; status to keep one kind).
func (a *API) webhookDeliveries(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	limit := c.QueryInt("limit", 50)
	if limit < 1 || limit > webhooks.MaxDeliveries {
		return apierr.InvalidQuery("limit", "limit must be between 1 and %d", webhooks.MaxDeliveries)
	}
	page, err := strconv.Atoi(c.Query("page", "1"))
	if err != nil || page < 1 || page-1 > query.MaxOffset/limit {
		return apierr.InvalidQuery("page", "page must be an integer from 1 to %d", query.MaxOffset/limit+1)
	}
	status := c.Query("status")
	if status != "" && !slices.Contains(deliveryStatuses, status) {
		return apierr.InvalidQuery("status", "status must be one of %s", strings.Join(deliveryStatuses, ", "))
	}
	list, err := a.Webhooks.Deliveries(c.UserContext(), sc, c.Params("id"), status, limit, (page-1)*limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}

// redeliver is POST /webhooks/{id}/deliveries/{delivery}/retry: a dead delivery is
// queued again, its attempts counted from none.
func (a *API) redeliver(c *fiber.Ctx) error {
	sc, err := a.webhookScope(c)
	if err != nil {
		return err
	}
	ok, err := a.Webhooks.Redeliver(c.UserContext(), sc, c.Params("id"), c.Params("delivery"))
	if err != nil {
		return err
	}
	if !ok {
		return apierr.NotFound("no dead delivery %q of this webhook", c.Params("delivery"))
	}
	return c.SendStatus(fiber.StatusAccepted)
}
