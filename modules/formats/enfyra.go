package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/schema"
)

// Enfyra's snapshot.json: an object from table name to the table, each with its
// columns and the relations it declares (docs/formats.md). It is read into a Snapshot
// and written from one, so it is planned and applied like Strata's own shape.

// EnfyraTable is one table of an Enfyra snapshot.
type EnfyraTable struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	IsSystem    bool             `json:"isSystem,omitempty"`
	Uniques     []enfyraIndex    `json:"uniques,omitempty"`
	Indexes     []enfyraIndex    `json:"indexes,omitempty"`
	Columns     []EnfyraColumn   `json:"columns"`
	Relations   []EnfyraRelation `json:"relations"`
	// IsSingleRecord is read to be refused: Strata has no single-record tables.
	IsSingleRecord bool `json:"isSingleRecord,omitempty"`
	// Strata's own, which Enfyra lacks; written only when set.
	Label           string `json:"label,omitempty"`
	DisplayTemplate string `json:"displayTemplate,omitempty"`
}

// EnfyraColumn is one column as Enfyra writes it. Length, Precision and Scale are
// Strata's, written where Enfyra's type cannot say them (a varchar of another length
// than Enfyra's 255, a decimal).
type EnfyraColumn struct {
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	IsPrimary    bool            `json:"isPrimary,omitempty"`
	IsGenerated  bool            `json:"isGenerated,omitempty"`
	IsNullable   *bool           `json:"isNullable,omitempty"`
	IsUnique     bool            `json:"isUnique,omitempty"`
	IsIndex      bool            `json:"isIndex,omitempty"`
	DefaultValue json.RawMessage `json:"defaultValue,omitempty"`
	Options      []string        `json:"options,omitempty"`
	Description  string          `json:"description,omitempty"`
	Length       int             `json:"length,omitempty"`
	Precision    int             `json:"precision,omitempty"`
	Scale        int             `json:"scale,omitempty"`
	// Read and not kept: Strata has no per-column equivalent (permissions decide who
	// reads and writes a column; forms are the UI's).
	IsSystem    bool            `json:"isSystem,omitempty"`
	IsUpdatable *bool           `json:"isUpdatable,omitempty"`
	IsPublished *bool           `json:"isPublished,omitempty"`
	Placeholder string          `json:"placeholder,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	// IsEncrypted is read to be refused: storing in clear what the file asks to be
	// encrypted would be worse than saying no.
	IsEncrypted bool `json:"isEncrypted,omitempty"`
}

// EnfyraRelation is one relation as Enfyra writes it, on the table that declares it.
type EnfyraRelation struct {
	PropertyName         string `json:"propertyName"`
	Type                 string `json:"type"`
	TargetTable          string `json:"targetTable"`
	InversePropertyName  string `json:"inversePropertyName,omitempty"`
	OnDelete             string `json:"onDelete,omitempty"`
	JunctionTableName    string `json:"junctionTableName,omitempty"`
	JunctionSourceColumn string `json:"junctionSourceColumn,omitempty"`
	JunctionTargetColumn string `json:"junctionTargetColumn,omitempty"`
	Description          string `json:"description,omitempty"`
	// Read and not kept: Strata's key columns are always nullable, and what may be
	// written is the permissions' business.
	IsNullable     *bool `json:"isNullable,omitempty"`
	IsSystem       bool  `json:"isSystem,omitempty"`
	IsUpdatable    *bool `json:"isUpdatable,omitempty"`
	IsInverseEager bool  `json:"isInverseEager,omitempty"`
	IsGenerated    bool  `json:"isGenerated,omitempty"`
}

// enfyraIndex is an entry of uniques or indexes: Enfyra's list of column names, or,
// for an index whose name is not the one Strata would give it, Strata's {name, columns}.
type enfyraIndex struct {
	Name    string
	Columns []string
}

func (ix enfyraIndex) MarshalJSON() ([]byte, error) {
	if ix.Name == "" {
		return json.Marshal(ix.Columns)
	}
	return json.Marshal(struct {
		Name    string   `json:"name"`
		Columns []string `json:"columns"`
	}{ix.Name, ix.Columns})
}

func (ix *enfyraIndex) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		return json.Unmarshal(b, &ix.Columns)
	}
	var named struct {
		Name    string   `json:"name"`
		Columns []string `json:"columns"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&named); err != nil {
		return err
	}
	ix.Name, ix.Columns = named.Name, named.Columns
	return nil
}

