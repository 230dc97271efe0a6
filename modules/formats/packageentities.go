package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/schema"
)

// The package schema workflow's entities.yaml (../shared/sources/004_…) declares a
// table with its fields as a map, Prisma's words for relations and actions, and a
// handful of types:
//
//	entities:
//	  - name: MyEntity
//	    version: "1.0"
//	    fields:
//	      id: {type: cuid, primary: true, generated: true}
//	      tenantId: {type: string, required: true, index: true}
//	      name: {type: string, required: true, maxLength: 100}
//	    indexes: [{fields: [tenantId, name], unique: true}]
//	    relations: [{name: tenant, type: belongsTo, entity: Tenant, field: tenantId, onDelete: Cascade}]
//	    acl: {create: [user], read: [public], update: [self, admin], delete: [admin]}
//
// It is told from Strata's own entities shape by its fields, a map where Strata's are a
// list, and read into the same EntityDef, so it is merged, checksummed and planned as
// Strata's is. docs/formats.md has the mapping and what is refused.

// CUIDLength is the length of the string column a cuid field becomes: a CUID is 25
// characters, a CUID2 24 by default and 32 at most.
const CUIDLength = 32

// docTypes are the entities YAML's field types and the columns they become.
var docTypes = map[string]schema.Type{
	"string":  schema.TypeString,
	"int":     schema.TypeInteger,
	"bigint":  schema.TypeBigint,
	"float":   schema.TypeFloat,
	"boolean": schema.TypeBoolean,
	"cuid":    schema.TypeString,
	"uuid":    schema.TypeUUID,
	"json":    schema.TypeJSON,
}

// docKeyTypes are the types a relation's key field may say it has: the key column is
// Strata's, a UUID, which holds what a string, cuid or uuid key would.
var docKeyTypes = []string{"string", "cuid", "uuid"}

// docRelationTypes are the relation types of the package schemas (metabuilder's
// RelationType) and Strata's.
var docRelationTypes = map[string]schema.RelationType{
	"belongsTo":  schema.ManyToOne,
	"hasMany":    schema.OneToMany,
	"hasOne":     schema.OneToOne,
	"manyToMany": schema.ManyToMany,
}

// docOnDelete are Prisma's referential actions and Strata's; SetDefault has none.
var docOnDelete = map[string]string{
	"Cascade":  "cascade",
	"SetNull":  "set_null",
	"Restrict": "restrict",
	"NoAction": "no_action",
}

type docField struct {
	Type        string          `json:"type"`
	Primary     bool            `json:"primary"`
	Generated   bool            `json:"generated"`
	Required    *bool           `json:"required"`
	Nullable    *bool           `json:"nullable"`
	Index       bool            `json:"index"`
	Unique      bool            `json:"unique"`
	MaxLength   int             `json:"maxLength"`
	Default     json.RawMessage `json:"default"`
	Description string          `json:"description"`
}

type docIndex struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
	Unique bool     `json:"unique"`
}

type docRelation struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Entity   string `json:"entity"`
	Field    string `json:"field"`
	OnDelete string `json:"onDelete"`
}

