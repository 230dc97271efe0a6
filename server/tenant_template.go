package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strata/modules/database"
	"strata/modules/migration"
	"strata/modules/query"
	"strata/modules/records"
	"strata/modules/template"
	"strata/modules/tenant"
)

// loadTemplate reads the tenant template (STRATA_TEMPLATE_DIR) into the service that
// applies it; nil without one. A template that cannot be read stops the node.
func loadTemplate(cfg Config, mig *migration.Service, log *slog.Logger) (*template.Service, error) {
	if cfg.TemplateDir == "" {
		return nil, nil
	}
	t, err := template.Load(cfg.TemplateDir)
	if err != nil {
		return nil, err
	}
	// A records service of its own until the API's (with its hooks and realtime
	// publisher) is wired in; the CLI keeps this one.
	recs := &records.Service{Limits: query.Limits{}.WithDefaults(), MaxBatch: cfg.MaxLimit, Now: time.Now}
	return &template.Service{Template: t, Migration: mig, Records: recs, NewID: newID, Now: time.Now, MaxRows: cfg.MaxLimit, Log: log}, nil
}

// newTenantFromTemplate is the registry's hook that makes a new tenant from the
// template: its snapshot and default data.
func newTenantFromTemplate(tpl *template.Service) func(context.Context, *tenant.Tenant, migration.Target, *database.DB) error {
	if tpl == nil {
		return nil
	}
	return func(ctx context.Context, t *tenant.Tenant, tgt migration.Target, _ *database.DB) error {
		plan, err := tpl.Run(ctx, tgt, true, false)
		if err != nil {
			return err
		}
		tpl.Log.Info("tenant made from the template", "tenant", t.Slug, "migrations", len(plan.Migrations))
		return nil
	}
}

// applyTemplate brings every tenant up to date with the template, as at every boot:
// what the snapshot adds, then the snapshot-migration and the data migration each once.
// Destructive steps run without a confirm challenge (the operator wrote them) and are
// logged. report, when set, hears of each tenant (one call at a time).
func (co *core) applyTemplate(ctx context.Context, dry bool, report func(slug string, plan *template.Plan, err error)) map[string]error {
	var mu sync.Mutex
	return co.tenants.EachTenant(ctx, func(ctx context.Context, t *tenant.Tenant) error {
		plan, err := co.runTemplate(ctx, t, dry)
		if report != nil {
			mu.Lock()
			defer mu.Unlock()
			report(t.Slug, plan, err)
		}
		return err
	})
}

func (co *core) runTemplate(ctx context.Context, t *tenant.Tenant, dry bool) (*template.Plan, error) {
	log := co.template.Log
	if t.SandboxOf != "" {
		return &template.Plan{Tenant: t.Slug}, nil // a sandbox follows its source's history
	}
	_, tgt, err := co.tenants.Open(ctx, t.Slug)
	if err != nil {
		return nil, err
	}
	var plan *template.Plan
	// Another node booting at once may apply the same steps first; a step that then no
	// longer applies is planned again against what that node left, a few times.
	for attempt := 0; ; attempt++ {
		plan, err = co.template.Run(ctx, tgt, false, dry)
		if err == nil || dry || attempt == 2 {
			break
		}
		log.Warn("template: trying again", "tenant", t.Slug, "err", err)
	}
	if err != nil {
		log.Error("template: tenant not brought up to date", "tenant", t.Slug, "err", err)
		return nil, fmt.Errorf("template: %w", err)
	}
	if !dry {
		if d := plan.Destructive(); len(d) > 0 {
			log.Warn("template: destructive steps applied", "tenant", t.Slug, "steps", d)
		}
		if len(plan.Migrations) > 0 || len(plan.Data) > 0 {
			log.Info("template: tenant brought up to date", "tenant", t.Slug, "migrations", len(plan.Migrations), "data_files", len(plan.Data))
		}
	}
	return plan, nil
}

// ApplyTemplate brings every tenant up to date with the template (at boot).
func (a *App) ApplyTemplate(ctx context.Context) map[string]error {
	if a.core.template == nil {
		return nil
	}
	return a.core.applyTemplate(ctx, false, nil)
}