// enfyraTypes maps Enfyra's column types onto Strata's. Strata's own type names are
// read as themselves (a snapshot Strata wrote uses them where Enfyra has no word).
var enfyraTypes = map[string]schema.Type{
	"int": schema.TypeInteger, "integer": schema.TypeInteger, "smallint": schema.TypeInteger,
	"bigint": schema.TypeBigint, "float": schema.TypeFloat,
	"varchar": schema.TypeString, "text": schema.TypeText, "richtext": schema.TypeText, "code": schema.TypeText,
	"boolean": schema.TypeBoolean, "bool": schema.TypeBoolean, "uuid": schema.TypeUUID,
	"date": schema.TypeDate, "datetime": schema.TypeDatetime, "timestamp": schema.TypeDatetime,
	"enum": schema.TypeEnum, "array-select": schema.TypeMultiEnum, "simple-json": schema.TypeJSON,
}

// strataToEnfyra is the other way, for the types Enfyra has a word for.
var strataToEnfyra = map[schema.Type]string{
	schema.TypeInteger: "int", schema.TypeBigint: "bigint", schema.TypeFloat: "float", schema.TypeString: "varchar",
	schema.TypeText: "text", schema.TypeBoolean: "boolean", schema.TypeUUID: "uuid", schema.TypeDate: "date",
	schema.TypeDatetime: "datetime", schema.TypeEnum: "enum", schema.TypeMultiEnum: "array-select", schema.TypeJSON: "simple-json",
}

// enfyraVarcharLength is the length Enfyra gives every varchar.
const enfyraVarcharLength = 255

var enfyraRelationTypes = map[string]schema.RelationType{
	"many-to-one": schema.ManyToOne, "one-to-many": schema.OneToMany, "many-to-many": schema.ManyToMany, "one-to-one": schema.OneToOne,
}

var enfyraOnDelete = map[string]string{
	"CASCADE": "cascade", "SET NULL": "set_null", "RESTRICT": "restrict", "NO ACTION": "no_action",
}

// IsEnfyraSnapshot reports whether body looks like Enfyra's snapshot.json rather than
// Strata's shape: an object whose values are objects (Strata's has the arrays tables
// and relations).
func IsEnfyraSnapshot(body []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil || len(top) == 0 {
		return false
	}
	for _, v := range top {
		if !bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
			return false
		}
	}
	return true
}

// ParseEnfyraSnapshot reads an Enfyra snapshot.json into the snapshot it describes,
// with, per snapshot path (tables[i], relations[k]), where it was in the file.
func ParseEnfyraSnapshot(body []byte) (Snapshot, map[string]string, error) {
	names, raws, err := orderedObject(body)
	if err != nil {
		return Snapshot{}, nil, err
	}
	out := Snapshot{Tables: []SnapshotTable{}, Relations: []Relation{}}
	origin := map[string]string{}
	type declared struct {
		at  string
		rel Relation
	}
	var rels []declared
	for i, key := range names {
		var et EnfyraTable
		if err := Decode(raws[i], &et); err != nil {
			return Snapshot{}, nil, prefixed(key, err)
		}
		st, err := et.table(key)
		if err != nil {
			return Snapshot{}, nil, err
		}
		origin[fmt.Sprintf("tables[%d]", len(out.Tables))] = key
		out.Tables = append(out.Tables, st)
		for j, er := range et.Relations {
			at := fmt.Sprintf("%s.relations[%d]", key, j)
			r, err := er.relation(at, key)
			if err != nil {
				return Snapshot{}, nil, err
			}
			rels = append(rels, declared{at, r})
		}
	}
	// A relation may be declared from both ends (a many-to-one and the one-to-many that
	// names it as its inverse): it is one relation, kept from the end that holds the key.
	for i, d := range rels {
		twin := slices.IndexFunc(rels, func(o declared) bool {
			return o.rel.Table == d.rel.Target && o.rel.Name == d.rel.Inverse && o.rel.Target == d.rel.Table && o.rel.Inverse == d.rel.Name
		})
		if twin >= 0 && keepsTwin(d.rel, rels[twin].rel, twin < i) {
			continue
		}
		if slices.ContainsFunc(out.Relations, func(r Relation) bool { return r.Table == d.rel.Table && r.Name == d.rel.Name }) {
			return Snapshot{}, nil, apierr.InvalidPayload(d.at, "%s: %s.%s is declared twice", d.at, d.rel.Table, d.rel.Name)
		}
		origin[fmt.Sprintf("relations[%d]", len(out.Relations))] = d.at
		out.Relations = append(out.Relations, d.rel)
	}
	return out, origin, nil
}

