package histgen

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"strata/internal/testkit"
	"strata/schema"
)

// fakeReply answers a step as the server would, as far as the generator reads answers:
// migration ids (two for a rename sent with other changes), relation ids, the names the
// server chooses (inverse, junction, index), and what a rollback undid. For a rollback
// it also returns the first step undone, or -1.
func fakeReply(g *Gen, s Step, n int) (Reply, int) {
	if s.Expect != 0 {
		return Reply{"errors": []any{map[string]any{"extensions": map[string]any{"code": "INVALID_PAYLOAD", "field": s.Field}}}}, -1
	}
	if s.Kind == "rollback" {
		return fakeRollback(g, s, n)
	}
	body, _ := s.Body.(map[string]any)
	relation := func(r map[string]any, table string) map[string]any {
		out := map[string]any{"id": fmt.Sprintf("rel-%d", n), "table": table, "name": r["name"], "inverse": r["inverse"], "junction": r["junction"]}
		if r["type"] == "one_to_many" && r["inverse"] == nil {
			out["inverse"] = table + "_id"
		}
		if r["type"] == "many_to_many" && r["junction"] == nil {
			j := table + "_" + r["name"].(string)
			if len(j) > schema.MaxIdentifierLen {
				j = j[:50] + fmt.Sprintf("_%012d", n)
			}
			out["junction"] = j
		}
		return out
	}
	data := map[string]any{"migration": map[string]any{"id": fmt.Sprintf("m-%d", n), "seq": float64(n)}}
	if _, renames := body["name"]; renames && s.Method == "PATCH" && len(body) > 1 {
		data["previous_migrations"] = []any{map[string]any{"id": fmt.Sprintf("m-%d-rename", n)}}
	}
	switch {
	case s.Method == "POST" && s.Path == "/relations":
		data["relation"] = relation(body, body["table"].(string))
	case s.Method == "POST" && s.Path == "/tables":
		var rels []any
		if list, ok := body["relations"].([]any); ok {
			rels = append(rels, relation(list[0].(map[string]any), body["name"].(string)))
		}
		data["table"] = map[string]any{"relations": rels}
	case s.Method == "POST" && strings.HasSuffix(s.Path, "/indexes"):
		name, _ := body["name"].(string)
		if name == "" {
			table := strings.TrimSuffix(strings.TrimPrefix(s.Path, "/tables/"), "/indexes")
			name = schema.DefaultIndexName(table, body["columns"].([]string))
		}
		data["index"] = map[string]any{"name": name}
	}
	return Reply{"data": data}, -1
}

// fakeRollback answers a rollback: the named migration's step is undone, and with
// cascade every later step still in effect too (more than the server's dependents,
// which only the server knows), newest first.
func fakeRollback(g *Gen, s Step, n int) (Reply, int) {
	path, query, _ := strings.Cut(s.Path, "?")
	id := strings.TrimSuffix(strings.TrimPrefix(path, "/migrations/"), "/rollback")
	at := slices.IndexFunc(g.history, func(c *committed) bool {
		return slices.ContainsFunc(c.migrations, func(k int) bool { return g.Migrations[k].ID == id })
	})
	if at < 0 {
		return Reply{}, -1
	}
	var undo []*committed
	for _, c := range g.history[at:] {
		if c == g.history[at] || (query == "cascade=true" && !c.undone && !c.rollback && c.step.Expect == 0) {
			undo = append(undo, c)
		}
	}
	var list []any
	for i := len(undo) - 1; i >= 0; i-- {
		for j := len(undo[i].migrations) - 1; j >= 0; j-- {
			of := g.Migrations[undo[i].migrations[j]].ID
			list = append(list, map[string]any{"id": fmt.Sprintf("m-%d-%d-%d", n, i, j), "type": "rollback", "change": map[string]any{"type": "rollback", "of": of}})
		}
	}
	return Reply{"data": map[string]any{"migrations": list}}, at
}

// Long histories keep the generator's model consistent (no step refers to something
// its model lacks), its names valid, and a seed's history the same every time. A
// rollback puts the model back as it was before the first step it undid.
func TestLongHistories(t *testing.T) {
	for _, dialect := range []string{"postgres", "mysql"} {
		for seed := int64(1); seed <= 20; seed++ {
			run := func() []string {
				g := New(seed)
				g.Dialect = dialect
				var out []string
				kinds := map[string]int{}
				for i := 0; i < 1000; i++ {
					s := g.Next()
					reply, first := fakeReply(g, s, i)
					if err := g.Commit(s, reply); err != nil {
						t.Fatalf("%s seed=%d step=%d: %v", dialect, seed, i+1, err)
					}
					if first >= 0 {
						if got, want := testkit.JSON(t, g.Model.Clone()), testkit.JSON(t, g.history[first].before.Clone()); got != want {
							t.Fatalf("%s seed=%d step=%d: after %s the model is\n%s\nwant the one before step %d:\n%s", dialect, seed, i+1, s, got, first+1, want)
						}
					}
					kinds[strings.SplitN(s.Kind, ":", 2)[0]]++
					out = append(out, s.String())
				}
				for _, tb := range g.Model.Tables {
					if err := schema.ValidateIdentifier("name", tb.Name); err != nil {
						t.Fatalf("%s seed=%d: table %v", dialect, seed, err)
					}
				}
				for _, k := range []string{"rollback", "refused", "rename_table", "add_relation"} {
					if kinds[k] == 0 {
						t.Errorf("%s seed=%d: no %s step in 1000", dialect, seed, k)
					}
				}
				return out
			}
			a, b := run(), run()
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%s seed=%d step=%d differs between two runs:\n%s\n%s", dialect, seed, i+1, a[i], b[i])
				}
			}
		}
	}
}
