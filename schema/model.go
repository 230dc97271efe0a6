// Package schema owns the tenant schema model (tables, columns, relations, indexes),
// the dialect-neutral changes that move it from one state to the next, and the
// per-dialect rendering of those changes into SQL (quoting, type mapping, up/down
// statements, introspection).
//
// The model is plain data with no database handle inside. It deliberately knows
// nothing about HTTP, tenants or how migrations are recorded: that is the migration
// module's job.
package schema

import (
	"encoding/json"
	"slices"
	"sort"
)

// Type is a column type of the API contract.
type Type string

// Column types of API.md.
const (
	TypeString    Type = "string"
	TypeText      Type = "text"
	TypeInteger   Type = "integer"
	TypeBigint    Type = "bigint"
	TypeFloat     Type = "float"
	TypeDecimal   Type = "decimal"
	TypeBoolean   Type = "boolean"
	TypeDate      Type = "date"
	TypeDatetime  Type = "datetime"
	TypeTime      Type = "time"
	TypeUUID      Type = "uuid"
	TypeJSON      Type = "json"
	TypeEnum      Type = "enum"
	TypeMultiEnum Type = "multi_enum"
	TypeEmail     Type = "email"
	TypeURL       Type = "url"
	TypePhone     Type = "phone"
	TypeCurrency  Type = "currency"
	TypePercent   Type = "percent"
	TypeFile      Type = "file"
)

// AllTypes lists every column type, in the order of the contract.
var AllTypes = []Type{TypeString, TypeText, TypeInteger, TypeBigint, TypeFloat, TypeDecimal,
	TypeBoolean, TypeDate, TypeDatetime, TypeTime, TypeUUID, TypeJSON, TypeEnum, TypeMultiEnum,
	TypeEmail, TypeURL, TypePhone, TypeCurrency, TypePercent, TypeFile}

// IsText reports whether values of t are strings compared as text.
func (t Type) IsText() bool {
	switch t {
	case TypeString, TypeText, TypeEnum, TypeEmail, TypeURL, TypePhone:
		return true
	}
	return false
}

// SizedText reports whether values of t are strings held in a column of a length the
// column may set (email, url and phone checked besides; string's length is required).
func (t Type) SizedText() bool {
	switch t {
	case TypeEmail, TypeURL, TypePhone:
		return true
	}
	return false
}

// LegacyTextLength is the length of an email, url or phone column that sets none: the
// 255 characters they always held before a length could be set.
const LegacyTextLength = 255

// DefaultURLLength is what a new url column holds unless it says otherwise: addresses
// longer than 255 characters are common (signed links, tracking parameters).
const DefaultURLLength = 2048

// IndexedURLLength is what a new indexed or unique url column holds unless it says
// otherwise: the longest string an index key takes on MySQL/MariaDB, so the column is
// the same on every dialect.
const IndexedURLLength = MySQLMaxKeyBytes / mysqlMaxBytesPerChar

// TextLength is the most characters a value of c holds: its length for a string, an
// email, url or phone column (LegacyTextLength where it sets none), 255 for an enum,
// 0 (unbounded) for anything else.
func (c *Column) TextLength() int {
	switch {
	case c.Type == TypeString:
		return c.Length
	case c.Type.SizedText():
		if c.Length == 0 {
			return LegacyTextLength
		}
		return c.Length
	case c.Type == TypeEnum:
		return 255
	}
	return 0
}

// Valid reports whether t is a known column type.
func (t Type) Valid() bool { return slices.Contains(AllTypes, t) }

// RelationType is the kind of a relation, as Directus names them.
type RelationType string

// Relation kinds.
const (
	ManyToOne  RelationType = "many_to_one"
	OneToMany  RelationType = "one_to_many"
	ManyToMany RelationType = "many_to_many"
	OneToOne   RelationType = "one_to_one"
)

// Column is one column of a table.
type Column struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Type        Type            `json:"type"`
	Length      int             `json:"length,omitempty"`
	Precision   int             `json:"precision,omitempty"`
	Scale       int             `json:"scale,omitempty"`
	Values      []string        `json:"values,omitempty"`
	Nullable    bool            `json:"nullable"`
	Unique      bool            `json:"unique"`
	Index       bool            `json:"index"`
	Default     json.RawMessage `json:"default,omitempty"`
	Description string          `json:"description,omitempty"`
	// System marks the columns every table carries (id, owner_id, created_at, updated_at)
	// and the foreign-key columns owned by relations; they are not edited as columns.
	System bool `json:"system,omitempty"`
	// Relation is the id of the relation that owns this column (a foreign key), if any.
	Relation string `json:"relation,omitempty"`
}

// Index is a (possibly multi-column) index. Auto indexes back a column's unique/index
// flag or a relation's foreign key and are managed with it.
type Index struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique"`
	Auto    bool     `json:"auto,omitempty"`
}

// Table is one table of the model.
type Table struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Label is the table's display name beside its identifier ("Customer accounts"),
	// as Directus's translations and the custom-migrations design's label give one.
	Label string `json:"label,omitempty"`
	// Accountability is what the audit trail keeps of the table's writes, as Directus
	// names it: "" or "all" (activity and revisions), "activity" (who did what, without
	// values), "none".
	Accountability string `json:"accountability,omitempty"`
	// DisplayTemplate is how a row of this table reads where another row points at it,
	// as Directus writes it: "{{title}} ({{year}})". Empty: the first text column.
	DisplayTemplate string   `json:"display_template,omitempty"`
	System          bool     `json:"system,omitempty"`
	Junction        bool     `json:"junction,omitempty"`
	Columns         []Column `json:"columns"`
	Indexes         []Index  `json:"indexes"`
}

