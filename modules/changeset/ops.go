package changeset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/schema"
)

// Operations a changeset's changes may use: the schema API's, by name.
const (
	OpCreateTable  = "create_table"
	OpRenameTable  = "rename_table"
	OpDropTable    = "drop_table"
	OpAddColumn    = "add_column"
	OpAlterColumn  = "alter_column"
	OpRenameColumn = "rename_column"
	OpDropColumn   = "drop_column"
	OpAddRelation  = "add_relation"
	OpDropRelation = "drop_relation"
	OpAddIndex     = "add_index"
	OpDropIndex    = "drop_index"
	// OpAlterTable {table, description?, label?, display_template?}: beyond the contract's list,
	// what PATCH /tables/{t} changes besides the name (schema diff needs it).
	OpAlterTable = "alter_table"
)

// op is one operation as a file writes it; which fields are used depends on Op.
type op struct {
	Op string `json:"-"`
	// create_table: the POST /tables body.
	CreateTable *formats.TableInput `json:"-"`
	// add_relation: the POST /relations body.
	Relation *formats.Relation `json:"-"`
	// The others.
	Table   string          `json:"table"`
	Column  json.RawMessage `json:"column"`  // add_column: the POST /columns body; otherwise a name
	Changes json.RawMessage `json:"changes"` // alter_column: the PATCH column body
	NewName string          `json:"new_name"`
	Name    string          `json:"name"` // drop_relation, drop_index
	Columns []string        `json:"columns"`
	Unique  bool            `json:"unique"`
	// alter_table
	Description     *string `json:"description"`
	DisplayTemplate *string `json:"display_template"`
	Label           *string `json:"label"`
	Accountability  *string `json:"accountability"`
}

// opFields lists the fields each operation takes besides op, those it cannot go
// without first (create_table and add_relation take their API bodies).
var opFields = map[string]struct{ required, optional []string }{
	OpRenameTable:  {[]string{"table", "new_name"}, nil},
	OpDropTable:    {[]string{"table"}, nil},
	OpAddColumn:    {[]string{"table", "column"}, nil},
	OpAlterColumn:  {[]string{"table", "column", "changes"}, nil},
	OpRenameColumn: {[]string{"table", "column", "new_name"}, nil},
	OpDropColumn:   {[]string{"table", "column"}, nil},
	OpDropRelation: {[]string{"table", "name"}, nil},
	OpAddIndex:     {[]string{"table", "columns"}, []string{"name", "unique"}},
	OpDropIndex:    {[]string{"table", "name"}, nil},
	OpAlterTable:   {[]string{"table"}, []string{"description", "label", "display_template", "accountability"}},
}

// decodeOp reads one operation strictly: a known op, only its fields, each required
// one present.
func decodeOp(raw json.RawMessage) (*op, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, apierr.InvalidPayload("op", "a change is an object with an op")
	}
	var name string
	if err := json.Unmarshal(fields["op"], &name); err != nil || name == "" {
		return nil, apierr.InvalidPayload("op", "a change needs an op")
	}
	delete(fields, "op")
	rest, _ := json.Marshal(fields)
	o := &op{Op: name}
	switch name {
	case OpCreateTable:
		var t formats.TableInput
		if err := formats.Decode(rest, &t); err != nil {
			return nil, err
		}
		if len(t.Permissions) > 0 {
			return nil, apierr.InvalidPayload("permissions", "a changeset changes the schema: permissions are set per tenant")
		}
		o.CreateTable = &t
		return o, nil
	case OpAddRelation:
		var r formats.Relation
		if err := formats.Decode(rest, &r); err != nil {
			return nil, err
		}
		if r.Table == "" {
			return nil, apierr.InvalidPayload("table", "table is required")
		}
		o.Relation = &r
		return o, nil
	}
	takes, known := opFields[name]
	if !known {
		return nil, apierr.InvalidPayload("op", "unknown op %q", name)
	}
	for k := range fields {
		if !slices.Contains(takes.required, k) && !slices.Contains(takes.optional, k) {
			return nil, apierr.InvalidPayload(k, "%s takes no field %q", name, k)
		}
	}
	for _, k := range takes.required {
		if v, ok := fields[k]; !ok || string(v) == "null" || string(v) == `""` {
			return nil, apierr.InvalidPayload(k, "%s needs %s", name, k)
		}
	}
	if err := formats.Decode(rest, o); err != nil {
		return nil, err
	}
	if name != OpAddColumn && name != OpAlterColumn && len(o.Column) > 0 {
		if _, err := o.columnName(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *op) columnName() (string, error) {
	var name string
	if err := json.Unmarshal(o.Column, &name); err != nil || name == "" {
		return "", apierr.InvalidPayload("column", "%s: column is the column's name", o.Op)
	}
	return name, nil
}

func atOp(i int, err error) error {
	field := fmt.Sprintf("changes[%d]", i)
	var ae *apierr.Error
	if errors.As(err, &ae) {
		if f, _ := ae.Details["field"].(string); f != "" && f != "body" {
			field += "." + f
		}
		return apierr.New(ae.Status, ae.Code, "%s: %s", field, ae.Message).With("field", field)
	}
	return apierr.InvalidPayload(field, "%s: %v", field, err)
}

// SchemaChanges turns the changeset's operations into schema changes for a tenant whose
// model is m, each planned against what the ones before it leave (an alter merges over
// the column as it will be then). A relation the changeset adds gets its id from ids
// here, before anything runs, because a later drop_relation names it by that id.
func (cs *Changeset) SchemaChanges(m *schema.Model, ids schema.IDGen) ([]schema.Change, error) {
	var out []schema.Change
	cur, placeholders := m, placeholderIDs()
	for i, raw := range cs.Changes {
		o, err := decodeOp(raw)
		if err != nil {
			return nil, atOp(i, err)
		}
		changes, err := o.changes(cur)
		if err != nil {
			return nil, atOp(i, err)
		}
		for _, ch := range changes {
			ch.Changeset = cs.Name
			if ch.Type == schema.AddRelation && ch.Relation.ID == "" {
				ch.Relation.ID = ids()
			}
			next, _, err := schema.Apply(cur, ch, placeholders)
			if err != nil {
				return nil, atOp(i, err)
			}
			cur = next
			out = append(out, ch)
		}
	}
	return out, nil
}

// placeholderIDs makes ids for working out the model an operation leaves; the changes
// themselves get real ones when they run.
func placeholderIDs() schema.IDGen {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("00000000-0000-7000-8000-%012d", n)
	}
}

