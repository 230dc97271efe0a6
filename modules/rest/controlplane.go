package rest

import (
	"context"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/changeset"
	"strata/modules/controlplane"
)

// mountControlPlane adds the migration control plane's routes (platform admins).
func (a *API) mountControlPlane(api fiber.Router, admin fiber.Handler) {
	api.Patch("/tenants/:slug", admin, a.patchTenant)
	api.Get("/changesets", admin, a.listChangesets)
	api.Post("/changesets", admin, a.registerChangeset)
	api.Get("/changesets/:name", admin, a.getChangeset)
	api.Post("/migrate", admin, a.migrate)
	api.Get("/migrate/runs", admin, a.listFleetRuns)
	api.Get("/migrate/runs/:id", admin, a.getFleetRun)
	for _, action := range []string{"pause", "resume", "cancel"} {
		api.Post("/migrate/runs/:id/"+action, admin, func(c *fiber.Ctx) error {
			r, err := a.ControlPlane.Steer(c.UserContext(), c.Params("id"), action)
			if err != nil {
				return err
			}
			return c.JSON(fiber.Map{"data": r})
		})
	}
}

func (a *API) patchTenant(c *fiber.Ctx) error {
	var in struct {
		Tags map[string]string `json:"tags"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Tags == nil {
		return apierr.InvalidPayload("tags", "send tags: {key: value}")
	}
	t, err := a.ControlPlane.TagTenant(c.UserContext(), c.Params("slug"), in.Tags)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": t})
}

func (a *API) listChangesets(c *fiber.Ctx) error {
	list, err := a.ControlPlane.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}

func (a *API) getChangeset(c *fiber.Ctx) error {
	cs, err := a.ControlPlane.Get(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": cs})
}

// registerChangeset registers a changeset file sent as JSON or YAML (by its
// Content-Type): 201 when new, 200 when the same file is already registered.
func (a *API) registerChangeset(c *fiber.Ctx) error {
	yaml := false
	if mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); err == nil {
		yaml = strings.Contains(mt, "yaml")
	}
	cs, err := changeset.Parse(c.Body(), yaml)
	if err != nil {
		return err
	}
	reg, created, err := a.ControlPlane.Register(c.UserContext(), cs, callerID(c))
	if err != nil {
		return err
	}
	if created {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(fiber.Map{"data": reg})
}

// migrate starts a fleet run (202) or, with dry_run, answers its plan (200).
func (a *API) migrate(c *fiber.Ctx) error {
	var req controlplane.Request
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.DryRun {
		plan, err := a.ControlPlane.Plan(c.UserContext(), req)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"data": fiber.Map{"dry_run": true, "results": plan}})
	}
	run, err := a.ControlPlane.Start(c.UserContext(), req, callerID(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"data": run})
}

func (a *API) listFleetRuns(c *fiber.Ctx) error {
	limit, err := strconv.Atoi(c.Query("limit", "0"))
	if err != nil {
		return apierr.InvalidQuery("limit", "limit must be between 1 and %d", controlplane.MaxRunsListed)
	}
	runs, err := a.ControlPlane.ListRuns(c.UserContext(), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": runs})
}

// getFleetRun answers a run with its results; a caller that accepts text/event-stream gets
// "progress" events as its results change, then "result" with the settled run.
func (a *API) getFleetRun(c *fiber.Ctx) error {
	run, err := a.ControlPlane.GetRun(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	if !wantsEvents(c) {
		return c.JSON(fiber.Map{"data": run})
	}
	ctx := context.WithoutCancel(c.UserContext())
	cp, log, id := a.ControlPlane, a.Log, run.ID
	streamEvents(c, false, func(send sendEvent) {
		// A stream lasts at most an hour; the run goes on without it.
		ctx, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		ended, err := cp.Follow(ctx, id, 250*time.Millisecond, func(r controlplane.Result) error {
			if !send("progress", r) {
				return errClientGone
			}
			return nil
		})
		switch {
		case err == nil || ended != nil && ctx.Err() != nil:
			send("result", fiber.Map{"data": ended})
		case errors.Is(err, errClientGone):
		case ended == nil:
			log.Warn("run stream", "run", id, "err", err)
			send("error", apierr.Body(apierr.New(500, "INTERNAL", "the run could not be read")))
		}
	}, nil)
	return nil
}