// Relation links two tables. Where the foreign key lives depends on the kind:
// many_to_one/one_to_one: column Name on Table; one_to_many: column Inverse on Target;
// many_to_many: a junction table with a key to each side.
type Relation struct {
	ID       string       `json:"id"`
	Table    string       `json:"table"`
	Name     string       `json:"name"`
	Type     RelationType `json:"type"`
	Target   string       `json:"target"`
	OnDelete string       `json:"on_delete,omitempty"`
	Inverse  string       `json:"inverse,omitempty"`
	Junction string       `json:"junction,omitempty"`
}

// Trashed is a soft-dropped table or column: renamed into the trash namespace, hidden
// from the model, and purged after the retention period.
type Trashed struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"` // "table" or "column"
	Table string `json:"table"`
	// TableID identifies the table a trashed column belongs to; names can be reused.
	TableID   string `json:"table_id,omitempty"`
	Column    string `json:"column,omitempty"`
	TrashName string `json:"trash_name"`
	TrashedAt string `json:"trashed_at,omitempty"`
	// The definitions are kept so an undo restores the data and the metadata together.
	TableDef  *Table  `json:"table_def,omitempty"`
	ColumnDef *Column `json:"column_def,omitempty"`
}

// PurgeOrder lists the trashed items to drop for good, one by one, in an order that
// works: junction tables first, since a junction trashed with its many-to-many relation
// keeps its foreign keys to both sides (so the relation can be restored), and a side
// trashed before it cannot be dropped while it points there; then the rest, oldest
// first. A column trashed from a table that is itself in the trash is left out: it
// goes with its table.
func PurgeOrder(trash []Trashed) []Trashed {
	tables := map[string]bool{}
	for _, tr := range trash {
		if tr.Kind == "table" {
			tables[tr.ID] = true
		}
	}
	out := slices.DeleteFunc(slices.Clone(trash), func(tr Trashed) bool { return tr.Kind == "column" && tables[tr.TableID] })
	junction := func(tr Trashed) bool { return tr.TableDef != nil && tr.TableDef.Junction }
	slices.SortStableFunc(out, func(a, b Trashed) int {
		switch ja, jb := junction(a), junction(b); {
		case ja == jb:
			return 0
		case ja:
			return -1
		}
		return 1
	})
	return out
}

// Model is a tenant's whole schema.
type Model struct {
	Tables    []Table    `json:"tables"`
	Relations []Relation `json:"relations"`
	Trash     []Trashed  `json:"trash,omitempty"`
	Functions []Function `json:"functions,omitempty"`
}

// Table returns the named table, or nil.
func (m *Model) Table(name string) *Table {
	for i := range m.Tables {
		if m.Tables[i].Name == name {
			return &m.Tables[i]
		}
	}
	return nil
}

// Relation returns the relation with the given id, or nil.
func (m *Model) Relation(id string) *Relation {
	for i := range m.Relations {
		if m.Relations[i].ID == id {
			return &m.Relations[i]
		}
	}
	return nil
}

// RelationByField returns the relation that gives table the field name (either side).
func (m *Model) RelationByField(table, name string) *Relation {
	for i := range m.Relations {
		r := &m.Relations[i]
		if (r.Table == table && r.Name == name) || (r.Target == table && r.Inverse == name) {
			return r
		}
	}
	return nil
}

// Clone returns a deep copy, so a change can be applied without touching the original.
func (m *Model) Clone() *Model {
	var c Model
	mustUnmarshal(mustJSON(m), &c)
	return &c
}

// mustJSON and mustUnmarshal deep-copy plain data; failure would be a programming error.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustUnmarshal(b []byte, v any) {
	if err := json.Unmarshal(b, v); err != nil {
		panic(err)
	}
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Index returns the named index, or nil.
func (t *Table) Index(name string) *Index {
	for i := range t.Indexes {
		if t.Indexes[i].Name == name {
			return &t.Indexes[i]
		}
	}
	return nil
}

// ColumnNames lists the table's column names in order.
func (t *Table) ColumnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// SortedTables returns the table names in a stable order.
func (m *Model) SortedTables() []string {
	out := make([]string, 0, len(m.Tables))
	for _, t := range m.Tables {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}

// OnDeleteAction is the referential action of the foreign key, defaulting to set_null
// so deleting a target row never deletes rows that merely point at it.
func (r *Relation) OnDeleteAction() string {
	switch r.OnDelete {
	case "cascade", "restrict", "no_action":
		return r.OnDelete
	}
	return "set_null"
}

// FKLocation returns the table and column holding this relation's foreign key, for
// the kinds that have a single key column.
func (r *Relation) FKLocation() (table, column string, ok bool) {
	switch r.Type {
	case ManyToOne, OneToOne:
		return r.Table, r.Name, true
	case OneToMany:
		return r.Target, r.Inverse, true
	}
	return "", "", false
}
