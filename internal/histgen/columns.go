package histgen

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Types lists the column types of the contract that make a column (file and files make
// a relation to the files table instead).
var Types = []string{"string", "text", "integer", "bigint", "float", "decimal", "boolean", "date", "datetime", "time",
	"uuid", "json", "enum", "multi_enum", "email", "url", "phone", "currency", "percent"}

// textLike types are stored as strings: any type converts to them, and they convert to
// any type (PostgreSQL casts through text; tables are empty, so no value can fail).
var textLike = []string{"string", "text", "enum", "email", "url", "phone"}

var numeric = []string{"integer", "bigint", "float", "decimal", "currency", "percent"}

// convertible reports whether a column of type from may change to type to: a cast the
// three databases all have.
func convertible(from, to string) bool {
	switch {
	case from == to:
		return true
	case slices.Contains(textLike, from) || slices.Contains(textLike, to):
		return true
	case slices.Contains(numeric, from) && slices.Contains(numeric, to):
		return true
	}
	pairs := map[[2]string]bool{
		{"integer", "boolean"}: true, {"boolean", "integer"}: true,
		{"date", "datetime"}: true, {"datetime", "date"}: true, {"datetime", "time"}: true,
		{"uuid", "file"}: true, {"file", "uuid"}: true,
		{"json", "multi_enum"}: true, {"multi_enum", "json"}: true,
	}
	return pairs[[2]string{from, to}]
}

// Lengths of string columns. At most 255, so that three of them fit in one index on
// MySQL/MariaDB (3072-byte keys, 4 bytes a character) and a table's rows stay far
// below their 65535 bytes: a history is replayed onto MariaDB, which refuses more
// (makeRefused asks for more on MySQL tenants, to see it refused).
var stringLengths = []int{1, 8, 40, 100, 255}

func (g *Gen) stringLength() int { return pick(g, stringLengths) }

// enumValues are the values enum columns draw from: quotes, backslashes, spaces,
// punctuation and non-ASCII, since they end up in DDL literals.
var enumValues = []string{"draft", "live", "O'Neil", `back\slash`, "two words", "semi;colon", "ünïcødé", "UPPER", "--dash", "x"}

// stringDefaults are defaults for text columns, with the same traps.
var stringDefaults = []string{"", "x", "O'Brien", `C:\path\n`, "ünïcødé", "a;b -- c", "100%", `"quoted"`, "tab\tchar"}

// columnName makes a column name.
func (g *Gen) columnName() string {
	return g.Name(pick(g, []string{"title", "amount", "note", "flag", "code", "stamp", "ref", "info", "qty", "label"}))
}

// newColumn makes a random column definition.
func (g *Gen) newColumn() *Column {
	c := &Column{Name: g.columnName(), Type: pick(g, Types), Nullable: !g.chance(0.25)}
	g.shape(c)
	if indexable(c.Type) {
		c.Unique = g.chance(0.12)
		c.Index = g.chance(0.12)
	}
	if g.chance(0.35) {
		c.Default = g.defaultFor(c)
	}
	if g.chance(0.15) {
		c.Description = pick(g, []string{"a column", "it's described", "ünïcødé — note"})
	}
	return c
}

// shape gives a column the sizes or values its type needs.
func (g *Gen) shape(c *Column) {
	c.Length, c.Precision, c.Scale, c.Values = 0, 0, 0, nil
	switch c.Type {
	case "string":
		c.Length = g.stringLength()
	case "url":
		// Stated: a url left to its default holds 2048 characters (768 indexed), more
		// than three of them fit in one MySQL index key.
		c.Length = 255
	case "decimal":
		c.Precision = 1 + g.Rand.Intn(38)
		c.Scale = g.Rand.Intn(c.Precision + 1)
	case "enum", "multi_enum":
		n := 1 + g.Rand.Intn(4)
		perm := g.Rand.Perm(len(enumValues))
		for _, i := range perm[:n] {
			c.Values = append(c.Values, enumValues[i])
		}
	}
}

// defaultFor makes a default that fits the column.
func (g *Gen) defaultFor(c *Column) any {
	switch c.Type {
	case "string", "text":
		var fit []string
		for _, s := range stringDefaults {
			if c.Type == "text" || utf8.RuneCountInString(s) <= c.Length {
				fit = append(fit, s)
			}
		}
		return pick(g, fit)
	case "email":
		return pick(g, []string{"someone@example.com", "o'hara@example.org"})
	case "url":
		return pick(g, []string{"https://example.com/", "https://example.com/?q='x'&y=1"})
	case "phone":
		return pick(g, []string{"+1 555 0100", "0049 (30) 1234"})
	case "integer":
		return pick(g, []float64{0, 1, -7, 2147483647, -2147483648})
	case "bigint":
		return pick(g, []float64{0, -42, 9007199254740991})
	case "float", "percent":
		return pick(g, []float64{0, 1.5, -0.25, 1e-7, 12345.678})
	case "currency":
		return pick(g, []float64{0, 9.99, -12.5, 100000})
	case "decimal":
		return g.decimalDefault(c.Precision, c.Scale)
	case "boolean":
		return g.chance(0.5)
	case "date":
		return pick(g, []string{"2024-02-29", "1999-12-31", "2000-01-01"})
	case "datetime":
		return pick(g, []string{"2024-01-02T03:04:05Z", "1999-12-31T23:59:59.5Z", "2024-06-30T23:30:00+02:00"})
	case "time":
		return pick(g, []string{"12:30", "23:59:59", "08:15:30.25"})
	case "uuid", "file":
		return pick(g, []string{"0190a7e4-1b2c-7d3e-8f40-123456789abc", "00000000-0000-0000-0000-000000000000"})
	case "json":
		return pick(g, []any{map[string]any{"a": 1.0, "b": []any{true, nil}}, []any{1.0, 2.0}, "it's", 3.5, map[string]any{}})
	case "enum":
		return pick(g, c.Values)
	case "multi_enum":
		var out []any
		for _, v := range c.Values {
			if g.chance(0.5) {
				out = append(out, v)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out
	}
	return nil
}

// decimalDefault makes a number that fits numeric(p,s) exactly: at most six integer
// digits and three decimals, within the column's own.
func (g *Gen) decimalDefault(p, s int) float64 {
	intDigits := min(p-s, 6)
	fracDigits := min(s, 3)
	v := 0.0
	for i := 0; i < intDigits; i++ {
		v = v*10 + float64(g.Rand.Intn(10))
	}
	frac := ""
	for i := 0; i < fracDigits; i++ {
		frac += strconv.Itoa(g.Rand.Intn(10))
	}
	str := strconv.FormatFloat(v, 'f', 0, 64)
	if frac != "" {
		str += "." + frac
	}
	f, _ := strconv.ParseFloat(str, 64)
	if g.chance(0.3) {
		f = -f
	}
	return f
}

// fits reports whether the column's default is still valid for its definition (after
// a length, precision or values change).
func fits(c *Column) bool {
	switch v := c.Default.(type) {
	case nil:
		return true
	case string:
		switch c.Type {
		case "string":
			return utf8.RuneCountInString(v) <= c.Length
		case "enum":
			return slices.Contains(c.Values, v)
		}
	case []any:
		if c.Type == "multi_enum" {
			for _, x := range v {
				if s, _ := x.(string); !slices.Contains(c.Values, s) {
					return false
				}
			}
		}
	case float64:
		if c.Type == "decimal" {
			s := strconv.FormatFloat(v, 'f', -1, 64)
			s = strings.TrimPrefix(s, "-")
			ip, fp, _ := strings.Cut(s, ".")
			if ip == "0" {
				ip = ""
			}
			return len(ip) <= c.Precision-c.Scale && len(fp) <= c.Scale
		}
	}
	return true
}

// body renders a column as the API takes it. Nullable is left out now and then, since
// the API defaults it to true.
func (c *Column) body(g *Gen) map[string]any {
	b := map[string]any{"name": c.Name, "type": c.Type}
	switch c.Type {
	case "string", "url":
		b["length"] = c.Length
	case "decimal":
		b["precision"], b["scale"] = c.Precision, c.Scale
	case "enum", "multi_enum":
		b["values"] = c.Values
	}
	if !c.Nullable || g.chance(0.5) {
		b["nullable"] = c.Nullable
	}
	if c.Unique {
		b["unique"] = true
	}
	if c.Index {
		b["index"] = true
	}
	if c.Default != nil {
		b["default"] = c.Default
	}
	if c.Description != "" {
		b["description"] = c.Description
	}
	return b
}

func (c *Column) clone() *Column {
	cp := *c
	cp.Values = slices.Clone(c.Values)
	return &cp
}

// alteration makes a changed definition of c on table t and the patch body that asks
// for it; false when nothing sensible changes.
func (g *Gen) alteration(t *Table, c *Column) (*Column, map[string]any, bool) {
	n := c.clone()
	patch := map[string]any{}
	if g.chance(0.35) {
		var to []string
		for _, typ := range Types {
			if typ != c.Type && convertible(c.Type, typ) && (indexable(typ) || !t.inUserIndex(c.Name)) {
				to = append(to, typ)
			}
		}
		if len(to) > 0 {
			n.Type = pick(g, to)
			g.shape(n)
			patch["type"] = n.Type
			switch n.Type {
			case "string", "url":
				patch["length"] = n.Length
			case "decimal":
				patch["precision"], patch["scale"] = n.Precision, n.Scale
			case "enum", "multi_enum":
				patch["values"] = n.Values
			}
			// A new type takes a new default (or none); the old one may not fit it.
			n.Default = nil
			if g.chance(0.4) {
				n.Default = g.defaultFor(n)
			}
			patch["default"] = n.Default
			if !indexable(n.Type) {
				n.Unique, n.Index = false, false
				patch["unique"], patch["index"] = false, false
			}
		}
	} else {
		switch n.Type {
		case "string":
			if g.chance(0.5) {
				n.Length = g.stringLength()
				patch["length"] = n.Length
			}
		case "decimal":
			if g.chance(0.5) {
				n.Precision = 1 + g.Rand.Intn(38)
				n.Scale = g.Rand.Intn(n.Precision + 1)
				patch["precision"], patch["scale"] = n.Precision, n.Scale
			}
		case "enum", "multi_enum":
			if g.chance(0.5) {
				old := n.Values
				g.shape(n)
				if g.chance(0.5) { // keep the old values and add to them
					for _, v := range n.Values {
						if !slices.Contains(old, v) {
							old = append(slices.Clone(old), v)
						}
					}
					n.Values = old
				}
				patch["values"] = n.Values
			}
		}
	}
	if g.chance(0.3) {
		n.Nullable = !n.Nullable
		patch["nullable"] = n.Nullable
	}
	if _, set := patch["default"]; !set && g.chance(0.35) {
		n.Default = nil
		if g.chance(0.7) {
			n.Default = g.defaultFor(n)
		}
		patch["default"] = n.Default
	}
	if !fits(n) {
		n.Default = g.defaultFor(n)
		patch["default"] = n.Default
	}
	if indexable(n.Type) && g.chance(0.25) {
		if g.chance(0.5) {
			n.Unique = !n.Unique
			patch["unique"] = n.Unique
		} else {
			n.Index = !n.Index
			patch["index"] = n.Index
		}
	}
	if g.chance(0.15) {
		n.Description = pick(g, []string{"", "changed", "l'autre"})
		patch["description"] = n.Description
	}
	if len(patch) == 0 {
		return nil, nil, false
	}
	return n, patch, true
}
