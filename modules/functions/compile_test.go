package functions

import (
	"fmt"
	"testing"

	"strata/schema"
)

func TestCompile(t *testing.T) {
	cases := []struct {
		name, source string
		line, column int
	}{
		{"typescript", "export default async function (ctx: { n: number }): Promise<number> { return ctx.n as number }", 0, 0},
		{"syntax", "export default async function () {\n  return {a: 1,,}\n}", 2, 16},
		{"unclosed", "export default async function () {\n", 2, 1},
		{"no default", "export const x = 1", 1, 1},
	}
	for _, c := range cases {
		code, sum, err := Compile(c.source)
		if c.line == 0 {
			if err != nil || code == "" || len(sum) != 64 {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		ce, ok := err.(*CompileError)
		if !ok || ce.Line != c.line || ce.Column != c.column {
			t.Errorf("%s: %v, want line %d column %d", c.name, err, c.line, c.column)
		}
	}
}

func TestMatchEndpoint(t *testing.T) {
	m := &schema.Model{Functions: []schema.Function{
		{Name: "one", Kind: "endpoint", Enabled: true, Method: "GET", Path: "orders/:id"},
		{Name: "stats", Kind: "endpoint", Enabled: true, Method: "GET", Path: "orders/stats"},
		{Name: "any", Kind: "endpoint", Enabled: true, Method: "ANY", Path: "orders/:id/items/:item"},
		{Name: "off", Kind: "endpoint", Enabled: false, Method: "GET", Path: "off"},
		{Name: "hook", Kind: "hook", Enabled: true},
	}}
	cases := []struct{ method, path, want string }{
		{"GET", "orders/7", "one map[id:7]"},
		{"GET", "orders/stats", "stats map[]"},
		{"POST", "orders/7", "<nil>"},
		{"DELETE", "orders/7/items/3", "any map[id:7 item:3]"},
		{"GET", "/orders/7/", "one map[id:7]"},
		{"GET", "off", "<nil>"},
		{"GET", "orders", "<nil>"},
	}
	for _, c := range cases {
		f, params := MatchEndpoint(m, c.method, c.path)
		got := "<nil>"
		if f != nil {
			got = fmt.Sprint(f.Name, " ", params)
		}
		if got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.want)
		}
	}
}

func TestQueryParams(t *testing.T) {
	p, err := queryParams(map[string]any{"filter": map[string]any{"views": map[string]any{"_gt": 5.0}}, "fields": []any{"id", "title"}, "limit": 5.0, "search": "x"})
	if err != nil || p["filter"][0] != `{"views":{"_gt":5}}` || p["fields"][0] != "id,title" || p["limit"][0] != "5" || p["search"][0] != "x" {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := queryParams(map[string]any{"fields": []any{1.0}}); err == nil {
		t.Fatal("a list of numbers for fields was accepted")
	}
}

func TestCompileColumnCountsCharacters(t *testing.T) {
	_, _, err := Compile("export default async function () {\n  const s = \"héllo wörld\";; return {a: 1,,}\n}")
	ce, ok := err.(*CompileError)
	// The second comma is the 42nd character of the line, 44th byte (é and ö are two each).
	if !ok || ce.Line != 2 || ce.Column != 42 {
		t.Fatalf("%v", err)
	}
}
