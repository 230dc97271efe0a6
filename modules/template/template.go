// Package template applies a tenant template: a folder of Enfyra's data files
// (snapshot.json, snapshot-migration.json, data-migration.json, default-data.json) that
// makes every new tenant and keeps every existing one up to date, as Enfyra's boot
// does (docs/formats.md, decision 0026).
package template

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"strata/modules/access"
	"strata/modules/database"
	"strata/modules/formats"
	"strata/modules/meta"
	"strata/modules/migration"
	"strata/modules/records"
	"strata/schema"
)

// The files of a template folder; each is optional.
const (
	FileSnapshot          = "snapshot.json"
	FileSnapshotMigration = "snapshot-migration.json"
	FileDataMigration     = "data-migration.json"
	FileDefaultData       = "default-data.json"
)

// CreatedBy is who the ledger says made the template's migrations.
const CreatedBy = "template"

// Table records, in each tenant, the checksum of the last snapshot-migration and data
// migration applied, so that a restart applies a file once, not at every boot.
const Table = "strata_template_files"

// MaxFileBytes bounds one file of a template.
const MaxFileBytes = 16 << 20

// Template is a template folder, read and checked.
type Template struct {
	Dir string
	// snapshot and origin are snapshot.json, either shape, as a snapshot; nil: none.
	snapshot *formats.Snapshot
	origin   map[string]string
	// migration is snapshot-migration.json; data and defaults are the data files
	// (parsed per run, as their record limit is the caller's).
	migration      *formats.SnapshotMigration
	data, defaults []byte
	// sums are the files' SHA-256, by file name.
	sums map[string]string
}

// Load reads a template folder. A file that is there must be valid: a template that
// cannot be read stops the node, rather than leaving tenants half made.
func Load(dir string) (*Template, error) {
	t := &Template{Dir: dir, sums: map[string]string{}}
	read := func(name string) ([]byte, error) {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", path, err)
		}
		if fi.Size() > MaxFileBytes {
			return nil, fmt.Errorf("template %s: larger than %d bytes", path, MaxFileBytes)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", path, err)
		}
		sum := sha256.Sum256(b)
		t.sums[name] = hex.EncodeToString(sum[:])
		return b, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("template folder: %w", err)
	}
	b, err := read(FileSnapshot)
	if err != nil {
		return nil, err
	}
	if b != nil {
		var snap formats.Snapshot
		origin := map[string]string{}
		if formats.IsEnfyraSnapshot(b) {
			snap, origin, err = formats.ParseEnfyraSnapshot(b)
		} else {
			err = formats.Decode(b, &snap)
		}
		if err != nil {
			return nil, fmt.Errorf("template %s: %s", FileSnapshot, formats.ErrMessage(err))
		}
		t.snapshot, t.origin = &snap, origin
	}
	if b, err = read(FileSnapshotMigration); err != nil {
		return nil, err
	}
	if b != nil {
		if t.migration, err = formats.ParseSnapshotMigration(b); err != nil {
			return nil, fmt.Errorf("template %s: %s", FileSnapshotMigration, formats.ErrMessage(err))
		}
	}
	if t.data, err = read(FileDataMigration); err != nil {
		return nil, err
	}
	if t.defaults, err = read(FileDefaultData); err != nil {
		return nil, err
	}
	return t, nil
}

// Service applies a template to tenants through the one migration path (schema) and
// the records batch path (data), as a platform admin.
type Service struct {
	Template  *Template
	Migration *migration.Service
	Records   *records.Service
	NewID     func() string
	Now       func() time.Time
	MaxRows   int
	Log       *slog.Logger
}

// Plan is what a template does, or did, to one tenant.
type Plan struct {
	Tenant string `json:"tenant"`
	// New marks a new tenant: it gets the snapshot and the default data; an existing
	// one gets what the snapshot adds, then the snapshot-migration, then the data
	// migration, each file once.
	New bool `json:"new"`
	// Steps are the schema changes, in order, with where each comes from.
	Steps []PlannedStep `json:"steps"`
	// Skipped are entries already done (or that the snapshot does not add).
	Skipped []map[string]any `json:"skipped"`
	// Data names the data files applied and what they wrote.
	Data []DataRun `json:"data"`
	// Migrations are the migrations recorded (empty for a plan).
	Migrations []*migration.Migration `json:"migrations,omitempty"`
}

// PlannedStep is one schema change of a plan.
type PlannedStep struct {
	At          string `json:"at"`
	Name        string `json:"name"`
	Destructive bool   `json:"destructive"`
	SQL         string `json:"up_sql,omitempty"`
}

