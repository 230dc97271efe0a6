package schema

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// ddl is what a dialect renders; the shared planner decides what to render and in which
// order, so the three dialects differ only in syntax and in what SQLite must rebuild.
type ddl interface {
	Quote(string) string
	ColumnType(*Column) string
	columnDef(c *Column) string
	createTable(m *Model, t *Table) []Step
	renameTable(from, to string) Step
	dropTable(name string) string
	createIndex(table string, ix Index) string
	dropIndex(table string, ix Index) string
	addFK(table string, fk ForeignKey) string
	dropFK(table string, fk ForeignKey) string
	// alterTable turns the physical table before into after (same name; columns matched
	// by id), given the foreign keys and indexes that go and come around it.
	alterTable(bm, am *Model, before, after *Table, d tableDiff) []Step
	// limits refuses (a *FieldError) what change c makes that the database cannot hold
	// although the model allows it: its own bounds on row and key sizes.
	limits(before, after *Model, c Change) error
}

// tableDiff is what changes on one table besides its columns.
type tableDiff struct {
	dropFKs, addFKs []ForeignKey
	dropIdx, addIdx []Index
}

// noIDs is the generator used when re-applying a resolved change: it must never be
// asked for a new id, since a resolved change carries them all.
func noIDs() string { panic("schema: planning a change that is not resolved") }

// planChange is the shared planner behind every dialect's Plan.
func planChange(d ddl, before *Model, c Change) (plan Plan, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plan %s: %v", c.Type, r)
		}
	}()
	// Hand-written SQL runs as written on the dialect it was written for; elsewhere
	// the model changes read back from it are planned instead.
	if n, ok := d.(interface{ Name() string }); ok && c.SQL != "" && c.Dialect == n.Name() {
		down := c.DownSQL
		if down == "" {
			down = "-- no down_sql was given"
		}
		return Plan{Steps: []Step{{Up: []string{c.SQL}, Down: []string{down}}}}, nil
	}
	if plan, _, err = planSteps(d, before, c, false); err != nil {
		return Plan{}, err
	}
	if len(plan.Steps) == 0 {
		note := fmt.Sprintf("-- %s: metadata only, no DDL", c.Type)
		plan.Steps = append(plan.Steps, Step{Up: []string{note}, Down: []string{note}})
	}
	return plan, nil
}

// split turns a compound change into the simple changes it is made of, in order.
func split(c Change) []Change {
	switch c.Type {
	case CreateTable:
		base := c
		base.Relations = nil
		out := []Change{base}
		for i := range c.Relations {
			r := c.Relations[i]
			out = append(out, Change{Type: AddRelation, Relation: &r})
		}
		return out
	case DropTable:
		var out []Change
		for _, sub := range c.Cascade {
			out = append(out, split(sub)...)
		}
		base := c
		base.Cascade = []Change{}
		return append(out, base)
	case Rollback, Custom:
		var out []Change
		for _, sub := range c.Steps {
			out = append(out, split(sub)...)
		}
		return out
	}
	return []Change{c}
}

// planModels renders the physical difference between two models that differ by one
// simple change. Tables are matched by id, columns by id, indexes and keys by name.
func planModels(d ddl, before, after *Model) []Step {
	var steps []Step
	bt := map[string]*Table{}
	for i := range before.Tables {
		bt[before.Tables[i].ID] = &before.Tables[i]
	}
	at := map[string]*Table{}
	for i := range after.Tables {
		at[after.Tables[i].ID] = &after.Tables[i]
	}
	// Tables that went away: into the trash, or purged from it.
	for i := range before.Tables {
		t := &before.Tables[i]
		if at[t.ID] != nil {
			continue
		}
		if tr := trashOf(after, t.ID); tr != nil {
			steps = append(steps, trashTable(d, t, tr.TrashName)...)
		}
	}
	for _, tr := range before.Trash {
		if tr.Kind == "table" && trashOf(after, tr.ID) == nil && at[tr.ID] == nil {
			steps = append(steps, Step{Up: []string{d.dropTable(tr.TrashName)}, Down: []string{"-- " + tr.TrashName + " was purged; it cannot be restored"}})
		}
	}
	// Tables that changed.
	for i := range after.Tables {
		a := &after.Tables[i]
		b := bt[a.ID]
		if b == nil {
			continue
		}
		steps = append(steps, planTable(d, before, after, b, a)...)
	}
	// Tables that are new.
	for i := range after.Tables {
		a := &after.Tables[i]
		if bt[a.ID] != nil {
			continue
		}
		if tr := trashOf(before, a.ID); tr != nil {
			steps = append(steps, restoreTable(d, a, tr.TrashName)...)
			continue
		}
		steps = append(steps, d.createTable(after, a)...)
	}
	return steps
}

