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

	"strata/modules/access"
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
type entitiesFile struct {
	Entities []entity `json:"entities"`
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
}

// maxYAMLDepth bounds the nesting of an entities document; real ones need five levels.
const maxYAMLDepth = 32

// yamlDocuments reads a YAML stream into plain values (maps, lists, strings, bools,
// json.Number, nil), one per document. Anchors and aliases are refused outright: they
// are how a small document expands into a huge one, and entities files need none. The
// body's size is bounded by the server's body limit, so without aliases the values are
// too.
func YAMLDocuments(body []byte) ([]any, error) {
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
		v, err := yamlValue(&n, 0)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

func yamlValue(n *yaml.Node, depth int) (any, error) {
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
		return yamlValue(n.Content[0], depth+1)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return nil, fmt.Errorf("line %d: mapping keys must be plain names", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			v, err := yamlValue(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, depth+1)
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
		var docs []any
		if src.JSON {
			var v any
			dec := json.NewDecoder(bytes.NewReader(src.Body))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return nil, apierr.InvalidPayload("body", "%s: invalid JSON: %v", src.Name, err).With("source", src.Name)
			}
			if dec.More() {
				return nil, apierr.InvalidPayload("body", "%s: a JSON entities file is a single object", src.Name).With("source", src.Name)
			}
			docs = []any{v}
		} else {
			var err error
			if docs, err = YAMLDocuments(src.Body); err != nil {
				return nil, apierr.InvalidPayload("body", "%s: %v", src.Name, err).With("source", src.Name)
			}
		}
		for k, doc := range docs {
			if doc == nil {
				continue // an empty document of a stream
			}
			label := src.Name
			if len(docs) > 1 {
				label = fmt.Sprintf("%s#%d", src.Name, k+1)
			}
			var file entitiesFile
			if err := strictJSON(MustJSON(doc), &file); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return nil, apierr.InvalidPayload(te.Field, "%s: %s must be of type %s", label, te.Field, te.Type).With("source", label)
				}
				return nil, apierr.InvalidPayload("body", "%s: not an entities file (entities: [{name, fields, …}]): %v", label, err).With("source", label)
			}
			for i, e := range file.Entities {
				at := fmt.Sprintf("entities[%d]", i)
				def, err := readEntity(at, e)
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
		def.ACL = map[string][]string{}
		for action, entries := range e.ACL {
			if !slices.Contains(access.Actions, action) {
				return nil, apierr.InvalidPayload(at+".acl."+action, "%s.acl: unknown action %q (want create, read, update or delete)", at, action)
			}
			canon := slices.Clone(entries)
			slices.Sort(canon)
			def.ACL[action] = slices.Compact(canon)
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
