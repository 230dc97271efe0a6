package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ChangeType names a dialect-neutral change; it is also the migration's `type`.
type ChangeType string

// Change types. They match the `type` values of custom_migrations.
const (
	CreateTable  ChangeType = "create_table"
	RenameTable  ChangeType = "rename_table"
	AlterTable   ChangeType = "alter_table" // description only; no DDL
	DropTable    ChangeType = "drop_table"
	AddColumn    ChangeType = "add_column"
	AlterColumn  ChangeType = "alter_column"
	RenameColumn ChangeType = "rename_column"
	DropColumn   ChangeType = "drop_column"
	AddRelation  ChangeType = "add_relation"
	DropRelation ChangeType = "drop_relation"
	// RenameRelation renames a relation's field (Column, on Table: its name there, or
	// its inverse where Table is the target) to NewName; a key column named after the
	// field is renamed with it, so its values stay.
	RenameRelation ChangeType = "rename_relation"
	AddIndex       ChangeType = "add_index"
	DropIndex      ChangeType = "drop_index"
	Purge          ChangeType = "purge"
	// Restore brings a soft-dropped table or column back from the trash.
	Restore ChangeType = "restore"
	// Rollback undoes one executed migration with the inverse changes in Steps.
	Rollback ChangeType = "rollback"
	// Custom is hand-written SQL; Steps are the model changes read back from what it did.
	Custom ChangeType = "custom"
	// Functions: Function is the whole definition (for a drop, its id; resolved, the
	// definition dropped). They are recorded as migrations of type "function".
	CreateFunction ChangeType = "create_function"
	AlterFunction  ChangeType = "alter_function"
	DropFunction   ChangeType = "drop_function"
)

// IsFunctionChange reports whether t changes a function (no DDL, no tables).
func (t ChangeType) IsFunctionChange() bool {
	return t == CreateFunction || t == AlterFunction || t == DropFunction
}

// Change is one dialect-neutral schema change. Which fields are used depends on Type.
// A resolved change (see Resolve) carries every generated detail (ids, index and trash
// names), so replaying it into another tenant, on any dialect, gives the same model.
type Change struct {
	Type ChangeType `json:"type"`
	// Table is the table the change applies to (the old name for rename_table).
	Table string `json:"table,omitempty"`
	// Column is the column name for alter/rename/drop column, the index name for drop_index.
	Column string `json:"column,omitempty"`
	// NewName is the new name for rename_table and rename_column.
	NewName string `json:"new_name,omitempty"`
	// Create is the table for create_table (user columns only; system columns are added).
	Create *Table `json:"create,omitempty"`
	// Def is the column definition for add_column and the full new one for alter_column.
	Def *Column `json:"def,omitempty"`
	// Relation is the relation for add_relation, and the dropped one for drop_relation.
	Relation *Relation `json:"relation,omitempty"`
	// Relations are the relations created with a table (create_table).
	Relations []Relation `json:"relations,omitempty"`
	// Index is the index for add_index, and the dropped one for drop_index.
	Index *Index `json:"index,omitempty"`
	// Description is the new description for alter_table.
	Description *string `json:"description,omitempty"`
	// DisplayTemplate is the new display template for alter_table.
	DisplayTemplate *string `json:"display_template,omitempty"`
	// Label is the new label for alter_table.
	Label *string `json:"label,omitempty"`
	// Accountability is the new accountability for alter_table.
	Accountability *string `json:"accountability,omitempty"`
	// TrashName is where a soft drop moves the table or column.
	TrashName string `json:"trash_name,omitempty"`
	// TrashID identifies the trashed item a purge removes.
	TrashID string `json:"trash_id,omitempty"`
	// Cascade lists changes a drop implies (relations of a dropped table), applied first.
	Cascade []Change `json:"cascade,omitempty"`
	// System allows the change to create a system table or add a column to one (tenant
	// bootstrap and system upgrades only).
	System bool `json:"system,omitempty"`
	// Position is where a restored column goes back (1-based; 0 appends).
	Position int `json:"position,omitempty"`
	// Of and OfSeq name the migration a rollback undoes; Steps are its inverse changes.
	Of    string   `json:"of,omitempty"`
	OfSeq int64    `json:"of_seq,omitempty"`
	Steps []Change `json:"steps,omitempty"`
	// SQL is hand-written SQL for Dialect (custom SQL, or the down SQL of its rollback);
	// DownSQL undoes it. On that dialect the SQL is what runs; elsewhere Steps are planned.
	SQL     string `json:"sql,omitempty"`
	DownSQL string `json:"down_sql,omitempty"`
	Dialect string `json:"dialect,omitempty"`
	// Function is the function a create_function, alter_function or drop_function makes,
	// changes to, or removes.
	Function *Function `json:"function,omitempty"`
	// Changeset names the changeset the change came from, if any: the ledger row keeps
	// it, so a tenant's history (and a replay of it) knows which changesets it holds.
	Changeset string `json:"changeset,omitempty"`
}

