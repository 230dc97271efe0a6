package packages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/schema"
)

// Package is one package as a scan sends it: its id, its seed/metadata.json, and the
// files of its seed folder the metadata names, by path relative to seed/.
type Package struct {
	ID       string            `json:"package_id"`
	Metadata json.RawMessage   `json:"metadata"`
	Files    map[string]string `json:"files"`
}

// metadata is what a scan reads of a package's metadata.json; the rest of the file is
// the package's own business.
type metadata struct {
	PackageID string `json:"packageId"`
	Schema    *struct {
		Entities []string `json:"entities"`
		Path     string   `json:"path"`
	} `json:"schema"`
}

// ScanResult is what a scan did.
type ScanResult struct {
	Packages []ScannedPackage `json:"packages"`
	// Changeset names the migrations queued for this registry and schema ("" when the
	// schema already is what the packages declare).
	Changeset string `json:"changeset,omitempty"`
	// Queued are the migrations waiting for approval after the scan: queued by it, or
	// by an earlier scan of the same packages (AlreadyQueued).
	Queued        []Queued `json:"queued"`
	AlreadyQueued bool     `json:"already_queued"`
	// Superseded are the ids of pending migrations an earlier scan queued that this
	// one replaced (rejected), so that changed packages do not pile up changes.
	Superseded []string `json:"superseded"`
}

// ScannedPackage is one package of a scan and its entities as read.
type ScannedPackage struct {
	ID       string          `json:"package_id"`
	Entities []ScannedEntity `json:"entities"`
}

// ScannedEntity is one entity a scanned package declares.
type ScannedEntity struct {
	Name     string `json:"entity"`
	Version  string `json:"version,omitempty"`
	Checksum string `json:"checksum"`
	Source   string `json:"source"`
}