func trashOf(m *Model, id string) *Trashed {
	for i := range m.Trash {
		if m.Trash[i].ID == id && m.Trash[i].Kind == "table" {
			return &m.Trash[i]
		}
	}
	return nil
}

// trashTable renames a table into the trash. Its user-named indexes are dropped first,
// because index names are schema-wide on PostgreSQL and SQLite and a new table must be
// free to reuse them; undo re-creates them.
func trashTable(d ddl, t *Table, trash string) []Step {
	var steps []Step
	for _, ix := range t.Indexes {
		if !ix.Auto {
			steps = append(steps, Step{Up: []string{d.dropIndex(t.Name, ix)}, Down: []string{d.createIndex(t.Name, ix)}})
		}
	}
	return append(steps, d.renameTable(t.Name, trash))
}

func restoreTable(d ddl, t *Table, trash string) []Step {
	steps := []Step{d.renameTable(trash, t.Name)}
	for _, ix := range t.Indexes {
		if !ix.Auto {
			steps = append(steps, Step{Up: []string{d.createIndex(t.Name, ix)}, Down: []string{d.dropIndex(t.Name, ix)}})
		}
	}
	return steps
}

// planTable renders the change of one existing table.
func planTable(d ddl, bm, am *Model, b, a *Table) []Step {
	var steps []Step
	if b.Name != a.Name {
		steps = append(steps, d.renameTable(b.Name, a.Name))
	}
	pb, pa := PhysicalTable(bm, b), PhysicalTable(am, a)
	pb.Name = a.Name
	var diff tableDiff
	bfk, afk := ForeignKeys(bm, b), ForeignKeys(am, a)
	for _, fk := range bfk {
		if !hasFK(afk, fk.Name) {
			diff.dropFKs = append(diff.dropFKs, fk)
		}
	}
	for _, fk := range afk {
		if !hasFK(bfk, fk.Name) {
			diff.addFKs = append(diff.addFKs, fk)
		}
	}
	for _, ix := range b.Indexes {
		if !sameIndex(a.Index(ix.Name), ix) {
			diff.dropIdx = append(diff.dropIdx, ix)
		}
	}
	for _, ix := range a.Indexes {
		if !sameIndex(b.Index(ix.Name), ix) {
			diff.addIdx = append(diff.addIdx, ix)
		}
	}
	if sameColumns(&pb, &pa) && len(diff.dropFKs)+len(diff.addFKs)+len(diff.dropIdx)+len(diff.addIdx) == 0 {
		return steps
	}
	return append(steps, d.alterTable(bm, am, &pb, &pa, diff)...)
}

func hasFK(list []ForeignKey, name string) bool {
	for _, fk := range list {
		if fk.Name == name {
			return true
		}
	}
	return false
}

// sameIndex compares an index across a change; column renames carry over by themselves.
func sameIndex(a *Index, b Index) bool {
	return a != nil && a.Unique == b.Unique && len(a.Columns) == len(b.Columns)
}

func sameColumns(b, a *Table) bool {
	if len(b.Columns) != len(a.Columns) {
		return false
	}
	for i := range b.Columns {
		if !sameColumn(&b.Columns[i], &a.Columns[i]) {
			return false
		}
	}
	return true
}

// sameColumn compares the physical properties of a column (not its description).
func sameColumn(b, a *Column) bool {
	return b.ID == a.ID && b.Name == a.Name && physicallyEqual(b, a)
}

func physicallyEqual(b, a *Column) bool {
	return b.Type == a.Type && b.Length == a.Length && b.Precision == a.Precision && b.Scale == a.Scale &&
		b.Nullable == a.Nullable && bytes.Equal(b.Default, a.Default)
}

// columnsByID pairs the columns of two versions of a table.
func columnsByID(t *Table) map[string]*Column {
	out := make(map[string]*Column, len(t.Columns))
	for i := range t.Columns {
		out[t.Columns[i].ID] = &t.Columns[i]
	}
	return out
}

