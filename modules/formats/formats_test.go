package formats

import (
	"bytes"
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

func entityChecksums(t *testing.T, docs ...string) map[string]string {
	t.Helper()
	var sources []EntitySource
	for i, d := range docs {
		sources = append(sources, EntitySource{Name: string(rune('a' + i)), Body: []byte(d)})
	}
	defs, err := ParseEntities(sources)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	out := map[string]string{}
	for _, d := range defs {
		out[d.Table.Name] = d.Checksum
	}
	return out
}

func TestStructureChecksum(t *testing.T) {
	base := `entities:
  - name: posts
    description: Blog posts
    fields:
      - {name: title, type: string, description: The headline}
      - {name: views, type: integer, default: 0}
    indexes: [{columns: [title]}]
    relations: [{name: author, type: many_to_one, target: authors}]
`
	sum := entityChecksums(t, base)["posts"]
	same := map[string]string{
		"descriptions":           strings.NewReplacer("Blog posts", "Articles", "The headline", "What it says").Replace(base),
		"field order":            strings.Replace(base, "      - {name: title, type: string, description: The headline}\n      - {name: views, type: integer, default: 0}", "      - {name: views, type: integer, default: 0.0}\n      - {name: title, type: string}", 1),
		"spelled-out defaults":   strings.NewReplacer("type: string,", "type: string, length: 255, nullable: true,", "target: authors}", "target: authors, on_delete: set_null}").Replace(base),
		"the index's own name":   strings.Replace(base, "{columns: [title]}", "{name: posts_title_idx, columns: [title]}", 1),
		"flow and block styles":  "entities:\n- name: posts\n  fields:\n  - name: title\n    type: string\n  - name: views\n    type: integer\n    default: 0\n  indexes:\n  - columns:\n    - title\n  relations:\n  - name: author\n    type: many_to_one\n    target: authors\n",
		"acl is not a structure": base + "    acl: {read: [public]}\n",
	}
	for name, doc := range same {
		if got := entityChecksums(t, doc)["posts"]; got != sum {
			t.Errorf("%s changed the checksum", name)
		}
	}
	different := map[string]string{
		"a type":         strings.Replace(base, "type: integer", "type: bigint", 1),
		"nullability":    strings.Replace(base, "type: string,", "type: string, nullable: false,", 1),
		"a default":      strings.Replace(base, "default: 0", "default: 1", 1),
		"a length":       strings.Replace(base, "type: string,", "type: string, length: 80,", 1),
		"unique":         strings.Replace(base, "[{columns: [title]}]", "[{columns: [title], unique: true}]", 1),
		"a relation":     strings.Replace(base, "target: authors", "target: people", 1),
		"a field's name": strings.Replace(base, "name: views", "name: hits", 1),
	}
	for name, doc := range different {
		if got := entityChecksums(t, doc)["posts"]; got == sum {
			t.Errorf("%s left the checksum as it was", name)
		}
	}
	// The checksum GET /schema/snapshot gives a table is the one its entity has.
	st := SnapshotTable{Name: "posts", Columns: []Column{{Name: "title", Type: "string", Length: 255}, {Name: "views", Type: "integer", Default: json.RawMessage("0")}},
		Indexes: []schema.Index{{Name: "posts_title_idx", Columns: []string{"title"}}}}
	nullable := true
	for i := range st.Columns {
		st.Columns[i].Nullable = &nullable
	}
	rels := []Relation{{Table: "posts", Name: "author", Type: "many_to_one", Target: "authors", OnDelete: "set_null"}, {Table: "other", Name: "x", Type: "many_to_one", Target: "posts"}}
	if got := StructureChecksum(st, rels); got != sum {
		t.Errorf("the snapshot's checksum differs from the entity's")
	}
}

func TestEntitiesMerge(t *testing.T) {
	a := "entities:\n  - name: posts\n    description: one\n    fields: [{name: title, type: string}]\n"
	b := "entities:\n  - name: posts\n    description: two\n    fields: [{name: title, type: string}]\n    acl: {read: [public]}\n"
	defs, err := ParseEntities([]EntitySource{{Name: "a.yaml", Body: []byte(a)}, {Name: "b.yaml", Body: []byte(a + "---\n" + b)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) != 1 || defs[0].Table.Description != "one" || len(defs[0].Sources) != 3 || defs[0].ACL["read"][0] != "public" {
		t.Fatalf("merged: %+v", defs)
	}
	c := strings.Replace(b, "[public]", "[user]", 1)
	if _, err := ParseEntities([]EntitySource{{Name: "b.yaml", Body: []byte(b + "---\n" + c)}}); err == nil || !strings.Contains(err.Error(), "different acl") {
		t.Fatalf("different acl: %v", err)
	}
	d := strings.Replace(a, "string", "text", 1)
	var ae *apierr.Error
	if _, err := ParseEntities([]EntitySource{{Name: "a.yaml", Body: []byte(a)}, {Name: "d.yaml", Body: []byte(d)}}); !errors.As(err, &ae) || ae.Status != 409 ||
		!strings.Contains(ae.Message, "a.yaml entities[0]") || !strings.Contains(ae.Message, "d.yaml entities[0]") {
		t.Fatalf("different structure: %v", err)
	}
}

func TestYAMLDocuments(t *testing.T) {
	refused := map[string]string{
		"alias":         "a: &x [1]\nb: *x\n",
		"anchor alone":  "a: &x 1\n",
		"merge key":     "a: {x: 1}\nb:\n  <<: {y: 2}\n",
		"duplicate key": "a: 1\na: 2\n",
		"binary":        "a: !!binary aGVsbG8=\n",
		"custom tag":    "a: !thing 1\n",
		"infinity":      "a: .inf\n",
		"too deep":      strings.Repeat("[", 40) + strings.Repeat("]", 40),
		"complex key":   "? [a, b]\n: 1\n",
		"not YAML":      "a: [1\n",
	}
	for name, doc := range refused {
		if _, err := YAMLDocuments([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	docs, err := YAMLDocuments([]byte("a: 12345678901234567890\nb: 0x10\nc: 1.5\nd: 2026-01-02\ne: null\nf: yes\n---\n---\nx: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(docs)
	if string(got) != `[{"a":12345678901234567890,"b":16,"c":1.5,"d":"2026-01-02","e":null,"f":"yes"},null,{"x":1}]` {
		t.Fatalf("documents: %s", got)
	}
}

// isClientError reports whether err is nil or an API error of the 4xx kind: a parser
// must refuse bad input, never fail with an internal error.
func isClientError(err error) bool {
	var ae *apierr.Error
	return err == nil || (errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500)
}

func FuzzParseEntities(f *testing.F) {
	for _, seed := range []string{
		"entities:\n  - name: posts\n    fields: [{name: title, type: string, nullable: false}]\n    indexes: [{columns: [title]}]\n    relations: [{name: author, type: many_to_one, target: authors}]\n    acl: {read: [public]}\n",
		"entities:\n  - name: a\n    fields: []\n---\nentities:\n  - name: a\n    description: x\n    fields: []\n",
		"entities:\n  - name: e\n    fields:\n      - {name: s, type: enum, values: [a, b], default: a}\n      - {name: d, type: decimal, precision: 12, scale: 3, default: 1.5}\n",
		`{"entities":[{"name":"j","fields":[{"name":"t","type":"json","default":{"a":[1,2]}}]}]}`,
		"a: &x [1]\nb: *x\n",
		"entities: [{name: x, fields: [{name: a, type: money}]}]",
		"",
		"---\n",
		"entities:\n  - name: [x\n",
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

func FuzzParseDataMigration(f *testing.F) {
	for _, seed := range []string{
		`{"_deletedTables":["logs"],"_deletedRecords":[{"table":"posts","filter":{"slug":{"_eq":"old"}}}],"posts":[{"_unique":{"slug":{"_eq":"a"}},"title":"A"}]}`,
		`{"posts":{"_unique":["slug"],"slug":"b","views":1.5}}`,
		`{"posts":[{"id":"0190a3c4-0000-7000-8000-000000000000","title":"x"}]}`,
		`{"posts":[{"title":"no key"}]}`,
		`{"_other":1}`,
		`[1]`,
		`{"a":1}{"b":2}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dm, err := ParseDataMigration(data, 50)
		if !isClientError(err) {
			t.Fatalf("not a 4xx: %v", err)
		}
		if err != nil {
			return
		}
		n := len(dm.DeletedTables) + len(dm.DeletedRecords)
		for _, tb := range dm.Tables {
			n += len(tb.Records)
			for _, r := range tb.Records {
				if len(r.Unique) == 0 {
					t.Fatalf("a record of %s without a key", tb.Name)
				}
			}
		}
		if n > 50 {
			t.Fatalf("%d entries passed a limit of 50", n)
		}
	})
}

func FuzzParseSnapshotMigration(f *testing.F) {
	for _, seed := range []string{
		`{"tablesToRename":[{"from":"a","to":"b"}],"tables":[{"_unique":{"name":{"_eq":"posts"}},"columnsToModify":[{"from":{"name":"t","type":"string"},"to":{"name":"u","isNullable":false}}],"columnsToRemove":["x"],"relationsToRemove":["r"]}],"tablesToDrop":["old"]}`,
		`{"tables":[{"_unique":{"name":{"_eq":"p"}},"tableToModify":{"from":{"name":"p"},"to":{"name":"q"}}}]}`,
		`{"tables":[{"_unique":{}}]}`,
		`{"tables":[{"_unique":{"name":{"_eq":"p"}},"relationsToModify":[{}]}]}`,
		`{"coreTablesToRename":[]}`,
		`nope`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseSnapshotMigration(data); !isClientError(err) {
			t.Fatalf("not a 4xx: %v", err)
		}
	})
}

func TestParseDataMigration(t *testing.T) {
	dm, err := ParseDataMigration([]byte(`{"b": {"_unique": ["slug"], "slug": "x", "n": 1.50}, "a": [{"id": "k"}], "_deletedTables": ["c"]}`), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Tables) != 2 || dm.Tables[0].Name != "b" || dm.Tables[1].Name != "a" {
		t.Fatalf("tables out of the file's order: %+v", dm.Tables)
	}
	if got := string(MustJSON(dm.Tables[0].Records[0])); got != `{"_unique":{"_and":[{"slug":{"_eq":"x"}}]},"fields":{"n":1.50,"slug":"x"}}` {
		t.Fatalf("short _unique or exact numbers: %s", got)
	}
	if got := string(MustJSON(dm.Tables[1].Records[0].Unique)); got != `{"id":{"_eq":"k"}}` {
		t.Fatalf("a record keyed by its id: %s", got)
	}
	presets := map[string]any{}
	uniquePresets(map[string]any{"_and": []any{map[string]any{"slug": map[string]any{"_eq": "x"}}, map[string]any{"n": map[string]any{"_gt": 1}}}, "lang": map[string]any{"_eq": "en"}}, presets)
	if got := string(MustJSON(presets)); got != `{"lang":"en","slug":"x"}` {
		t.Fatalf("presets: %s", got)
	}
	refused := map[string]string{
		"over the limit":  `{"a": [{"id": 1}, {"id": 2}], "b": [{"id": 3}, {"id": 4}]}`,
		"a key twice":     `{"a": [], "a": []}`,
		"empty _unique":   `{"a": [{"_unique": {}}]}`,
		"_unique of what": `{"a": [{"_unique": ["slug"]}]}`,
		"trailing data":   `{"a": []} {}`,
		"a bad record":    `{"a": [1]}`,
	}
	for name, body := range refused {
		if _, err := ParseDataMigration([]byte(body), 3); err == nil || !isClientError(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestSourceFieldTypes: the custom-migrations design's upper-case field types are read
// as the columns its documented SQL describes, with sizes a column sets kept.
func TestSourceFieldTypes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // type length precision scale default
	}{
		{`{"name":"a","type":"TEXT"}`, "string 255 0 0 "},
		{`{"name":"a","type":"STRING","length":40}`, "string 40 0 0 "},
		{`{"name":"a","type":"LONG_TEXT"}`, "text 0 0 0 "},
		{`{"name":"a","type":"NUMBER"}`, "decimal 0 18 2 "},
		{`{"name":"a","type":"DECIMAL","precision":10,"scale":4}`, "decimal 0 10 4 "},
		{`{"name":"a","type":"INTEGER"}`, "integer 0 0 0 "},
		{`{"name":"a","type":"BOOLEAN"}`, "boolean 0 0 0 false"},
		{`{"name":"a","type":"BOOLEAN","default":true}`, "boolean 0 0 0 true"},
		{`{"name":"a","type":"DATE"}`, "date 0 0 0 "},
		{`{"name":"a","type":"DATE_TIME"}`, "datetime 0 0 0 "},
		{`{"name":"a","type":"EMAIL"}`, "email 0 0 0 "}, // 255, the length email always had
		{`{"name":"a","type":"URL"}`, "url 2048 0 0 "},
		{`{"name":"a","type":"PHONE"}`, "phone 20 0 0 "},
		{`{"name":"a","type":"CURRENCY"}`, "decimal 0 18 2 "},
		{`{"name":"a","type":"PERCENT"}`, "decimal 0 5 2 "},
		{`{"name":"a","type":"PICKLIST","values":["x","y"]}`, "enum 0 0 0 "},
		{`{"name":"a","type":"MULTI_PICKLIST","values":["x"]}`, "multi_enum 0 0 0 "},
		{`{"name":"a","type":"url"}`, "url 2048 0 0 "}, // Strata's own url, new
		{`{"name":"a","type":"url","length":255}`, "url 0 0 0 "},
		{`{"name":"a","type":"url","unique":true}`, "url 768 0 0 "}, // an index key's most on MySQL
		{`{"name":"a","type":"URL","index":true}`, "url 768 0 0 "},
	} {
		var in Column
		if err := Decode([]byte(c.in), &in); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		col := in.Schema()
		if err := schema.ValidateColumn("column", &col, false); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := fmt.Sprintf("%s %d %d %d %s", col.Type, col.Length, col.Precision, col.Scale, col.Default); got != c.want {
			t.Errorf("%s: %s, want %s", c.in, got, c.want)
		}
	}
	// LOOKUP and BELONGS_TO are many-to-one relations to their target.
	for _, typ := range []string{"LOOKUP", "BELONGS_TO"} {
		var in Column
		if err := Decode([]byte(`{"name":"account","type":"`+typ+`","target":"accounts"}`), &in); err != nil {
			t.Fatal(err)
		}
		r, ok := in.Relation("contacts")
		if !ok || r.Type != schema.ManyToOne || r.Target != "accounts" || r.Table != "contacts" || r.Name != "account" || r.OnDelete != "set_null" {
			t.Errorf("%s: %+v %v", typ, r, ok)
		}
	}
	for _, bad := range []string{
		`{"name":"a","type":"LOOKUP"}`,                     // no target
		`{"name":"a","type":"string","target":"accounts"}`, // a target on a plain column
		`{"name":"a","type":"TEXT","surprise":1}`,          // unknown fields stay refused
		`{"name":"a","type":"INTEGER","on_delete":"cascade"}`,
	} {
		var in Column
		if err := Decode([]byte(bad), &in); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
	// A LOOKUP in a file of whole tables belongs under relations.
	var snap Snapshot
	if err := Decode([]byte(`{"tables":[{"name":"c","columns":[{"name":"a","type":"LOOKUP","target":"b"}]}],"relations":[]}`), &snap); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(&schema.Model{}, snap); err == nil || !strings.Contains(err.Error(), "relation") {
		t.Errorf("a LOOKUP column in a snapshot: %v", err)
	}
}

// TestEnfyraSnapshot: Enfyra's documented snapshot.json is read as written; a relation
// declared from both ends is one relation; what Strata cannot keep is refused by name.
func TestEnfyraSnapshot(t *testing.T) {
	body, err := os.ReadFile("testdata/sources/enfyra-snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	if !IsEnfyraSnapshot(body) || IsEnfyraSnapshot([]byte(`{"tables":[],"relations":[]}`)) {
		t.Fatal("the two snapshot shapes are not told apart")
	}
	snap, _, err := ParseEnfyraSnapshot(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Tables) != 1 || snap.Tables[0].Name != "my_table" || snap.Tables[0].Description != "My custom table" || len(snap.Tables[0].Columns) != 1 {
		t.Fatalf("the README's example: %+v", snap)
	}
	if c := snap.Tables[0].Columns[0]; c.Name != "name" || c.Type != schema.TypeString || c.Length != 255 || c.Nullable == nil || *c.Nullable {
		t.Fatalf("its name column: %+v", c)
	}

	both := `{
	  "authors": {"name": "authors", "columns": [{"name": "id", "type": "int", "isPrimary": true}],
	    "relations": [{"propertyName": "posts", "type": "one-to-many", "targetTable": "posts", "inversePropertyName": "author"}]},
	  "posts": {"name": "posts", "columns": [{"name": "title", "type": "varchar"}, {"name": "live", "type": "boolean", "defaultValue": 1}],
	    "uniques": [["title"]],
	    "relations": [{"propertyName": "author", "type": "many-to-one", "targetTable": "authors", "inversePropertyName": "posts", "onDelete": "CASCADE"},
	                  {"propertyName": "tags", "type": "many-to-many", "targetTable": "tags", "inversePropertyName": "posts"}]},
	  "tags": {"name": "tags", "columns": [], "relations": [{"propertyName": "posts", "type": "many-to-many", "targetTable": "posts", "inversePropertyName": "tags"}]}
	}`
	snap, origin, err := ParseEnfyraSnapshot([]byte(both))
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, r := range snap.Relations {
		rels = append(rels, fmt.Sprintf("%s.%s %s %s inverse %s on_delete %s", r.Table, r.Name, r.Type, r.Target, r.Inverse, r.OnDelete))
	}
	if got := strings.Join(rels, "; "); got != "posts.author many_to_one authors inverse posts on_delete cascade; posts.tags many_to_many tags inverse posts on_delete " {
		t.Fatalf("relations declared from both ends: %s", got)
	}
	if origin["relations[0]"] != "posts.relations[0]" || origin["tables[2]"] != "tags" {
		t.Errorf("origins: %v", origin)
	}
	if ix := snap.Tables[1].Indexes; len(ix) != 1 || !ix[0].Unique || ix[0].Name != schema.DefaultIndexName("posts", []string{"title"}) {
		t.Errorf("uniques: %+v", ix)
	}
	if d := snap.Tables[1].Columns[1].Default; string(d) != "true" {
		t.Errorf("a boolean default of 1: %s", d)
	}

	for _, c := range []struct{ body, field string }{
		{`{"a": {"name": "a", "columns": [{"name": "code", "type": "varchar", "isPrimary": true}]}}`, "a.columns[0].isPrimary"},
		{`{"a": {"name": "a", "isSystem": true, "columns": []}}`, "a.isSystem"},
		{`{"a": {"name": "a", "isSingleRecord": true, "columns": []}}`, "a.isSingleRecord"},
		{`{"a": {"name": "a", "columns": [{"name": "x", "type": "ObjectId"}]}}`, "a.columns[0].type"},
		{`{"a": {"name": "a", "columns": [{"name": "x", "type": "varchar", "isEncrypted": true}]}}`, "a.columns[0].isEncrypted"},
		{`{"a": {"name": "a", "columns": [{"name": "x", "type": "varchar", "surprise": 1}]}}`, "a.surprise"},
		{`{"a": {"name": "b", "columns": []}}`, "a.name"},
		{`{"a": {"name": "a", "columns": [], "relations": [{"propertyName": "b", "type": "many-to-one", "targetTable": "b", "onDelete": "EXPLODE"}]}}`, "a.relations[0].onDelete"},
		{`{"a": {"name": "a", "columns": [], "relations": [{"propertyName": "b", "type": "many-to-many", "targetTable": "b", "junctionSourceColumn": "aId"}]}}`, "a.relations[0].junctionSourceColumn"},
	} {
		_, _, err := ParseEnfyraSnapshot([]byte(c.body))
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Details["field"] != c.field {
			t.Errorf("%s: %v, want a refusal at %s", c.body, err, c.field)
		}
	}
}

// TestEnfyraRoundTrip: a snapshot written as Enfyra's and read back is the same snapshot.
func TestEnfyraRoundTrip(t *testing.T) {
	yes, no := true, false
	want := Snapshot{
		Tables: []SnapshotTable{
			{Name: "authors", Description: "People", DisplayTemplate: "{{name}}", Columns: []Column{{Name: "name", Type: schema.TypeString, Length: 80, Nullable: &no}}},
			{Name: "posts", Columns: []Column{
				{Name: "title", Type: schema.TypeString, Length: 255, Nullable: &yes, Unique: true},
				{Name: "price", Type: schema.TypeDecimal, Precision: 10, Scale: 2, Nullable: &yes, Default: json.RawMessage("1.5")},
				{Name: "site", Type: schema.TypeURL, Length: 2048, Nullable: &yes},
				{Name: "stage", Type: schema.TypeEnum, Values: []string{"draft", "live"}, Nullable: &yes, Index: true},
				{Name: "tags", Type: schema.TypeMultiEnum, Values: []string{"a"}, Nullable: &yes},
				{Name: "meta", Type: schema.TypeJSON, Nullable: &yes, Description: "anything"},
			}, Indexes: []schema.Index{{Name: "posts_title_stage_idx", Columns: []string{"title", "stage"}}, {Name: "by_price", Columns: []string{"price"}, Unique: true}}},
		},
		Relations: []Relation{
			{Table: "posts", Name: "author", Type: schema.ManyToOne, Target: "authors", OnDelete: "cascade", Inverse: "posts"},
			{Table: "posts", Name: "readers", Type: schema.ManyToMany, Target: "authors", Junction: "posts_readers"},
			{Table: "authors", Name: "avatar", Type: schema.ManyToOne, Target: schema.FilesTable, OnDelete: "set_null"},
		},
	}
	body, err := Enfyra(want)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ParseEnfyraSnapshot(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	wantRels := map[string]Relation{}
	for _, r := range want.Relations {
		wantRels[r.Table+"."+r.Name] = r
	}
	for _, r := range got.Relations {
		if wantRels[r.Table+"."+r.Name] != r {
			t.Errorf("relation %s.%s: %+v, want %+v", r.Table, r.Name, r, wantRels[r.Table+"."+r.Name])
		}
	}
	// Uniques are written before indexes; indexes are addressed by name, not order.
	for _, s := range []Snapshot{want, got} {
		for _, st := range s.Tables {
			slices.SortFunc(st.Indexes, func(a, b schema.Index) int { return strings.Compare(a.Name, b.Name) })
		}
	}
	a, _ := json.Marshal(want.Tables)
	b, _ := json.Marshal(got.Tables)
	if !bytes.Equal(a, b) || len(got.Relations) != len(want.Relations) {
		t.Fatalf("round trip:\n%s\n%s\n%s", a, b, body)
	}
}
