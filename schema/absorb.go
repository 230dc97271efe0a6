package schema

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// UndescribableError refuses a live schema the model cannot describe (a table without
// the system columns, a type with no column type, a foreign key outside a relation).
type UndescribableError struct{ Problems []string }

func (e *UndescribableError) Error() string {
	return "the schema the SQL left cannot be described by the model: " + strings.Join(e.Problems, "; ")
}

// Absorb reads back what hand-written SQL did: given the model before it and the live
// schema after it, it returns the model changes that describe the difference (tables
// and columns created, altered or dropped; user indexes), or an *UndescribableError.
// The caller checks the result with CompareLive: nothing may be left over.
func Absorb(d Dialect, before *Model, live *Live) ([]Change, error) {
	var steps, drops []Change
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	expected := ExpectedLive(d, before)
	for _, t := range before.Tables {
		lt := live.Tables[t.Name]
		if lt == nil {
			switch {
			case t.System:
				bad("system table %q was dropped", t.Name)
			case t.Junction:
				bad("junction table %q was dropped; drop its relation instead", t.Name)
			case slices.ContainsFunc(before.Relations, func(r Relation) bool { return r.Table == t.Name || r.Target == t.Name }):
				bad("table %q was dropped with relations; drop them first", t.Name)
			default:
				drops = append(drops, Change{Type: DropTable, Table: t.Name}, Change{Type: Purge, TrashID: t.ID})
			}
			continue
		}
		et := expected.Tables[t.Name]
		if !slices.EqualFunc(et.FKs, lt.FKs, func(a, b LiveFK) bool {
			return a.Column == b.Column && a.RefTable == b.RefTable && a.OnDelete == b.OnDelete
		}) {
			bad("foreign keys of %q changed; keys belong to relations (POST /relations)", t.Name)
		}
		liveCols := map[string]LiveColumn{}
		for _, lc := range lt.Columns {
			liveCols[lc.Name] = lc
		}
		for _, c := range t.Columns {
			lc, ok := liveCols[c.Name]
			switch {
			case !ok && (c.System || c.Relation != ""):
				bad("column %s.%s was dropped; it belongs to the system or a relation", t.Name, c.Name)
			case !ok:
				drops = append(drops, Change{Type: DropColumn, Table: t.Name, Column: c.Name}, Change{Type: Purge, TrashID: c.ID})
			case d.ColumnType(&c) == lc.Type && (c.Nullable || c.Name == "id") == (lc.Nullable || c.Name == "id"):
			case c.System || c.Relation != "":
				bad("column %s.%s changed; it belongs to the system or a relation", t.Name, c.Name)
			default:
				def, ok := columnFromLive(d, lc)
				if !ok {
					bad("column %s.%s has type %s, which no column type describes", t.Name, c.Name, lc.Type)
					continue
				}
				if d.ColumnType(&c) == lc.Type { // only the nullability changed
					def.Type, def.Length, def.Precision, def.Scale, def.Values = c.Type, c.Length, c.Precision, c.Scale, c.Values
				}
				def.Unique, def.Index, def.Default, def.Description = c.Unique, c.Index, c.Default, c.Description
				steps = append(steps, Change{Type: AlterColumn, Table: t.Name, Column: c.Name, Def: &def})
			}
		}
		known := map[string]bool{}
		for _, c := range PhysicalTable(before, &t).Columns {
			known[c.Name] = true
		}
		for _, lc := range lt.Columns {
			if known[lc.Name] {
				continue
			}
			def, ok := columnFromLive(d, lc)
			if !ok {
				bad("column %s.%s has type %s, which no column type describes", t.Name, lc.Name, lc.Type)
				continue
			}
			steps = append(steps, Change{Type: AddColumn, Table: t.Name, Def: &def})
		}
		// Indexes on dropped columns went with them (the drop takes them from the model).
		var have []Index
		for _, ix := range t.Indexes {
			if !slices.ContainsFunc(ix.Columns, func(c string) bool { _, ok := liveCols[c]; return !ok }) {
				have = append(have, ix)
			}
		}
		steps = append(steps, absorbIndexes(t.Name, have, lt.Indexes, &drops, bad)...)
	}
	var created []string
	for name := range live.Tables {
		if before.Table(name) == nil && expected.Tables[name] == nil {
			created = append(created, name)
		}
	}
	sort.Strings(created)
	for _, name := range created {
		lt := live.Tables[name]
		// A rebuild's scratch table is gone by the end of SQL that rebuilds a table.
		if IsSystemTable(name) || strings.HasPrefix(name, TrashPrefix) || strings.HasPrefix(name, tmpTablePrefix) {
			bad("table %q uses a reserved name", name)
			continue
		}
		if len(lt.FKs) > 0 {
			bad("table %q has foreign keys; keys belong to relations (POST /relations)", name)
		}
		t := &Table{Name: name}
		var missing []string
		sys := systemColumns(func() string { return "" })
		for _, sc := range sys {
			i := slices.IndexFunc(lt.Columns, func(lc LiveColumn) bool { return lc.Name == sc.Name })
			if i < 0 || lt.Columns[i].Type != d.ColumnType(&sc) || (sc.Name != "id" && lt.Columns[i].Nullable != sc.Nullable) {
				missing = append(missing, sc.Name+" "+d.ColumnType(&sc)+map[bool]string{true: " NULL", false: " NOT NULL"}[sc.Nullable])
			}
		}
		if len(missing) > 0 {
			bad("table %q needs the system columns every table has: %s, with id the primary key", name, strings.Join(missing, ", "))
			continue
		}
		for _, lc := range lt.Columns {
			if isSystemColumn(lc.Name) {
				continue
			}
			def, ok := columnFromLive(d, lc)
			if !ok {
				bad("column %s.%s has type %s, which no column type describes", name, lc.Name, lc.Type)
				continue
			}
			t.Columns = append(t.Columns, def)
		}
		steps = append(steps, Change{Type: CreateTable, Create: t})
		steps = append(steps, absorbIndexes(name, nil, lt.Indexes, &drops, bad)...)
	}
	if len(problems) > 0 {
		return nil, &UndescribableError{Problems: problems}
	}
	// Indexes and columns go before the tables and columns they stand on.
	return append(drops, steps...), nil
}

