package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// NoUndoError refuses to undo a change that has no inverse: a purge destroyed the data,
// a rollback is undone by applying the change again.
type NoUndoError struct{ Message string }

func (e *NoUndoError) Error() string { return e.Message }

// applyRestore brings a trashed table or column back, with the relation it belonged to
// when c.Relation is set. Every name it brings back must be free again.
func applyRestore(m *Model, c *Change) error {
	at := slices.IndexFunc(m.Trash, func(tr Trashed) bool { return tr.ID == c.TrashID })
	if c.TrashID == "" || at < 0 {
		return &NoUndoError{Message: fmt.Sprintf("trashed item %q is not in the trash any more (it was purged or restored)", c.TrashID)}
	}
	tr := m.Trash[at]
	c.Table, c.Column, c.TrashName = tr.Table, tr.Column, tr.TrashName
	switch {
	case tr.Kind == "table" && tr.TableDef != nil:
		if m.Table(tr.Table) != nil {
			return fieldErr("table", "a table named %q exists again; rename or drop it first", tr.Table)
		}
		var def Table
		mustUnmarshal(mustJSON(tr.TableDef), &def)
		m.Tables = append(m.Tables, def)
	case tr.Kind == "column" && tr.ColumnDef != nil:
		i := slices.IndexFunc(m.Tables, func(t Table) bool { return t.ID == tr.TableID })
		if i < 0 {
			return fieldErr("table", "the table of column %q is not there; restore the table first", tr.Column)
		}
		t := &m.Tables[i]
		if fieldTaken(m, t, tr.Column) {
			return fieldErr("column", "table %q has a field %q again; rename or drop it first", t.Name, tr.Column)
		}
		if tr.ColumnDef.Relation != "" && (c.Relation == nil || c.Relation.ID != tr.ColumnDef.Relation) {
			return fieldErr("relation", "column %q is the key of relation %q; restore it with the relation", tr.Column, tr.ColumnDef.Relation)
		}
		col := *tr.ColumnDef
		col.Values = slices.Clone(col.Values)
		pos := len(t.Columns)
		if c.Position > 0 && c.Position-1 < pos {
			pos = c.Position - 1
		}
		t.Columns = slices.Insert(t.Columns, pos, col)
		addAutoIndex(t, &col)
	default:
		return fieldErr("trash_id", "trashed item %q has no definition to restore", c.TrashID)
	}
	m.Trash = slices.Delete(m.Trash, at, at+1)
	if c.Relation == nil {
		return nil
	}
	r := *c.Relation
	if m.Relation(r.ID) != nil {
		return fieldErr("relation", "relation %q exists", r.ID)
	}
	owner, target := m.Table(r.Table), m.Table(r.Target)
	if owner == nil || target == nil {
		return fieldErr("relation", "relation %s.%s needs tables %q and %q", r.Table, r.Name, r.Table, r.Target)
	}
	// The key column just restored carries one of the relation's names; the alias
	// names must be free.
	if r.Type != ManyToOne && r.Type != OneToOne && fieldTaken(m, owner, r.Name) {
		return fieldErr("relation.name", "table %q has a field %q again", owner.Name, r.Name)
	}
	if r.Inverse != "" && r.Type != OneToMany && fieldTaken(m, target, r.Inverse) {
		return fieldErr("relation.inverse", "table %q has a field %q again", target.Name, r.Inverse)
	}
	if r.Type == ManyToMany && m.Table(r.Junction) == nil {
		return fieldErr("relation.junction", "junction table %q is missing", r.Junction)
	}
	m.Relations = append(m.Relations, r)
	return nil
}

// applyRollback applies a rollback's inverse changes in order.
func applyRollback(m *Model, c *Change, gen IDGen) error {
	if c.Of == "" {
		return fieldErr("of", "is required")
	}
	if len(c.Steps) == 0 && c.SQL == "" {
		return &NoUndoError{Message: "the rollback has no steps"}
	}
	for i := range c.Steps {
		switch c.Steps[i].Type {
		case Purge:
			if c.SQL != "" { // what a custom SQL rollback dropped
				break
			}
			fallthrough
		case Rollback:
			return fieldErr(fmt.Sprintf("steps[%d].type", i), "%s cannot be a rollback step", c.Steps[i].Type)
		}
		if err := apply(m, &c.Steps[i], gen); err != nil {
			return err
		}
	}
	return nil
}

