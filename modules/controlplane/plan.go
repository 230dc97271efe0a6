package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/modules/changeset"
	"strata/modules/migration"
	"strata/modules/tenant"
	"strata/schema"
)

// Request is what a fleet run selects and how it runs (POST /api/migrate).
type Request struct {
	Changesets    []string `json:"changesets,omitempty"`
	ChangesetTags []string `json:"changeset_tags,omitempty"`
	Tenants       []string `json:"tenants,omitempty"`
	TenantTags    []string `json:"tenant_tags,omitempty"`
	AllTenants    bool     `json:"all_tenants,omitempty"`
	DryRun        bool     `json:"dry_run,omitempty"`
	// Concurrency is how many tenants migrate at once (default 4, at most MaxConcurrency).
	Concurrency int `json:"concurrency,omitempty"`
	// Canary runs the first N tenants before the others and stops if any fails.
	Canary int `json:"canary,omitempty"`
	// MaxFailures stops the run once more tenants than this have failed (none: no limit).
	MaxFailures *int `json:"max_failures,omitempty"`
	// NoDeps runs only the changesets selected, without what they depend on.
	NoDeps bool `json:"no_deps,omitempty"`
}

// Limits of one run.
const (
	MaxConcurrency  = 16
	DefaultParallel = 4
	MaxSelected     = 1000 // names in one selection list
)

// Result statuses.
const (
	ResultQueued          = "queued"
	ResultRunning         = "running"
	ResultApplied         = "applied"
	ResultSkipped         = "skipped"
	ResultFailed          = "failed"
	ResultPendingApproval = "pending_approval"
	ResultNotRun          = "not_run" // the run stopped (cancelled, a canary or too many failures) first
	ResultPlanned         = "planned" // a dry run: what would run
)

// Result is one changeset on one tenant.
type Result struct {
	Tenant       string   `json:"tenant"`
	Changeset    string   `json:"changeset"`
	Status       string   `json:"status"`
	Error        *string  `json:"error"`
	MigrationIDs []string `json:"migration_ids"`
	// Plan is, in a dry run, the migrations the changeset would record.
	Plan []PlannedMigration `json:"plan,omitempty"`
}

// PlannedMigration is one migration a dry run would record.
type PlannedMigration struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	UpSQL       string `json:"up_sql"`
	Destructive bool   `json:"destructive"`
}

// PlannedOf lists what dry-run results would record.
func PlannedOf(results []*migration.Result) []PlannedMigration {
	out := make([]PlannedMigration, 0, len(results))
	for _, m := range migration.Migrations(results) {
		out = append(out, PlannedMigration{Name: m.Name, Type: m.Type, UpSQL: m.UpSQL, Destructive: m.Destructive})
	}
	return out
}

// selection is a request resolved: changesets in the order they run, tenants by slug.
type selection struct {
	changesets []*changeset.Changeset
	tenants    []*tenant.Tenant
}

func (r *Request) normalize() error {
	switch {
	case len(r.Changesets) == 0 && len(r.ChangesetTags) == 0:
		return apierr.InvalidPayload("changesets", "select changesets by name (changesets) or by tags (changeset_tags)")
	case len(r.Tenants) == 0 && len(r.TenantTags) == 0 && !r.AllTenants:
		return apierr.InvalidPayload("tenants", "select tenants by slug (tenants), by tags (tenant_tags), or all_tenants: true")
	case len(r.Changesets) > MaxSelected || len(r.Tenants) > MaxSelected:
		return apierr.InvalidPayload("tenants", "at most %d names in a list", MaxSelected)
	case r.Concurrency < 0 || r.Concurrency > MaxConcurrency:
		return apierr.InvalidPayload("concurrency", "concurrency is between 1 and %d", MaxConcurrency)
	case r.Canary < 0:
		return apierr.InvalidPayload("canary", "canary is a number of tenants")
	case r.MaxFailures != nil && *r.MaxFailures < 0:
		return apierr.InvalidPayload("max_failures", "max_failures is 0 or more")
	}
	if r.Concurrency == 0 {
		r.Concurrency = DefaultParallel
	}
	return nil
}

// resolve selects the changesets (with their dependencies, ordered) and the tenants of a
// request. A name that selects nothing is an error, never silently dropped.
func (s *Service) resolve(ctx context.Context, req *Request) (*selection, error) {
	if err := req.normalize(); err != nil {
		return nil, err
	}
	csTags, err := changeset.ParseTags("changeset_tags", req.ChangesetTags)
	if err != nil {
		return nil, err
	}
	tTags, err := changeset.ParseTags("tenant_tags", req.TenantTags)
	if err != nil {
		return nil, err
	}
	registered, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	all := make(map[string]*changeset.Changeset, len(registered))
	for _, r := range registered {
		all[r.Name] = r.Changeset
	}
	selected := slices.Clone(req.Changesets)
	if len(req.ChangesetTags) > 0 {
		n := 0
		for _, r := range registered {
			if changeset.Matches(r.TagMap(), csTags) {
				selected = append(selected, r.Name)
				n++
			}
		}
		if n == 0 && len(req.Changesets) == 0 {
			return nil, apierr.InvalidPayload("changeset_tags", "no registered changeset has the tags %s", strings.Join(req.ChangesetTags, ", "))
		}
	}
	ordered, err := changeset.Expand(all, selected, req.NoDeps)
	if err != nil {
		return nil, err
	}
	tenants, err := s.Tenants.List(ctx)
	if err != nil {
		return nil, err
	}
	bySlug := make(map[string]*tenant.Tenant, len(tenants))
	for _, t := range tenants {
		bySlug[t.Slug] = t
	}
	picked := map[string]bool{}
	var missing []string
	for _, slug := range req.Tenants {
		if bySlug[slug] == nil {
			missing = append(missing, slug)
		}
		picked[slug] = true
	}
	if len(missing) > 0 {
		return nil, apierr.NotFound("tenants not found: %s", strings.Join(missing, ", ")).With("missing", missing)
	}
	for _, t := range tenants {
		if req.AllTenants || (len(req.TenantTags) > 0 && changeset.Matches(t.Tags, tTags)) {
			picked[t.Slug] = true
		}
	}
	sel := &selection{changesets: ordered}
	for _, t := range tenants { // by slug
		if picked[t.Slug] {
			sel.tenants = append(sel.tenants, t)
		}
	}
	if len(sel.tenants) == 0 {
		return nil, apierr.InvalidPayload("tenant_tags", "no tenant has the tags %s", strings.Join(req.TenantTags, ", "))
	}
	return sel, nil
}

