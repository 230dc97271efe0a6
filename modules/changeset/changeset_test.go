package changeset

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/schema"
)

func TestParse(t *testing.T) {
	yamlFile := `
name: add_plan
description: accounts get a plan
tags: [team=billing, kind=schema]
depends_on: [accounts]
changes:
  - op: add_column
    table: accounts
    column: {name: plan, type: string, length: 32}
`
	jsonFile := `{"name":"add_plan","description":"accounts get a plan","tags":["team=billing","kind=schema"],"depends_on":["accounts"],
		"changes":[{"column":{"type":"string","name":"plan","length":32},"table":"accounts","op":"add_column"}]}`
	y, err := Parse([]byte(yamlFile), true)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Parse([]byte(jsonFile), false)
	if err != nil {
		t.Fatal(err)
	}
	if y.Checksum == "" || y.Checksum != j.Checksum {
		t.Fatalf("the same changeset in YAML and JSON: checksums %s and %s", y.Checksum, j.Checksum)
	}
	other, _ := Parse([]byte(strings.Replace(jsonFile, `"length":32`, `"length":64`, 1)), false)
	if other.Checksum == j.Checksum {
		t.Fatal("a changed operation kept the checksum")
	}

	bad := []struct{ name, body, field string }{
		{"no name", `{"changes":[{"op":"drop_table","table":"a"}]}`, "name"},
		{"bad name", `{"name":"../x","changes":[{"op":"drop_table","table":"a"}]}`, "name"},
		{"nothing", `{"name":"x"}`, "changes"},
		{"both", `{"name":"x","up_sql":"SELECT 1","changes":[{"op":"drop_table","table":"a"}]}`, "changes"},
		{"down without up", `{"name":"x","down_sql":"DROP TABLE a","changes":[{"op":"drop_table","table":"a"}]}`, "down_sql"},
		{"unknown field", `{"name":"x","colour":"red","up_sql":"SELECT 1"}`, "colour"},
		{"checksum given", `{"name":"x","checksum":"abc","up_sql":"SELECT 1"}`, "checksum"},
		{"bad tag", `{"name":"x","tags":["team"],"up_sql":"SELECT 1"}`, "tags[0]"},
		{"unknown op", `{"name":"x","changes":[{"op":"truncate","table":"a"}]}`, "changes[0].op"},
		{"op without table", `{"name":"x","changes":[{"op":"drop_table"}]}`, "changes[0].table"},
		{"op with a stray field", `{"name":"x","changes":[{"op":"drop_table","table":"a","cascade":true}]}`, "changes[0].cascade"},
		{"permissions", `{"name":"x","changes":[{"op":"create_table","name":"a","columns":[],"permissions":{"public":["read"]}}]}`, "changes[0].permissions"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body), false)
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Status != 400 || ae.Details["field"] != c.field {
				t.Fatalf("got %v (%+v), want a 400 on %s", err, ae, c.field)
			}
		})
	}
	if _, err := Parse([]byte("name: a\n---\nname: b\n"), true); err == nil {
		t.Fatal("two YAML documents in one file were accepted")
	}
	if _, err := Parse([]byte("a: &x [1]\nb: *x\n"), true); err == nil {
		t.Fatal("YAML aliases were accepted")
	}
}

