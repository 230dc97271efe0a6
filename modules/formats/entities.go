package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"strata/modules/apierr"
	"strata/schema"
)

// entitiesFile is an entities file: tables declared one by one, in YAML (or JSON),
//
//	entities:
//	  - name: posts
//	    description: Blog posts
//	    fields: [{name: title, type: string, nullable: false}]
//	    indexes: [{columns: [title]}]
//	    relations: [{name: author, type: many_to_one, target: authors}]
//	    acl: {read: [public], create: [user], update: [self]}
//
// An entity is the whole definition of its table: fields, indexes and relations it
// does not list go. Tables no entity names are left as they are.
//
// The package schema workflow's entities.yaml, whose fields are a map, is read beside
// it (packageentities.go), told apart entity by entity.
type entitiesFile struct {
	Entities []json.RawMessage `json:"entities"`
}

type entity struct {
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Fields      []Column            `json:"fields"`
	Indexes     []Index             `json:"indexes,omitempty"`
	Relations   []Relation          `json:"relations,omitempty"`
	ACL         map[string][]string `json:"acl,omitempty"`
}

// entitySource is one file of an apply.
type EntitySource struct {
	Name string
	Body []byte
	JSON bool
}

// EntityDef is one entity as read: where it came from, the table and relations it
// declares, its permissions (the acl shorthand of /tables, canonical) and its
// structural checksum.
type EntityDef struct {
	Sources   []string
	Table     SnapshotTable
	Relations []Relation
	ACL       map[string][]string
	Checksum  string
	// Version is the entities YAML's version of the entity: kept with a package's
	// entities, not part of the structure.
	Version string `json:",omitempty"`
}

// maxYAMLDepth bounds the nesting of an entities document; real ones need five levels.
const maxYAMLDepth = 32

// yamlDocuments reads a YAML stream into plain values (maps, lists, strings, bools,
// json.Number, nil), one per document. Anchors and aliases are refused outright: they
// are how a small document expands into a huge one, and entities files need none. The
// body's size is bounded by the server's body limit, so without aliases the values are
// too.
func YAMLDocuments(body []byte) ([]any, error) {
	return yamlDocuments(body, false)
}

// yamlDocuments is YAMLDocuments; with ordered, a mapping is an orderedMap, whose JSON
// keeps the keys in the order written.
func yamlDocuments(body []byte, ordered bool) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var docs []any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		v, err := yamlValue(&n, 0, ordered)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

func yamlValue(n *yaml.Node, depth int, ordered bool) (any, error) {
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxYAMLDepth)
	}
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: YAML anchors and aliases are not accepted", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return yamlValue(n.Content[0], depth+1, ordered)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var keys []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: mapping keys must be plain names", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := yamlValue(n.Content[i+1], depth+1, ordered)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
			keys = append(keys, k.Value)
		}
		if ordered {
			return orderedMap{keys: keys, values: out}, nil
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, depth+1, ordered)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

// orderedMap is a YAML mapping that keeps its keys in the order written.
type orderedMap struct {
	keys   []string
	values map[string]any
}

func (o orderedMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(o.values[k])
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// yamlScalar turns a scalar into the JSON value it stands for; numbers keep their
// digits (json.Number), timestamps stay text.
func yamlScalar(n *yaml.Node) (any, error) {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return nil, nil
	case "!!str", "!!timestamp":
		return n.Value, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		switch x := v.(type) {
		case int:
			return json.Number(strconv.Itoa(x)), nil
		case int64:
			return json.Number(strconv.FormatInt(x, 10)), nil
		case uint64:
			return json.Number(strconv.FormatUint(x, 10)), nil
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return nil, fmt.Errorf("line %d: %s is not a number JSON can hold", n.Line, n.Value)
			}
			return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
		}
		return nil, fmt.Errorf("line %d: unsupported number %q", n.Line, n.Value)
	default:
		return nil, fmt.Errorf("line %d: unsupported YAML tag %s", n.Line, tag)
	}
}

