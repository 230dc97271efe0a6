package formats

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/schema"
)

// snapshot is a tenant's user schema as JSON: what GET /schema/snapshot answers and
// POST /schema/apply accepts. System tables and junctions are left out (they follow).
type Snapshot struct {
	Tables    []SnapshotTable `json:"tables"`
	Relations []Relation      `json:"relations"`
}

type SnapshotTable struct {
	Name            string         `json:"name"`
	Description     string         `json:"description,omitempty"`
	Label           string         `json:"label,omitempty"`
	Accountability  string         `json:"accountability,omitempty"`
	DisplayTemplate string         `json:"display_template,omitempty"`
	Columns         []Column       `json:"columns"`
	Indexes         []schema.Index `json:"indexes,omitempty"`
	// Checksum is the table's structural checksum (see structureChecksum), so clients
	// can compare a table with an entities file. It is output only: an edited snapshot
	// keeps a stale one, so apply ignores it.
	Checksum string `json:"checksum,omitempty"`
}

func Take(m *schema.Model) Snapshot {
	out := Snapshot{Tables: []SnapshotTable{}, Relations: []Relation{}}
	for _, r := range m.Relations {
		out.Relations = append(out.Relations, Relation{Table: r.Table, Name: r.Name, Type: r.Type, Target: r.Target, OnDelete: r.OnDelete, Inverse: r.Inverse, Junction: r.Junction})
	}
	for _, t := range m.Tables {
		if t.System || t.Junction {
			continue
		}
		st := SnapshotTable{Name: t.Name, Description: t.Description, Label: t.Label, Accountability: t.Accountability, DisplayTemplate: t.DisplayTemplate, Columns: []Column{}}
		for _, c := range t.Columns {
			if c.System {
				continue
			}
			nullable := c.Nullable
			length := c.Length
			if c.Type == schema.TypeURL {
				length = c.TextLength() // a url without a length reads as a new one, 2048
			}
			st.Columns = append(st.Columns, Column{Name: c.Name, Type: c.Type, Length: length, Precision: c.Precision, Scale: c.Scale,
				Values: c.Values, Nullable: &nullable, Unique: c.Unique, Index: c.Index, Default: c.Default, Description: c.Description})
		}
		for _, ix := range t.Indexes {
			if !ix.Auto {
				st.Indexes = append(st.Indexes, schema.Index{Name: ix.Name, Columns: ix.Columns, Unique: ix.Unique})
			}
		}
		st.Checksum = StructureChecksum(st, out.Relations)
		out.Tables = append(out.Tables, st)
	}
	return out
}

// planStep is one change of an apply and the entry of the input it comes from, so that
// a refusal names the entry.
type Step struct {
	At     string
	Change schema.Change
}

