package formats

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"strata/modules/apierr"
	"strata/schema"
)

func goldenEntities(t *testing.T) string {
	t.Helper()
	body, err := os.ReadFile("testdata/sources/entities.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// TestPackageEntitiesGolden: the package schema workflow's documented entities.yaml
// reads as written, with the mapping docs/formats.md gives.
func TestPackageEntitiesGolden(t *testing.T) {
	golden := goldenEntities(t)
	defs, err := ParseEntities([]EntitySource{{Name: "entities.yaml", Body: []byte(golden)}})
	if err != nil {
		t.Fatalf("the documented example is refused: %v", err)
	}
	if len(defs) != 1 {
		t.Fatalf("entities: %+v", defs)
	}
	d := defs[0]
	if d.Table.Name != "MyEntity" || d.Version != "1.0" || d.Table.Description != "Description of entity" || d.Sources[0] != "entities.yaml entities[0]" {
		t.Fatalf("entity: %+v", d)
	}
	// id is Strata's own; tenantId is the relation's key: neither is a column. The
	// rest keep the file's order.
	var cols []string
	for _, c := range d.Table.Columns {
		cols = append(cols, c.Name)
	}
	if !slices.Equal(cols, []string{"name", "data", "createdAt"}) {
		t.Fatalf("columns: %v", cols)
	}
	want := map[string]string{
		"name":      `{"name":"name","type":"string","length":100,"nullable":false}`,
		"data":      `{"name":"data","type":"string","length":255,"nullable":true,"description":"JSON: additional data"}`,
		"createdAt": `{"name":"createdAt","type":"bigint","nullable":false}`,
	}
	for _, c := range d.Table.Columns {
		if got := string(MustJSON(c)); got != want[c.Name] {
			t.Errorf("column %s: %s, want %s", c.Name, got, want[c.Name])
		}
	}
	if len(d.Table.Indexes) != 1 || !d.Table.Indexes[0].Unique || !slices.Equal(d.Table.Indexes[0].Columns, []string{"tenantId", "name"}) ||
		d.Table.Indexes[0].Name != schema.DefaultIndexName("MyEntity", []string{"tenantId", "name"}) {
		t.Errorf("indexes: %+v", d.Table.Indexes)
	}
	if len(d.Relations) != 1 || d.Relations[0] != (Relation{Table: "MyEntity", Name: "tenantId", Type: schema.ManyToOne, Target: "Tenant", OnDelete: "cascade"}) {
		t.Errorf("relations: %+v", d.Relations)
	}
	if got := string(MustJSON(d.ACL)); got != `{"create":["user"],"delete":["admin"],"read":["public"],"update":["admin","self"]}` {
		t.Errorf("acl: %s", got)
	}

	// The checksum is the structure's: descriptions and the version are not part of it.
	same := strings.NewReplacer(`version: "1.0"`, `version: "2.0"`, `"Description of entity"`, `"Another"`, `"JSON: additional data"`, `"data"`).Replace(golden)
	if entityChecksums(t, same)["MyEntity"] != d.Checksum {
		t.Error("a description or the version changed the checksum")
	}
	for name, doc := range map[string]string{
		"a length":     strings.Replace(golden, "maxLength: 100", "maxLength: 120", 1),
		"nullability":  strings.Replace(golden, "nullable: true", "nullable: false", 1),
		"a type":       strings.Replace(golden, "type: bigint", "type: int", 1),
		"an on-delete": strings.Replace(golden, "onDelete: Cascade", "onDelete: SetNull", 1),
		"an index":     strings.Replace(golden, "unique: true", "unique: false", 1),
	} {
		if entityChecksums(t, doc)["MyEntity"] == d.Checksum {
			t.Errorf("%s left the checksum as it was", name)
		}
	}

	// Planned against a tenant with a Tenant table, it makes the table, its key and
	// then the index over the key; applied, the table has the file's checksum, and the
	// file planned again changes nothing.
	m := modelWith(t, "Tenant")
	want2, origin := EntitiesSnapshot(m, defs)
	steps, err := PlanFrom(m, want2, origin)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, st := range steps {
		kinds = append(kinds, string(st.Change.Type)+" "+st.At)
		next, _, err := schema.Apply(m, st.Change, counter())
		if err != nil {
			t.Fatalf("%s: %v", st.At, err)
		}
		m = next
	}
	if !slices.Equal(kinds, []string{"create_table entities.yaml entities[0]", "add_relation entities.yaml entities[0].relations[0]", "add_index entities.yaml entities[0].indexes[0]"}) {
		t.Fatalf("steps: %v", kinds)
	}
	for _, st := range Take(m).Tables {
		if st.Name == "MyEntity" && st.Checksum != d.Checksum {
			t.Errorf("the applied table's checksum %s is not the file's %s", st.Checksum, d.Checksum)
		}
	}
	if key := m.Table("MyEntity").Column("tenantId"); key == nil || key.Type != schema.TypeUUID {
		t.Errorf("the key column: %+v", key)
	}
	want2, origin = EntitiesSnapshot(m, defs)
	if again, err := PlanFrom(m, want2, origin); err != nil || len(again) != 0 {
		t.Fatalf("planned again: %v %v", again, err)
	}
}

// modelWith is a model with empty user tables of these names.
func modelWith(t *testing.T, tables ...string) *schema.Model {
	t.Helper()
	m := &schema.Model{}
	for _, name := range tables {
		next, _, err := schema.Apply(m, schema.Change{Type: schema.CreateTable, Create: &schema.Table{Name: name}}, counter())
		if err != nil {
			t.Fatal(err)
		}
		m = next
	}
	return m
}

var ids int

func counter() schema.IDGen {
	return func() string {
		ids++
		return fmt.Sprintf("00000000-0000-7000-8000-%012d", ids)
	}
}

func TestPackageEntitiesShape(t *testing.T) {
	// Fields keep the order they are written in, in YAML and in JSON.
	doc := "entities:\n  - name: things\n    fields:\n      zeta: {type: int}\n      alpha: {type: cuid}\n      mid: {type: uuid, required: false}\n      flag: {type: boolean}\n      payload: {type: json, nullable: true}\n      ratio: {type: float}\n"
	js := `{"entities":[{"name":"things","fields":{"zeta":{"type":"int"},"alpha":{"type":"cuid"},"mid":{"type":"uuid","required":false},"flag":{"type":"boolean"},"payload":{"type":"json","nullable":true},"ratio":{"type":"float"}}}]}`
	for _, src := range []EntitySource{{Name: "a.yaml", Body: []byte(doc)}, {Name: "a.json", Body: []byte(js), JSON: true}} {
		defs, err := ParseEntities([]EntitySource{src})
		if err != nil {
			t.Fatalf("%s: %v", src.Name, err)
		}
		var got []string
		for _, c := range defs[0].Table.Columns {
			got = append(got, fmt.Sprintf("%s:%s:%d:%v", c.Name, c.Type, c.Length, *c.Nullable))
		}
		if want := []string{"zeta:integer:0:false", "alpha:string:32:false", "mid:uuid:0:true", "flag:boolean:0:false", "payload:json:0:true", "ratio:float:0:false"}; !slices.Equal(got, want) {
			t.Errorf("%s: columns %v, want %v", src.Name, got, want)
		}
	}

	// The other relation types.
	rels := "entities:\n  - name: authors\n    fields: {}\n    relations:\n" +
		"      - {name: posts, type: hasMany, entity: posts, field: writer}\n" +
		"      - {name: profile, type: hasOne, entity: profiles, field: profileId, onDelete: SetNull}\n" +
		"      - {name: tags, type: manyToMany, entity: tags}\n"
	defs, err := ParseEntities([]EntitySource{{Name: "r.yaml", Body: []byte(rels)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(MustJSON(defs[0].Relations)); got != `[{"table":"authors","name":"posts","type":"one_to_many","target":"posts","inverse":"writer"},`+
		`{"table":"authors","name":"profileId","type":"one_to_one","target":"profiles","on_delete":"set_null"},`+
		`{"table":"authors","name":"tags","type":"many_to_many","target":"tags"}]` {
		t.Errorf("relations: %s", got)
	}

	// Strata's own shape is read as before beside it.
	mixed := "entities:\n  - name: a\n    fields: [{name: x, type: string}]\n  - name: b\n    fields: {x: {type: string}}\n"
	if defs, err := ParseEntities([]EntitySource{{Name: "m.yaml", Body: []byte(mixed)}}); err != nil || len(defs) != 2 {
		t.Fatalf("both shapes in one file: %v", err)
	}
}

// TestPackageEntitiesRefused: each refusal names its place in the file.
func TestPackageEntitiesRefused(t *testing.T) {
	golden := goldenEntities(t)
	cases := []struct{ name, from, to, place string }{
		{"an unknown field key", "        index: true\n", "        index: true\n        surprise: 1\n", "entities[0].fields.tenantId.surprise"},
		{"an unknown entity key", "    version: \"1.0\"\n", "    version: \"1.0\"\n    table: x\n", "entities[0].table"},
		{"an unknown index key", "      - fields: [tenantId, name]\n", "      - columns: [tenantId, name]\n", "entities[0].indexes[0].columns"},
		{"an unknown relation key", "        field: tenantId\n", "        field: tenantId\n        foreignKey: tenantId\n", "entities[0].relations[0].foreignKey"},
		{"an unknown type", "type: bigint", "type: datetime", "entities[0].fields.createdAt.type"},
		{"a type of another kind", "maxLength: 100", "maxLength: many", "entities[0].fields.name.maxLength"},
		{"a maxLength too long", "maxLength: 100", "maxLength: 70000", "entities[0].fields.name.maxLength"},
		{"a maxLength on a number", "        type: bigint\n", "        type: bigint\n        maxLength: 20\n", "entities[0].fields.createdAt.maxLength"},
		{"another primary key", "        maxLength: 100\n", "        maxLength: 100\n        primary: true\n", "entities[0].fields.name.primary"},
		{"a generated field", "        type: bigint\n", "        type: bigint\n        generated: true\n", "entities[0].fields.createdAt.generated"},
		{"required and nullable", "        nullable: true\n", "        nullable: true\n        required: true\n", "entities[0].fields.data.nullable"},
		{"a key of another type", "      tenantId:\n        type: string\n", "      tenantId:\n        type: int\n", "entities[0].fields.tenantId.type"},
		{"a key with a default", "        index: true\n", "        index: true\n        default: x\n", "entities[0].fields.tenantId"},
		{"a nullable id", "        generated: true\n", "        generated: true\n        nullable: true\n", "entities[0].fields.id"},
		{"a relation type Strata lacks", "type: belongsTo", "type: belongsToMany", "entities[0].relations[0].type"},
		{"SetDefault", "onDelete: Cascade", "onDelete: SetDefault", "entities[0].relations[0].onDelete"},
		{"a relation without entity", "        entity: Tenant\n", "", "entities[0].relations[0].entity"},
		{"a many-to-many with a key", "type: belongsTo", "type: manyToMany", "entities[0].relations[0].field"},
		{"an unknown action", "      delete: [admin]\n", "      delete: [admin]\n      publish: [admin]\n", "entities[0].acl.publish"},
		{"a bad entity name", "name: MyEntity", "name: My-Entity", "entities[0].name"},
		{"a system column", "      createdAt:\n", "      created_at:\n", "entities[0].fields.created_at"},
		{"a field not an object", "      createdAt:\n        type: bigint\n        required: true\n", "      createdAt: bigint\n", "entities[0].fields.createdAt"},
	}
	for _, c := range cases {
		doc := strings.Replace(golden, c.from, c.to, 1)
		if doc == golden {
			t.Fatalf("%s: the case changes nothing", c.name)
		}
		_, err := ParseEntities([]EntitySource{{Name: "a.yaml", Body: []byte(doc)}})
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Errorf("%s: %v, want a 400", c.name, err)
			continue
		}
		if ae.Details["field"] != c.place || !strings.Contains(ae.Message, "a.yaml") || !strings.Contains(ae.Message, c.place) {
			t.Errorf("%s: %q (field %v), want it to name a.yaml %s", c.name, ae.Message, ae.Details["field"], c.place)
		}
	}
	// A key field listed twice in the map is refused in JSON too (YAML refuses it
	// as a duplicate key).
	dup := `{"entities":[{"name":"x","fields":{"a":{"type":"int"},"a":{"type":"int"}}}]}`
	if _, err := ParseEntities([]EntitySource{{Name: "d.json", Body: []byte(dup), JSON: true}}); err == nil || !strings.Contains(err.Error(), "entities[0].fields.a") {
		t.Errorf("a field listed twice: %v", err)
	}
	var raw json.RawMessage = MustJSON(map[string]any{"entities": []any{map[string]any{"name": "x", "fields": map[string]any{"a": map[string]any{"type": "string", "maxLength": 0.5}}}}})
	if _, err := ParseEntities([]EntitySource{{Name: "f.json", Body: raw, JSON: true}}); !isClientError(err) || err == nil {
		t.Errorf("a fractional maxLength: %v", err)
	}
}

// FuzzPackageEntities: whatever the file, the entities YAML's reader answers with a
// 4xx or with definitions whose checksums are their structure's.
func FuzzPackageEntities(f *testing.F) {
	golden, err := os.ReadFile("testdata/sources/entities.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(golden),
		"entities:\n  - name: a\n    fields: {x: {type: int}, id: {type: uuid}}\n    relations: [{name: r, type: hasMany, entity: b, field: aId}]\n",
		`{"entities":[{"name":"j","version":2,"fields":{"t":{"type":"json","default":{"a":[1,2]}},"k":{"type":"cuid","maxLength":40}}}]}`,
		"entities:\n  - name: a\n    fields: {k: {type: string}}\n    relations: [{name: r, type: belongsTo, entity: b, field: k, onDelete: SetNull}]\n    indexes: [{fields: [k]}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		defs, err := ParseEntities([]EntitySource{{Name: "f", Body: data}})
		if !isClientError(err) {
			t.Fatalf("not a 4xx: %v", err)
		}
		for _, d := range defs {
			if d.Checksum != StructureChecksum(d.Table, d.Relations) {
				t.Fatalf("checksum of %s is not stable", d.Table.Name)
			}
		}
	})
}
