package rest

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"strata/modules/bus"
	"strata/modules/packages"
	"strata/schema"
)

// mountPackages adds the package schema workflow's routes (tenant admins and platform
// admins): status, scan, the pending queue, approval and a package's SQL.
func (a *API) mountPackages(t fiber.Router, adm fiber.Handler) {
	t.Get("/packages", adm, a.packageStatus)
	t.Post("/packages/scan", adm, a.scanPackages)
	t.Get("/packages/pending", adm, a.pendingPackages)
	t.Post("/packages/approve", adm, a.approvePackages)
	t.Get("/packages/:id/preview", adm, a.previewPackage)
}

// packageTenant is the request's tenant for the package workflow.
func (a *API) packageTenant(c *fiber.Ctx) packages.Tenant {
	tc := tenantOf(c)
	return packages.Tenant{
		ID:     tc.t.ID,
		Target: a.Tenants.Target(tc.t, tc.db),
		Model: func(ctx context.Context) (*schema.Model, int64, error) {
			return a.Tenants.FreshModelVersion(ctx, tc.t, tc.db)
		},
		ACL: packages.IdentityACL{Identity: a.Identity, Tenant: tc.identity(nil), Changed: func() { a.invalidate(tc.t.ID, bus.InvalidateAccess) }},
		By:  callerID(c),
	}
}

func (a *API) packageStatus(c *fiber.Ctx) error {
	st, err := a.Packages.Status(c.UserContext(), a.packageTenant(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": st})
}

// scanPackages is POST /packages/scan: {packages: [{package_id, metadata, files}]}.
// It answers 202 when it queued migrations for approval.
func (a *API) scanPackages(c *fiber.Ctx) error {
	var in struct {
		Packages []packages.Package `json:"packages"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	res, err := a.Packages.Scan(c.UserContext(), a.packageTenant(c), in.Packages)
	if err != nil {
		return err
	}
	if len(res.Queued) > 0 && !res.AlreadyQueued {
		c.Status(fiber.StatusAccepted)
	}
	return c.JSON(fiber.Map{"data": res})
}

func (a *API) pendingPackages(c *fiber.Ctx) error {
	list, err := a.Packages.Pending(c.UserContext(), a.packageTenant(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}

// approvePackages is POST /packages/approve: {all: true} or {ids: [...]}.
func (a *API) approvePackages(c *fiber.Ctx) error {
	var in packages.ApproveRequest
	if err := decode(c, &in); err != nil {
		return err
	}
	res, err := a.Packages.Approve(c.UserContext(), a.packageTenant(c), in)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": res})
}

func (a *API) previewPackage(c *fiber.Ctx) error {
	p, err := a.Packages.Preview(c.UserContext(), a.packageTenant(c), c.Params("id"), c.Query("dialect"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": p})
}
