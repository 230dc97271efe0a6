package formats

import (
	"encoding/json"

	"strata/schema"
)

// columnInput is a column as clients send it; nullable defaults to true.
type Column struct {
	Name        string          `json:"name"`
	Type        schema.Type     `json:"type"`
	Length      int             `json:"length,omitempty"`
	Precision   int             `json:"precision,omitempty"`
	Scale       int             `json:"scale,omitempty"`
	Values      []string        `json:"values,omitempty"`
	Nullable    *bool           `json:"nullable,omitempty"`
	Unique      bool            `json:"unique,omitempty"`
	Index       bool            `json:"index,omitempty"`
	Default     json.RawMessage `json:"default,omitempty"`
	Description string          `json:"description,omitempty"`
}

func (in Column) Schema() schema.Column {
	c := schema.Column{Name: in.Name, Type: in.Type, Length: in.Length, Precision: in.Precision, Scale: in.Scale, Values: in.Values,
		Nullable: true, Unique: in.Unique, Index: in.Index, Default: in.Default, Description: in.Description}
	if in.Nullable != nil {
		c.Nullable = *in.Nullable
	}
	return c
}

// TypeFiles is the column type of a many-to-many to the files table; TypeFile (file)
// is a many-to-one to it. Neither is stored as a column of its own: each becomes the
// relation it stands for, so the history records the relation.
const TypeFiles schema.Type = "files"

// FileRelation is the relation a file or files column of table stands for; ok is false
// for any other column.
func (in Column) FileRelation(table string) (r schema.Relation, ok bool) {
	switch in.Type {
	case schema.TypeFile:
		return schema.Relation{Table: table, Name: in.Name, Type: schema.ManyToOne, Target: schema.FilesTable, OnDelete: "set_null"}, true
	case TypeFiles:
		return schema.Relation{Table: table, Name: in.Name, Type: schema.ManyToMany, Target: schema.FilesTable}, true
	}
	return schema.Relation{}, false
}

type Relation struct {
	Table    string              `json:"table,omitempty"`
	Name     string              `json:"name"`
	Type     schema.RelationType `json:"type"`
	Target   string              `json:"target"`
	OnDelete string              `json:"on_delete,omitempty"`
	Inverse  string              `json:"inverse,omitempty"`
	Junction string              `json:"junction,omitempty"`
}

func (in Relation) Schema() schema.Relation {
	return schema.Relation{Table: in.Table, Name: in.Name, Type: in.Type, Target: in.Target, OnDelete: in.OnDelete, Inverse: in.Inverse, Junction: in.Junction}
}

// TableInput is a POST /tables body.
type TableInput struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// DisplayTemplate is how a row reads where another points at it: "{{title}}".
	DisplayTemplate string          `json:"display_template,omitempty"`
	Columns         []Column        `json:"columns"`
	Relations       []Relation      `json:"relations,omitempty"`
	Permissions     json.RawMessage `json:"permissions,omitempty"`
}

// CreateTableChange turns a create-table body into a change (its permissions are
// applied by the caller once the table exists).
func CreateTableChange(in TableInput) (schema.Change, error) {
	t := &schema.Table{Name: in.Name, Description: in.Description, DisplayTemplate: in.DisplayTemplate}
	ch := schema.Change{Type: schema.CreateTable, Create: t}
	for _, ci := range in.Columns {
		if r, ok := ci.FileRelation(in.Name); ok {
			ch.Relations = append(ch.Relations, r)
			continue
		}
		t.Columns = append(t.Columns, ci.Schema())
	}
	for _, ri := range in.Relations {
		ch.Relations = append(ch.Relations, ri.Schema())
	}
	return ch, nil
}