// Inverse returns the changes that undo the resolved change c, which turned before into
// after. Drops are undone from the trash, so the rows come back; creations and additions
// are undone by the ordinary soft drop, so their rows are kept in the trash. The result
// is checked: applied to after, it must give before again (the trash aside).
func Inverse(before, after *Model, c Change) ([]Change, error) {
	var steps []Change
	switch c.Type {
	case CreateTable:
		steps = []Change{{Type: DropTable, Table: c.Create.Name}}
	case RenameTable:
		steps = []Change{{Type: RenameTable, Table: c.NewName, NewName: c.Table}}
	case AlterTable:
		t := before.Table(c.Table)
		if t == nil {
			return nil, fmt.Errorf("inverse of %s: table %q not in the model before it", c.Type, c.Table)
		}
		// Only what the change set is restored: a template naming a column dropped since
		// would otherwise make an unrelated description change impossible to roll back.
		inv := Change{Type: AlterTable, Table: c.Table}
		if c.Description != nil {
			d := t.Description
			inv.Description = &d
		}
		if c.DisplayTemplate != nil {
			tpl := t.DisplayTemplate
			inv.DisplayTemplate = &tpl
		}
		if c.Label != nil {
			l := t.Label
			inv.Label = &l
		}
		if c.Accountability != nil {
			a := t.Accountability
			inv.Accountability = &a
		}
		steps = []Change{inv}
	case DropTable:
		t := before.Table(c.Table)
		if t == nil {
			return nil, fmt.Errorf("inverse of %s: table %q not in the model before it", c.Type, c.Table)
		}
		steps = []Change{{Type: Restore, TrashID: t.ID}}
		for i := len(c.Cascade) - 1; i >= 0; i-- {
			st, err := restoreRelation(before, c.Cascade[i].Relation)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		}
	case AddColumn:
		steps = []Change{{Type: DropColumn, Table: c.Table, Column: c.Def.Name}}
	case AlterColumn:
		t := before.Table(c.Table)
		if t == nil || t.Column(c.Column) == nil {
			return nil, fmt.Errorf("inverse of %s: column %s.%s not in the model before it", c.Type, c.Table, c.Column)
		}
		old := *t.Column(c.Column)
		steps = []Change{{Type: AlterColumn, Table: c.Table, Column: c.Column, Def: &old}}
	case RenameColumn:
		steps = []Change{{Type: RenameColumn, Table: c.Table, Column: c.NewName, NewName: c.Column}}
	case RenameRelation:
		steps = []Change{{Type: RenameRelation, Table: c.Table, Column: c.NewName, NewName: c.Column}}
	case DropColumn:
		t := before.Table(c.Table)
		if t == nil || t.Column(c.Column) == nil {
			return nil, fmt.Errorf("inverse of %s: column %s.%s not in the model before it", c.Type, c.Table, c.Column)
		}
		pos := slices.IndexFunc(t.Columns, func(col Column) bool { return col.Name == c.Column })
		steps = []Change{{Type: Restore, TrashID: t.Columns[pos].ID, Position: pos + 1}}
	case AddRelation:
		steps = []Change{{Type: DropRelation, Relation: &Relation{ID: c.Relation.ID}}}
	case DropRelation:
		st, err := restoreRelation(before, c.Relation)
		if err != nil {
			return nil, err
		}
		steps = []Change{st}
	case AddIndex:
		steps = []Change{{Type: DropIndex, Table: c.Table, Column: c.Index.Name}}
	case DropIndex:
		ix := *c.Index
		steps = []Change{{Type: AddIndex, Table: c.Table, Index: &ix}}
	case CreateFunction:
		steps = []Change{{Type: DropFunction, Function: &Function{ID: c.Function.ID}}}
	case AlterFunction, DropFunction:
		f := before.Function(c.Function.ID)
		if f == nil {
			return nil, fmt.Errorf("inverse of %s: function %q not in the model before it", c.Type, c.Function.ID)
		}
		old := *f
		typ := AlterFunction
		if c.Type == DropFunction {
			typ = CreateFunction
		}
		steps = []Change{{Type: typ, Function: &old}}
	case Purge:
		return nil, &NoUndoError{Message: "a purge removed the data for good; it cannot be rolled back"}
	case Rollback:
		return nil, &NoUndoError{Message: "a rollback is not rolled back; make the change again instead"}
	case Custom:
		return nil, &NoUndoError{Message: "custom SQL is rolled back by running its down_sql"}
	default:
		return nil, &NoUndoError{Message: fmt.Sprintf("a %s migration has no down plan", c.Type)}
	}
	// Apply the steps to after, then give back the user indexes the change took with
	// it (dropping a column drops every index that uses it).
	n := 0
	gen := func() string { n++; return fmt.Sprintf("inverse-%d", n) }
	mid := after
	for _, st := range steps {
		next, _, err := Apply(mid, st, gen)
		if err != nil {
			return nil, fmt.Errorf("inverse of %s does not apply: %w", c.Type, err)
		}
		mid = next
	}
	for _, bt := range before.Tables {
		mt := tableByID(mid, bt.ID)
		if mt == nil {
			continue
		}
		for _, ix := range bt.Indexes {
			if ix.Auto || mt.Index(ix.Name) != nil {
				continue
			}
			ix := ix
			ix.Columns = slices.Clone(ix.Columns)
			st := Change{Type: AddIndex, Table: bt.Name, Index: &ix}
			next, _, err := Apply(mid, st, gen)
			if err != nil {
				return nil, fmt.Errorf("inverse of %s cannot restore index %q: %w", c.Type, ix.Name, err)
			}
			mid, steps = next, append(steps, st)
		}
	}
	if a, b := liveShape(before), liveShape(mid); a != b {
		return nil, fmt.Errorf("inverse of %s would not give the schema before it back", c.Type)
	}
	return steps, nil
}

