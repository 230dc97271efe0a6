package histgen

import (
	"fmt"
	"strings"
	"testing"

	"strata/schema"
)

// fakeReply answers a step as the server would, as far as the generator reads answers:
// relation ids and the names the server chooses (inverse, junction, index).
func fakeReply(s Step, n int) Reply {
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
	switch {
	case s.Method == "POST" && s.Path == "/relations":
		return Reply{"data": map[string]any{"relation": relation(body, body["table"].(string))}}
	case s.Method == "POST" && s.Path == "/tables":
		var rels []any
		if list, ok := body["relations"].([]any); ok {
			rels = append(rels, relation(list[0].(map[string]any), body["name"].(string)))
		}
		return Reply{"data": map[string]any{"table": map[string]any{"relations": rels}}}
	case s.Method == "POST" && strings.HasSuffix(s.Path, "/indexes"):
		name, _ := body["name"].(string)
		if name == "" {
			table := strings.TrimSuffix(strings.TrimPrefix(s.Path, "/tables/"), "/indexes")
			name = schema.DefaultIndexName(table, body["columns"].([]string))
		}
		return Reply{"data": map[string]any{"index": map[string]any{"name": name}}}
	}
	return Reply{"data": map[string]any{}}
}

// Long histories keep the generator's model consistent (no step refers to something
// its model lacks), its names valid, and a seed's history the same every time.
func TestLongHistories(t *testing.T) {
	for _, known := range []bool{false, true} {
		for seed := int64(1); seed <= 20; seed++ {
			run := func() []string {
				g := New(seed)
				g.KnownBugs = known
				var out []string
				for i := 0; i < 1000; i++ {
					s := g.Next()
					if err := g.Commit(s, fakeReply(s, i)); err != nil {
						t.Fatalf("seed=%d step=%d: %v", seed, i+1, err)
					}
					out = append(out, s.String())
				}
				for _, tb := range g.Model.Tables {
					if err := schema.ValidateIdentifier("name", tb.Name); err != nil {
						t.Fatalf("seed=%d: table %v", seed, err)
					}
				}
				return out
			}
			a, b := run(), run()
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("seed=%d step=%d differs between two runs:\n%s\n%s", seed, i+1, a[i], b[i])
				}
			}
		}
	}
}
