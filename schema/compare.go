package schema

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ExpectedLive is what the database must hold for model m, in the form Inspect reports,
// so a tenant's schema can be checked against its model with CompareLive.
func ExpectedLive(d Dialect, m *Model) *Live {
	live := &Live{Tables: map[string]*LiveTable{}}
	for i := range m.Tables {
		t := &m.Tables[i]
		pt := PhysicalTable(m, t)
		lt := &LiveTable{Name: t.Name}
		for j := range pt.Columns {
			c := &pt.Columns[j]
			// id is the primary key, which no database lets be NULL whatever the
			// metadata says.
			lt.Columns = append(lt.Columns, LiveColumn{Name: c.Name, Type: d.ColumnType(c), Nullable: c.Nullable && c.Name != "id"})
		}
		for _, ix := range t.Indexes {
			lt.Indexes = append(lt.Indexes, LiveIndex{Name: ix.Name, Columns: slices.Clone(ix.Columns), Unique: ix.Unique})
		}
		for _, fk := range ForeignKeys(m, t) {
			lt.FKs = append(lt.FKs, LiveFK{Name: fk.Name, Column: fk.Column, RefTable: fk.RefTable, OnDelete: fk.OnDelete})
		}
		live.Tables[t.Name] = lt
	}
	// A trashed table keeps its data until purged; only its existence is part of the
	// contract, since its shape is whatever it was when trashed (minus the indexes
	// dropped on the way), so it is listed without columns.
	for _, tr := range m.Trash {
		if tr.Kind == "table" && live.Tables[tr.TrashName] == nil {
			live.Tables[tr.TrashName] = &LiveTable{Name: tr.TrashName}
		}
	}
	return live
}

// tmpTablePrefix names the scratch tables of a SQLite rebuild; one can be left behind
// only by a migration that failed and rolled back its metadata, so it is not drift.
// Unlike the strata_* tables it is not Strata's own: custom SQL may rebuild a table
// through one (a repair written by `strata schema diff` does), and no user table can
// have the name, which starts with '_'.
const tmpTablePrefix = "_strata_tmp_"

// CompareLive lists the differences between the expected and the live schema, one
// human-readable line each, sorted; none means they match. An expected table without
// columns (a trashed table) only has to exist.
func CompareLive(expected, live *Live) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	exp, got := tablesOf(expected), tablesOf(live)
	for name, et := range exp {
		lt := got[name]
		if lt == nil {
			add("missing table %s", name)
			continue
		}
		if len(et.Columns) == 0 {
			continue
		}
		for _, d := range compareTable(et, lt) {
			add("table %s: %s", name, d)
		}
	}
	for name := range got {
		if exp[name] == nil && !strings.HasPrefix(name, tmpTablePrefix) {
			add("unexpected table %s", name)
		}
	}
	sort.Strings(out)
	return out
}

func tablesOf(l *Live) map[string]*LiveTable {
	if l == nil || l.Tables == nil {
		return map[string]*LiveTable{}
	}
	return l.Tables
}

// compareTable compares one table's columns, indexes and foreign keys.
func compareTable(et, lt *LiveTable) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	// Column order is not compared: MySQL and PostgreSQL append added columns at the
	// end, so the order depends on the table's history, not on the model.
	liveCols := map[string]LiveColumn{}
	for _, c := range lt.Columns {
		liveCols[c.Name] = c
	}
	expCols := map[string]bool{}
	for _, ec := range et.Columns {
		expCols[ec.Name] = true
		lc, ok := liveCols[ec.Name]
		if !ok {
			add("missing column %s %s", ec.Name, ec.Type)
			continue
		}
		if lc.Type != ec.Type {
			add("column %s has type %s, expected %s", ec.Name, lc.Type, ec.Type)
		}
		if lc.Nullable != ec.Nullable {
			add("column %s is %s, expected %s", ec.Name, nullability(lc.Nullable), nullability(ec.Nullable))
		}
	}
	for _, lc := range lt.Columns {
		if !expCols[lc.Name] {
			add("unexpected column %s %s", lc.Name, lc.Type)
		}
	}

	liveIdx := map[string]LiveIndex{}
	for _, ix := range lt.Indexes {
		liveIdx[ix.Name] = ix
	}
	expIdx := map[string]bool{}
	for _, ei := range et.Indexes {
		expIdx[ei.Name] = true
		li, ok := liveIdx[ei.Name]
		if !ok {
			add("missing %s %s on %s", indexKind(ei.Unique), ei.Name, joinNames(ei.Columns))
			continue
		}
		if !slices.Equal(li.Columns, ei.Columns) {
			add("index %s is on %s, expected %s", ei.Name, joinNames(li.Columns), joinNames(ei.Columns))
		}
		if li.Unique != ei.Unique {
			add("index %s is %s, expected %s", ei.Name, indexKind(li.Unique), indexKind(ei.Unique))
		}
	}
	for _, li := range lt.Indexes {
		if !expIdx[li.Name] {
			add("unexpected %s %s on %s", indexKind(li.Unique), li.Name, joinNames(li.Columns))
		}
	}

	// Keys are matched by column because SQLite keeps no constraint names; a column
	// holds at most one key in the model, so any second key on it is unexpected.
	liveFK := map[string][]LiveFK{}
	for _, fk := range lt.FKs {
		liveFK[fk.Column] = append(liveFK[fk.Column], fk)
	}
	for _, ef := range et.FKs {
		cands := liveFK[ef.Column]
		if len(cands) == 0 {
			add("missing foreign key %s -> %s", ef.Column, ef.RefTable)
			continue
		}
		lf := cands[0]
		liveFK[ef.Column] = cands[1:]
		if lf.RefTable != ef.RefTable {
			add("foreign key %s references %s, expected %s", ef.Column, lf.RefTable, ef.RefTable)
		}
		if lf.OnDelete != ef.OnDelete {
			add("foreign key %s is on delete %s, expected %s", ef.Column, lf.OnDelete, ef.OnDelete)
		}
		if lf.Name != "" && ef.Name != "" && lf.Name != ef.Name {
			add("foreign key %s is named %s, expected %s", ef.Column, lf.Name, ef.Name)
		}
	}
	for _, rest := range liveFK {
		for _, lf := range rest {
			add("unexpected foreign key %s -> %s", lf.Column, lf.RefTable)
		}
	}
	return out
}