// IDGen makes new ids (UUID v7 strings in production, counters in tests).
type IDGen func() string

// Removal summarises what a destructive change removes, for the confirm challenge.
type Removal struct {
	RemovedColumns   []string `json:"removedColumns"`
	RemovedRelations int      `json:"removedRelationsCount"`
	DroppedTables    []string `json:"droppedTables"`
	Narrowing        []string `json:"narrowing,omitempty"`
}

// Empty reports whether nothing is removed or narrowed.
func (r Removal) Empty() bool {
	return len(r.RemovedColumns) == 0 && r.RemovedRelations == 0 && len(r.DroppedTables) == 0 && len(r.Narrowing) == 0
}

// shortID derives a short, unique suffix for internal names from an id.
func shortID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:6])
}

// autoIndexName names the index that backs a column's unique/index flag; it is derived
// from the column id so it survives renames and never collides.
func autoIndexName(colID string) string { return "strata_ix_" + shortID(colID) }

// FKName names the foreign-key constraint of a relation's key column.
func FKName(relID, suffix string) string { return "strata_fk_" + shortID(relID) + suffix }

// DefaultIndexName names a user index from its table and columns, within 63 characters.
func DefaultIndexName(table string, cols []string) string {
	return shortName(table + "_" + strings.Join(cols, "_") + "_idx")
}

// Apply validates c against m and returns the resolved change and the model after it.
// m is not modified. Validation failures are *FieldError.
func Apply(m *Model, c Change, gen IDGen) (*Model, Change, error) {
	next := m.Clone()
	c = cloneChange(c)
	if err := apply(next, &c, gen); err != nil {
		return nil, Change{}, err
	}
	// Relations and the trash are kept in id order, the order the metadata reads them
	// back in, so a model carried from change to change (a replay, a cache) equals the
	// same model loaded again; a restored relation goes back to its place.
	slices.SortStableFunc(next.Relations, func(a, b Relation) int { return strings.Compare(a.ID, b.ID) })
	slices.SortStableFunc(next.Trash, func(a, b Trashed) int { return strings.Compare(a.ID, b.ID) })
	return next, c, nil
}

func cloneChange(c Change) Change {
	var out Change
	mustUnmarshal(mustJSON(c), &out)
	return out
}

func apply(m *Model, c *Change, gen IDGen) error {
	switch c.Type {
	case CreateTable:
		return applyCreateTable(m, c, gen)
	case RenameTable:
		return applyRenameTable(m, c)
	case AlterTable:
		t, err := userTable(m, "table", c.Table)
		if err != nil {
			return err
		}
		if c.Description == nil && c.DisplayTemplate == nil && c.Label == nil && c.Accountability == nil {
			return fieldErr("description", "is required (or label, display_template or accountability)")
		}
		if c.Accountability != nil {
			if err := ValidateAccountability("accountability", *c.Accountability); err != nil {
				return err
			}
			t.Accountability = *c.Accountability
		}
		if c.Label != nil {
			if err := ValidateLabel("label", *c.Label); err != nil {
				return err
			}
			t.Label = *c.Label
		}
		if c.Description != nil {
			if len(*c.Description) > 2000 {
				return fieldErr("description", "at most 2000 characters")
			}
			t.Description = *c.Description
		}
		if c.DisplayTemplate != nil {
			if err := ValidateDisplayTemplate("display_template", t, *c.DisplayTemplate); err != nil {
				return err
			}
			t.DisplayTemplate = *c.DisplayTemplate
		}
		return nil
	case DropTable:
		return applyDropTable(m, c, gen)
	case AddColumn:
		return applyAddColumn(m, c, gen)
	case AlterColumn:
		return applyAlterColumn(m, c)
	case RenameColumn:
		return applyRenameColumn(m, c)
	case DropColumn:
		return applyDropColumn(m, c, gen)
	case AddRelation:
		return applyAddRelation(m, c, gen)
	case DropRelation:
		return applyDropRelation(m, c, gen)
	case RenameRelation:
		return applyRenameRelation(m, c)
	case AddIndex:
		return applyAddIndex(m, c)
	case DropIndex:
		return applyDropIndex(m, c)
	case Restore:
		return applyRestore(m, c)
	case CreateFunction, AlterFunction, DropFunction:
		return applyFunction(m, c, gen)
	case Rollback:
		return applyRollback(m, c, gen)
	case Custom:
		for i := range c.Steps {
			if err := apply(m, &c.Steps[i], gen); err != nil {
				return err
			}
		}
		return nil
	case Purge:
		for i, tr := range m.Trash {
			if tr.ID == c.TrashID {
				c.Table, c.Column, c.TrashName = tr.Table, tr.Column, tr.TrashName
				m.Trash = append(m.Trash[:i], m.Trash[i+1:]...)
				if tr.Kind == "table" {
					// The table's own trashed columns go with it, as their metadata rows
					// do: a model that kept them would differ from the one read back.
					m.Trash = slices.DeleteFunc(m.Trash, func(o Trashed) bool { return o.Kind == "column" && o.TableID == tr.ID })
				}
				return nil
			}
		}
		return fieldErr("trash_id", "no trashed item %q", c.TrashID)
	}
	return fieldErr("type", "unknown change type %q", c.Type)
}