// DataRun is one data file applied to a tenant.
type DataRun struct {
	File   string               `json:"file"`
	Report *records.BatchReport `json:"report"`
	// Note says why a planned file has no report: its rows need the schema changes
	// first, which a plan does not make.
	Note string `json:"note,omitempty"`
}

// Destructive lists the names of a plan's destructive steps, for the boot log.
func (p *Plan) Destructive() []string {
	var out []string
	for _, st := range p.Steps {
		if st.Destructive {
			out = append(out, st.Name)
		}
	}
	return out
}

// Run plans the template for a tenant and, unless dry, applies it: the schema changes
// as one request of recorded migrations (created by "template", confirmed by being in
// the operator's files, never held for approval), then the data files, each recorded
// by checksum so a restart does not apply it again.
func (s *Service) Run(ctx context.Context, tn migration.Target, fresh, dry bool) (*Plan, error) {
	plan := &Plan{Tenant: tn.Slug, New: fresh, Steps: []PlannedStep{}, Skipped: []map[string]any{}, Data: []DataRun{}}
	m, err := meta.Load(ctx, tn.Store, tn.Store.Dialect)
	if err != nil {
		return nil, fmt.Errorf("template: load %s: %w", tn.Slug, err)
	}
	applied, err := appliedSums(ctx, tn.Store)
	if err != nil {
		return nil, err
	}
	steps, skipped, migrated, err := s.schemaSteps(m, fresh, applied)
	if err != nil {
		return nil, err
	}
	plan.Skipped = append(plan.Skipped, skipped...)
	if len(steps) > 0 {
		reqs := make([]migration.Request, len(steps))
		for i, st := range steps {
			reqs[i] = migration.Request{Change: st.Change, Name: "template: " + migration.DefaultName(st.Change), CreatedBy: CreatedBy,
				Unattended: true, DryRun: dry}
		}
		var results []*migration.Result
		if dry {
			results, err = s.Migration.PlanOn(ctx, tn, m, reqs)
		} else {
			results, err = s.Migration.ApplyAll(ctx, tn, reqs)
		}
		if err != nil {
			return nil, fmt.Errorf("template: %s: %w", tn.Slug, err)
		}
		for i, res := range results {
			ps := PlannedStep{At: steps[i].At, Name: migration.DefaultName(res.Change), Destructive: !res.Removal.Empty(), SQL: res.Plan.UpSQL()}
			if res.Migration != nil && !dry {
				plan.Migrations = append(plan.Migrations, res.Migration)
			}
			plan.Steps = append(plan.Steps, ps)
		}
	}
	if !dry && migrated {
		if err := s.record(ctx, tn.Store, FileSnapshotMigration); err != nil {
			return nil, err
		}
	}
	for _, f := range s.dataFiles(fresh, applied) {
		if dry && len(steps) > 0 {
			plan.Data = append(plan.Data, DataRun{File: f.name, Note: "applied after the schema changes above"})
			continue
		}
		run, err := s.runData(ctx, tn, f.name, f.body, f.defaults, dry)
		if err != nil {
			return nil, fmt.Errorf("template: %s: %s: %w", tn.Slug, f.name, err)
		}
		plan.Data = append(plan.Data, *run)
	}
	if !dry && fresh {
		// A new tenant is made as the files are now: the migrations and data written for
		// older tenants are its starting point, not changes to make to it.
		for _, f := range []string{FileSnapshotMigration, FileDataMigration} {
			if err := s.record(ctx, tn.Store, f); err != nil {
				return nil, err
			}
		}
	}
	return plan, nil
}

// schemaSteps are the schema changes a template makes to a tenant whose model is m:
// for an existing tenant, the snapshot-migration (once per file), then what the
// snapshot adds to the model that leaves. The migration goes first, unlike the order
// Enfyra's README lists: a file that renames email to userEmail comes with a snapshot
// that says userEmail, which added first would be a second column the rename then
// collides with.
func (s *Service) schemaSteps(m *schema.Model, fresh bool, applied map[string]string) (steps []formats.Step, skipped []map[string]any, migrated bool, err error) {
	t := s.Template
	skipped = []map[string]any{}
	cur := m
	add := func(st formats.Step, file string) error {
		next, _, err := schema.Apply(cur, st.Change, s.NewID)
		if err != nil {
			return fmt.Errorf("%s: %s", file, formats.ErrMessage(formats.StepError(len(steps), st, err)))
		}
		cur = next
		st.At = file + " " + st.At
		steps = append(steps, st)
		return nil
	}
	if t.migration != nil && !fresh && applied[FileSnapshotMigration] != t.sums[FileSnapshotMigration] {
		sm, err := formats.PlanSnapshotMigration(m, t.migration, s.NewID)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%s: %s", FileSnapshotMigration, formats.ErrMessage(err))
		}
		for _, st := range sm.Steps {
			if err := add(st, FileSnapshotMigration); err != nil {
				return nil, nil, false, err
			}
		}
		skipped = append(skipped, sm.Skipped...)
		migrated = true
	}
	if t.snapshot != nil {
		planned, err := formats.PlanFrom(cur, *t.snapshot, t.origin)
		if err != nil {
			return nil, nil, false, fmt.Errorf("%s: %s", FileSnapshot, formats.ErrMessage(err))
		}
		adds, rest := formats.Additions(cur, planned)
		skipped = append(skipped, rest...)
		for _, st := range adds {
			if err := add(st, FileSnapshot); err != nil {
				return nil, nil, false, err
			}
		}
	}
	return steps, skipped, migrated, nil
}

