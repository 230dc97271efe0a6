package main

import (
	"fmt"
	"testing"
	"time"
)

// TestTenantsOpenLazilyAndAreLetGo: a node opens no tenant pool at boot (each tenant is
// readied by its first request), caches at most STRATA_MODEL_CACHE_SIZE models (least
// recently used out), and lets go of a tenant's pool and model once it has been idle
// for STRATA_TENANT_IDLE_TIMEOUT; the tenant then answers again as if cold.
func TestTenantsOpenLazilyAndAreLetGo(t *testing.T) {
	t.Parallel() // mostly waits for the idle sweep; its deadline is generous
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			dataDir := t.TempDir() // where SQLite tenants live: the same for both nodes
			first := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir})
			const tenants = 4
			for i := range tenants {
				slug := fmt.Sprintf("lazy%d", i)
				first.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
				first.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "posts", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
				first.mustCall(200, "POST", "/api/t/"+slug+"/items/posts", map[string]any{"title": slug})
			}

			n := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dataDir, "STRATA_TENANT_IDLE_TIMEOUT": "1s", "STRATA_MODEL_CACHE_SIZE": "2"})
			if s := n.app.Tenants.Stats(); s.Pools != 0 || s.Models != 0 {
				t.Fatalf("after boot the node holds %d tenant pools and %d models, want none", s.Pools, s.Models)
			}
			for i := range 3 {
				r := n.mustCall(200, "GET", fmt.Sprintf("/api/t/lazy%d/items/posts", i), nil)
				if got := r.get("data.0.title"); got != fmt.Sprintf("lazy%d", i) {
					t.Fatalf("lazy%d answered %v", i, got)
				}
			}
			if s := n.app.Tenants.Stats(); s.Pools != 3 || s.Models > 2 {
				t.Fatalf("after 3 tenants' requests: %d pools (want 3) and %d models (want at most 2)", s.Pools, s.Models)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				s := n.app.Tenants.Stats()
				if s.Pools == 0 && s.Models == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("idle tenants were not let go: %d pools and %d models remain", s.Pools, s.Models)
				}
				time.Sleep(100 * time.Millisecond)
			}
			r := n.mustCall(200, "GET", "/api/t/lazy0/items/posts", nil)
			if got := r.get("data.0.title"); got != "lazy0" {
				t.Fatalf("lazy0 after being let go answered %v", got)
			}
		})
	}
}
