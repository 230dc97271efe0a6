// Package packages owns the package schema workflow: packages declare entities in an
// entities.yaml (seed/schema/entities.yaml, named by seed/metadata.json); a scan
// records each package's entities with their structural checksums in the control
// database, refuses two packages that define one entity differently, and queues what
// the tenant's schema lacks as pending migrations for an admin to approve; approving
// runs them through the one migration path and then gives the entities their acl.
//
// It does not parse entities (formats does), plan or run DDL (migration does), or
// know HTTP or the command line: the REST door and the CLI call the same Service.
package packages

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/schema"
)

// Limits of the workflow.
const (
	// MaxPackages is the most packages one scan may send.
	MaxPackages = 256
	// MaxEntities is the most package entities a tenant's registry holds.
	MaxEntities = 2000
	// MaxPending is the most pending migrations a tenant may hold for the workflow to
	// read them (approval queues are short; a longer one is a mistake to look at).
	MaxPending = 10000
)

// ChangesetPrefix starts the changeset name a scan gives the migrations it queues
// (packages:<registry>.<plan>): it marks them as the workflow's, and the tenant's
// migration lock refuses to queue the same plan of the same registry twice.
const ChangesetPrefix = "packages:"

// Service is the package schema workflow over the control database's registry.
type Service struct {
	Control   *database.DB
	Migration *migration.Service
	Now       func() time.Time
	NewID     func() string
}

// Tenant is the tenant a call works on, as the door that called resolved it.
type Tenant struct {
	ID     string
	Target migration.Target
	// Model reads the tenant's schema model as it is now, and its schema version.
	Model func(ctx context.Context) (*schema.Model, int64, error)
	// ACL checks and gives tables their permissions (the acl shorthand of /tables).
	ACL Permissions
	// By names who asks, for the migrations' record.
	By string
}

// Permissions is how an entity's acl reaches its table: checked when a package is
// scanned (its roles exist), given when the table is as the packages declare it.
type Permissions interface {
	CheckACL(ctx context.Context, acl json.RawMessage) error
	ApplyACL(ctx context.Context, table string, acl json.RawMessage) error
}

// Entity is one package's entity as the registry holds it.
type Entity struct {
	PackageID string `json:"package_id"`
	Name      string `json:"entity"`
	Version   string `json:"version,omitempty"`
	Checksum  string `json:"checksum"`
	// Source is the file it was read from, relative to the package's seed folder.
	Source    string    `json:"source"`
	ScannedAt time.Time `json:"scanned_at"`
	// ACLAppliedAt is when its acl was given to the table; nil while it waits for an
	// approval (or the entity has none).
	ACLAppliedAt *time.Time `json:"acl_applied_at,omitempty"`
	def          *formats.EntityDef
}

func (e *Entity) acl() string {
	if e.def.ACL == nil {
		return ""
	}
	return string(formats.MustJSON(e.def.ACL))
}

var packageIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// EnsureSchema creates the registry's table in the control database (a control
// migration).
func (s *Service) EnsureSchema(ctx context.Context) error {
	d := s.Control.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	text := d.ColumnType(&schema.Column{Type: schema.TypeText})
	ts := d.ColumnType(&schema.Column{Type: schema.TypeDatetime})
	q := "CREATE TABLE IF NOT EXISTS strata_package_entities (tenant_id " + str(36) + " NOT NULL, package_id " + str(128) +
		" NOT NULL, entity " + str(64) + " NOT NULL, version " + str(64) + " NULL, checksum " + str(64) + " NOT NULL, source " + str(512) +
		" NOT NULL, definition " + text + " NOT NULL, acl_applied_at " + ts + " NULL, scanned_at " + ts +
		" NOT NULL, PRIMARY KEY (tenant_id, package_id, entity))"
	if _, err := s.Control.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create the package registry: %w", err)
	}
	return nil
}

