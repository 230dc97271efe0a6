package graphql

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// hostileDocuments are documents that crashed or stalled graphql-go before the shape
// checks: fragment cycles overflowed the validator's stack (the whole process died),
// deep nesting made the parser and validator recurse and slow down.
var hostileDocuments = hostile(20000)

// hostile are the documents at nesting n (thousands took the process down; a few
// hundred are as far past the limit).
func hostile(n int) []string {
	return []string{
		`query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }`,
		`{ ...F } fragment F on Query { ...F }`,
		`{ posts { ...P } } fragment P on posts { comments { post { ...P } } }`,
		`{ posts { ... on posts { ...A } } } fragment A on posts { ... on posts { ...B } } fragment B on posts { ...A }`,
		`{ ...F } fragment F on Query { posts { id } } fragment F on Query { ...F }`,
		strings.Repeat("{", n),
		strings.Repeat("{ posts ", n/4) + strings.Repeat("}", n/4),
		"{ posts(filter: " + strings.Repeat("[", n) + strings.Repeat("]", n) + ") { id } }",
		"{ posts(filter: " + strings.Repeat("{_and: ", n/4) + "1" + strings.Repeat("}", n/4) + ") { id } }",
		"query($x: " + strings.Repeat("[", n) + "Int" + strings.Repeat("]", n) + ") { posts { id } }",
		"{ posts @skip(if: " + strings.Repeat("[", n) + ") { id } }",
	}
}

// fragmentChain is n fragments each spreading the next: short text, deep document.
func fragmentChain(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := range n {
		b.WriteString(" fragment F" + itoa(i) + " on Query { ...F" + itoa(i+1) + " }")
	}
	b.WriteString(" fragment F" + itoa(n) + " on Query { posts { id } }")
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestHostileDocumentsAreRefused: fragment cycles and deep nesting are INVALID_QUERY
// request errors, refused before graphql-go validates (or parses) them.
func TestHostileDocumentsAreRefused(t *testing.T) {
	sch, err := Build(nestedModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(Limits{MaxQueryBytes: 1 << 20}, 0)
	for _, q := range append(hostileDocuments, fragmentChain(2000)) {
		r := svc.Execute(context.Background(), sch, Request{Query: q}, nestedBackend{}, Options{})
		if !r.RequestError || len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "INVALID_QUERY" || r.Data != nil {
			t.Errorf("%.80s: %+v", q, r)
		}
	}
	// Found by FuzzExecute: a variable with no type passes graphql-go's parser and
	// panics in its validator.
	for _, q := range []string{`query($id:){d(d:d){d}}`, `query($id: [], $x: Int) { posts { id } }`} {
		r := svc.Execute(context.Background(), sch, Request{Query: q}, nestedBackend{}, Options{})
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "INVALID_QUERY" || r.Data != nil {
			t.Errorf("%s: %+v", q, r)
		}
	}
	// Deep variables too: graphql-go coerces them recursively.
	var deep any = 1
	for range 1000 {
		deep = []any{deep}
	}
	r := svc.Execute(context.Background(), sch, Request{Query: `query($f: posts_filter) { posts(filter: $f) { id } }`, Variables: map[string]any{"f": deep}}, nestedBackend{}, Options{})
	if !r.RequestError || r.Errors[0].Extensions["code"] != "INVALID_QUERY" {
		t.Errorf("deep variables: %+v", r)
	}
	// The cycle is named.
	r = svc.Execute(context.Background(), sch, Request{Query: hostileDocuments[0]}, nestedBackend{}, Options{})
	if msg := r.Errors[0].Message; !strings.Contains(msg, "F → G → F") {
		t.Errorf("cycle message: %s", msg)
	}
}

// TestShapeAllowsRealQueries: the shape limits leave room for what clients send: the
// standard introspection query, nested filters, brackets inside strings and comments.
func TestShapeAllowsRealQueries(t *testing.T) {
	sch, err := Build(nestedModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(Limits{}, 0)
	filter := strings.Repeat(`{_and: [`, 9) + `{title: {_eq: "{{{{[[[[(((("}}` + strings.Repeat(`]}`, 9)
	for _, q := range []string{
		introspection,
		"{ posts(filter: " + filter + ") { id } }",
		"# {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n{ posts { id } }",
		`{ posts(search: """` + strings.Repeat("[", 100) + `\"""` + strings.Repeat("{", 100) + `""") { id } }`,
		fragmentChain(8),
		`{ posts { ...A ...A ...B } } fragment A on posts { id ...B } fragment B on posts { title }`,
	} {
		r := svc.Execute(context.Background(), sch, Request{Query: q}, nestedBackend{}, Options{})
		if len(r.Errors) > 0 {
			t.Errorf("%.80s: %+v", q, r.Errors)
		}
	}
}

const introspection = `query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

// FuzzExecute runs documents and variables through the entry point the HTTP handler
// uses, against a small schema: no document may crash, hang or answer an error
// without a code.
func FuzzExecute(f *testing.F) {
	// Hostile documents a few hundred levels deep, not thousands: as far past
	// MaxNesting, and the fuzzer minimizes each input it finds in time that grows with
	// the square of its length (a 12 KB document with a syntax error takes 3 ms to
	// refuse, graphql-go's error formatting reading all of it), which stalled it.
	for _, q := range hostile(256) {
		f.Add(q, "")
	}
	for _, d := range costlyDocuments() {
		f.Add(d.query[:min(len(d.query), 2000)], "")
	}
	for _, q := range []string{
		introspection,
		`{ posts(filter: {views: {_gt: 1}, author: {name: {_eq: "x"}}}, sort: ["-views"], limit: 2) { id title author { name } comments(limit: 1) { body } } }`,
		`query($f: posts_filter, $n: Int) { a: posts(filter: $f, limit: $n) { ...P } } fragment P on posts { id comments { ... on comments { body } } }`,
		`mutation { create_posts_item(data: {title: "t"}) { id } delete_posts_items(ids: ["x"]) { ids } }`,
		`{ posts_aggregated(groupBy: ["title"]) { group countAll sum { views } } __typename }`,
		`query($id: ID!) { posts_by_id(id: $id) { id } }`,
		fragmentChain(3),
	} {
		f.Add(q, `{"f": {"_or": [{"title": {"_eq": "a"}}]}, "n": 1, "id": "x"}`)
	}
	sch, err := Build(nestedModel(), nil)
	if err != nil {
		f.Fatal(err)
	}
	svc := NewService(Limits{}, 0)
	f.Fuzz(func(t *testing.T, q, vars string) {
		var v map[string]any
		if vars != "" {
			_ = json.Unmarshal([]byte(vars), &v)
		}
		for _, slow := range []bool{false, true} {
			r := svc.Execute(context.Background(), sch, Request{Query: q, Variables: v}, nestedBackend{}, Options{slow: slow})
			for _, e := range r.Errors {
				if e.Extensions["code"] == nil {
					t.Fatalf("an error without a code: %+v", e)
				}
			}
			if _, err := r.AppendJSON(nil); err != nil {
				t.Fatalf("answer not encodable: %v", err)
			}
		}
	})
}
