package schema

// Live is a database schema as introspected, normalised so it can be compared with
// what the model says should exist.
type Live struct {
	Tables map[string]*LiveTable `json:"tables"`
}

// LiveTable is one introspected table.
type LiveTable struct {
	Name    string       `json:"name"`
	Columns []LiveColumn `json:"columns"`
	Indexes []LiveIndex  `json:"indexes"`
	FKs     []LiveFK     `json:"foreign_keys"`
}

// LiveColumn is one introspected column; Type is normalised by the dialect so that it
// equals Dialect.ColumnType of the model's column.
type LiveColumn struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// LiveIndex is one introspected secondary index (primary keys are left out).
type LiveIndex struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique"`
}

// LiveFK is one introspected foreign key. Name is empty where the dialect does not
// keep constraint names (SQLite).
type LiveFK struct {
	Name     string `json:"name"`
	Column   string `json:"column"`
	RefTable string `json:"ref_table"`
	OnDelete string `json:"on_delete"` // set_null, cascade, restrict, no_action
}