func nullability(nullable bool) string {
	if nullable {
		return "nullable"
	}
	return "NOT NULL"
}

func indexKind(unique bool) string {
	if unique {
		return "unique index"
	}
	return "index"
}

func joinNames(names []string) string { return "(" + strings.Join(names, ", ") + ")" }

// The helpers below are shared by the three Inspect implementations.

// table returns the named table, creating it on first sight, so rows from the
// different catalogs can arrive in any order.
func (l *Live) table(name string) *LiveTable {
	t := l.Tables[name]
	if t == nil {
		t = &LiveTable{Name: name}
		l.Tables[name] = t
	}
	return t
}

// addIndexColumn appends column to the named index; catalogs list an index once per
// column, in index order.
func (t *LiveTable) addIndexColumn(name string, unique bool, column string) {
	if n := len(t.Indexes); n > 0 && t.Indexes[n-1].Name == name {
		t.Indexes[n-1].Columns = append(t.Indexes[n-1].Columns, column)
		return
	}
	t.Indexes = append(t.Indexes, LiveIndex{Name: name, Columns: []string{column}, Unique: unique})
}

// addFKColumn appends fk, or folds it into the previous key of the same name when the
// catalog lists a composite key once per column. The model only makes single-column
// keys; a composite one shows up with its columns joined by commas so it never passes
// for one of them.
func (t *LiveTable) addFKColumn(fk LiveFK) {
	if n := len(t.FKs); n > 0 && fk.Name != "" && t.FKs[n-1].Name == fk.Name {
		t.FKs[n-1].Column += "," + fk.Column
		return
	}
	t.FKs = append(t.FKs, fk)
}

// closeRows closes rows and reports the error that ended iteration, if any.
func closeRows(rows interface {
	Err() error
	Close() error
}) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// hasFKNamed reports whether the table has a foreign key called name.
func (t *LiveTable) hasFKNamed(name string) bool {
	for _, fk := range t.FKs {
		if fk.Name == name {
			return true
		}
	}
	return false
}

// ruleOnDelete maps an SQL referential action ("SET NULL", "NO ACTION", …) to the
// model's action names.
func ruleOnDelete(rule string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(rule)), " ", "_")
}

// sortKeys orders indexes by name and foreign keys by column, so Inspect's output does
// not depend on the order a catalog happens to return them in.
func (l *Live) sortKeys() {
	for _, t := range l.Tables {
		sort.SliceStable(t.Indexes, func(i, j int) bool { return t.Indexes[i].Name < t.Indexes[j].Name })
		sort.SliceStable(t.FKs, func(i, j int) bool {
			if t.FKs[i].Column != t.FKs[j].Column {
				return t.FKs[i].Column < t.FKs[j].Column
			}
			return t.FKs[i].Name < t.FKs[j].Name
		})
	}
}

// inspectTables reads the names of the tables an inspection covers, from a query that
// returns one name per row.
func inspectTables(ctx context.Context, q Querier, live *Live, query string) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("inspect tables: %w", err)
	}
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			rows.Close()
			return fmt.Errorf("inspect tables: %w", err)
		}
		live.table(table)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("inspect tables: %w", err)
	}
	return nil
}