// planSnapshot lists the changes that turn model m into the snapshot: new tables,
// then columns and indexes, relations that change or go, new relations, then what else
// goes (drops come last).
func Plan(m *schema.Model, want Snapshot) ([]Step, error) {
	var adds, drops []Step
	wanted := map[string]bool{}
	for i, st := range want.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		for j, ci := range st.Columns {
			if err := ci.plainColumn(fmt.Sprintf("%s.columns[%d]", at, j)); err != nil {
				return nil, err
			}
		}
		if wanted[st.Name] {
			return nil, apierr.InvalidPayload(at+".name", "%s.name: table %q is listed twice", at, st.Name)
		}
		wanted[st.Name] = true
		cur := m.Table(st.Name)
		if cur == nil {
			t := &schema.Table{Name: st.Name, Description: st.Description, Label: st.Label, Accountability: st.Accountability, DisplayTemplate: st.DisplayTemplate, Indexes: st.Indexes}
			for _, ci := range st.Columns {
				t.Columns = append(t.Columns, ci.Schema())
			}
			adds = append(adds, Step{at, schema.Change{Type: schema.CreateTable, Create: t}})
			continue
		}
		if cur.System || cur.Junction {
			return nil, apierr.InvalidPayload(at+".name", "%s.name: %q is not a user table", at, st.Name)
		}
		have := map[string]bool{}
		for j, ci := range st.Columns {
			have[ci.Name] = true
			col := ci.Schema()
			cat := fmt.Sprintf("%s.columns[%d]", at, j)
			existing := cur.Column(ci.Name)
			switch {
			case existing == nil:
				adds = append(adds, Step{cat, schema.Change{Type: schema.AddColumn, Table: st.Name, Def: &col}})
			case !existing.System && !sameDefinition(existing, &col):
				adds = append(adds, Step{cat, schema.Change{Type: schema.AlterColumn, Table: st.Name, Column: ci.Name, Def: &col}})
			}
		}
		// After the columns: a template may name a column this apply adds.
		if alter := (schema.Change{Type: schema.AlterTable, Table: st.Name}); st.Description != cur.Description || st.DisplayTemplate != cur.DisplayTemplate || st.Label != cur.Label ||
			st.Accountability != cur.Accountability {
			if st.Description != cur.Description {
				alter.Description = &st.Description
			}
			if st.Label != cur.Label {
				alter.Label = &st.Label
			}
			if st.Accountability != cur.Accountability {
				alter.Accountability = &st.Accountability
			}
			if st.DisplayTemplate != cur.DisplayTemplate {
				alter.DisplayTemplate = &st.DisplayTemplate
			}
			adds = append(adds, Step{at + ".description", alter})
		}
		for _, c := range cur.Columns {
			if !c.System && !have[c.Name] {
				drops = append(drops, Step{at + ".columns", schema.Change{Type: schema.DropColumn, Table: st.Name, Column: c.Name}})
			}
		}
		for j, ix := range st.Indexes {
			if cur.Index(ix.Name) == nil {
				ix := ix
				adds = append(adds, Step{fmt.Sprintf("%s.indexes[%d]", at, j), schema.Change{Type: schema.AddIndex, Table: st.Name, Index: &ix}})
			}
		}
		for _, ix := range cur.Indexes {
			if !ix.Auto && !slices.ContainsFunc(st.Indexes, func(w schema.Index) bool { return w.Name == ix.Name }) {
				drops = append(drops, Step{at + ".indexes", schema.Change{Type: schema.DropIndex, Table: st.Name, Column: ix.Name}})
			}
		}
	}
	var relAdds, relDrops []Step
	for i, ri := range want.Relations {
		at := fmt.Sprintf("relations[%d]", i)
		cur := m.RelationByField(ri.Table, ri.Name)
		if cur != nil && cur.Table == ri.Table && !sameRelation(cur, ri) {
			// A relation cannot be altered in place: it goes and comes back, which
			// drops its keys and so is confirmed like any removal.
			relDrops = append(relDrops, Step{at, schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: cur.ID}}})
			cur = nil
		}
		if cur == nil {
			r := ri.Schema()
			relAdds = append(relAdds, Step{at, schema.Change{Type: schema.AddRelation, Relation: &r}})
		}
	}
	for _, r := range m.Relations {
		if !slices.ContainsFunc(want.Relations, func(w Relation) bool { return w.Table == r.Table && w.Name == r.Name }) {
			relDrops = append(relDrops, Step{"relations", schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: r.ID}}})
		}
	}
	var tableDrops []Step
	for _, t := range m.Tables {
		if !t.System && !t.Junction && !wanted[t.Name] {
			tableDrops = append(tableDrops, Step{"tables", schema.Change{Type: schema.DropTable, Table: t.Name}})
		}
	}
	return indexesAfterKeys(slices.Concat(adds, relDrops, relAdds, drops, tableDrops)), nil
}