// Scan reads packages, records their entities in the tenant's registry, and queues
// what the tenant's schema lacks, pending approval whatever the tenant's
// require_approval says. Nothing is recorded when a package is refused: a bad file,
// an entity defined differently by two packages (now or ever scanned for this tenant:
// 409 naming both), or a plan the schema refuses.
func (s *Service) Scan(ctx context.Context, tn Tenant, pkgs []Package) (*ScanResult, error) {
	switch {
	case len(pkgs) == 0:
		return nil, apierr.InvalidPayload("packages", "send at least one package: {packages: [{package_id, metadata, files}]}")
	case len(pkgs) > MaxPackages:
		return nil, apierr.InvalidPayload("packages", "at most %d packages in one scan", MaxPackages)
	}
	scanned := map[string]bool{}
	var fresh []*Entity
	result := &ScanResult{Packages: []ScannedPackage{}, Queued: []Queued{}, Superseded: []string{}}
	now := s.Now().UTC().Truncate(time.Microsecond)
	for i, p := range pkgs {
		at := fmt.Sprintf("packages[%d]", i)
		if scanned[p.ID] {
			return nil, apierr.InvalidPayload(at+".package_id", "%s: package %q is sent twice", at, p.ID)
		}
		scanned[p.ID] = true
		list, err := readPackage(at, p)
		if err != nil {
			return nil, err
		}
		sp := ScannedPackage{ID: p.ID, Entities: []ScannedEntity{}}
		for _, e := range list {
			e.ScannedAt = now
			fresh = append(fresh, e)
			sp.Entities = append(sp.Entities, ScannedEntity{Name: e.Name, Version: e.Version, Checksum: e.Checksum, Source: e.Source})
		}
		result.Packages = append(result.Packages, sp)
	}

	old, err := s.entities(ctx, tn.ID)
	if err != nil {
		return nil, err
	}
	next, err := merged(old, fresh, scanned)
	if err != nil {
		return nil, err
	}
	for _, e := range fresh {
		if e.def.ACL == nil {
			continue
		}
		if err := tn.ACL.CheckACL(ctx, formats.MustJSON(e.def.ACL)); err != nil {
			if ae, ok := err.(*apierr.Error); ok {
				place := e.def.Sources[0] + ".acl"
				return nil, apierr.InvalidPayload(place, "%s: %s", place, ae.Message)
			}
			return nil, err
		}
	}

	// Plan what the registry declares against the schema as it is; a plan the schema
	// refuses is refused before anything is recorded.
	m, version, err := tn.Model(ctx)
	if err != nil {
		return nil, err
	}
	defs, pkgsOf := byEntity(next)
	want, origin := formats.EntitiesSnapshot(m, defs)
	steps, err := formats.PlanFrom(m, want, origin)
	if err != nil {
		return nil, err
	}
	regHash := registryHash(next)
	name := ""
	reqs := make([]migration.Request, len(steps))
	if len(steps) > 0 {
		changes := make([]schema.Change, len(steps))
		for i, st := range steps {
			changes[i] = st.Change
		}
		// The plan and the schema version it was made against: the same scan at the same
		// time is one changeset; a plan made again after the schema moved is another.
		sum := sha256.Sum256(append(formats.MustJSON(changes), strconv.FormatInt(version, 10)...))
		name = ChangesetPrefix + regHash + "." + hex.EncodeToString(sum[:8])
		for i, st := range steps {
			ch := st.Change
			ch.Changeset = name
			// Held whatever the tenant's policy, and confirmed by the approval: an admin
			// approves each migration, destructive or not, seeing what it does.
			reqs[i] = migration.Request{Change: ch, CreatedBy: tn.By, Approval: "all", Confirmed: true,
				Description: "package " + strings.Join(pkgsOf[changeTable(ch, m)], ", ") + ": " + st.At}
		}
		if _, err := s.Migration.PlanOn(ctx, tn.Target, m, reqs); err != nil {
			return nil, err
		}
	}
	if err := s.record(ctx, tn.ID, old, fresh, scanned); err != nil {
		return nil, err
	}

	// What earlier scans queued: kept when it is the queue of this registry (a scan of
	// the same packages again), replaced otherwise.
	pend, err := s.pending(ctx, tn)
	if err != nil {
		return nil, err
	}
	var current []migration.Migration
	for _, p := range pend {
		if strings.HasPrefix(p.Changeset, ChangesetPrefix+regHash+".") {
			current = append(current, p)
		}
	}
	if len(current) > 0 {
		result.AlreadyQueued = true
		result.Changeset = current[0].Changeset
		result.Queued = queued(current, pkgsOf)
		return result, nil
	}
	for _, p := range pend {
		if _, err := s.Migration.Reject(ctx, tn.Target, p.ID); err != nil {
			var se *migration.StateError
			if errors.As(err, &se) {
				continue // approved or rejected meanwhile
			}
			return nil, fmt.Errorf("reject superseded migration %d: %w", p.Seq, err)
		}
		result.Superseded = append(result.Superseded, p.ID)
	}
	if len(reqs) == 0 {
		return result, nil
	}
	results, err := s.Migration.ApplyAll(ctx, tn.Target, reqs)
	var held *migration.ChangesetHeld
	if errors.As(err, &held) && held.Pending {
		// Another scan of the same packages queued the same plan a moment ago.
		result.AlreadyQueued = true
		result.Changeset = name
		result.Queued = queued(held.Migrations, pkgsOf)
		return result, nil
	}
	if held != nil {
		return nil, apierr.New(409, "INVALID_PAYLOAD", "%s", held.Error())
	}
	if err != nil {
		return nil, err
	}
	result.Changeset = name
	list := make([]migration.Migration, 0, len(results))
	for _, m := range migration.Migrations(results) {
		list = append(list, *m)
	}
	result.Queued = queued(list, pkgsOf)
	return result, nil
}

// readPackage checks one package and reads the entities its file declares.
func readPackage(at string, p Package) ([]*Entity, error) {
	if !packageIDPattern.MatchString(p.ID) {
		return nil, apierr.InvalidPayload(at+".package_id", "%s.package_id: %q is not a package id (1 to 128 letters, digits, '_', '.' or '-')", at, p.ID)
	}
	var md metadata
	if err := json.Unmarshal(p.Metadata, &md); err != nil || len(p.Metadata) == 0 {
		return nil, apierr.InvalidPayload(at+".metadata", "package %s: metadata.json is not a JSON object", p.ID)
	}
	if md.PackageID != "" && md.PackageID != p.ID {
		return nil, apierr.InvalidPayload(at+".metadata.packageId", "package %s: metadata.json says packageId %q", p.ID, md.PackageID)
	}
	if md.Schema == nil {
		return nil, apierr.InvalidPayload(at+".metadata.schema", "package %s: metadata.json has no schema: {entities: [...], path: \"schema/entities.yaml\"}", p.ID)
	}
	file := md.Schema.Path
	if file == "" {
		file = "schema/entities.yaml"
	}
	if path.IsAbs(file) || path.Clean(file) != file || strings.HasPrefix(file, "../") || file == ".." {
		return nil, apierr.InvalidPayload(at+".metadata.schema.path", "package %s: schema.path %q must be a path inside the package's seed folder", p.ID, file)
	}
	body, ok := p.Files[file]
	if !ok {
		return nil, apierr.InvalidPayload(at+".files", "package %s: the scan did not send %s, which metadata.json names", p.ID, file)
	}
	for k := range p.Files {
		if k != file {
			return nil, apierr.InvalidPayload(at+".files."+k, "package %s: %s is not the file metadata.json names (%s)", p.ID, k, file)
		}
	}
	src := formats.EntitySource{Name: p.ID + ":" + file, Body: []byte(body), JSON: strings.HasSuffix(file, ".json")}
	defs, err := formats.ParseEntities([]formats.EntitySource{src})
	if err != nil {
		return nil, err
	}
	var declared []string
	out := make([]*Entity, 0, len(defs))
	for _, d := range defs {
		declared = append(declared, d.Table.Name)
		out = append(out, &Entity{PackageID: p.ID, Name: d.Table.Name, Version: d.Version, Checksum: d.Checksum, Source: file, def: d})
	}
	listed := slices.Clone(md.Schema.Entities)
	slices.Sort(listed)
	slices.Sort(declared)
	if !slices.Equal(listed, declared) {
		return nil, apierr.InvalidPayload(at+".metadata.schema.entities",
			"package %s: metadata.json lists the entities %s, and %s declares %s", p.ID, names(listed), file, names(declared)).
			With("listed", nonNil(listed)).With("declared", declared)
	}
	return out, nil
}