// isDocEntity tells the entities YAML's shape from Strata's: its fields are a map.
func isDocEntity(raw json.RawMessage) bool {
	var probe struct {
		Fields json.RawMessage `json:"fields"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return false
	}
	return bytes.HasPrefix(bytes.TrimSpace(probe.Fields), []byte("{"))
}

// readDocEntity reads one entity of the entities YAML's shape into a table definition.
func readDocEntity(at string, raw json.RawMessage) (*EntityDef, error) {
	var (
		name, description string
		version           json.RawMessage
		fields            json.RawMessage
		indexes           []json.RawMessage
		relations         []json.RawMessage
		acl               map[string][]string
	)
	if err := readObject(at, raw, map[string]any{"name": &name, "version": &version, "description": &description,
		"fields": &fields, "indexes": &indexes, "relations": &relations, "acl": &acl}); err != nil {
		return nil, err
	}
	if err := schema.ValidateIdentifier(at+".name", name); err != nil {
		return nil, apierr.InvalidPayload(err.Field, "%s", err.Error())
	}
	ver, err := docVersion(at+".version", version)
	if err != nil {
		return nil, err
	}
	rels, keys, err := readDocRelations(at, name, relations)
	if err != nil {
		return nil, err
	}
	st := SnapshotTable{Name: name, Description: description, Columns: []Column{}}
	names, values, err := orderedFields(at+".fields", fields)
	if err != nil {
		return nil, err
	}
	for i, fname := range names {
		fat := at + ".fields." + fname
		var f docField
		if err := readObject(fat, values[i], map[string]any{"type": &f.Type, "primary": &f.Primary, "generated": &f.Generated,
			"required": &f.Required, "nullable": &f.Nullable, "index": &f.Index, "unique": &f.Unique, "maxLength": &f.MaxLength,
			"default": &f.Default, "description": &f.Description}); err != nil {
			return nil, err
		}
		col, keep, err := docColumn(fat, fname, f, keys)
		if err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		if err := col.plainColumn(fat); err != nil {
			return nil, err
		}
		sc := col.Schema()
		if err := schema.ValidateColumn(fat, &sc, false); err != nil {
			return nil, apierr.InvalidPayload(docFieldPath(fat, err.Field), "%s: %s", docFieldPath(fat, err.Field), err.Message)
		}
		st.Columns = append(st.Columns, col)
	}
	for j, ir := range indexes {
		iat := fmt.Sprintf("%s.indexes[%d]", at, j)
		var ix docIndex
		if err := readObject(iat, ir, map[string]any{"name": &ix.Name, "fields": &ix.Fields, "unique": &ix.Unique}); err != nil {
			return nil, err
		}
		if len(ix.Fields) == 0 {
			return nil, apierr.InvalidPayload(iat+".fields", "%s.fields: at least one field is required", iat)
		}
		if ix.Name == "" {
			ix.Name = schema.DefaultIndexName(name, ix.Fields)
		}
		st.Indexes = append(st.Indexes, schema.Index{Name: ix.Name, Columns: ix.Fields, Unique: ix.Unique})
	}
	def := &EntityDef{Table: st, Relations: rels, Version: ver}
	if acl != nil {
		if def.ACL, err = canonicalACL(at, acl); err != nil {
			return nil, err
		}
	}
	def.Checksum = StructureChecksum(st, def.Relations)
	return def, nil
}

// docFieldPath names a validation error of a field by the file's words: the field is
// the map's key, its length is maxLength.
func docFieldPath(fat, field string) string {
	switch strings.TrimPrefix(field, fat) {
	case ".name":
		return fat
	case ".length":
		return fat + ".maxLength"
	}
	return field
}

// docColumn turns one field into the column it is; keep is false for the field that
// is the table's id and for the key field of a relation (keys maps a key field to the
// relation it belongs to), which the relation makes.
func docColumn(fat, name string, f docField, keys map[string]string) (col Column, keep bool, err error) {
	typ, known := docTypes[f.Type]
	if !known {
		known := slices.Sorted(maps.Keys(docTypes))
		return Column{}, false, apierr.InvalidPayload(fat+".type", "%s.type: unknown type %q (the entities YAML's types are %s)", fat, f.Type, strings.Join(known, ", "))
	}
	if f.Required != nil && f.Nullable != nil && *f.Required == *f.Nullable {
		return Column{}, false, apierr.InvalidPayload(fat+".nullable", "%s.nullable: required and nullable say opposite things", fat)
	}
	if name == "id" {
		// Strata's own id, a UUID v7 Strata makes: the file's type and generated are
		// read and not kept.
		if f.Nullable != nil && *f.Nullable || f.Required != nil && !*f.Required {
			return Column{}, false, apierr.InvalidPayload(fat, "%s: the id is never null", fat)
		}
		if len(f.Default) > 0 || f.MaxLength != 0 {
			return Column{}, false, apierr.InvalidPayload(fat, "%s: the id is Strata's own (a UUID v7 it makes): it takes no default or maxLength", fat)
		}
		return Column{}, false, nil
	}
	if f.Primary {
		return Column{}, false, apierr.InvalidPayload(fat+".primary", "%s.primary: a Strata table's primary key is its own id (a UUID v7); only a field named id may be primary", fat)
	}
	if rel := keys[name]; rel != "" {
		if !slices.Contains(docKeyTypes, f.Type) {
			return Column{}, false, apierr.InvalidPayload(fat+".type", "%s.type: %q is the key of %s, which holds the id of a row: its type is string, cuid or uuid, not %s", fat, name, rel, f.Type)
		}
		if f.Generated || f.Unique || len(f.Default) > 0 {
			return Column{}, false, apierr.InvalidPayload(fat, "%s: %q is the key of %s, made by the relation: it takes no generated, unique or default", fat, name, rel)
		}
		return Column{}, false, nil
	}
	if f.Generated {
		return Column{}, false, apierr.InvalidPayload(fat+".generated", "%s.generated: Strata generates only the id; give a default instead", fat)
	}
	col = Column{Name: name, Type: typ, Index: f.Index, Unique: f.Unique, Default: f.Default, Description: f.Description}
	switch {
	case f.Type == "cuid":
		col.Length = CUIDLength
	case f.Type == "string":
		col.Length = 255
	}
	if f.MaxLength != 0 {
		if typ != schema.TypeString {
			return Column{}, false, apierr.InvalidPayload(fat+".maxLength", "%s.maxLength: only a string or cuid has a maxLength", fat)
		}
		col.Length = f.MaxLength
	}
	// As in Prisma: a field is required unless it says nullable or not required.
	nullable := f.Nullable != nil && *f.Nullable || f.Required != nil && !*f.Required
	col.Nullable = &nullable
	return col, true, nil
}

// readDocRelations reads an entity's relations into Strata's, and returns the key
// fields they name (the field of a belongsTo or hasOne: the relation's place).
func readDocRelations(at, table string, raws []json.RawMessage) ([]Relation, map[string]string, error) {
	var out []Relation
	keys := map[string]string{}
	for j, raw := range raws {
		rat := fmt.Sprintf("%s.relations[%d]", at, j)
		var r docRelation
		if err := readObject(rat, raw, map[string]any{"name": &r.Name, "type": &r.Type, "entity": &r.Entity, "field": &r.Field, "onDelete": &r.OnDelete}); err != nil {
			return nil, nil, err
		}
		typ, ok := docRelationTypes[r.Type]
		if !ok {
			return nil, nil, apierr.InvalidPayload(rat+".type", "%s.type: unknown relation type %q (want belongsTo, hasMany, hasOne or manyToMany)", rat, r.Type)
		}
		if r.Name == "" {
			return nil, nil, apierr.InvalidPayload(rat+".name", "%s.name: a relation needs a name", rat)
		}
		if r.Entity == "" {
			return nil, nil, apierr.InvalidPayload(rat+".entity", "%s.entity: a relation needs the entity it points at", rat)
		}
		onDelete := ""
		if r.OnDelete != "" {
			if onDelete, ok = docOnDelete[r.OnDelete]; !ok {
				return nil, nil, apierr.InvalidPayload(rat+".onDelete", "%s.onDelete: %q is not one Strata has (want Cascade, SetNull, Restrict or NoAction)", rat, r.OnDelete)
			}
		}
		rel := Relation{Table: table, Name: r.Name, Type: typ, Target: r.Entity, OnDelete: onDelete}
		switch typ {
		case schema.ManyToOne, schema.OneToOne:
			// Strata names the key column after the relation: the relation takes the
			// field's name, so the column is the file's (tenantId).
			if r.Field != "" {
				if keys[r.Field] != "" {
					return nil, nil, apierr.InvalidPayload(rat+".field", "%s.field: %q is the key of %s already", rat, r.Field, keys[r.Field])
				}
				rel.Name = r.Field
				keys[r.Field] = rat
			}
		case schema.OneToMany:
			// The key is on the other entity: field names it there.
			rel.Inverse = r.Field
		case schema.ManyToMany:
			if r.Field != "" {
				return nil, nil, apierr.InvalidPayload(rat+".field", "%s.field: a manyToMany has no key field (its pairs are kept in a junction table)", rat)
			}
		}
		out = append(out, rel)
	}
	return out, keys, nil
}

// docVersion reads an entity's version: text, or a number as written.
func docVersion(at string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if len(s) > 64 {
			return "", apierr.InvalidPayload(at, "%s: at most 64 characters", at)
		}
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", apierr.InvalidPayload(at, "%s: must be text, such as \"1.0\"", at)
}

// canonicalACL checks an acl's actions and sorts its entries, so that two equal acls
// compare equal; the entries (roles) are checked where the acl is applied.
func canonicalACL(at string, acl map[string][]string) (map[string][]string, error) {
	out := map[string][]string{}
	for action, entries := range acl {
		if !slices.Contains(access.Actions, action) {
			return nil, apierr.InvalidPayload(at+".acl."+action, "%s.acl.%s: unknown action (want create, read, update or delete)", at, action)
		}
		canon := slices.Clone(entries)
		slices.Sort(canon)
		out[action] = slices.Compact(canon)
	}
	return out, nil
}

// readObject decodes the JSON object raw at the place at: each key into the value
// fields gives for it. A key fields does not list, or a value of the wrong kind, is
// refused naming its place (a.yaml entities[0].fields.tenantId.surprise).
func readObject(at string, raw json.RawMessage, fields map[string]any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return apierr.InvalidPayload(at, "%s: must be an object", at)
	}
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		dst, ok := fields[k]
		if !ok {
			known := slices.Sorted(maps.Keys(fields))
			return apierr.InvalidPayload(at+"."+k, "%s.%s: unknown key (known: %s)", at, k, strings.Join(known, ", "))
		}
		if string(m[k]) == "null" {
			continue
		}
		if err := strictJSON(m[k], dst); err != nil {
			return apierr.InvalidPayload(at+"."+k, "%s.%s: must be %s", at, k, kindOf(dst))
		}
	}
	return nil
}

// kindOf names what a decoding target holds, for a refusal.
func kindOf(dst any) string {
	switch dst.(type) {
	case *string:
		return "text"
	case *bool, **bool:
		return "true or false"
	case *int:
		return "a whole number"
	case *[]string:
		return "a list of names"
	case *[]json.RawMessage:
		return "a list"
	case *map[string][]string:
		return "an object of lists of names"
	}
	return "a value of another kind"
}

// orderedFields reads a JSON object's keys and values in the order written (the
// fields of an entity are a map whose order is the order of the table's columns).
func orderedFields(at string, raw json.RawMessage) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, apierr.InvalidPayload(at, "%s: must be an object of fields", at)
	}
	var keys []string
	var values []json.RawMessage
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, apierr.InvalidPayload(at, "%s: %v", at, err)
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, apierr.InvalidPayload(at+"."+k, "%s.%s: %v", at, k, err)
		}
		if seen[k] {
			return nil, nil, apierr.InvalidPayload(at+"."+k, "%s.%s: the field is listed twice", at, k)
		}
		seen[k] = true
		keys = append(keys, k)
		values = append(values, v)
	}
	return keys, values, nil
}