// entities reads a tenant's registry, by package and entity.
func (s *Service) entities(ctx context.Context, tenantID string) ([]*Entity, error) {
	d := s.Control.Dialect
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT package_id, entity, version, checksum, source, definition, acl_applied_at, scanned_at "+
		"FROM strata_package_entities WHERE tenant_id = ? ORDER BY package_id, entity"), tenantID)
	if err != nil {
		return nil, fmt.Errorf("read the package registry: %w", err)
	}
	defer rows.Close()
	var out []*Entity
	for rows.Next() {
		e := &Entity{}
		var version sql.NullString
		var def string
		var applied, scanned any
		if err := rows.Scan(&e.PackageID, &e.Name, &version, &e.Checksum, &e.Source, &def, &applied, &scanned); err != nil {
			return nil, fmt.Errorf("read the package registry: %w", err)
		}
		e.Version = version.String
		e.ACLAppliedAt = database.Time(applied)
		if t := database.Time(scanned); t != nil {
			e.ScannedAt = *t
		}
		e.def = &formats.EntityDef{}
		if err := json.Unmarshal([]byte(def), e.def); err != nil {
			return nil, fmt.Errorf("package %s entity %s: read its definition: %w", e.PackageID, e.Name, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// byEntity merges the registry into one definition per entity (the packages that
// declare one agree on it: the scan saw to that), in name order, with every package's
// source, and the packages of each.
func byEntity(list []*Entity) ([]*formats.EntityDef, map[string][]string) {
	defs := map[string]*formats.EntityDef{}
	pkgs := map[string][]string{}
	for _, e := range list {
		src := e.def.Sources
		if d := defs[e.Name]; d != nil {
			d.Sources = append(d.Sources, src...)
		} else {
			cp := *e.def
			cp.Sources = slices.Clone(src)
			defs[e.Name] = &cp
		}
		pkgs[e.Name] = append(pkgs[e.Name], e.PackageID)
	}
	out := make([]*formats.EntityDef, 0, len(defs))
	for _, name := range slices.Sorted(maps.Keys(defs)) {
		out = append(out, defs[name])
	}
	return out, pkgs
}

// registryHash names a registry's content: which package declares which entity, with
// which checksum and acl.
func registryHash(list []*Entity) string {
	lines := make([]string, 0, len(list))
	for _, e := range list {
		lines = append(lines, strings.Join([]string{e.PackageID, e.Name, e.Checksum, e.acl()}, "\x00"))
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:8])
}

// Queued is a migration a scan queued, waiting for approval (or done with).
type Queued struct {
	ID          string    `json:"id"`
	Seq         int64     `json:"seq"`
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Status      string    `json:"status"`
	Entity      string    `json:"entity"`
	Packages    []string  `json:"packages"`
	Description string    `json:"description"`
	UpSQL       string    `json:"up_sql"`
	Changeset   string    `json:"changeset"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// pending reads the tenant's pending migrations that scans queued, by seq.
func (s *Service) pending(ctx context.Context, tn Tenant) ([]migration.Migration, error) {
	tgt := tn.Target
	list, total, err := migration.List(ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Status: migration.StatusPending, Limit: MaxPending})
	if err != nil {
		return nil, err
	}
	if total > MaxPending {
		return nil, apierr.New(409, "INVALID_PAYLOAD", "the tenant holds %d pending migrations, more than the %d the package workflow reads: approve or reject some first", total, MaxPending)
	}
	out := list[:0]
	for _, m := range list {
		if strings.HasPrefix(m.Changeset, ChangesetPrefix) {
			out = append(out, m)
		}
	}
	return out, nil
}

// queued describes migrations for the doors, with the entity each changes and the
// packages that declare it.
func queued(list []migration.Migration, pkgs map[string][]string) []Queued {
	out := make([]Queued, 0, len(list))
	for _, m := range list {
		entity := entityOf(m)
		out = append(out, Queued{ID: m.ID, Seq: m.Seq, Name: m.Name, Type: m.Type, Status: m.Status, Entity: entity, Packages: nonNil(pkgs[entity]),
			Description: m.Description, UpSQL: m.UpSQL, Changeset: m.Changeset, CreatedBy: m.CreatedBy, CreatedAt: m.CreatedAt})
	}
	return out
}

// entityOf is the table a recorded migration changes.
func entityOf(m migration.Migration) string {
	var ch schema.Change
	_ = json.Unmarshal(m.Change, &ch)
	return changeTable(ch, nil)
}

// changeTable is the table a change is about; m resolves a relation dropped by id.
func changeTable(ch schema.Change, m *schema.Model) string {
	switch {
	case ch.Create != nil:
		return ch.Create.Name
	case ch.Relation != nil && ch.Relation.Table != "":
		return ch.Relation.Table
	case ch.Relation != nil && m != nil:
		if r := m.Relation(ch.Relation.ID); r != nil {
			return r.Table
		}
	}
	return ch.Table
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Pending lists the migrations scans queued that wait for approval, by seq.
func (s *Service) Pending(ctx context.Context, tn Tenant) ([]Queued, error) {
	list, err := s.pending(ctx, tn)
	if err != nil {
		return nil, err
	}
	reg, err := s.entities(ctx, tn.ID)
	if err != nil {
		return nil, err
	}
	_, pkgs := byEntity(reg)
	return queued(list, pkgs), nil
}

// Status is a tenant's packages, their entities, and where each stands.
type Status struct {
	Packages []PackageStatus `json:"packages"`
	// Pending counts the migrations scans queued that wait for approval.
	Pending int `json:"pending"`
}

// PackageStatus is one package of a tenant's registry.
type PackageStatus struct {
	ID       string         `json:"package_id"`
	Entities []EntityStatus `json:"entities"`
}

// EntityStatus is a registered entity and where it stands: its State is applied (the
// table is as declared: same structural checksum), pending (migrations wait for
// approval) or differs (the table is missing or another shape, and nothing is queued:
// a scan queues what it lacks); ACL is none, pending or applied.
type EntityStatus struct {
	Entity
	State string `json:"state"`
	ACL   string `json:"acl"`
	// TableChecksum is the table's checksum now ("" when there is no such table).
	TableChecksum string `json:"table_checksum"`
}

// Entity states.
const (
	StateApplied = "applied"
	StatePending = "pending"
	StateDiffers = "differs"
)

// Status reports the tenant's packages and where their entities stand.
func (s *Service) Status(ctx context.Context, tn Tenant) (*Status, error) {
	reg, err := s.entities(ctx, tn.ID)
	if err != nil {
		return nil, err
	}
	pend, err := s.pending(ctx, tn)
	if err != nil {
		return nil, err
	}
	m, _, err := tn.Model(ctx)
	if err != nil {
		return nil, err
	}
	sums := tableChecksums(m)
	waiting := map[string]bool{}
	for _, q := range queued(pend, nil) {
		waiting[q.Entity] = true
	}
	out := &Status{Packages: []PackageStatus{}, Pending: len(pend)}
	for _, e := range reg {
		es := EntityStatus{Entity: *e, State: StateDiffers, ACL: "none", TableChecksum: sums[e.Name]}
		switch {
		case sums[e.Name] == e.Checksum:
			es.State = StateApplied
		case waiting[e.Name]:
			es.State = StatePending
		}
		if e.def.ACL != nil {
			es.ACL = StatePending
			if e.ACLAppliedAt != nil {
				es.ACL = StateApplied
			}
		}
		if n := len(out.Packages); n == 0 || out.Packages[n-1].ID != e.PackageID {
			out.Packages = append(out.Packages, PackageStatus{ID: e.PackageID, Entities: []EntityStatus{}})
		}
		p := &out.Packages[len(out.Packages)-1]
		p.Entities = append(p.Entities, es)
	}
	return out, nil
}

// tableChecksums is each user table's structural checksum, as GET /schema/snapshot
// gives it.
func tableChecksums(m *schema.Model) map[string]string {
	out := map[string]string{}
	for _, t := range formats.Take(m).Tables {
		out[t.Name] = t.Checksum
	}
	return out
}

// Preview is the SQL that applying a package's entities to the tenant would run now.
type Preview struct {
	PackageID string            `json:"package_id"`
	Dialect   string            `json:"dialect"`
	Changes   []PreviewedChange `json:"changes"`
	SQL       string            `json:"sql"`
}

// PreviewedChange is one migration of a preview.
type PreviewedChange struct {
	At          string `json:"at"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	UpSQL       string `json:"up_sql"`
	Destructive bool   `json:"destructive"`
}

// Preview plans a registered package's entities against the tenant's schema as it is
// now, in dialect ("" for the tenant's own).
func (s *Service) Preview(ctx context.Context, tn Tenant, packageID, dialect string) (*Preview, error) {
	d := tn.Target.Dialect
	if dialect != "" {
		var err error
		if d, err = schema.DialectByName(dialect); err != nil {
			return nil, apierr.InvalidQuery("dialect", "dialect must be postgres, mysql or sqlite")
		}
	}
	reg, err := s.entities(ctx, tn.ID)
	if err != nil {
		return nil, err
	}
	var mine []*Entity
	for _, e := range reg {
		if e.PackageID == packageID {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		return nil, apierr.NotFound("package %q has not been scanned for this tenant", packageID)
	}
	m, _, err := tn.Model(ctx)
	if err != nil {
		return nil, err
	}
	defs, _ := byEntity(mine)
	want, origin := formats.EntitiesSnapshot(m, defs)
	steps, err := formats.PlanFrom(m, want, origin)
	if err != nil {
		return nil, err
	}
	ps, err := formats.PlanIn(m, d, steps, s.NewID)
	if err != nil {
		return nil, err
	}
	out := &Preview{PackageID: packageID, Dialect: d.Name(), Changes: []PreviewedChange{}}
	var sqlText strings.Builder
	for _, p := range ps {
		name := migration.DefaultName(p.Change)
		out.Changes = append(out.Changes, PreviewedChange{At: p.At, Name: name, Type: string(p.Change.Type), UpSQL: p.UpSQL, Destructive: !p.Removal.Empty()})
		fmt.Fprintf(&sqlText, "-- %s (%s)\n%s\n\n", name, p.At, strings.TrimSpace(p.UpSQL))
	}
	out.SQL = sqlText.String()
	return out, nil
}