// Plan is a dry run: for each tenant and changeset, what would happen, without
// changing anything.
func (s *Service) Plan(ctx context.Context, req Request) ([]Result, error) {
	sel, err := s.resolve(ctx, &req)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, t := range sel.tenants {
		out = append(out, s.planTenant(ctx, t, sel.changesets)...)
	}
	return out, nil
}

// planTenant plans a tenant's changesets one after another, each against the model the
// ones before it leave.
func (s *Service) planTenant(ctx context.Context, t *tenant.Tenant, list []*changeset.Changeset) []Result {
	out := make([]Result, 0, len(list))
	fail := func(cs *changeset.Changeset, err error) {
		msg := s.errorText(err)
		out = append(out, Result{Tenant: t.Slug, Changeset: cs.Name, Status: ResultFailed, Error: &msg, MigrationIDs: []string{}})
	}
	db, err := s.Tenants.DB(ctx, t)
	if err != nil {
		for _, cs := range list {
			fail(cs, err)
		}
		return out
	}
	tgt := s.Tenants.Target(t, db)
	model, _, err := s.Tenants.FreshModelVersion(ctx, t, db)
	blocked := ""
	for _, cs := range list {
		switch {
		case err != nil:
			fail(cs, err)
			continue
		case blocked != "":
			fail(cs, fmt.Errorf("not planned: changeset %s before it would fail", blocked))
			continue
		}
		held, herr := migration.OfChangeset(ctx, db, db.Dialect, cs.Name)
		if herr != nil {
			fail(cs, herr)
			blocked = cs.Name
			continue
		}
		if r, ok := heldResult(t.Slug, cs.Name, held); ok {
			out = append(out, r)
			continue
		}
		res := Result{Tenant: t.Slug, Changeset: cs.Name, Status: ResultPlanned, MigrationIDs: []string{}}
		if strings.TrimSpace(cs.UpSQL) != "" {
			// Hand-written SQL is planned as written; what it does to the model is read
			// back when it runs, so what comes after it is planned then.
			res.Plan = []PlannedMigration{{Name: cs.Name, Type: string(schema.Custom), UpSQL: cs.UpSQL, Destructive: true}}
			out = append(out, res)
			model = nil
			continue
		}
		if model == nil {
			res.Plan = []PlannedMigration{}
			msg := "planned when the hand-written SQL before it has run"
			res.Error = &msg
			out = append(out, res)
			continue
		}
		results, perr := s.apply(ctx, tgt, model, cs, "", true)
		if perr != nil {
			fail(cs, perr)
			blocked = cs.Name
			continue
		}
		res.Plan = PlannedOf(results)
		if len(results) > 0 {
			model = results[len(results)-1].After
		}
		out = append(out, res)
	}
	return out
}

// heldResult is the result for a changeset a tenant already holds (ok false: it holds
// none of it, or only failed attempts).
func heldResult(slug, name string, held []migration.Migration) (Result, bool) {
	ids := make([]string, len(held))
	for i, m := range held {
		ids[i] = m.ID
	}
	r := Result{Tenant: slug, Changeset: name, MigrationIDs: ids}
	switch migration.ChangesetState(held) {
	case migration.ChangesetApplied:
		r.Status = ResultSkipped
	case migration.ChangesetHeldBy:
		r.Status = ResultPendingApproval
	case migration.ChangesetPartial:
		msg := (&migration.ChangesetHeld{Changeset: name, Partial: true}).Error()
		r.Status, r.Error = ResultFailed, &msg
	default:
		return Result{}, false
	}
	return r, true
}

// apply runs (or with dry, plans) one changeset of operations on a tenant whose model is
// m, through the one path: every change its own migration, the whole changeset
// validated and planned first.
func (s *Service) apply(ctx context.Context, tgt migration.Target, m *schema.Model, cs *changeset.Changeset, by string, dry bool) ([]*migration.Result, error) {
	changes, err := cs.SchemaChanges(m, s.NewID)
	if err != nil {
		return nil, err
	}
	reqs := make([]migration.Request, len(changes))
	for i, ch := range changes {
		reqs[i] = migration.Request{Change: ch, Name: cs.Name + ": " + migration.DefaultName(ch), Description: cs.Description,
			CreatedBy: by, DryRun: dry, Confirmed: true}
	}
	if dry {
		return s.Migration.PlanOn(ctx, tgt, m, reqs)
	}
	return s.Migration.ApplyAll(ctx, tgt, reqs)
}

// errorText is an error as a result shows it: the API's message, or the error.
func (s *Service) errorText(err error) string {
	if s.Translate != nil {
		err = s.Translate(err)
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	var fe *migration.FailedError
	if errors.As(err, &fe) && fe.Migration != nil && fe.Migration.Error != nil {
		return *fe.Migration.Error
	}
	return err.Error()
}