// userTable finds a table a user may change (not a system table).
func userTable(m *Model, field, name string) (*Table, error) {
	t := m.Table(name)
	if t == nil {
		return nil, &NotFoundError{What: "table", Name: name}
	}
	if t.System {
		return nil, fieldErr(field, "%q is a system table", name)
	}
	return t, nil
}

// NotFoundError reports a table, column, relation or index that does not exist.
type NotFoundError struct{ What, Name string }

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.What, e.Name) }

// systemColumns returns the columns every table starts with.
func systemColumns(gen IDGen) []Column {
	return []Column{
		{ID: gen(), Name: "id", Type: TypeUUID, System: true},
		{ID: gen(), Name: "owner_id", Type: TypeUUID, Nullable: true, System: true},
		{ID: gen(), Name: "created_at", Type: TypeDatetime, System: true},
		{ID: gen(), Name: "updated_at", Type: TypeDatetime, System: true},
	}
}

// fieldTaken reports whether table t already has a column or relation field called
// name, in any case: MySQL and SQLite would take userEmail and useremail for one column.
func fieldTaken(m *Model, t *Table, name string) bool {
	if t.columnFold(name) != nil {
		return true
	}
	for _, r := range m.Relations {
		if (r.Table == t.Name && strings.EqualFold(r.Name, name)) || (r.Target == t.Name && strings.EqualFold(r.Inverse, name)) {
			return true
		}
	}
	return false
}

// columnFold finds t's column called name, in any case.
func (t *Table) columnFold(name string) *Column {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i]
		}
	}
	return nil
}

// tableNameFree refuses, at field, a new table name that another table (or an index,
// which shares PostgreSQL's and SQLite's namespace) already has in any case; SQLite, and
// MySQL where table names are case-insensitive, would take the two for one. A case-only
// rename is refused too, which keeps every dialect's rename simple.
func tableNameFree(m *Model, field, name string) *FieldError {
	for _, t := range m.Tables {
		if strings.EqualFold(t.Name, name) {
			if t.Name == name {
				return fieldErr(field, "table %q already exists", name)
			}
			return fieldErr(field, "table %q already exists (%q differs only by case)", t.Name, name)
		}
	}
	return nil
}

func applyCreateTable(m *Model, c *Change, gen IDGen) error {
	if c.Create == nil {
		return fieldErr("name", "is required")
	}
	def := c.Create
	if c.System {
		if !IsSystemTable(def.Name) {
			return fieldErr("name", "%q is not a system table", def.Name)
		}
	} else {
		if err := ValidateIdentifier("name", def.Name); err != nil {
			return err
		}
		if reservedTableName(def.Name) {
			return fieldErr("name", "%q is reserved for a system table", def.Name)
		}
	}
	if err := tableNameFree(m, "name", def.Name); err != nil {
		return err
	}
	user := 0
	for _, col := range def.Columns {
		if !col.System {
			user++
		}
	}
	if user > MaxColumns {
		return fieldErr("columns", "at most %d columns", MaxColumns)
	}
	if def.ID == "" {
		def.ID = gen()
	}
	if len(def.Description) > 2000 {
		return fieldErr("description", "at most 2000 characters")
	}
	if err := ValidateLabel("label", def.Label); err != nil {
		return err
	}
	if err := ValidateAccountability("accountability", def.Accountability); err != nil {
		return err
	}
	// Indexes as meta.Load reads them: the API shows [] for none, on every node.
	t := Table{ID: def.ID, Name: def.Name, Description: def.Description, Label: def.Label, Accountability: def.Accountability, DisplayTemplate: def.DisplayTemplate, System: c.System, Junction: def.Junction, Indexes: []Index{}}
	// A resolved change carries its system columns (and their ids) already.
	if len(def.Columns) == 0 || def.Columns[0].Name != "id" || !def.Columns[0].System {
		t.Columns = append(t.Columns, systemColumns(gen)...)
	}
	for i := range def.Columns {
		col := &def.Columns[i]
		field := fmt.Sprintf("columns[%d]", i)
		if col.System {
			t.Columns = append(t.Columns, *col)
			continue
		}
		if err := ValidateColumn(field, col, c.System); err != nil {
			return err
		}
		if other := t.columnFold(col.Name); other != nil {
			return fieldErr(field+".name", "duplicate column %q (%q differs only by case)", col.Name, other.Name)
		}
		if col.ID == "" {
			col.ID = gen()
		}
		t.Columns = append(t.Columns, *col)
		addAutoIndex(&t, col)
	}
	if err := ValidateDisplayTemplate("display_template", &t, t.DisplayTemplate); err != nil {
		return err
	}
	def.Columns = t.Columns
	m.Tables = append(m.Tables, t)
	// User indexes given with the table are checked like any add_index.
	for i, ix := range def.Indexes {
		if ix.Auto {
			continue
		}
		ix := ix
		sub := Change{Type: AddIndex, Table: def.Name, Index: &ix}
		if err := applyAddIndex(m, &sub); err != nil {
			return prefixErr(fmt.Sprintf("indexes[%d]", i), err)
		}
	}
	for i := range c.Relations {
		r := &c.Relations[i]
		if r.Table == "" {
			r.Table = def.Name
		}
		if r.Table != def.Name {
			return fieldErr(fmt.Sprintf("relations[%d].table", i), "must be the new table %q", def.Name)
		}
		sub := Change{Type: AddRelation, Relation: r}
		if err := applyAddRelation(m, &sub, gen); err != nil {
			return prefixErr(fmt.Sprintf("relations[%d]", i), err)
		}
	}
	return nil
}

