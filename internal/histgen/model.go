package histgen

import "slices"

// Model is the generator's own picture of a tenant's user schema: just enough to pick
// valid next steps. It follows the server's rules (see schema.Apply) but is kept small
// and independent, so a step the server refuses points at a disagreement worth reading.
type Model struct {
	Tables    []*Table    // in creation order
	Relations []*Relation // in creation order
	// Dropped lists the names of dropped tables, which a new table may take again.
	Dropped []string
}

// Table is a user table (or a many-to-many junction table).
type Table struct {
	Name        string
	Junction    bool
	Description string
	Columns     []*Column // user columns and relation key columns, not the system ones
	Indexes     []*Index  // user indexes only (auto indexes follow column flags)
}

// Column is a column the generator made, or a relation's key column (Key set).
type Column struct {
	Name      string
	Type      string
	Length    int
	Precision int
	Scale     int
	Values    []string
	Nullable  bool
	Unique    bool
	Index     bool
	// Default is the JSON value of the default; nil when there is none.
	Default     any
	Description string
	// Key names the relation that owns this column (a foreign key); it cannot be
	// altered, renamed or dropped as a column.
	Key bool
}

// Index is a user index.
type Index struct {
	Name    string
	Columns []string
	Unique  bool
}

// Relation is a relation the server accepted; ID comes from its answer.
type Relation struct {
	ID       string
	Table    string
	Name     string
	Type     string
	Target   string
	Inverse  string
	Junction string
}

// systemColumns are the columns every table has; they may be indexed but not edited.
var systemColumns = []string{"id", "owner_id", "created_at", "updated_at"}

// Table returns the named table, or nil.
func (m *Model) Table(name string) *Table {
	for _, t := range m.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	for _, c := range t.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// indexable reports whether a column of type typ may be indexed or unique.
func indexable(typ string) bool { return typ != "text" && typ != "json" && typ != "multi_enum" }

// inUserIndex reports whether column name is part of a user index of t.
func (t *Table) inUserIndex(name string) bool {
	for _, ix := range t.Indexes {
		if slices.Contains(ix.Columns, name) {
			return true
		}
	}
	return false
}

// indexNameTaken reports whether an index or table already has this name (index names
// are schema-wide on PostgreSQL and SQLite).
func (m *Model) indexNameTaken(name string) bool {
	for _, t := range m.Tables {
		if t.Name == name {
			return true
		}
		for _, ix := range t.Indexes {
			if ix.Name == name {
				return true
			}
		}
	}
	return false
}

// removeColumn takes a column out of t with every user index that uses it, as a drop
// (a soft drop into the trash) does on the server.
func (t *Table) removeColumn(name string) {
	t.Columns = slices.DeleteFunc(t.Columns, func(c *Column) bool { return c.Name == name })
	t.Indexes = slices.DeleteFunc(t.Indexes, func(ix *Index) bool { return slices.Contains(ix.Columns, name) })
}

func (m *Model) removeTable(name string) {
	m.Tables = slices.DeleteFunc(m.Tables, func(t *Table) bool { return t.Name == name })
}

// dropRelation removes a relation and what it owns: its key column (with the indexes
// using it) or its junction table.
func (m *Model) dropRelation(r *Relation) {
	switch r.Type {
	case "many_to_one", "one_to_one":
		if t := m.Table(r.Table); t != nil {
			t.removeColumn(r.Name)
		}
	case "one_to_many":
		if t := m.Table(r.Target); t != nil {
			t.removeColumn(r.Inverse)
		}
	case "many_to_many":
		m.removeTable(r.Junction)
	}
	m.Relations = slices.DeleteFunc(m.Relations, func(x *Relation) bool { return x == r })
}

// userTables lists the tables a relation may start from or point at (not junctions).
func (m *Model) userTables() []*Table {
	var out []*Table
	for _, t := range m.Tables {
		if !t.Junction {
			out = append(out, t)
		}
	}
	return out
}

// editableColumns lists (table, column) pairs a user may alter, rename or drop.
func (m *Model) editableColumns() [][2]string {
	var out [][2]string
	for _, t := range m.Tables {
		for _, c := range t.Columns {
			if !c.Key {
				out = append(out, [2]string{t.Name, c.Name})
			}
		}
	}
	return out
}

// Clone returns a deep copy of the model.
func (m *Model) Clone() *Model {
	c := &Model{Dropped: slices.Clone(m.Dropped)}
	for _, t := range m.Tables {
		ct := &Table{Name: t.Name, Junction: t.Junction, Description: t.Description}
		for _, col := range t.Columns {
			ct.Columns = append(ct.Columns, col.clone())
		}
		for _, ix := range t.Indexes {
			ct.Indexes = append(ct.Indexes, &Index{Name: ix.Name, Columns: slices.Clone(ix.Columns), Unique: ix.Unique})
		}
		c.Tables = append(c.Tables, ct)
	}
	for _, r := range m.Relations {
		cr := *r
		c.Relations = append(c.Relations, &cr)
	}
	return c
}