// parseEntities reads every source (every document of a YAML stream counts as one),
// checks each entity's shape and merges the definitions of one table: identical ones
// (same checksum: descriptions may differ, the first one's is kept) merge, different
// ones are a conflict naming both.
func ParseEntities(sources []EntitySource) ([]*EntityDef, error) {
	var defs []*EntityDef
	byName := map[string]*EntityDef{}
	for _, src := range sources {
		// Documents are read as JSON in the order written: the entities YAML's fields
		// are a map whose order is the order of the columns.
		var docs []json.RawMessage
		if src.JSON {
			var v json.RawMessage
			dec := json.NewDecoder(bytes.NewReader(src.Body))
			if err := dec.Decode(&v); err != nil {
				return nil, apierr.InvalidPayload("body", "%s: invalid JSON: %v", src.Name, err).With("source", src.Name)
			}
			if dec.More() {
				return nil, apierr.InvalidPayload("body", "%s: a JSON entities file is a single object", src.Name).With("source", src.Name)
			}
			docs = []json.RawMessage{v}
		} else {
			values, err := yamlDocuments(src.Body, true)
			if err != nil {
				return nil, apierr.InvalidPayload("body", "%s: %v", src.Name, err).With("source", src.Name)
			}
			for _, v := range values {
				docs = append(docs, MustJSON(v))
			}
		}
		for k, doc := range docs {
			if string(doc) == "null" {
				continue // an empty document of a stream
			}
			label := src.Name
			if len(docs) > 1 {
				label = fmt.Sprintf("%s#%d", src.Name, k+1)
			}
			var file entitiesFile
			if err := strictJSON(doc, &file); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return nil, apierr.InvalidPayload(te.Field, "%s: %s must be of type %s", label, te.Field, te.Type).With("source", label)
				}
				return nil, apierr.InvalidPayload("body", "%s: not an entities file (entities: [{name, fields, …}]): %v", label, err).With("source", label)
			}
			for i, e := range file.Entities {
				at := fmt.Sprintf("entities[%d]", i)
				def, err := readAnyEntity(at, e)
				if err != nil {
					if ae, ok := err.(*apierr.Error); ok {
						ae.Message = label + ": " + ae.Message
						return nil, ae.With("source", label)
					}
					return nil, err
				}
				def.Sources = []string{label + " " + at}
				prev := byName[def.Table.Name]
				if prev == nil {
					byName[def.Table.Name] = def
					defs = append(defs, def)
					continue
				}
				if err := prev.merge(def); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(defs) == 0 {
		return nil, apierr.InvalidPayload("entities", "no entities: an entities file lists tables under entities:")
	}
	return defs, nil
}

// merge folds a second definition of the same table into d, or refuses it.
func (d *EntityDef) merge(o *EntityDef) error {
	conflict := func(what string, a, b any) error {
		return apierr.New(http.StatusConflict, "INVALID_PAYLOAD", "table %q is defined twice with different %s: in %s and in %s",
			d.Table.Name, what, strings.Join(d.Sources, ", "), o.Sources[0]).
			With("field", "entities").With("table", d.Table.Name).
			With("definitions", []map[string]any{{"sources": d.Sources, what: a}, {"sources": o.Sources, what: b}})
	}
	if d.Checksum != o.Checksum {
		return conflict("checksum", d.Checksum, o.Checksum)
	}
	switch {
	case o.ACL == nil:
	case d.ACL == nil:
		d.ACL = o.ACL
	case !SameJSON(MustJSON(d.ACL), o.ACL):
		return conflict("acl", d.ACL, o.ACL)
	}
	d.Sources = append(d.Sources, o.Sources...)
	return nil
}

// readAnyEntity reads one entity of either shape: the entities YAML's, whose fields
// are a map, or Strata's.
func readAnyEntity(at string, raw json.RawMessage) (*EntityDef, error) {
	if isDocEntity(raw) {
		return readDocEntity(at, raw)
	}
	var e entity
	if err := strictJSON(raw, &e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, apierr.InvalidPayload(at+"."+te.Field, "%s.%s must be of type %s", at, te.Field, te.Type)
		}
		return nil, apierr.InvalidPayload("body", "%s: not an entities file entry ({name, fields, …}): %v", at, err)
	}
	return readEntity(at, e)
}

// readEntity checks one entity and turns it into a table definition.
func readEntity(at string, e entity) (*EntityDef, error) {
	if err := schema.ValidateIdentifier(at+".name", e.Name); err != nil {
		return nil, apierr.InvalidPayload(err.Field, "%s", err.Error())
	}
	st := SnapshotTable{Name: e.Name, Description: e.Description, Columns: []Column{}}
	seen := map[string]bool{}
	for j, f := range e.Fields {
		fat := fmt.Sprintf("%s.fields[%d]", at, j)
		if err := f.plainColumn(fat); err != nil {
			return nil, err
		}
		col := f.Schema()
		if err := schema.ValidateColumn(fat, &col, false); err != nil {
			return nil, apierr.InvalidPayload(err.Field, "%s", err.Error())
		}
		if seen[f.Name] {
			return nil, apierr.InvalidPayload(fat+".name", "%s.name: field %q is listed twice", fat, f.Name)
		}
		seen[f.Name] = true
		st.Columns = append(st.Columns, f)
	}
	for j, ix := range e.Indexes {
		if len(ix.Columns) == 0 {
			return nil, apierr.InvalidPayload(fmt.Sprintf("%s.indexes[%d].columns", at, j), "%s.indexes[%d].columns: at least one column is required", at, j)
		}
		name := ix.Name
		if name == "" {
			// Named as the index route names it, so applying the file again finds it.
			name = schema.DefaultIndexName(e.Name, ix.Columns)
		}
		st.Indexes = append(st.Indexes, schema.Index{Name: name, Columns: ix.Columns, Unique: ix.Unique})
	}
	def := &EntityDef{Table: st}
	for j, r := range e.Relations {
		if r.Table != "" && r.Table != e.Name {
			return nil, apierr.InvalidPayload(fmt.Sprintf("%s.relations[%d].table", at, j), "%s.relations[%d].table: an entity declares its own relations (%q, not %q)", at, j, e.Name, r.Table)
		}
		r.Table = e.Name
		def.Relations = append(def.Relations, r)
	}
	if e.ACL != nil {
		var err error
		if def.ACL, err = canonicalACL(at, e.ACL); err != nil {
			return nil, err
		}
	}
	def.Checksum = StructureChecksum(st, def.Relations)
	return def, nil
}

