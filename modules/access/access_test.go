package access

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"strata/modules/database"
	"strata/schema"
)

func TestRuleAccessAndFields(t *testing.T) {
	admin := &Policy{Admin: true}
	if r := admin.Rule("anything", Delete); r == nil || Access(r) != "full" || !r.AllowsField("x") || !admin.Grants("anything") {
		t.Errorf("an admin is not unrestricted: %+v", r)
	}
	p := &Policy{rules: map[string]map[string]*Rule{
		"posts": {
			Read:   {Fields: []string{"title", "views"}},
			Update: {Filter: map[string]any{"owner_id": map[string]any{"_eq": "$CURRENT_USER"}}, Fields: []string{"*"}},
		},
	}}
	for _, c := range []struct {
		table, action, access string
	}{
		{"posts", Read, "full"}, {"posts", Update, "partial"}, {"posts", Create, "none"}, {"notes", Read, "none"},
	} {
		if got := Access(p.Rule(c.table, c.action)); got != c.access {
			t.Errorf("%s %s: access %s, want %s", c.action, c.table, got, c.access)
		}
	}
	if !p.Grants("posts") || p.Grants("notes") {
		t.Error("Grants does not follow the rules")
	}
	read := p.Rule("posts", Read)
	for field, want := range map[string]bool{"title": true, "views": true, "secret": false} {
		if read.AllowsField(field) != want {
			t.Errorf("read of %s allowed = %v", field, !want)
		}
	}
	if !p.Rule("posts", Update).AllowsField("anything") || !(&Rule{}).AllowsField("anything") {
		t.Error("* or no field list should allow every field")
	}
}

func TestValidateRule(t *testing.T) {
	m := &schema.Model{Tables: []schema.Table{{Name: "posts", Columns: []schema.Column{{Name: "id"}, {Name: "title"}}}},
		Relations: []schema.Relation{{Table: "posts", Name: "tags", Type: schema.ManyToMany, Target: "tags"}}}
	for _, c := range []struct {
		table, action string
		fields        []string
		err           string
	}{
		{"posts", Read, []string{"title", "*", "tags"}, ""},
		{"nope", Read, nil, "does not exist"},
		{"posts", "share", nil, "action must be"},
		{"posts", Read, []string{"title", "ttle"}, `fields[1]: table "posts" has no field "ttle"`},
	} {
		err := ValidateRule(m, c.table, c.action, c.fields)
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s %s %v: %v, want %q", c.table, c.action, c.fields, err, c.err)
		}
	}
}

// TestPolicyLoad: a role's own permission wins where it has one, the public role's
// applies where it has none, and an admin role loads no rules at all.
func TestPolicyLoad(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE "strata_roles" ("id" TEXT PRIMARY KEY, "name" TEXT, "is_admin" BOOLEAN)`,
		`CREATE TABLE "strata_permissions" ("id" TEXT PRIMARY KEY, "role_id" TEXT, "collection" TEXT, "action" TEXT, "permissions" TEXT, "fields" TEXT, "presets" TEXT)`,
		`INSERT INTO "strata_roles" VALUES ('p', 'public', 0), ('u', 'authenticated', 0), ('a', 'admin', 1)`,
		`INSERT INTO "strata_permissions" VALUES
			('1', 'p', 'posts', 'read', NULL, '["title"]', NULL),
			('2', 'u', 'posts', 'read', '{"owner_id":{"_eq":"$CURRENT_USER"}}', NULL, NULL),
			('3', 'p', 'news', 'read', NULL, NULL, NULL),
			('4', 'u', 'posts', 'create', NULL, NULL, '{"status":"draft"}')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := &Store{}
	user, err := s.Policy(ctx, db, "t1", "u")
	if err != nil {
		t.Fatal(err)
	}
	if r := user.Rule("posts", Read); r == nil || Access(r) != "partial" || r.Fields != nil {
		t.Errorf("the role's own read rule should win over public's: %+v", r)
	}
	if r := user.Rule("news", Read); r == nil || Access(r) != "full" {
		t.Errorf("public's rule should apply where the role has none: %+v", r)
	}
	if r := user.Rule("posts", Create); r == nil || !reflect.DeepEqual(r.Presets, map[string]any{"status": "draft"}) {
		t.Errorf("presets: %+v", r)
	}
	public, err := s.Policy(ctx, db, "t1", "p")
	if err != nil {
		t.Fatal(err)
	}
	if r := public.Rule("posts", Read); r == nil || !reflect.DeepEqual(r.Fields, []string{"title"}) || public.Rule("posts", Create) != nil {
		t.Errorf("public's policy: %+v", r)
	}
	admin, err := s.Policy(ctx, db, "t1", "a")
	if err != nil || !admin.Admin || len(admin.rules) != 0 {
		t.Errorf("admin policy: %+v %v", admin, err)
	}
}