// restoreRelation undoes a relation's drop: its key column or junction table comes back
// from the trash with the relation.
func restoreRelation(before *Model, r *Relation) (Change, error) {
	if r == nil {
		return Change{}, fmt.Errorf("inverse of drop_relation: the change does not carry the relation")
	}
	rel := *r
	if tbl, col, ok := rel.FKLocation(); ok {
		t := before.Table(tbl)
		if t == nil || t.Column(col) == nil {
			return Change{}, fmt.Errorf("inverse of drop_relation: key %s.%s not in the model before it", tbl, col)
		}
		pos := slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == col })
		return Change{Type: Restore, TrashID: t.Columns[pos].ID, Position: pos + 1, Relation: &rel}, nil
	}
	j := before.Table(rel.Junction)
	if j == nil {
		return Change{}, fmt.Errorf("inverse of drop_relation: junction %q not in the model before it", rel.Junction)
	}
	return Change{Type: Restore, TrashID: j.ID, Relation: &rel}, nil
}

func tableByID(m *Model, id string) *Table {
	for i := range m.Tables {
		if m.Tables[i].ID == id {
			return &m.Tables[i]
		}
	}
	return nil
}

// liveShape renders the live part of a model (tables, columns, indexes, relations;
// not the trash) in a canonical order, to compare two models.
func liveShape(m *Model) string {
	tables := make([]Table, len(m.Tables))
	for i, t := range m.Tables {
		var c Table
		mustUnmarshal(mustJSON(t), &c)
		// Empty and absent lists mean the same; the metadata reads back empty ones.
		if c.Indexes == nil {
			c.Indexes = []Index{}
		}
		for j := range c.Columns {
			if len(c.Columns[j].Values) == 0 {
				c.Columns[j].Values = nil
			}
		}
		sort.Slice(c.Indexes, func(a, b int) bool { return c.Indexes[a].Name < c.Indexes[b].Name })
		tables[i] = c
	}
	sort.Slice(tables, func(a, b int) bool { return tables[a].ID < tables[b].ID })
	rels := slices.Clone(m.Relations)
	sort.Slice(rels, func(a, b int) bool { return rels[a].ID < rels[b].ID })
	fns := slices.Clone(m.Functions)
	sort.Slice(fns, func(a, b int) bool { return fns[a].ID < fns[b].ID })
	return string(mustJSON(struct {
		T []Table
		R []Relation
		F []Function `json:",omitempty"`
	}{tables, rels, fns}))
}

// SameLive reports whether two models have the same live schema (the trash aside).
func SameLive(a, b *Model) bool { return liveShape(a) == liveShape(b) }

// Touched lists what a change from before to after touched, as keys that overlap when
// two changes touch the same thing: "table:<id>" for a table whose definition, columns
// or trashed columns changed, "relation:<id>" for a relation, and "name:<table>" for a
// table name that came, went or is referenced by a changed relation.
func Touched(before, after *Model) map[string]bool {
	out := map[string]bool{}
	type entry struct{ shape, name string }
	index := func(m *Model) map[string]entry {
		e := map[string]entry{}
		for _, t := range m.Tables {
			e["table:"+t.ID] = entry{string(mustJSON(t)), t.Name}
		}
		for _, tr := range m.Trash {
			tr.TrashedAt = ""
			if tr.Kind == "table" {
				e["table:"+tr.ID] = entry{"trash " + string(mustJSON(tr)), ""}
			} else {
				e["column:"+tr.TableID+":"+tr.ID] = entry{string(mustJSON(tr)), ""}
			}
		}
		for _, r := range m.Relations {
			e["relation:"+r.ID] = entry{string(mustJSON(r)), ""}
		}
		for _, f := range m.Functions {
			e["function:"+f.ID] = entry{string(mustJSON(f)), ""}
		}
		return e
	}
	be, ae := index(before), index(after)
	mark := func(key string, b, a entry, inB, inA bool) {
		switch {
		case strings.HasPrefix(key, "column:"):
			out["table:"+strings.Split(key, ":")[1]] = true
			return
		case strings.HasPrefix(key, "relation:"):
			for _, s := range []string{b.shape, a.shape} {
				var r Relation
				if s != "" && json.Unmarshal([]byte(s), &r) == nil {
					out["name:"+r.Table], out["name:"+r.Target] = true, true
				}
			}
		case b.name != a.name || inB != inA:
			// A table came, went, was renamed or moved to or from the trash.
			for _, n := range []string{b.name, a.name} {
				if n != "" {
					out["name:"+n] = true
				}
			}
		}
		out[key] = true
	}
	for k, b := range be {
		if a, ok := ae[k]; !ok || a != b {
			mark(k, b, a, true, ok)
		}
	}
	for k, a := range ae {
		if _, ok := be[k]; !ok {
			mark(k, entry{}, a, false, true)
		}
	}
	return out
}