// absorbIndexes turns index differences into user index changes. Indexes Strata made
// for column flags and relations may not be dropped by hand.
func absorbIndexes(table string, have []Index, live []LiveIndex, drops *[]Change, bad func(string, ...any)) []Change {
	var steps []Change
	for _, ix := range have {
		if slices.ContainsFunc(live, func(l LiveIndex) bool { return l.Name == ix.Name }) {
			continue
		}
		if ix.Auto {
			bad("index %q of %q was dropped; it belongs to a column flag or a relation", ix.Name, table)
			continue
		}
		*drops = append([]Change{{Type: DropIndex, Table: table, Column: ix.Name}}, *drops...)
	}
	for _, l := range live {
		if slices.ContainsFunc(have, func(ix Index) bool { return ix.Name == l.Name }) {
			continue
		}
		steps = append(steps, Change{Type: AddIndex, Table: table, Index: &Index{Name: l.Name, Columns: slices.Clone(l.Columns), Unique: l.Unique}})
	}
	return steps
}

var typeArgs = regexp.MustCompile(`\((\d+)(?:\s*,\s*(\d+))?\)`)

// columnFromLive finds the column type whose rendering on d is the live type.
func columnFromLive(d Dialect, lc LiveColumn) (Column, bool) {
	var a, b int
	if m := typeArgs.FindStringSubmatch(lc.Type); m != nil {
		a, _ = strconv.Atoi(m[1])
		b, _ = strconv.Atoi(m[2])
	}
	for _, c := range []Column{
		{Type: TypeText}, {Type: TypeString, Length: a}, {Type: TypeInteger}, {Type: TypeBigint}, {Type: TypeFloat},
		{Type: TypeDecimal, Precision: a, Scale: b}, {Type: TypeBoolean}, {Type: TypeDate}, {Type: TypeDatetime},
		{Type: TypeTime}, {Type: TypeUUID}, {Type: TypeJSON},
	} {
		if d.ColumnType(&c) == lc.Type && ValidateColumn("column", &Column{Name: "x", Type: c.Type, Length: c.Length, Precision: c.Precision, Scale: c.Scale}, false) == nil {
			c.Name, c.Nullable = lc.Name, lc.Nullable
			return c, true
		}
	}
	return Column{}, false
}

// LiveModel is the model that describes the live schema: before (the metadata's model)
// with what Absorb finds applied. It fails as Absorb does when the live schema cannot
// be described.
func LiveModel(d Dialect, before *Model, live *Live, gen IDGen) (*Model, error) {
	steps, err := Absorb(d, before, live)
	if err != nil {
		return nil, err
	}
	m := before
	for _, st := range steps {
		next, _, err := Apply(m, st, gen)
		if err != nil {
			return nil, fmt.Errorf("describe the live schema: %w", err)
		}
		m = next
	}
	if diff := CompareLive(ExpectedLive(d, m), live); len(diff) > 0 {
		return nil, &UndescribableError{Problems: diff}
	}
	return m, nil
}
