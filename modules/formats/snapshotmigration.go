package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"strata/modules/apierr"
	"strata/schema"
)

// snapshotMigration is snapshot-migration.json, in Enfyra's shape: what a snapshot
// cannot say because it only describes the end state. Renames keep the data (a renamed
// column in a snapshot would be a drop and an add); removals are confirmed like any.
type SnapshotMigration struct {
	TablesToRename []tableRename    `json:"tablesToRename,omitempty"`
	Tables         []tableMigration `json:"tables"`
	TablesToDrop   []string         `json:"tablesToDrop,omitempty"`
}

type tableRename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// tableMigration is what changes in one table, found by Enfyra's _unique filter
// {"name":{"_eq":"posts"}}.
type tableMigration struct {
	Unique            tableKey         `json:"_unique"`
	TableToModify     *propertyChange  `json:"tableToModify,omitempty"`
	ColumnsToModify   []propertyChange `json:"columnsToModify,omitempty"`
	ColumnsToRemove   []string         `json:"columnsToRemove,omitempty"`
	RelationsToModify []propertyChange `json:"relationsToModify,omitempty"`
	RelationsToRemove []string         `json:"relationsToRemove,omitempty"`
}

type tableKey struct {
	Name struct {
		Eq string `json:"_eq"`
	} `json:"name"`
}

// propertyChange takes a column (or a table) from one state to another: from names it
// and may state properties it must have now, to gives its new name and properties.
type propertyChange struct {
	From map[string]json.RawMessage `json:"from"`
	To   map[string]json.RawMessage `json:"to"`
}

// parseSnapshotMigration reads a snapshot-migration.json body and checks its shape;
// whether it fits the tenant's model is planSnapshotMigration's to say.
func ParseSnapshotMigration(body []byte) (*SnapshotMigration, error) {
	var sm SnapshotMigration
	if err := Decode(body, &sm); err != nil {
		return nil, err
	}
	for i, tr := range sm.TablesToRename {
		if tr.From == "" || tr.To == "" {
			return nil, apierr.InvalidPayload(fmt.Sprintf("tablesToRename[%d]", i), "tablesToRename[%d]: from and to are required", i)
		}
	}
	for i, tm := range sm.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		if tm.Unique.Name.Eq == "" {
			return nil, apierr.InvalidPayload(at+"._unique", `%s._unique: name the table as {"name":{"_eq":"<table>"}}`, at)
		}
		for j, pc := range tm.RelationsToModify {
			rat := fmt.Sprintf("%s.relationsToModify[%d]", at, j)
			if _, err := stringProperty(pc.From, "propertyName"); err != nil {
				return nil, apierr.InvalidPayload(rat+".from.propertyName", "%s.from.propertyName: %v", rat, err)
			}
			if len(pc.To) == 0 {
				return nil, apierr.InvalidPayload(rat+".to", "%s.to is required", rat)
			}
		}
		for j, pc := range tm.ColumnsToModify {
			if _, err := stringProperty(pc.From, "name"); err != nil {
				return nil, apierr.InvalidPayload(fmt.Sprintf("%s.columnsToModify[%d].from.name", at, j), "%s.columnsToModify[%d].from.name: %v", at, j, err)
			}
			if len(pc.To) == 0 {
				return nil, apierr.InvalidPayload(fmt.Sprintf("%s.columnsToModify[%d].to", at, j), "%s.columnsToModify[%d].to is required", at, j)
			}
		}
		if tm.TableToModify != nil && len(tm.TableToModify.To) == 0 {
			return nil, apierr.InvalidPayload(at+".tableToModify.to", "%s.tableToModify.to is required", at)
		}
	}
	return &sm, nil
}

