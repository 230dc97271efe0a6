package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentSchemaWritesAcrossNodes sends 20 concurrent schema writes for one
// tenant to two server instances sharing one database: every write is serialised,
// seq runs 1..N without gaps, and the metadata equals the live schema.
func TestConcurrentSchemaWritesAcrossNodes(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			n1 := startNode(t, control, nil)
			nodes := []*node{n1}
			if b.name != "sqlite" { // one process owns a SQLite file; two nodes share a server database
				nodes = append(nodes, startNode(t, control, nil))
			}
			n1.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			n1.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
			db := n1.tenantDB("acme")
			start := len(ledger(t, db))

			const writes = 20
			var wg sync.WaitGroup
			errs := make(chan string, writes)
			for i := 0; i < writes; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					n := nodes[i%len(nodes)]
					var st int
					var r reply
					if i%2 == 0 {
						st, r = n.call("POST", "/api/t/acme/tables/posts/columns", map[string]any{"name": fmt.Sprintf("c%02d", i), "type": "integer", "index": i%4 == 0}, nil)
					} else {
						st, r = n.call("POST", "/api/t/acme/tables", map[string]any{"name": fmt.Sprintf("t%02d", i), "columns": []any{map[string]any{"name": "v", "type": "string"}}}, nil)
					}
					if st != 200 || r.get("data.migration.status") != "executed" {
						errs <- fmt.Sprintf("write %d: %d %s", i, st, r)
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			rows := ledger(t, db)
			if len(rows)-start != writes {
				t.Fatalf("%d migrations recorded, want %d", len(rows)-start, writes)
			}
			for i, m := range rows {
				if m.Seq != int64(i+1) {
					t.Fatalf("seq %d at position %d: gap or duplicate", m.Seq, i+1)
				}
				if m.Status != "executed" {
					t.Errorf("seq %d is %s: %s", m.Seq, m.Status, m.Error.String)
				}
			}
			if d := liveDrift(t, db); len(d) > 0 {
				t.Fatalf("live schema differs from metadata:\n%s", strings.Join(d, "\n"))
			}
			// Every node sees every change (the other node's cache notices within its TTL).
			time.Sleep(1100 * time.Millisecond)
			for i, n := range nodes {
				seen := n.mustCall(200, "GET", "/api/t/acme/tables/posts", nil).fieldNames("data.columns")
				for w := 0; w < writes; w += 2 {
					if !seen[fmt.Sprintf("c%02d", w)] {
						t.Errorf("node %d does not see column c%02d", i+1, w)
					}
				}
			}
		})
	}
}