// withKeys wraps column steps with the key and index changes in a safe order: keys and
// indexes that go are dropped first (MySQL refuses to drop an index a key still needs),
// new indexes are built before new keys (so MySQL uses ours instead of making its own).
func withKeys(d ddl, table string, diff tableDiff, cols []Step) []Step {
	var steps []Step
	for _, fk := range diff.dropFKs {
		steps = append(steps, Step{Up: []string{d.dropFK(table, fk)}, Down: []string{d.addFK(table, fk)}})
	}
	for _, ix := range diff.dropIdx {
		steps = append(steps, Step{Up: []string{d.dropIndex(table, ix)}, Down: []string{d.createIndex(table, ix)}})
	}
	steps = append(steps, cols...)
	for _, ix := range diff.addIdx {
		steps = append(steps, Step{Up: []string{d.createIndex(table, ix)}, Down: []string{d.dropIndex(table, ix)}})
	}
	for _, fk := range diff.addFKs {
		steps = append(steps, Step{Up: []string{d.addFK(table, fk)}, Down: []string{d.dropFK(table, fk)}})
	}
	return steps
}

// columnList renders the quoted, comma-separated names of cols.
func columnList(d ddl, cols []string) string {
	var b bytes.Buffer
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.Quote(c))
	}
	return b.String()
}

// tableBody renders the column definitions and primary key of a CREATE TABLE.
func tableBody(d ddl, t *Table) []string {
	var parts []string
	for i := range t.Columns {
		parts = append(parts, d.columnDef(&t.Columns[i]))
	}
	return append(parts, "PRIMARY KEY ("+d.Quote("id")+")")
}

// literal renders a default value as SQL; defaults come from validated metadata.
func literal(c *Column, boolean func(bool) string, backslash bool) string {
	v := c.DefaultValue()
	switch x := v.(type) {
	case bool:
		return boolean(x)
	case float64:
		return string(c.Default)
	case string:
		return quoteString(x, backslash)
	}
	return quoteString(string(c.Default), backslash)
}

// datetimeDefault is the instant a datetime column's default names (validated RFC 3339),
// for the dialects that render it in the form they store date-times in.
func datetimeDefault(c *Column) (time.Time, bool) {
	if c.Type != TypeDatetime {
		return time.Time{}, false
	}
	s, ok := c.DefaultValue().(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err == nil
}

// PlanFinal renders the resolved change c against before as Dialect.Plan does, except
// that what c drops is dropped for good rather than moved to the trash, and returns
// the model after it (with no trash added). It is for SQL that runs as custom SQL, such
// as the repair of drift `strata schema diff` writes: custom SQL may not touch the
// trash tables, which are Strata's own, and what it leaves is read back as the model.
func PlanFinal(d Dialect, before *Model, c Change) (plan Plan, after *Model, err error) {
	dd, ok := d.(ddl)
	if !ok {
		return Plan{}, nil, fmt.Errorf("plan: dialect %s renders no DDL", d.Name())
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plan %s: %v", c.Type, r)
		}
	}()
	return planSteps(dd, before, c, true)
}

// planSteps renders c's simple changes one by one, each against the model the one
// before it leaves, and returns the model after them. final drops for good what would
// go to the trash.
func planSteps(d ddl, before *Model, c Change, final bool) (Plan, *Model, error) {
	var plan Plan
	cur := before
	for _, sub := range split(c) {
		next, _, err := Apply(cur, sub, noIDs)
		if err != nil {
			return Plan{}, nil, err
		}
		if final {
			next.Trash = slices.DeleteFunc(next.Trash, func(tr Trashed) bool {
				return !slices.ContainsFunc(cur.Trash, func(o Trashed) bool { return o.ID == tr.ID })
			})
		}
		plan.Steps = append(plan.Steps, planModels(d, cur, next)...)
		if final {
			// Tables that went, after the keys that pointed at them (planModels drops
			// those with the tables that held them).
			for i := range cur.Tables {
				t := &cur.Tables[i]
				if !slices.ContainsFunc(next.Tables, func(a Table) bool { return a.ID == t.ID }) {
					plan.Steps = append(plan.Steps, Step{Up: []string{d.dropTable(t.Name)}, Down: []string{"-- " + t.Name + " was dropped; its rows cannot be restored"}})
				}
			}
		}
		cur = next
	}
	if err := d.limits(before, cur, c); err != nil {
		return Plan{}, nil, err
	}
	return plan, cur, nil
}