func prefixErr(prefix string, err error) error {
	if fe, ok := err.(*FieldError); ok {
		f := strings.TrimPrefix(fe.Field, "relation.")
		return &FieldError{Field: prefix + "." + f, Message: fe.Message}
	}
	return err
}

// addAutoIndex adds the index that backs a column's unique or index flag.
func addAutoIndex(t *Table, col *Column) {
	if !col.Unique && !col.Index {
		return
	}
	t.Indexes = append(t.Indexes, Index{Name: autoIndexName(col.ID), Columns: autoIndexColumns(col), Unique: col.Unique, Auto: true})
}

// autoIndexColumns lists the columns of the index behind a column's index flag. A plain
// index ends with the row key: every sort ends with id in the direction of its last
// term, so a sort on the column reads the index in order, forwards or backwards, with no
// sort step for the ties (SQLite's and PostgreSQL's indexes do not end with the key on
// their own). A unique index needs no tie-breaker; a key too wide for MySQL's index key
// limit with the id appended stays on the column alone, as before.
func autoIndexColumns(col *Column) []string {
	if col.Unique {
		return []string{col.Name}
	}
	id := Column{Name: "id", Type: TypeUUID}
	_, key := mysqlBytes(col)
	_, idKey := mysqlBytes(&id)
	if key+idKey > MySQLMaxKeyBytes {
		return []string{col.Name}
	}
	return []string{col.Name, "id"}
}

func removeAutoIndex(t *Table, col *Column) {
	name := autoIndexName(col.ID)
	for i, ix := range t.Indexes {
		if ix.Name == name {
			t.Indexes = append(t.Indexes[:i], t.Indexes[i+1:]...)
			return
		}
	}
}

func applyRenameTable(m *Model, c *Change) error {
	t, err := userTable(m, "table", c.Table)
	if err != nil {
		return err
	}
	if err := ValidateIdentifier("name", c.NewName); err != nil {
		return err
	}
	if reservedTableName(c.NewName) {
		return fieldErr("name", "%q is reserved for a system table", c.NewName)
	}
	if c.NewName == c.Table {
		return fieldErr("name", "is the current name")
	}
	if err := tableNameFree(m, "name", c.NewName); err != nil {
		return err
	}
	t.Name = c.NewName
	for i := range m.Trash {
		if m.Trash[i].Kind == "column" && m.Trash[i].TableID == t.ID {
			m.Trash[i].Table = c.NewName
		}
	}
	// Hooks follow the table they watch.
	for i := range m.Functions {
		if m.Functions[i].Kind == "hook" && m.Functions[i].Table == c.Table {
			m.Functions[i].Table = c.NewName
		}
	}
	// Relations name the tables they join, their junction included: renaming a
	// junction is renaming the table its many-to-many relation keeps its pairs in.
	for i := range m.Relations {
		r := &m.Relations[i]
		if r.Table == c.Table {
			r.Table = c.NewName
		}
		if r.Target == c.Table {
			r.Target = c.NewName
		}
		if r.Junction == c.Table {
			r.Junction = c.NewName
		}
	}
	return nil
}

func applyDropTable(m *Model, c *Change, gen IDGen) error {
	t, err := userTable(m, "table", c.Table)
	if err != nil {
		return err
	}
	if t.Junction {
		return fieldErr("table", "%q is a junction table; drop its relation instead", c.Table)
	}
	if c.Cascade == nil {
		for _, r := range m.Relations {
			if r.Table == c.Table || r.Target == c.Table {
				r := r
				c.Cascade = append(c.Cascade, Change{Type: DropRelation, Relation: &r})
			}
		}
	}
	for i := range c.Cascade {
		if err := apply(m, &c.Cascade[i], gen); err != nil {
			return err
		}
	}
	if c.TrashName == "" {
		c.TrashName = TrashPrefix + shortID(gen())
	}
	t = m.Table(c.Table)
	def := *t
	m.Trash = append(m.Trash, Trashed{ID: t.ID, Kind: "table", Table: t.Name, TrashName: c.TrashName, TableDef: &def})
	removeTable(m, c.Table)
	return nil
}

