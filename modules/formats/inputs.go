package formats

import (
	"bytes"
	"encoding/json"

	"strata/modules/apierr"
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
	// Target and OnDelete are for a LOOKUP or BELONGS_TO field: the many-to-one it is.
	Target   string `json:"target,omitempty"`
	OnDelete string `json:"on_delete,omitempty"`
}

// UnmarshalJSON reads a column strictly and turns the custom-migrations design's
// upper-case field types into Strata's, so every door that takes a column takes them.
func (in *Column) UnmarshalJSON(b []byte) error {
	type plain Column
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*in = Column(p)
	return in.fromSourceType()
}

// sourceType is what one of the design's field types is in Strata: a type and the
// sizes its documented SQL gives (DECIMAL(18, 2), VARCHAR(20), …), used where the
// column sets none.
type sourceType struct {
	Type             schema.Type
	Length           int
	Precision, Scale int
	Default          string
}

// lookupType marks a LOOKUP/BELONGS_TO field until it becomes its relation.
const lookupType schema.Type = "LOOKUP"

// sourceTypes are the custom-migrations design's field types (docs/formats.md). Its
// MULTI_PICKLIST is a VARCHAR there; here it is multi_enum, a JSON list, because the
// values are a list and a separator inside a string would need escaping rules.
var sourceTypes = map[schema.Type]sourceType{
	"TEXT":           {Type: schema.TypeString, Length: 255},
	"STRING":         {Type: schema.TypeString, Length: 255},
	"LONG_TEXT":      {Type: schema.TypeText},
	"NUMBER":         {Type: schema.TypeDecimal, Precision: 18, Scale: 2},
	"DECIMAL":        {Type: schema.TypeDecimal, Precision: 18, Scale: 2},
	"INTEGER":        {Type: schema.TypeInteger},
	"BOOLEAN":        {Type: schema.TypeBoolean, Default: "false"},
	"DATE":           {Type: schema.TypeDate},
	"DATE_TIME":      {Type: schema.TypeDatetime},
	"EMAIL":          {Type: schema.TypeEmail, Length: 255},
	"URL":            {Type: schema.TypeURL}, // 2048, as Strata's url (768 indexed)
	"PHONE":          {Type: schema.TypePhone, Length: 20},
	"CURRENCY":       {Type: schema.TypeDecimal, Precision: 18, Scale: 2},
	"PERCENT":        {Type: schema.TypeDecimal, Precision: 5, Scale: 2},
	"PICKLIST":       {Type: schema.TypeEnum},
	"MULTI_PICKLIST": {Type: schema.TypeMultiEnum},
	"LOOKUP":         {Type: lookupType},
	"BELONGS_TO":     {Type: lookupType},
}

func (in *Column) fromSourceType() error {
	if st, ok := sourceTypes[in.Type]; ok {
		in.Type = st.Type
		if in.Length == 0 {
			in.Length = st.Length
		}
		if in.Precision == 0 && in.Scale == 0 {
			in.Precision, in.Scale = st.Precision, st.Scale
		}
		if len(in.Default) == 0 && st.Default != "" {
			in.Default = json.RawMessage(st.Default)
		}
	}
	if in.Type == lookupType {
		if in.Target == "" {
			return apierr.InvalidPayload("target", "a LOOKUP or BELONGS_TO field needs target, the table it points at")
		}
		return nil
	}
	if in.Target != "" || in.OnDelete != "" {
		return apierr.InvalidPayload("target", "target and on_delete are for a LOOKUP or BELONGS_TO field; add other relations as relations")
	}
	return nil
}

func (in Column) Schema() schema.Column {
	c := schema.Column{Name: in.Name, Type: in.Type, Length: in.Length, Precision: in.Precision, Scale: in.Scale, Values: in.Values,
		Nullable: true, Unique: in.Unique, Index: in.Index, Default: in.Default, Description: in.Description}
	if c.Type == schema.TypeURL && c.Length == 0 {
		// A url a client adds holds DefaultURLLength (IndexedURLLength with an index);
		// one without a length in the model is a column from before (LegacyTextLength),
		// which Take writes out as 255.
		c.Length = schema.DefaultURLLength
		if c.Unique || c.Index {
			c.Length = schema.IndexedURLLength
		}
	}
	if in.Nullable != nil {
		c.Nullable = *in.Nullable
	}
	return c
}

// TypeFiles is the column type of a many-to-many to the files table; TypeFile (file)
// is a many-to-one to it. Neither is stored as a column of its own: each becomes the
// relation it stands for, so the history records the relation.
const TypeFiles schema.Type = "files"

// plainColumn refuses, at field, a column that is not one: an unknown type, or a
// file, files or LOOKUP field, which a file of whole tables lists as a relation.
func (in Column) plainColumn(field string) error {
	if _, ok := in.Relation(""); ok {
		return apierr.InvalidPayload(field+".type", "%s.type: a %s field is a relation: list it under relations", field, in.Type)
	}
	if !in.Type.Valid() {
		return UnknownType(field+".type", in.Type)
	}
	return nil
}

// Relation is the relation a file, files or LOOKUP column of table stands for; ok is
// false for any other column.
func (in Column) Relation(table string) (r schema.Relation, ok bool) {
	switch in.Type {
	case lookupType:
		onDelete := in.OnDelete
		if onDelete == "" {
			onDelete = "set_null"
		}
		return schema.Relation{Table: table, Name: in.Name, Type: schema.ManyToOne, Target: in.Target, OnDelete: onDelete}, true
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
	Label       string `json:"label,omitempty"`
	// Accountability is what the audit trail keeps of its writes: all (default),
	// activity or none.
	Accountability string `json:"accountability,omitempty"`
	// DisplayTemplate is how a row reads where another points at it: "{{title}}".
	DisplayTemplate string          `json:"display_template,omitempty"`
	Columns         []Column        `json:"columns"`
	Relations       []Relation      `json:"relations,omitempty"`
	Permissions     json.RawMessage `json:"permissions,omitempty"`
}

// CreateTableChange turns a create-table body into a change (its permissions are
// applied by the caller once the table exists).
func CreateTableChange(in TableInput) (schema.Change, error) {
	t := &schema.Table{Name: in.Name, Description: in.Description, Label: in.Label, Accountability: in.Accountability, DisplayTemplate: in.DisplayTemplate}
	ch := schema.Change{Type: schema.CreateTable, Create: t}
	for _, ci := range in.Columns {
		if r, ok := ci.Relation(in.Name); ok {
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