// entitiesSnapshot is the snapshot an entities apply aims at: the tables the entities
// declare as they declare them, every other table and its relations as they are. It
// also returns, per snapshot path (tables[i], relations[k]), the entity it came from.
func EntitiesSnapshot(m *schema.Model, defs []*EntityDef) (Snapshot, map[string]string) {
	cur := Take(m)
	declared := map[string]bool{}
	for _, d := range defs {
		declared[d.Table.Name] = true
	}
	want := Snapshot{Tables: []SnapshotTable{}, Relations: []Relation{}}
	origin := map[string]string{}
	for _, t := range cur.Tables {
		if !declared[t.Name] {
			want.Tables = append(want.Tables, t)
		}
	}
	for _, r := range cur.Relations {
		if !declared[r.Table] {
			want.Relations = append(want.Relations, r)
		}
	}
	for _, d := range defs {
		origin[fmt.Sprintf("tables[%d]", len(want.Tables))] = d.Sources[0]
		want.Tables = append(want.Tables, d.Table)
		for j, r := range d.Relations {
			origin[fmt.Sprintf("relations[%d]", len(want.Relations))] = fmt.Sprintf("%s.relations[%d]", d.Sources[0], j)
			want.Relations = append(want.Relations, r)
		}
	}
	return want, origin
}

// PlanFrom plans want as Plan does, for a snapshot read from another file: origin maps
// its paths (tables[i], relations[k]) to where they were in that file, which the steps
// and a refusal name instead.
func PlanFrom(m *schema.Model, want Snapshot, origin map[string]string) ([]Step, error) {
	steps, err := Plan(m, want)
	if err != nil {
		if ae, ok := err.(*apierr.Error); ok {
			if f, _ := ae.Details["field"].(string); f != "" {
				ae.Message = strings.Replace(ae.Message, f, Relabel(f, origin), 1)
				ae.Details["field"] = Relabel(f, origin)
			}
		}
		return nil, err
	}
	for i := range steps {
		steps[i].At = Relabel(steps[i].At, origin)
	}
	return steps, nil
}

// indexesAfterKeys moves an index over a relation's key column (the entities YAML's
// [tenantId, name]) after the relation that makes the column: Plan makes tables, their
// indexes included, before the relations. An index of a new table is taken out of its
// create_table and added on its own.
func indexesAfterKeys(steps []Step) []Step {
	type key struct{ table, column string }
	made := map[key]bool{}
	last := -1
	for i, st := range steps {
		r := st.Change.Relation
		if st.Change.Type != schema.AddRelation || r == nil {
			continue
		}
		last = i
		switch r.Type {
		case schema.ManyToOne, schema.OneToOne:
			made[key{r.Table, r.Name}] = true
		case schema.OneToMany:
			inv := r.Inverse
			if inv == "" {
				inv = r.Table + "_id"
			}
			made[key{r.Target, inv}] = true
		}
	}
	if len(made) == 0 {
		return steps
	}
	overKey := func(table string, ix schema.Index) bool {
		return slices.ContainsFunc(ix.Columns, func(c string) bool { return made[key{table, c}] })
	}
	var out, moved []Step
	for i, st := range steps {
		switch ch := st.Change; {
		case ch.Type == schema.AddIndex && ch.Index != nil && overKey(ch.Table, *ch.Index):
			moved = append(moved, st)
		case ch.Type == schema.CreateTable && ch.Create != nil && slices.ContainsFunc(ch.Create.Indexes, func(ix schema.Index) bool { return overKey(ch.Create.Name, ix) }):
			t := *ch.Create
			t.Indexes = nil
			for j, ix := range ch.Create.Indexes {
				if overKey(t.Name, ix) {
					ix := ix
					moved = append(moved, Step{fmt.Sprintf("%s.indexes[%d]", st.At, j), schema.Change{Type: schema.AddIndex, Table: t.Name, Index: &ix}})
				} else {
					t.Indexes = append(t.Indexes, ix)
				}
			}
			ch.Create = &t
			out = append(out, Step{st.At, ch})
		default:
			out = append(out, st)
		}
		if i == last {
			out = append(out, moved...)
			moved = nil
		}
	}
	return append(out, moved...)
}

// relabel rewrites a step's snapshot path into the entity it came from.
func Relabel(at string, origin map[string]string) string {
	head, rest, _ := strings.Cut(at, ".")
	if o, ok := origin[head]; ok {
		if rest != "" {
			return o + "." + rest
		}
		return o
	}
	return at
}