func removeTable(m *Model, name string) {
	for i := range m.Tables {
		if m.Tables[i].Name == name {
			m.Tables = append(m.Tables[:i], m.Tables[i+1:]...)
			return
		}
	}
}

func applyAddColumn(m *Model, c *Change, gen IDGen) error {
	t, err := userTable(m, "table", c.Table)
	if c.System {
		// A system upgrade: a newer Strata's snapshot has a column this tenant lacks.
		if t = m.Table(c.Table); t == nil || !t.System {
			return fieldErr("table", "%q is not a system table", c.Table)
		}
		err = nil
	}
	if err != nil {
		return err
	}
	if c.Def == nil {
		return fieldErr("name", "is required")
	}
	if err := ValidateColumn("column", c.Def, c.System); err != nil {
		return err
	}
	if fieldTaken(m, t, c.Def.Name) {
		return fieldErr("column.name", "table %q already has a field %q", t.Name, c.Def.Name)
	}
	if len(t.Columns) >= MaxColumns+len(SystemColumns) {
		return fieldErr("column", "table %q already has %d columns", t.Name, MaxColumns)
	}
	if c.Def.ID == "" {
		c.Def.ID = gen()
	}
	t.Columns = append(t.Columns, *c.Def)
	addAutoIndex(t, c.Def)
	return nil
}

// editableColumn finds a column a user may alter, rename or drop.
func editableColumn(m *Model, table, name string) (*Table, *Column, error) {
	t, err := userTable(m, "table", table)
	if err != nil {
		return nil, nil, err
	}
	col := t.Column(name)
	if col == nil {
		return nil, nil, &NotFoundError{What: "column", Name: table + "." + name}
	}
	if col.System {
		if col.Relation != "" {
			return nil, nil, fieldErr("column", "%q belongs to a relation; change the relation instead", name)
		}
		return nil, nil, fieldErr("column", "%q is a system column", name)
	}
	return t, col, nil
}

func applyAlterColumn(m *Model, c *Change) error {
	t, col, err := editableColumn(m, c.Table, c.Column)
	if err != nil {
		return err
	}
	if c.Def == nil {
		return fieldErr("column", "a new definition is required")
	}
	def := *c.Def
	def.ID, def.Name = col.ID, col.Name
	if err := ValidateColumn("column", &def, false); err != nil {
		return err
	}
	if def.Type == TypeText || def.Type == TypeJSON || def.Type == TypeMultiEnum {
		for _, ix := range t.Indexes {
			if !ix.Auto && contains(ix.Columns, col.Name) {
				return fieldErr("column.type", "index %q uses %q; type %s cannot be indexed (drop the index first)", ix.Name, col.Name, def.Type)
			}
		}
	}
	removeAutoIndex(t, col)
	*col = def
	addAutoIndex(t, col)
	c.Def = &def
	return nil
}

func applyRenameColumn(m *Model, c *Change) error {
	t, col, err := editableColumn(m, c.Table, c.Column)
	if err != nil {
		return err
	}
	if err := ValidateIdentifier("name", c.NewName); err != nil {
		return err
	}
	if isSystemColumn(c.NewName) {
		return fieldErr("name", "%q is a system column", c.NewName)
	}
	if fieldTaken(m, t, c.NewName) {
		return fieldErr("name", "table %q already has a field %q", t.Name, c.NewName)
	}
	renameColumnIn(t, col, c.NewName)
	return nil
}

func applyRenameRelation(m *Model, c *Change) error {
	t, err := userTable(m, "table", c.Table)
	if err != nil {
		return err
	}
	r := m.RelationByField(t.Name, c.Column)
	if r == nil {
		return &NotFoundError{What: "relation", Name: c.Table + "." + c.Column}
	}
	if err := ValidateIdentifier("name", c.NewName); err != nil {
		return err
	}
	if isSystemColumn(c.NewName) {
		return fieldErr("name", "%q is a system column", c.NewName)
	}
	if c.NewName == c.Column {
		return fieldErr("name", "is the current name")
	}
	if fieldTaken(m, t, c.NewName) {
		return fieldErr("name", "table %q already has a field %q", t.Name, c.NewName)
	}
	// The field is the relation's name on its table, or its inverse on the target; the
	// key column that bears the field's name (a many-to-one's or one-to-one's on the
	// table, a one-to-many's on the target) is renamed with it.
	var keyTable string
	if r.Table == t.Name && r.Name == c.Column {
		r.Name = c.NewName
		if r.Type == ManyToOne || r.Type == OneToOne {
			keyTable = r.Table
		}
	} else {
		r.Inverse = c.NewName
		if r.Type == OneToMany {
			keyTable = r.Target
		}
	}
	if keyTable != "" {
		kt := m.Table(keyTable)
		for i := range kt.Columns {
			if col := &kt.Columns[i]; col.Relation == r.ID && col.Name == c.Column {
				renameColumnIn(kt, col, c.NewName)
			}
		}
	}
	return nil
}