// keepsTwin reports whether, of a relation declared from both ends, the other end's
// declaration (twin, which comes first when first) is the one kept: the many-to-one
// over the one-to-many, else the first declared.
func keepsTwin(r, twin Relation, first bool) bool {
	if r.Type == schema.OneToMany && twin.Type == schema.ManyToOne {
		return true
	}
	if r.Type == schema.ManyToOne && twin.Type == schema.OneToMany {
		return false
	}
	return first
}

func (et EnfyraTable) table(key string) (SnapshotTable, error) {
	if et.Name != "" && et.Name != key {
		return SnapshotTable{}, apierr.InvalidPayload(key+".name", "%s.name: %q is not the table's key %q", key, et.Name, key)
	}
	if et.IsSystem {
		return SnapshotTable{}, apierr.InvalidPayload(key+".isSystem", "%s: Enfyra's system tables are Enfyra's; Strata keeps its own", key)
	}
	if et.IsSingleRecord {
		return SnapshotTable{}, apierr.InvalidPayload(key+".isSingleRecord", "%s: Strata has no single-record tables", key)
	}
	st := SnapshotTable{Name: key, Description: et.Description, Label: et.Label, DisplayTemplate: et.DisplayTemplate, Columns: []Column{}}
	for j, ec := range et.Columns {
		at := fmt.Sprintf("%s.columns[%d]", key, j)
		if ec.IsPrimary {
			// Every Strata table is keyed by id, a UUID v7 it makes itself: the file's
			// primary key is that one, whatever type it gives it.
			if ec.Name != "id" {
				return SnapshotTable{}, apierr.InvalidPayload(at+".isPrimary", "%s: the primary key of a Strata table is id (got %q)", at, ec.Name)
			}
			continue
		}
		c, err := ec.column(at)
		if err != nil {
			return SnapshotTable{}, err
		}
		st.Columns = append(st.Columns, c)
	}
	for _, list := range []struct {
		field   string
		entries []enfyraIndex
		unique  bool
	}{{"uniques", et.Uniques, true}, {"indexes", et.Indexes, false}} {
		for j, ix := range list.entries {
			if len(ix.Columns) == 0 {
				return SnapshotTable{}, apierr.InvalidPayload(fmt.Sprintf("%s.%s[%d]", key, list.field, j), "%s.%s[%d]: at least one column", key, list.field, j)
			}
			name := ix.Name
			if name == "" {
				name = schema.DefaultIndexName(key, ix.Columns)
			}
			st.Indexes = append(st.Indexes, schema.Index{Name: name, Columns: ix.Columns, Unique: list.unique})
		}
	}
	return st, nil
}