// stringProperty reads a required string property of a from/to object.
func stringProperty(props map[string]json.RawMessage, key string) (string, error) {
	raw, ok := props[key]
	if !ok {
		return "", fmt.Errorf("is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return "", fmt.Errorf("must be a non-empty string")
	}
	return s, nil
}

// stepper builds an apply's steps against the model each meets, so every entry is
// checked against the schema as the entries before it leave it.
type Stepper struct {
	model *schema.Model
	gen   schema.IDGen
	// Steps are the changes in order; Skipped the entries that change nothing, and why.
	Steps   []Step
	Skipped []map[string]any
}

func (s *Stepper) add(at string, ch schema.Change) error {
	after, _, err := schema.Apply(s.model, ch, s.gen)
	if err != nil {
		return StepError(len(s.Steps), Step{at, ch}, err)
	}
	s.model, s.Steps = after, append(s.Steps, Step{at, ch})
	return nil
}

// skip notes an entry that is already applied: the file is meant to be applied again
// on every deploy, as Enfyra does at every boot.
func (s *Stepper) skip(at, reason string) {
	s.Skipped = append(s.Skipped, map[string]any{"at": at, "reason": reason})
}

// table finds a user table an entry names.
func (s *Stepper) table(at, name string) (*schema.Table, error) {
	t := s.model.Table(name)
	if t == nil {
		return nil, apierr.InvalidPayload(at, "%s: table %q not found", at, name)
	}
	if t.System || t.Junction {
		return nil, apierr.InvalidPayload(at, "%s: %q is not a user table", at, name)
	}
	return t, nil
}

// trashed reports whether a table (column "") or a column of it was dropped before:
// what a removal entry applied once already left behind.
func (s *Stepper) trashed(table, column string) bool {
	return slices.ContainsFunc(s.model.Trash, func(tr schema.Trashed) bool {
		return tr.Table == table && tr.Column == column
	})
}

// planSnapshotMigration turns a snapshot-migration into steps, in this order: table
// renames; per table its own rename or description, column renames and alterations,
// relation removals, column removals; table drops. A table entry names the table as the
// renames before it left it.
func PlanSnapshotMigration(m *schema.Model, sm *SnapshotMigration, gen schema.IDGen) (*Stepper, error) {
	s := &Stepper{model: m, gen: gen, Skipped: []map[string]any{}}
	for i, tr := range sm.TablesToRename {
		at := fmt.Sprintf("tablesToRename[%d]", i)
		if s.model.Table(tr.From) == nil && s.model.Table(tr.To) != nil {
			s.skip(at, fmt.Sprintf("table %q is already named %q", tr.From, tr.To))
			continue
		}
		if _, err := s.table(at+".from", tr.From); err != nil {
			return nil, err
		}
		if err := s.add(at, schema.Change{Type: schema.RenameTable, Table: tr.From, NewName: tr.To}); err != nil {
			return nil, err
		}
	}
	for i, tm := range sm.Tables {
		if err := s.tableEntry(fmt.Sprintf("tables[%d]", i), tm); err != nil {
			return nil, err
		}
	}
	for i, name := range sm.TablesToDrop {
		at := fmt.Sprintf("tablesToDrop[%d]", i)
		if s.model.Table(name) == nil && s.trashed(name, "") {
			s.skip(at, fmt.Sprintf("table %q is already dropped", name))
			continue
		}
		if _, err := s.table(at, name); err != nil {
			return nil, err
		}
		if err := s.add(at, schema.Change{Type: schema.DropTable, Table: name}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stepper) tableEntry(at string, tm tableMigration) error {
	name := tm.Unique.Name.Eq
	if tm.TableToModify != nil && s.model.Table(name) == nil {
		// Renamed by this entry when the file was applied before: go on under the new name.
		if to, err := stringProperty(tm.TableToModify.To, "name"); err == nil && s.model.Table(to) != nil {
			s.skip(at+".tableToModify", fmt.Sprintf("table %q is already named %q", name, to))
			name, tm.TableToModify = to, nil
		}
	}
	t, err := s.table(at+"._unique", name)
	if err != nil {
		return err
	}
	if tm.TableToModify != nil {
		if name, err = s.tableChange(at+".tableToModify", t, *tm.TableToModify); err != nil {
			return err
		}
	}
	for j, pc := range tm.ColumnsToModify {
		if err := s.columnChange(fmt.Sprintf("%s.columnsToModify[%d]", at, j), name, pc); err != nil {
			return err
		}
	}
	for j, pc := range tm.RelationsToModify {
		if err := s.relationChange(fmt.Sprintf("%s.relationsToModify[%d]", at, j), name, pc); err != nil {
			return err
		}
	}
	for j, rel := range tm.RelationsToRemove {
		rat := fmt.Sprintf("%s.relationsToRemove[%d]", at, j)
		r := s.model.RelationByField(name, rel)
		switch {
		case r == nil && s.trashed(name, rel):
			s.skip(rat, fmt.Sprintf("relation %s.%s is already removed", name, rel))
			continue
		case r == nil:
			return apierr.InvalidPayload(rat, "%s: table %q has no relation %q", rat, name, rel)
		}
		if err := s.add(rat, schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: r.ID}}); err != nil {
			return err
		}
	}
	for j, col := range tm.ColumnsToRemove {
		cat := fmt.Sprintf("%s.columnsToRemove[%d]", at, j)
		t := s.model.Table(name)
		if t.Column(col) == nil {
			if s.trashed(name, col) {
				s.skip(cat, fmt.Sprintf("column %s.%s is already removed", name, col))
				continue
			}
			return apierr.InvalidPayload(cat, "%s: table %q has no column %q", cat, name, col)
		}
		if err := s.add(cat, schema.Change{Type: schema.DropColumn, Table: name, Column: col}); err != nil {
			return err
		}
	}
	return nil
}

// tableChange renames or describes a table; it returns the table's name after it.
func (s *Stepper) tableChange(at string, t *schema.Table, pc propertyChange) (string, error) {
	for k, raw := range pc.From {
		var now any = t.Name
		switch k {
		case "name":
		case "description":
			now = t.Description
		default:
			return "", apierr.InvalidPayload(at+".from."+k, "%s.from.%s: a table's from may state name and description", at, k)
		}
		if !SameJSON(raw, now) {
			return "", apierr.InvalidPayload(at+".from."+k, "%s.from.%s: table %q has %s %s, not %s", at, k, t.Name, k, MustJSON(now), raw)
		}
	}
	var patch TablePatch
	if err := Decode(MustJSON(pc.To), &patch); err != nil || len(patch.Permissions) > 0 {
		return "", apierr.InvalidPayload(at+".to", "%s.to may give name and description", at)
	}
	changes, err := TableChanges(t.Name, patch)
	if err != nil {
		return "", apierr.InvalidPayload(at+".to", "%s.to: %v", at, err)
	}
	name := t.Name
	for _, ch := range changes {
		if err := s.add(at, ch); err != nil {
			return "", err
		}
		if ch.Type == schema.RenameTable {
			name = ch.NewName
		}
	}
	return name, nil
}

// relationChange renames a relation in place, keeping its key's values (Enfyra's
// relationsToModify): to may give the field's new propertyName on this table and the
// other end's new inversePropertyName. from may state the relation's current type,
// targetTable, inversePropertyName and onDelete; a mismatch is refused. Changing those
// would make another relation, which is a removal and an addition, not a modification.
func (s *Stepper) relationChange(at, table string, pc propertyChange) error {
	from, _ := stringProperty(pc.From, "propertyName")
	r := s.model.RelationByField(table, from)
	if r == nil {
		if to, err := stringProperty(pc.To, "propertyName"); err == nil && s.model.RelationByField(table, to) != nil {
			s.skip(at, fmt.Sprintf("relation %s.%s is already named %q", table, from, to))
			return nil
		}
		return apierr.InvalidPayload(at+".from.propertyName", "%s.from.propertyName: table %q has no relation %q", at, table, from)
	}
	// The relation as this table sees it: its field here and the other end's.
	here := r.Table == table && r.Name == from
	view := map[string]any{"propertyName": from}
	otherTable, otherField := r.Table, r.Name
	if here {
		otherTable, otherField = r.Target, r.Inverse
		view["type"], view["targetTable"] = enfyraTypeName(r.Type, false), r.Target
	} else {
		view["type"], view["targetTable"] = enfyraTypeName(r.Type, true), r.Table
	}
	view["inversePropertyName"] = otherField
	view["onDelete"] = enfyraOnDeleteName(r.OnDeleteAction())
	for k, raw := range pc.From {
		now, ok := view[k]
		if !ok {
			return apierr.InvalidPayload(at+".from."+k, "%s.from.%s: a relation's from may state propertyName, type, targetTable, inversePropertyName and onDelete", at, k)
		}
		if !SameJSON(raw, now) {
			return apierr.InvalidPayload(at+".from."+k, "%s.from.%s: relation %s.%s has %s %s, not %s", at, k, table, from, k, MustJSON(now), raw)
		}
	}
	for k, raw := range pc.To {
		switch k {
		case "propertyName":
			to, err := stringProperty(pc.To, k)
			if err != nil {
				return apierr.InvalidPayload(at+".to.propertyName", "%s.to.propertyName: %v", at, err)
			}
			if to != from {
				if err := s.add(at, schema.Change{Type: schema.RenameRelation, Table: table, Column: from, NewName: to}); err != nil {
					return err
				}
			}
		case "inversePropertyName":
			to, err := stringProperty(pc.To, k)
			if err != nil {
				return apierr.InvalidPayload(at+".to.inversePropertyName", "%s.to.inversePropertyName: %v", at, err)
			}
			if otherField == "" {
				return apierr.InvalidPayload(at+".to.inversePropertyName", "%s.to.inversePropertyName: relation %s.%s has no field on %s to rename; add one by re-creating it", at, table, from, otherTable)
			}
			if to != otherField {
				if err := s.add(at, schema.Change{Type: schema.RenameRelation, Table: otherTable, Column: otherField, NewName: to}); err != nil {
					return err
				}
			}
		default:
			if now, ok := view[k]; ok && SameJSON(raw, now) {
				continue // stated as it is
			}
			return apierr.InvalidPayload(at+".to."+k, "%s.to.%s: a relation is renamed in place; changing its %s makes another relation: remove it (relationsToRemove) and add the new one in snapshot.json", at, k, k)
		}
	}
	return nil
}

// enfyraTypeName is Enfyra's name of a relation's kind, from its table (inverse false)
// or from its target's side.
func enfyraTypeName(t schema.RelationType, inverse bool) string {
	if inverse {
		switch t {
		case schema.ManyToOne:
			t = schema.OneToMany
		case schema.OneToMany:
			t = schema.ManyToOne
		}
	}
	for k, v := range enfyraRelationTypes {
		if v == t {
			return k
		}
	}
	return string(t)
}

func enfyraOnDeleteName(action string) string {
	for k, v := range enfyraOnDelete {
		if v == action {
			return k
		}
	}
	return action
}

// columnAliases are Enfyra's names of column properties that Strata calls otherwise.
var columnAliases = map[string]string{"isNullable": "nullable", "defaultValue": "default", "options": "values", "isUnique": "unique"}

// columnChange renames and/or alters a column; from may state properties it must have
// now, and a mismatch is refused, since the file was written for another schema.
func (s *Stepper) columnChange(at, table string, pc propertyChange) error {
	from, _ := stringProperty(pc.From, "name")
	to := from
	if _, ok := pc.To["name"]; ok {
		var err error
		if to, err = stringProperty(pc.To, "name"); err != nil {
			return apierr.InvalidPayload(at+".to.name", "%s.to.name: %v", at, err)
		}
	}
	t := s.model.Table(table)
	col := t.Column(from)
	switch {
	case col == nil && from != to && t.Column(to) != nil:
		s.skip(at, fmt.Sprintf("column %s.%s is already named %q", table, from, to))
		return nil
	case col == nil:
		return apierr.InvalidPayload(at+".from.name", "%s.from.name: table %q has no column %q", at, table, from)
	case col.System:
		return apierr.InvalidPayload(at+".from.name", "%s.from.name: %s.%s is kept by Strata (a system column or a relation's key) and cannot be changed here", at, table, from)
	}
	current := map[string]json.RawMessage{}
	_ = json.Unmarshal(MustJSON(Column{Name: col.Name, Type: col.Type, Length: col.Length, Precision: col.Precision, Scale: col.Scale,
		Values: col.Values, Nullable: &col.Nullable, Unique: col.Unique, Index: col.Index, Default: col.Default, Description: col.Description}), &current)
	zero := map[string]any{"length": 0, "precision": 0, "scale": 0, "values": nil, "unique": false, "index": false, "default": nil, "description": ""}
	// mismatch finds a property of props the column does not have as stated.
	mismatch := func(side string, props map[string]json.RawMessage) error {
		for k, raw := range props {
			key := k
			if alias, ok := columnAliases[k]; ok {
				key = alias
			}
			now, ok := current[key]
			if !ok {
				z, known := zero[key]
				if !known {
					return apierr.InvalidPayload(at+"."+side+"."+k, "%s.%s.%s: unknown column property %q", at, side, k, k)
				}
				now = MustJSON(z)
			}
			if !SameJSON(raw, now) {
				return apierr.InvalidPayload(at+"."+side+"."+k, "%s.%s.%s: column %s.%s has %s %s, not %s", at, side, k, table, from, key, now, raw)
			}
		}
		return nil
	}
	if to == from && mismatch("to", pc.To) == nil {
		// Already as to gives it (the file applied before): its from no longer holds.
		s.skip(at, fmt.Sprintf("column %s.%s already has these properties", table, from))
		return nil
	}
	if err := mismatch("from", pc.From); err != nil {
		return err
	}
	patch := map[string]json.RawMessage{}
	for k, raw := range pc.To {
		if alias, ok := columnAliases[k]; ok {
			k = alias
		}
		patch[k] = raw
	}
	if _, named := patch["name"]; named && len(patch) == 1 && to == from {
		s.skip(at, fmt.Sprintf("column %s.%s already has this name", table, from))
		return nil
	}
	changes, err := ColumnChanges(s.model, table, from, MustJSON(patch))
	if err != nil {
		return apierr.InvalidPayload(at+".to", "%s.to: %s", at, ErrMessage(err))
	}
	for _, ch := range changes {
		if ch.Type == schema.AlterColumn {
			if !ch.Def.Type.Valid() {
				return UnknownType(at+".to.type", ch.Def.Type)
			}
			if cur := s.model.Table(table).Column(ch.Column); cur != nil && sameDefinition(cur, ch.Def) {
				s.skip(at, fmt.Sprintf("column %s.%s already has these properties", table, ch.Column))
				continue
			}
		}
		if err := s.add(at, ch); err != nil {
			return err
		}
	}
	return nil
}

// sameJSON compares two JSON values by meaning, not spelling.
func SameJSON(raw json.RawMessage, v any) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil {
		return false
	}
	other, ok := v.(json.RawMessage)
	if !ok {
		other = MustJSON(v)
	}
	if json.Unmarshal(other, &b) != nil {
		return false
	}
	return bytes.Equal(MustJSON(a), MustJSON(b))
}

func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data: a failure is a programming error
	}
	return b
}

// errMessage is an error's message without the API code in front.
func ErrMessage(err error) string {
	if e, ok := err.(*apierr.Error); ok {
		return e.Message
	}
	return err.Error()
}