// renameColumnIn renames col of t where the table names it: its indexes and display
// template follow.
func renameColumnIn(t *Table, col *Column, newName string) {
	for i := range t.Indexes {
		for j, n := range t.Indexes[i].Columns {
			if n == col.Name {
				t.Indexes[i].Columns[j] = newName
			}
		}
	}
	t.DisplayTemplate = renameInTemplate(t.DisplayTemplate, col.Name, newName)
	col.Name = newName
}

func applyDropColumn(m *Model, c *Change, gen IDGen) error {
	t, col, err := editableColumn(m, c.Table, c.Column)
	if err != nil {
		return err
	}
	if c.TrashName == "" {
		c.TrashName = TrashPrefix + shortID(gen())
	}
	trashColumn(m, t, col.Name, c.TrashName)
	return nil
}

// trashColumn hides a column from the model and drops every index that uses it (they
// are re-created if the drop is undone).
func trashColumn(m *Model, t *Table, name, trashName string) {
	col := t.Column(name)
	def := *col
	m.Trash = append(m.Trash, Trashed{ID: col.ID, Kind: "column", Table: t.Name, TableID: t.ID, Column: name, TrashName: trashName, ColumnDef: &def})
	kept := t.Indexes[:0]
	for _, ix := range t.Indexes {
		if !contains(ix.Columns, name) {
			kept = append(kept, ix)
		}
	}
	t.Indexes = kept
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			t.Columns = append(t.Columns[:i], t.Columns[i+1:]...)
			break
		}
	}
}

var onDeleteActions = []string{"", "set_null", "cascade", "restrict", "no_action"}

func applyAddRelation(m *Model, c *Change, gen IDGen) error {
	r := c.Relation
	if r == nil {
		return fieldErr("relation", "is required")
	}
	switch r.Type {
	case ManyToOne, OneToMany, ManyToMany, OneToOne:
	default:
		return fieldErr("type", "must be many_to_one, one_to_many, many_to_many or one_to_one")
	}
	if !contains(onDeleteActions, r.OnDelete) {
		return fieldErr("on_delete", "must be set_null, cascade, restrict or no_action")
	}
	t, err := userTableOrNew(m, "table", r.Table)
	if err != nil {
		return err
	}
	target := m.Table(r.Target)
	if target == nil {
		return fieldErr("target", "table %q does not exist", r.Target)
	}
	if target.Junction || (target.System && !IsFileTable(target.Name)) {
		return fieldErr("target", "%q cannot be a relation target", r.Target)
	}
	if target.System && (r.Type == OneToMany || r.Inverse != "") {
		// A relation to files keeps its key on the user's side: the files table gains
		// no column and no field.
		return fieldErr("target", "a relation to %s is many_to_one, one_to_one or many_to_many, without an inverse", r.Target)
	}
	if err := ValidateIdentifier("name", r.Name); err != nil {
		return err
	}
	if isSystemColumn(r.Name) || fieldTaken(m, t, r.Name) {
		return fieldErr("name", "table %q already has a field %q", t.Name, r.Name)
	}
	if r.Type == OneToMany && r.Inverse == "" {
		r.Inverse = r.Table + "_id"
	}
	if r.Inverse != "" {
		if err := ValidateIdentifier("inverse", r.Inverse); err != nil {
			return err
		}
		if isSystemColumn(r.Inverse) || fieldTaken(m, target, r.Inverse) || (r.Target == r.Table && r.Inverse == r.Name) {
			return fieldErr("inverse", "table %q already has a field %q", target.Name, r.Inverse)
		}
	}
	if r.ID == "" {
		r.ID = gen()
	}
	if m.Relation(r.ID) != nil {
		return fieldErr("id", "relation %q already exists", r.ID)
	}
	keyCol := func(name, relID string, unique bool) Column {
		return Column{ID: derivedID(relID, "column", name), Name: name, Type: TypeUUID, Nullable: true, System: true, Relation: relID, Unique: unique, Index: !unique}
	}
	switch r.Type {
	case ManyToOne, OneToOne:
		col := keyCol(r.Name, r.ID, r.Type == OneToOne)
		t.Columns = append(t.Columns, col)
		addAutoIndex(t, &col)
	case OneToMany:
		col := keyCol(r.Inverse, r.ID, false)
		target.Columns = append(target.Columns, col)
		addAutoIndex(target, &col)
	case ManyToMany:
		if r.Junction == "" {
			r.Junction = r.Table + "_" + r.Name
			if len(r.Junction) > MaxIdentifierLen {
				r.Junction = r.Junction[:MaxIdentifierLen-13] + "_" + shortID(r.ID)
			}
		}
		if err := ValidateIdentifier("junction", r.Junction); err != nil {
			return err
		}
		if err := tableNameFree(m, "junction", r.Junction); err != nil {
			return err
		}
		a, b := JunctionColumns(r)
		j := Table{ID: derivedID(r.ID, "junction"), Name: r.Junction, Junction: true}
		j.Columns = systemColumnsFor(j.ID)
		j.Columns = append(j.Columns, keyCol(a, r.ID, false), keyCol(b, r.ID, false))
		j.Columns[len(j.Columns)-2].Nullable = false
		j.Columns[len(j.Columns)-1].Nullable = false
		j.Columns[len(j.Columns)-2].Index = false
		j.Columns[len(j.Columns)-1].Index = true
		addAutoIndex(&j, &j.Columns[len(j.Columns)-1])
		j.Indexes = append(j.Indexes, Index{Name: "strata_ux_" + shortID(r.ID), Columns: []string{a, b}, Unique: true, Auto: true})
		m.Tables = append(m.Tables, j)
	}
	m.Relations = append(m.Relations, *r)
	return nil
}