func (ec EnfyraColumn) column(at string) (Column, error) {
	if ec.IsEncrypted {
		return Column{}, apierr.InvalidPayload(at+".isEncrypted", "%s: Strata does not encrypt single columns", at)
	}
	t, ok := enfyraTypes[ec.Type]
	if !ok {
		t = schema.Type(ec.Type)
		if !t.Valid() || t == schema.TypeFile {
			return Column{}, apierr.InvalidPayload(at+".type", "%s.type: unknown type %q", at, ec.Type)
		}
	}
	c := Column{Name: ec.Name, Type: t, Length: ec.Length, Precision: ec.Precision, Scale: ec.Scale, Nullable: ec.IsNullable,
		Unique: ec.IsUnique, Index: ec.IsIndex, Description: ec.Description}
	if t == schema.TypeString && c.Length == 0 {
		c.Length = enfyraVarcharLength
	}
	if t == schema.TypeEnum || t == schema.TypeMultiEnum {
		c.Values = ec.Options
	} else if len(ec.Options) > 0 {
		return Column{}, apierr.InvalidPayload(at+".options", "%s.options: only an enum or array-select column has options", at)
	}
	if d := bytes.TrimSpace(ec.DefaultValue); len(d) > 0 && string(d) != "null" {
		c.Default = ec.DefaultValue
		if t == schema.TypeBoolean {
			c.Default = enfyraBool(d)
		}
	}
	return c, nil
}

// enfyraBool reads a boolean default as Enfyra does: 1, "1" and "true" are true, 0,
// "0" and "false" false; anything else is left for validation to refuse.
func enfyraBool(d json.RawMessage) json.RawMessage {
	switch strings.ToLower(strings.Trim(string(d), `"`)) {
	case "1", "true":
		return json.RawMessage("true")
	case "0", "false":
		return json.RawMessage("false")
	}
	return d
}

func (er EnfyraRelation) relation(at, table string) (Relation, error) {
	t, ok := enfyraRelationTypes[er.Type]
	if !ok {
		return Relation{}, apierr.InvalidPayload(at+".type", "%s.type: %q is not many-to-one, one-to-many, many-to-many or one-to-one", at, er.Type)
	}
	onDelete := ""
	if er.OnDelete != "" {
		if onDelete, ok = enfyraOnDelete[strings.ToUpper(er.OnDelete)]; !ok {
			return Relation{}, apierr.InvalidPayload(at+".onDelete", "%s.onDelete: %q is not CASCADE, SET NULL, RESTRICT or NO ACTION", at, er.OnDelete)
		}
	}
	r := Relation{Table: table, Name: er.PropertyName, Type: t, Target: er.TargetTable, OnDelete: onDelete, Inverse: er.InversePropertyName, Junction: er.JunctionTableName}
	if t == schema.ManyToMany {
		// Strata names a junction's keys itself; a file that names them otherwise
		// describes a table Strata would not make.
		sr := r.Schema()
		src, dst := schema.JunctionColumns(&sr)
		if (er.JunctionSourceColumn != "" && er.JunctionSourceColumn != src) || (er.JunctionTargetColumn != "" && er.JunctionTargetColumn != dst) {
			return Relation{}, apierr.InvalidPayload(at+".junctionSourceColumn", "%s: Strata names the junction's keys %s and %s", at, src, dst)
		}
	} else if er.JunctionTableName != "" || er.JunctionSourceColumn != "" || er.JunctionTargetColumn != "" {
		return Relation{}, apierr.InvalidPayload(at+".junctionTableName", "%s: only a many-to-many relation has a junction", at)
	}
	return r, nil
}

// Enfyra writes the snapshot s as Enfyra's snapshot.json: tables in s's order, each
// with its id and the relations it holds.
func Enfyra(s Snapshot) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, st := range s.Tables {
		et := EnfyraTable{Name: st.Name, Description: st.Description, Label: st.Label, DisplayTemplate: st.DisplayTemplate, Relations: []EnfyraRelation{}}
		notNull := false
		et.Columns = append(et.Columns, EnfyraColumn{Name: "id", Type: "uuid", IsPrimary: true, IsGenerated: true, IsNullable: &notNull})
		for _, c := range st.Columns {
			et.Columns = append(et.Columns, enfyraColumn(c))
		}
		for _, ix := range st.Indexes {
			e := enfyraIndex{Columns: ix.Columns}
			if ix.Name != schema.DefaultIndexName(st.Name, ix.Columns) {
				e.Name = ix.Name
			}
			if ix.Unique {
				et.Uniques = append(et.Uniques, e)
			} else {
				et.Indexes = append(et.Indexes, e)
			}
		}
		for _, r := range s.Relations {
			if r.Table == st.Name {
				et.Relations = append(et.Relations, enfyraRelation(r))
			}
		}
		key, _ := json.Marshal(st.Name)
		body, err := json.Marshal(et)
		if err != nil {
			return nil, fmt.Errorf("enfyra snapshot: %w", err)
		}
		if i > 0 {
			buf.WriteString(",")
		}
		buf.Write(key)
		buf.WriteString(":")
		buf.Write(body)
	}
	buf.WriteString("}")
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("enfyra snapshot: %w", err)
	}
	return out.Bytes(), nil
}