func TestExpand(t *testing.T) {
	all := map[string]*Changeset{}
	add := func(name string, deps ...string) {
		all[name] = &Changeset{Name: name, DependsOn: deps}
	}
	add("base")
	add("accounts", "base")
	add("plan", "accounts")
	add("billing", "plan", "base")
	add("other")
	names := func(list []*Changeset) string {
		var out []string
		for _, cs := range list {
			out = append(out, cs.Name)
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		selected []string
		noDeps   bool
		want     string
	}{
		{[]string{"billing"}, false, "base accounts plan billing"},
		{[]string{"billing", "other"}, false, "base accounts plan billing other"},
		{[]string{"billing"}, true, "billing"},
		{[]string{"billing", "base"}, true, "base billing"}, // still ordered
		{[]string{"other", "base"}, false, "base other"},
	}
	for _, c := range cases {
		got, err := Expand(all, c.selected, c.noDeps)
		if err != nil || names(got) != c.want {
			t.Errorf("Expand(%v, noDeps=%v) = %q, %v; want %q", c.selected, c.noDeps, names(got), err, c.want)
		}
	}
	add("missing_dep", "nowhere")
	_, err := Expand(all, []string{"missing_dep", "ghost"}, false)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != "INVALID_DEPENDENCIES" || !strings.Contains(ae.Message, "nowhere (needed by missing_dep)") || !strings.Contains(ae.Message, "ghost") {
		t.Fatalf("missing dependencies: %v", err)
	}
	add("a", "c")
	add("b", "a")
	add("c", "b")
	_, err = Expand(all, []string{"a"}, false)
	if !errors.As(err, &ae) || ae.Code != "INVALID_DEPENDENCIES" || !strings.Contains(ae.Message, "a → c → b → a") {
		t.Fatalf("cycle: %v", err)
	}
}

func TestMatches(t *testing.T) {
	have := map[string]string{"team": "billing", "tier": "pro"}
	for _, c := range []struct {
		want []string
		ok   bool
	}{
		{nil, true},
		{[]string{"team=billing"}, true},
		{[]string{"team=billing", "tier=pro"}, true},
		{[]string{"team=billing", "tier=free"}, false}, // AND
		{[]string{"region=eu"}, false},
	} {
		want, err := ParseTags("tags", c.want)
		if err != nil {
			t.Fatal(err)
		}
		if Matches(have, want) != c.ok {
			t.Errorf("Matches(%v) = %v", c.want, !c.ok)
		}
	}
	if _, err := ParseTags("tags", []string{"a=1", "a=2"}); err == nil {
		t.Error("a tag asked for with two values was accepted")
	}
}

func TestSchemaChanges(t *testing.T) {
	cs, err := Parse([]byte(`{"name":"shop","changes":[
		{"op":"create_table","name":"orders","columns":[{"name":"total","type":"integer"}]},
		{"op":"add_column","table":"orders","column":{"name":"note","type":"string"}},
		{"op":"alter_column","table":"orders","column":"note","changes":{"length":500}},
		{"op":"rename_column","table":"orders","column":"note","new_name":"comment"},
		{"op":"add_index","table":"orders","columns":["total"]},
		{"op":"rename_table","table":"orders","new_name":"purchases"}]}`), false)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := cs.SchemaChanges(&schema.Model{}, counter())
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ch := range changes {
		types = append(types, string(ch.Type))
		if ch.Changeset != "shop" {
			t.Errorf("%s does not name its changeset", ch.Type)
		}
	}
	if got := strings.Join(types, " "); got != "create_table add_column alter_column rename_column add_index rename_table" {
		t.Fatalf("changes: %s", got)
	}
	if b, _ := json.Marshal(changes[2].Def); !strings.Contains(string(b), `"length":500`) {
		t.Errorf("the alter merges over the column the add made: %s", b)
	}
	// An operation the tenant's schema refuses names where it is.
	cs, _ = Parse([]byte(`{"name":"x","changes":[{"op":"drop_column","table":"nowhere","column":"a"}]}`), false)
	if _, err := cs.SchemaChanges(&schema.Model{}, counter()); err == nil || !strings.Contains(err.Error(), "changes[0]") {
		t.Fatalf("a change the model refuses: %v", err)
	}
}

// TestRelationsWithinAChangeset: a relation the changeset adds has its id before it
// runs, so a later operation of the same changeset can drop it, and two relations added
// together do not share one.
func TestRelationsWithinAChangeset(t *testing.T) {
	cs, err := Parse([]byte(`{"name":"links","changes":[
		{"op":"create_table","name":"authors","columns":[{"name":"name","type":"string"}]},
		{"op":"create_table","name":"posts","columns":[{"name":"title","type":"string"}]},
		{"op":"add_relation","table":"posts","name":"author","type":"many_to_one","target":"authors"},
		{"op":"add_relation","table":"posts","name":"editor","type":"many_to_one","target":"authors"},
		{"op":"drop_relation","table":"posts","name":"author"}]}`), false)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := cs.SchemaChanges(&schema.Model{}, counter())
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 5 {
		t.Fatalf("%d changes", len(changes))
	}
	author, editor, drop := changes[2].Relation, changes[3].Relation, changes[4]
	if author.ID == "" || editor.ID == "" || author.ID == editor.ID {
		t.Fatalf("the added relations' ids: %q, %q", author.ID, editor.ID)
	}
	if drop.Type != schema.DropRelation || drop.Relation.ID != author.ID || migration.DefaultName(drop) != "drop relation posts.author" {
		t.Fatalf("the drop names %+v, want the added relation %s", drop.Relation, author.ID)
	}
	// A relation the changeset never made is not found.
	cs, _ = Parse([]byte(`{"name":"x","changes":[{"op":"drop_relation","table":"posts","name":"nobody"}]}`), false)
	if _, err := cs.SchemaChanges(&schema.Model{}, counter()); err == nil || !strings.Contains(err.Error(), "changes[0]") {
		t.Fatalf("dropping a relation that does not exist: %v", err)
	}
}

// counter makes ids as the server does, distinct and stable within a test.
func counter() schema.IDGen {
	n := 0
	return func() string { n++; return fmt.Sprintf("01900000-0000-7000-8000-%012d", n) }
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"name":"a","changes":[{"op":"drop_table","table":"x"}]}`), false)
	f.Add([]byte("name: a\nup_sql: SELECT 1\ntags: [a=b]\n"), true)
	f.Fuzz(func(t *testing.T, body []byte, yaml bool) {
		cs, err := Parse(body, yaml)
		if err != nil {
			return
		}
		if cs.Checksum != cs.Sum() || cs.Validate() != nil {
			t.Fatalf("an accepted changeset does not hold: %+v", cs)
		}
		_, _ = cs.SchemaChanges(&schema.Model{}, counter())
	})
}