// systemColumnsFor gives a table created implicitly (a junction) system columns whose
// ids derive from the table id, so replays produce the same ids.
func systemColumnsFor(tableID string) []Column {
	n := 0
	return systemColumns(func() string { n++; return derivedID(tableID, strconv.Itoa(n)) })
}

// JunctionKeys names the two key columns of a many-to-many relation's junction table:
// the one pointing at r.Table, then the one pointing at r.Target. They are read from the
// junction itself, because renaming a table does not rename them.
func (m *Model) JunctionKeys(r *Relation) (source, target string) {
	if j := m.Table(r.Junction); j != nil {
		var keys []string
		for _, c := range j.Columns {
			if c.Relation == r.ID {
				keys = append(keys, c.Name)
			}
		}
		if len(keys) == 2 {
			return keys[0], keys[1]
		}
	}
	return JunctionColumns(r)
}

// JunctionColumns names the two key columns a new junction table gets: <table>_id and
// <target>_id (related_<target>_id on a self relation), shortened like index names when
// that is longer than an identifier may be. The names depend on the table names alone,
// so a replay on any dialect gives the same ones.
func JunctionColumns(r *Relation) (source, target string) {
	source, target = r.Table+"_id", r.Target+"_id"
	if source == target {
		target = "related_" + target
	}
	return shortName(source), shortName(target)
}

// shortName keeps a derived name within MaxIdentifierLen (the smallest limit of the
// dialects: PostgreSQL's 63; MySQL allows 64): a longer one keeps its start and ends
// with a hash of the whole, so two long names that differ anywhere stay apart.
func shortName(n string) string {
	if len(n) <= MaxIdentifierLen {
		return n
	}
	return n[:MaxIdentifierLen-13] + "_" + shortID(n)
}

// userTableOrNew is userTable for relation owners; junction tables are never owners.
func userTableOrNew(m *Model, field, name string) (*Table, error) {
	t, err := userTable(m, field, name)
	if err != nil {
		if _, ok := err.(*NotFoundError); ok {
			return nil, fieldErr(field, "table %q does not exist", name)
		}
		return nil, err
	}
	if t.Junction {
		return nil, fieldErr(field, "%q is a junction table", name)
	}
	return t, nil
}

func applyDropRelation(m *Model, c *Change, gen IDGen) error {
	if c.Relation == nil {
		return fieldErr("id", "is required")
	}
	r := m.Relation(c.Relation.ID)
	if r == nil {
		return &NotFoundError{What: "relation", Name: c.Relation.ID}
	}
	cp := *r
	c.Relation = &cp
	if c.TrashName == "" {
		c.TrashName = TrashPrefix + shortID(gen())
	}
	if tbl, col, ok := r.FKLocation(); ok {
		trashColumn(m, m.Table(tbl), col, c.TrashName)
	} else {
		j := m.Table(r.Junction)
		def := *j
		m.Trash = append(m.Trash, Trashed{ID: j.ID, Kind: "table", Table: j.Name, TrashName: c.TrashName, TableDef: &def})
		removeTable(m, r.Junction)
	}
	for i := range m.Relations {
		if m.Relations[i].ID == cp.ID {
			m.Relations = append(m.Relations[:i], m.Relations[i+1:]...)
			break
		}
	}
	return nil
}

func indexNameTaken(m *Model, name string) bool {
	for _, t := range m.Tables {
		for _, ix := range t.Indexes {
			if strings.EqualFold(ix.Name, name) {
				return true
			}
		}
	}
	return false
}