func names(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// merged is the registry after a scan: the rows of the packages scanned are replaced by
// what they declare now. Two packages that define one entity differently are a 409
// naming both, whichever scan registered the other.
func merged(old, fresh []*Entity, scanned map[string]bool) ([]*Entity, error) {
	var next []*Entity
	for _, e := range old {
		if !scanned[e.PackageID] {
			next = append(next, e)
		}
	}
	for _, e := range fresh {
		for _, o := range next {
			if !strings.EqualFold(o.PackageID, e.PackageID) || o.PackageID == e.PackageID {
				continue
			}
			return nil, apierr.InvalidPayload("package_id", "package %q differs from the registered package %q only by case", e.PackageID, o.PackageID)
		}
		for _, o := range next {
			if o.Name != e.Name {
				continue
			}
			what, a, b := "", "", ""
			switch {
			case o.Checksum != e.Checksum:
				what, a, b = "checksum", o.Checksum, e.Checksum
			case o.acl() != e.acl():
				what, a, b = "acl", o.acl(), e.acl()
			default:
				continue
			}
			return nil, apierr.New(409, "INVALID_PAYLOAD", "entity %s is defined differently by package %s (%s %s, %s) and package %s (%s %s, %s): packages that share an entity must define it alike",
				e.Name, o.PackageID, what, a, o.Source, e.PackageID, what, b, e.Source).
				With("field", "packages").With("entity", e.Name).
				With("definitions", []map[string]any{
					{"package_id": o.PackageID, "source": o.Source, "checksum": o.Checksum, "acl": o.def.ACL},
					{"package_id": e.PackageID, "source": e.Source, "checksum": e.Checksum, "acl": e.def.ACL}})
		}
		next = append(next, e)
	}
	if len(next) > MaxEntities {
		return nil, apierr.InvalidPayload("packages", "a tenant's packages may declare at most %d entities; these would be %d", MaxEntities, len(next))
	}
	return next, nil
}

// record replaces the registry rows of the scanned packages with what they declare
// now. An entity whose acl did not change keeps the time it was applied.
func (s *Service) record(ctx context.Context, tenantID string, old, fresh []*Entity, scanned map[string]bool) error {
	applied := map[string]*Entity{}
	for _, e := range old {
		applied[e.PackageID+"\x00"+e.Name] = e
	}
	d := s.Control.Dialect
	tx, err := s.Control.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record packages: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	for id := range scanned {
		if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM strata_package_entities WHERE tenant_id = ? AND package_id = ?"), tenantID, id); err != nil {
			return fmt.Errorf("record package %s: %w", id, err)
		}
	}
	for _, e := range fresh {
		if o := applied[e.PackageID+"\x00"+e.Name]; o != nil && o.acl() == e.acl() {
			e.ACLAppliedAt = o.ACLAppliedAt
		}
		var appliedAt any
		if e.ACLAppliedAt != nil {
			appliedAt = d.TimeValue(*e.ACLAppliedAt)
		}
		def, err := json.Marshal(e.def)
		if err != nil {
			return fmt.Errorf("encode entity %s: %w", e.Name, err)
		}
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO strata_package_entities (tenant_id, package_id, entity, version, checksum, source, definition, acl_applied_at, scanned_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"), tenantID, e.PackageID, e.Name, database.NullText(e.Version), e.Checksum, e.Source, string(def), appliedAt, d.TimeValue(e.ScannedAt)); err != nil {
			return fmt.Errorf("record package %s entity %s: %w", e.PackageID, e.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record packages: %w", err)
	}
	return nil
}