type dataFile struct {
	name     string
	body     []byte
	defaults bool
}

// dataFiles are the data files a run applies: the default data to a new tenant, the
// data migration to an existing one whose last applied file differs.
func (s *Service) dataFiles(fresh bool, applied map[string]string) []dataFile {
	t := s.Template
	switch {
	case fresh && t.defaults != nil:
		return []dataFile{{FileDefaultData, t.defaults, true}}
	case !fresh && t.data != nil && applied[FileDataMigration] != t.sums[FileDataMigration]:
		return []dataFile{{FileDataMigration, t.data, false}}
	}
	return nil
}

// runData applies one data file through the records batch path, as a platform admin,
// in one transaction; then records its checksum.
func (s *Service) runData(ctx context.Context, tn migration.Target, name string, body []byte, defaults, dry bool) (*DataRun, error) {
	parse := formats.ParseDataMigration
	if defaults {
		parse = formats.ParseDefaultData
	}
	dm, err := parse(body, s.MaxRows)
	if err != nil {
		return nil, errors.New(formats.ErrMessage(err))
	}
	// The schema as the steps before left it, at the version its statements are
	// tagged with.
	version, err := meta.Version(ctx, tn.Store, tn.Store.Dialect)
	if err != nil {
		return nil, fmt.Errorf("schema version: %w", err)
	}
	m, err := meta.Load(ctx, tn.Store, tn.Store.Dialect)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	sc := &records.Scope{TenantID: tn.TenantID, Slug: tn.Slug, DB: tn.Store, Version: version, Model: m,
		Caller: &access.Caller{Kind: "platform", Policy: &access.Policy{Admin: true}}}
	planned, err := s.Records.PlanBatch(sc, dm.Batch(), s.MaxRows)
	if err != nil {
		return nil, errors.New(formats.ErrMessage(err))
	}
	report, err := s.Records.RunBatch(ctx, planned, dry)
	if err != nil {
		return nil, errors.New(formats.ErrMessage(err))
	}
	if !dry && !defaults {
		if err := s.record(ctx, tn.Store, name); err != nil {
			return nil, err
		}
	}
	return &DataRun{File: name, Report: report}, nil
}

// appliedSums reads the checksums of the files last applied to a tenant.
func appliedSums(ctx context.Context, db *database.DB) (map[string]string, error) {
	d := db.Dialect
	rows, err := db.QueryContext(ctx, "SELECT "+d.Quote("file")+", "+d.Quote("checksum")+" FROM "+d.Quote(Table))
	if err != nil {
		return nil, fmt.Errorf("template: read %s: %w", Table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var file, sum string
		if err := rows.Scan(&file, &sum); err != nil {
			return nil, fmt.Errorf("template: read %s: %w", Table, err)
		}
		out[file] = sum
	}
	return out, rows.Err()
}

// record notes that file, as the template has it now, is applied to a tenant.
func (s *Service) record(ctx context.Context, db *database.DB, file string) error {
	sum := s.Template.sums[file]
	if sum == "" {
		return nil
	}
	d := db.Dialect
	now := d.TimeValue(s.Now())
	q := func(c string) string { return d.Quote(c) }
	res, err := db.ExecContext(ctx, d.Rebind("UPDATE "+q(Table)+" SET "+q("checksum")+" = ?, "+q("updated_at")+" = ? WHERE "+q("file")+" = ?"), sum, now, file)
	if err != nil {
		return fmt.Errorf("template: record %s: %w", file, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = db.ExecContext(ctx, d.Rebind("INSERT INTO "+q(Table)+" ("+q("id")+", "+q("file")+", "+q("checksum")+", "+q("created_at")+", "+q("updated_at")+") VALUES (?, ?, ?, ?, ?)"),
		s.NewID(), file, sum, now, now)
	if err != nil {
		return fmt.Errorf("template: record %s: %w", file, err)
	}
	return nil
}