func applyAddIndex(m *Model, c *Change) error {
	t, err := userTable(m, "table", c.Table)
	if err != nil {
		return err
	}
	ix := c.Index
	if ix == nil || len(ix.Columns) == 0 {
		return fieldErr("columns", "at least one column is required")
	}
	if len(ix.Columns) > 16 {
		return fieldErr("columns", "at most 16 columns")
	}
	seen := map[string]bool{}
	for i, n := range ix.Columns {
		col := t.Column(n)
		if col == nil {
			return fieldErr(fmt.Sprintf("columns[%d]", i), "table %q has no column %q", t.Name, n)
		}
		if col.Type == TypeText || col.Type == TypeJSON || col.Type == TypeMultiEnum {
			return fieldErr(fmt.Sprintf("columns[%d]", i), "type %s cannot be indexed", col.Type)
		}
		if seen[n] {
			return fieldErr(fmt.Sprintf("columns[%d]", i), "duplicate column %q", n)
		}
		seen[n] = true
	}
	if ix.Name == "" {
		ix.Name = DefaultIndexName(t.Name, ix.Columns)
	} else if err := ValidateIdentifier("name", ix.Name); err != nil {
		return err
	}
	if indexNameTaken(m, ix.Name) || tableNameFree(m, "name", ix.Name) != nil {
		return fieldErr("name", "index %q already exists", ix.Name)
	}
	ix.Auto = false
	t.Indexes = append(t.Indexes, *ix)
	return nil
}

func applyDropIndex(m *Model, c *Change) error {
	t, err := userTable(m, "table", c.Table)
	if err != nil {
		return err
	}
	for i, ix := range t.Indexes {
		if ix.Name == c.Column {
			if ix.Auto {
				return fieldErr("name", "index %q belongs to a column flag or relation; change that instead", ix.Name)
			}
			cp := ix
			c.Index = &cp
			t.Indexes = append(t.Indexes[:i], t.Indexes[i+1:]...)
			return nil
		}
	}
	return &NotFoundError{What: "index", Name: c.Column}
}

// Removals summarises what a resolved change removes from old, and whether it narrows a
// column's type; a non-empty result means the change is destructive.
func Removals(old *Model, c Change) Removal {
	var r Removal
	r.RemovedColumns, r.DroppedTables = []string{}, []string{}
	var walk func(c Change)
	walk = func(c Change) {
		for _, sub := range c.Cascade {
			walk(sub)
		}
		for _, sub := range c.Steps {
			walk(sub)
		}
		switch c.Type {
		case DropTable:
			r.DroppedTables = append(r.DroppedTables, c.Table)
		case DropColumn:
			r.RemovedColumns = append(r.RemovedColumns, c.Table+"."+c.Column)
		case DropRelation:
			r.RemovedRelations++
		case Purge:
			if c.Column != "" {
				r.RemovedColumns = append(r.RemovedColumns, c.Table+"."+c.Column)
			} else {
				r.DroppedTables = append(r.DroppedTables, c.Table)
			}
		case AlterColumn:
			if t := old.Table(c.Table); t != nil {
				if col := t.Column(c.Column); col != nil && c.Def != nil && Narrows(col, c.Def) {
					r.Narrowing = append(r.Narrowing, c.Table+"."+c.Column)
				}
			}
		}
	}
	walk(c)
	return r
}

// widening lists type changes that never lose data, given the two columns' sizes.
var widening = map[[2]Type]func(a, b *Column) bool{
	{TypeInteger, TypeBigint}:  func(_, _ *Column) bool { return true },
	{TypeInteger, TypeFloat}:   func(_, _ *Column) bool { return true },
	{TypeInteger, TypeDecimal}: func(_, b *Column) bool { return b.Precision-b.Scale >= 10 }, // int32 has 10 digits
	{TypeString, TypeText}:     func(_, _ *Column) bool { return true },
	{TypeEmail, TypeText}:      func(_, _ *Column) bool { return true },
	{TypeURL, TypeText}:        func(_, _ *Column) bool { return true },
	{TypePhone, TypeText}:      func(_, _ *Column) bool { return true },
	{TypeEnum, TypeText}:       func(_, _ *Column) bool { return true },
	{TypeEmail, TypeString}:    longEnough,
	{TypeURL, TypeString}:      longEnough,
	{TypePhone, TypeString}:    longEnough,
	{TypeEnum, TypeString}:     longEnough,
}

// longEnough: b's strings hold every value of a's.
func longEnough(a, b *Column) bool { return b.TextLength() >= a.TextLength() }

// Narrows reports whether changing from a to b may lose or reject existing data.
func Narrows(a, b *Column) bool {
	if a.Type != b.Type {
		wide := widening[[2]Type{a.Type, b.Type}]
		return wide == nil || !wide(a, b)
	}
	switch a.Type {
	case TypeString, TypeEmail, TypeURL, TypePhone:
		return b.TextLength() < a.TextLength()
	case TypeDecimal:
		return b.Precision < a.Precision || b.Scale < a.Scale || b.Precision-b.Scale < a.Precision-a.Scale
	case TypeEnum, TypeMultiEnum:
		for _, v := range a.Values {
			if !contains(b.Values, v) {
				return true
			}
		}
	}
	return false
}