func enfyraColumn(c Column) EnfyraColumn {
	ec := EnfyraColumn{Name: c.Name, Type: string(c.Type), IsNullable: c.Nullable, IsUnique: c.Unique, IsIndex: c.Index,
		DefaultValue: c.Default, Description: c.Description, Precision: c.Precision, Scale: c.Scale, Length: c.Length}
	if t, ok := strataToEnfyra[c.Type]; ok {
		ec.Type = t
	}
	if c.Type == schema.TypeString && c.Length == enfyraVarcharLength {
		ec.Length = 0
	}
	if c.Type == schema.TypeEnum || c.Type == schema.TypeMultiEnum {
		ec.Options = c.Values
	}
	return ec
}

func enfyraRelation(r Relation) EnfyraRelation {
	er := EnfyraRelation{PropertyName: r.Name, Type: enfyraTypeName(r.Type, false), TargetTable: r.Target, InversePropertyName: r.Inverse, JunctionTableName: r.Junction}
	if r.OnDelete != "" {
		er.OnDelete = enfyraOnDeleteName(r.OnDelete)
	}
	return er
}

// Additions keeps, of the steps that turn m into an Enfyra snapshot, those that add:
// new tables, columns, indexes and relations, and descriptions. Enfyra's snapshot.json
// only adds (changing and removing are snapshot-migration.json's), so the rest are
// not run; they are returned as skipped entries, each with why, for the answer.
func Additions(m *schema.Model, steps []Step) (adds []Step, skipped []map[string]any) {
	skipped = []map[string]any{}
	for _, st := range steps {
		ch := st.Change
		keep := false
		switch ch.Type {
		case schema.CreateTable, schema.AddColumn, schema.AddIndex, schema.AlterTable:
			keep = true
		case schema.AddRelation:
			// One that replaces a relation of the same name is a change, not an addition.
			keep = m.RelationByField(ch.Relation.Table, ch.Relation.Name) == nil
		}
		if keep {
			adds = append(adds, st)
			continue
		}
		skipped = append(skipped, map[string]any{"at": st.At, "change": string(ch.Type),
			"reason": "snapshot.json only adds; change or remove it with snapshot-migration.json"})
	}
	return adds, skipped
}

// orderedObject reads a JSON object's keys in the order the file gives them, with
// their raw values.
func orderedObject(body []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, apierr.InvalidPayload("body", "the file is a JSON object of tables")
	}
	var names []string
	var raws []json.RawMessage
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, apierr.InvalidPayload("body", "invalid JSON body: %v", err)
		}
		key := tok.(string)
		if seen[key] {
			return nil, nil, apierr.InvalidPayload(key, "table %q is listed twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, apierr.InvalidPayload(key, "invalid JSON body: %v", err)
		}
		names, raws = append(names, key), append(raws, raw)
	}
	if _, err := dec.Token(); err != nil || dec.More() {
		return nil, nil, apierr.InvalidPayload("body", "the body must be a single JSON object")
	}
	return names, raws, nil
}

// prefixed puts the table's key in front of an error about one of its fields.
func prefixed(key string, err error) error {
	if ae, ok := err.(*apierr.Error); ok {
		field, _ := ae.Details["field"].(string)
		if field == "" || field == "body" {
			field = key
		} else {
			field = key + "." + field
		}
		return apierr.InvalidPayload(field, "%s: %s", key, ae.Message)
	}
	return err
}
