package changeset

import (
	"encoding/json"
	"fmt"

	"strata/modules/formats"
	"strata/schema"
)

// Diff is the changeset that turns the user schema of from into want: the operations
// formats.Plan works out (new tables, columns, indexes and relations, changed ones,
// then what goes), as a changeset file would write them. A rename is seen as a drop and
// an add.
func Diff(name string, from *schema.Model, want formats.Snapshot) (*Changeset, error) {
	steps, err := formats.Plan(from, want)
	if err != nil {
		return nil, err
	}
	cs := &Changeset{Name: name, Tags: []string{}, DependsOn: []string{}}
	add := func(op map[string]any) error {
		b, err := json.Marshal(op)
		if err != nil {
			return err
		}
		cs.Changes = append(cs.Changes, b)
		return nil
	}
	for _, st := range steps {
		ch := st.Change
		var ops []map[string]any
		switch ch.Type {
		case schema.CreateTable:
			t := ch.Create
			cols := make([]formats.Column, 0, len(t.Columns))
			for _, c := range t.Columns {
				cols = append(cols, columnBody(c))
			}
			ops = append(ops, map[string]any{"op": OpCreateTable, "name": t.Name, "description": t.Description, "label": t.Label, "accountability": t.Accountability, "display_template": t.DisplayTemplate, "columns": cols})
			for _, ix := range t.Indexes {
				ops = append(ops, map[string]any{"op": OpAddIndex, "table": t.Name, "name": ix.Name, "columns": ix.Columns, "unique": ix.Unique})
			}
		case schema.AddColumn:
			ops = append(ops, map[string]any{"op": OpAddColumn, "table": ch.Table, "column": columnBody(*ch.Def)})
		case schema.AlterColumn:
			// The whole definition but its name (which would rename it).
			var body map[string]any
			b, _ := json.Marshal(columnBody(*ch.Def))
			_ = json.Unmarshal(b, &body)
			delete(body, "name")
			ops = append(ops, map[string]any{"op": OpAlterColumn, "table": ch.Table, "column": ch.Column, "changes": body})
		case schema.AlterTable:
			op := map[string]any{"op": OpAlterTable, "table": ch.Table}
			if ch.Description != nil {
				op["description"] = *ch.Description
			}
			if ch.DisplayTemplate != nil {
				op["display_template"] = *ch.DisplayTemplate
			}
			if ch.Label != nil {
				op["label"] = *ch.Label
			}
			if ch.Accountability != nil {
				op["accountability"] = *ch.Accountability
			}
			ops = append(ops, op)
		case schema.DropColumn:
			ops = append(ops, map[string]any{"op": OpDropColumn, "table": ch.Table, "column": ch.Column})
		case schema.AddIndex:
			ops = append(ops, map[string]any{"op": OpAddIndex, "table": ch.Table, "name": ch.Index.Name, "columns": ch.Index.Columns, "unique": ch.Index.Unique})
		case schema.DropIndex:
			ops = append(ops, map[string]any{"op": OpDropIndex, "table": ch.Table, "name": ch.Column})
		case schema.AddRelation:
			r := ch.Relation
			ops = append(ops, map[string]any{"op": OpAddRelation, "table": r.Table, "name": r.Name, "type": r.Type, "target": r.Target,
				"on_delete": r.OnDelete, "inverse": r.Inverse, "junction": r.Junction})
		case schema.DropRelation:
			var found *schema.Relation
			for i := range from.Relations {
				if from.Relations[i].ID == ch.Relation.ID {
					found = &from.Relations[i]
				}
			}
			if found == nil {
				return nil, fmt.Errorf("diff: relation %s not found", ch.Relation.ID)
			}
			ops = append(ops, map[string]any{"op": OpDropRelation, "table": found.Table, "name": found.Name})
		case schema.DropTable:
			ops = append(ops, map[string]any{"op": OpDropTable, "table": ch.Table})
		default:
			return nil, fmt.Errorf("diff: no operation for a %s change", ch.Type)
		}
		for _, op := range ops {
			if err := add(op); err != nil {
				return nil, err
			}
		}
	}
	if len(cs.Changes) == 0 {
		return cs, nil // nothing differs: no operations (not a valid changeset to register)
	}
	if err := cs.Validate(); err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	cs.Checksum = cs.Sum()
	return cs, nil
}

// columnBody is a column as the schema API takes it.
func columnBody(c schema.Column) formats.Column {
	nullable := c.Nullable
	return formats.Column{Name: c.Name, Type: c.Type, Length: c.Length, Precision: c.Precision, Scale: c.Scale, Values: c.Values,
		Nullable: &nullable, Unique: c.Unique, Index: c.Index, Default: c.Default, Description: c.Description}
}

// ModelOf builds the model a snapshot describes (for a diff from a file): its changes
// applied to an empty model.
func ModelOf(snap formats.Snapshot) (*schema.Model, error) {
	m := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	steps, err := formats.Plan(m, snap)
	if err != nil {
		return nil, err
	}
	ids := placeholderIDs()
	for _, st := range steps {
		next, _, err := schema.Apply(m, st.Change, ids)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.At, err)
		}
		m = next
	}
	return m, nil
}
