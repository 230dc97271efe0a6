package main

import (
	"strings"
	"testing"
)

// The security regression suite for GraphQL (issue 13): documents that took the process
// down, schemas that showed more than the caller may read, and schema shapes that
// answered 500.

// TestSecurityGraphQLFragmentCycle (finding 2): one anonymous request with a fragment
// cycle overflowed graphql-go's validator's stack, which killed the process (without the
// fix this test binary dies with "fatal error: stack overflow"). Cycles and deep nesting
// are now INVALID_QUERY request errors, and the node keeps serving.
func TestSecurityGraphQLFragmentCycle(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}})
			anon := &node{t: t, base: n.base}
			hostile := []string{
				`query { ...F } fragment F on Query { ...G } fragment G on Query { ...F }`,
				`{ notes { ...N } } fragment N on notes { ... on notes { ...N } }`,
				strings.Repeat("{", 30000),
				"{ notes(filter: " + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + ") { id } }",
				strings.Repeat("{ notes ", 3000) + strings.Repeat("}", 3000),
			}
			for _, q := range hostile {
				for _, accept := range []string{"application/json", "application/graphql-response+json"} {
					st, r := anon.call("POST", "/api/t/acme/graphql", map[string]any{"query": q}, map[string]string{"Accept": accept})
					// GraphQL-over-HTTP: a request error is 400 in its own media type,
					// 200 with errors and no data in plain JSON.
					want := 200
					if accept != "application/json" {
						want = 400
					}
					if st != want || r.get("errors.0.extensions.code") != "INVALID_QUERY" || r.get("data") != nil {
						t.Errorf("%.60s (%s): %d %s", q, accept, st, r)
					}
				}
			}
			// A batch and a GET carry them too.
			if st, r := anon.call("POST", "/api/t/acme/graphql", []any{map[string]any{"query": hostile[0]}}, nil); st != 200 || !strings.Contains(r.String(), "INVALID_QUERY") {
				t.Errorf("batch: %d %s", st, r)
			}
			if st, r := anon.call("GET", "/api/t/acme/graphql?"+qs("query", hostile[0]), nil, nil); st != 200 || r.get("errors.0.extensions.code") != "INVALID_QUERY" {
				t.Errorf("GET: %d %s", st, r)
			}
			// The node still serves.
			n.mustGQL("acme", "{ notes { id body } }", nil)
		})
	}
}
