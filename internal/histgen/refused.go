package histgen

import (
	"math"
	"slices"
	"sort"
)

// makeRefused makes a request the server must refuse as invalid, which changes
// nothing: on any tenant a decimal default that does not fit its column, and on MySQL
// tenants what is beyond MySQL's and MariaDB's own limits (a string column longer than
// they store, a unique one too long for a key, an index whose keys are too long). The
// generator's accepted steps never go there, since a history is replayed onto MariaDB.
func makeRefused(g *Gen) (Step, bool) {
	tables := g.Model.userTables()
	if len(tables) == 0 {
		return Step{}, false
	}
	t := pick(g, tables)
	kinds := []func(*Gen, *Table) (Step, bool){refuseDecimalDefault}
	if g.Dialect == "mysql" {
		kinds = append(kinds, refuseLongString, refuseLongUnique, refuseLongIndex)
	}
	for _, i := range g.Rand.Perm(len(kinds)) {
		if s, ok := kinds[i](g, t); ok {
			s.Method, s.Expect = "POST", 400
			return s, true
		}
	}
	return Step{}, false
}

// refuseDecimalDefault adds a decimal column whose default has one digit too many,
// before or after the point.
func refuseDecimalDefault(g *Gen, t *Table) (Step, bool) {
	c := &Column{Name: g.columnName(), Type: "decimal", Nullable: true}
	c.Precision = 1 + g.Rand.Intn(12)
	c.Scale = g.Rand.Intn(c.Precision + 1)
	v := math.Pow10(c.Precision - c.Scale) // an integer digit too many
	if c.Scale < 6 && g.chance(0.5) {
		v = 1 + math.Pow10(-(c.Scale + 1)) // a decimal too many: 1.001 in numeric(p,2)
		if c.Precision == c.Scale {
			v -= 1
		}
	}
	if g.chance(0.3) {
		v = -v
	}
	c.Default = v
	return Step{Kind: "refused:decimal_default", Path: tablePath(t.Name) + "/columns", Body: c.body(g), Field: "column.default"}, true
}

// refuseLongString adds a string column longer than MySQL stores (16383 characters).
func refuseLongString(g *Gen, t *Table) (Step, bool) {
	c := &Column{Name: g.columnName(), Type: "string", Length: pick(g, []int{16384, 20000, 65535}), Nullable: true}
	return Step{Kind: "refused:mysql_long_string", Path: tablePath(t.Name) + "/columns", Body: c.body(g), Field: "column.length"}, true
}

// refuseLongUnique adds a unique or indexed string column too long for a key.
func refuseLongUnique(g *Gen, t *Table) (Step, bool) {
	c := &Column{Name: g.columnName(), Type: "string", Length: pick(g, []int{769, 1000, 4000}), Nullable: true}
	field := "column.unique"
	if g.chance(0.5) {
		c.Unique = true
	} else {
		c.Index, field = true, "column.index"
	}
	return Step{Kind: "refused:mysql_long_key", Path: tablePath(t.Name) + "/columns", Body: c.body(g), Field: field}, true
}

// refuseLongIndex indexes columns of t whose keys together take more than 3072 bytes,
// when it has enough of them (within the 16 columns an index may have).
func refuseLongIndex(g *Gen, t *Table) (Step, bool) {
	var cols []*Column
	for _, c := range t.Columns {
		if indexable(c.Type) {
			cols = append(cols, c)
		}
	}
	sort.SliceStable(cols, func(i, j int) bool { return mysqlKeyBytes(cols[i]) > mysqlKeyBytes(cols[j]) })
	var names []string
	sum := 0
	for _, c := range cols[:min(len(cols), 16)] {
		names = append(names, c.Name)
		if sum += mysqlKeyBytes(c); sum > 3072 {
			g.Rand.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
			return Step{Kind: "refused:mysql_long_index", Path: tablePath(t.Name) + "/indexes", Body: map[string]any{"columns": slices.Clone(names), "name": g.Name("ix")}, Field: "columns"}, true
		}
	}
	return Step{}, false
}

// mysqlKeyBytes is what a column takes in a MySQL index key (4 bytes a character), or
// less: a refusal must be certain.
func mysqlKeyBytes(c *Column) int {
	switch c.Type {
	case "string":
		return 4 * c.Length
	case "enum", "email", "url", "phone":
		return 4 * 255
	case "uuid", "file":
		return 4 * 36
	case "bigint", "float", "percent", "datetime":
		return 8
	case "currency":
		return 9
	case "time":
		return 6
	case "integer":
		return 4
	case "date":
		return 3
	}
	return 1
}