// sameDefinition compares what a snapshot can say about a column.
func sameDefinition(a, b *schema.Column) bool {
	b2 := *b
	if err := schema.ValidateColumn("column", &b2, false); err != nil {
		return false // it will be refused with its reason when applied
	}
	return a.Type == b2.Type && a.Length == b2.Length && a.Precision == b2.Precision && a.Scale == b2.Scale &&
		slices.Equal(a.Values, b2.Values) && a.Nullable == b2.Nullable && a.Unique == b2.Unique && a.Index == b2.Index &&
		bytes.Equal(a.Default, b2.Default) && a.Description == b2.Description
}

// sameRelation compares what a snapshot can say about a relation; a junction left
// unnamed takes whatever name the relation has.
func sameRelation(cur *schema.Relation, want Relation) bool {
	w := want.Schema()
	return cur.Type == w.Type && cur.Target == w.Target && cur.Inverse == w.Inverse &&
		cur.OnDeleteAction() == w.OnDeleteAction() && (w.Junction == "" || w.Junction == cur.Junction)
}

func UnknownType(field string, t schema.Type) error {
	known := make([]string, len(schema.AllTypes))
	for i, k := range schema.AllTypes {
		known[i] = string(k)
	}
	return apierr.InvalidPayload(field, "%s: unknown type %q (known types: %s)", field, t, strings.Join(known, ", "))
}

// structureChecksum is a stable hash of what a table is, as opposed to how it is
// described: column names, types, sizes, values, nullability, flags and defaults,
// indexes and the relations it owns (those in rels with Table = t.Name). Descriptions
// are left out. Columns, indexes and relations are addressed by name, so their order
// does not count; the order of an index's columns and of enum values does.
func StructureChecksum(t SnapshotTable, rels []Relation) string {
	type column struct {
		Name      string          `json:"name"`
		Type      schema.Type     `json:"type"`
		Length    int             `json:"length,omitempty"`
		Precision int             `json:"precision,omitempty"`
		Scale     int             `json:"scale,omitempty"`
		Values    []string        `json:"values,omitempty"`
		Nullable  bool            `json:"nullable"`
		Unique    bool            `json:"unique"`
		Index     bool            `json:"index"`
		Default   json.RawMessage `json:"default,omitempty"`
	}
	type relation struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Target   string `json:"target"`
		OnDelete string `json:"on_delete"`
		Inverse  string `json:"inverse,omitempty"`
		Junction string `json:"junction,omitempty"`
	}
	s := struct {
		Name      string         `json:"name"`
		Columns   []column       `json:"columns"`
		Indexes   []schema.Index `json:"indexes"`
		Relations []relation     `json:"relations"`
	}{Name: t.Name, Columns: []column{}, Indexes: []schema.Index{}, Relations: []relation{}}
	for _, ci := range t.Columns {
		col := ci.Schema()
		// Normalised as validation would store it (a string's default length, say),
		// so spelling out a default or leaving it out gives the same checksum.
		_ = schema.ValidateColumn("column", &col, false)
		var def json.RawMessage
		if len(col.Default) > 0 {
			def = schema.CanonicalDefault(col.Default)
		}
		s.Columns = append(s.Columns, column{col.Name, col.Type, col.Length, col.Precision, col.Scale, col.Values, col.Nullable, col.Unique, col.Index, def})
	}
	for _, ix := range t.Indexes {
		name := ix.Name
		if name == "" {
			name = schema.DefaultIndexName(t.Name, ix.Columns)
		}
		s.Indexes = append(s.Indexes, schema.Index{Name: name, Columns: ix.Columns, Unique: ix.Unique})
	}
	for _, ri := range rels {
		if ri.Table != t.Name {
			continue
		}
		r := ri.Schema()
		junction := r.Junction
		if junction == r.Table+"_"+r.Name {
			junction = "" // the default name, given or not
		}
		s.Relations = append(s.Relations, relation{r.Name, string(r.Type), r.Target, r.OnDeleteAction(), r.Inverse, junction})
	}
	slices.SortFunc(s.Columns, func(a, b column) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Indexes, func(a, b schema.Index) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Relations, func(a, b relation) int { return strings.Compare(a.Name, b.Name) })
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