func (o *op) changes(m *schema.Model) ([]schema.Change, error) {
	switch o.Op {
	case OpCreateTable:
		ch, err := formats.CreateTableChange(*o.CreateTable)
		return []schema.Change{ch}, err
	case OpAddRelation:
		r := o.Relation.Schema()
		return []schema.Change{{Type: schema.AddRelation, Relation: &r}}, nil
	case OpRenameTable:
		return []schema.Change{{Type: schema.RenameTable, Table: o.Table, NewName: o.NewName}}, nil
	case OpDropTable:
		return []schema.Change{{Type: schema.DropTable, Table: o.Table}}, nil
	case OpAddColumn:
		var in formats.Column
		if err := formats.Decode(o.Column, &in); err != nil {
			return nil, err
		}
		if r, ok := in.Relation(o.Table); ok {
			return []schema.Change{{Type: schema.AddRelation, Relation: &r}}, nil
		}
		col := in.Schema()
		return []schema.Change{{Type: schema.AddColumn, Table: o.Table, Def: &col}}, nil
	case OpAlterColumn:
		name, err := o.columnName()
		if err != nil {
			return nil, err
		}
		return formats.ColumnChanges(m, o.Table, name, bytes.TrimSpace(o.Changes))
	case OpRenameColumn:
		name, err := o.columnName()
		if err != nil {
			return nil, err
		}
		return []schema.Change{{Type: schema.RenameColumn, Table: o.Table, Column: name, NewName: o.NewName}}, nil
	case OpDropColumn:
		name, err := o.columnName()
		if err != nil {
			return nil, err
		}
		return []schema.Change{{Type: schema.DropColumn, Table: o.Table, Column: name}}, nil
	case OpDropRelation:
		for _, r := range m.Relations {
			if r.Table == o.Table && r.Name == o.Name {
				// Table and name too, so the migration is named before it resolves.
				return []schema.Change{{Type: schema.DropRelation, Relation: &schema.Relation{ID: r.ID, Table: r.Table, Name: r.Name}}}, nil
			}
		}
		return nil, apierr.NotFound("relation %s.%s not found", o.Table, o.Name)
	case OpAddIndex:
		return []schema.Change{{Type: schema.AddIndex, Table: o.Table, Index: &schema.Index{Name: o.Name, Columns: o.Columns, Unique: o.Unique}}}, nil
	case OpDropIndex:
		return []schema.Change{{Type: schema.DropIndex, Table: o.Table, Column: o.Name}}, nil
	case OpAlterTable:
		if o.Description == nil && o.DisplayTemplate == nil && o.Label == nil && o.Accountability == nil {
			return nil, apierr.InvalidPayload("description", "alter_table needs description, label, display_template or accountability")
		}
		return []schema.Change{{Type: schema.AlterTable, Table: o.Table, Description: o.Description, Label: o.Label, DisplayTemplate: o.DisplayTemplate,
			Accountability: o.Accountability}}, nil
	}
	return nil, apierr.InvalidPayload("op", "unknown op %q", o.Op)
}
