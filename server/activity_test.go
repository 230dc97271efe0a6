package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestActivityAndRevisions: writes through REST, GraphQL, a data migration and a
// function are all in the activity log with who, when and from where, and keep
// revisions (the row after the write, and what changed); sign-ins are logged; users see
// only their own entries; a table's accountability turns revisions or the whole trail
// off; a revision is restored through the records service, under the caller's rules.
func TestActivityAndRevisions(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			p := "/api/t/acme"
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "views", "type": "integer"}}})
			entries := func(filter map[string]any) []map[string]any {
				t.Helper()
				f, _ := jsonString(filter)
				r := admin.mustCall(200, "GET", p+"/activity?sort=timestamp&limit=-1&filter="+url.QueryEscape(f), nil)
				var out []map[string]any
				for _, e := range r.get("data").([]any) {
					out = append(out, e.(map[string]any))
				}
				return out
			}
			revisionsOf := func(item string) []map[string]any {
				t.Helper()
				f, _ := jsonString(map[string]any{"item": map[string]any{"_eq": item}})
				r := admin.mustCall(200, "GET", p+"/revisions?sort=id&filter="+url.QueryEscape(f), nil)
				var out []map[string]any
				for _, e := range r.get("data").([]any) {
					out = append(out, e.(map[string]any))
				}
				return out
			}
			data := func(rev map[string]any, key string) any {
				switch v := rev[key].(type) {
				case map[string]any:
					return v
				case string:
					var m map[string]any
					_ = jsonUnmarshal(v, &m)
					return m
				}
				return nil
			}

			// REST: a create and an update, from a known user agent.
			id := admin.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "first", "views": 1}).get("data.id").(string)
			admin.call("PATCH", p+"/items/posts/"+id, map[string]any{"views": 2}, map[string]string{"User-Agent": "audit-test/1"})
			got := entries(map[string]any{"item": map[string]any{"_eq": id}})
			if len(got) != 2 || got[0]["action"] != "create" || got[1]["action"] != "update" || got[0]["collection"] != "posts" {
				t.Fatalf("activity of the row: %v", got)
			}
			if got[1]["user_agent"] != "audit-test/1" || got[1]["ip"] != "127.0.0.1" || got[1]["user"] == nil || got[1]["timestamp"] == nil {
				t.Errorf("who and where: %v", got[1])
			}
			revs := revisionsOf(id)
			if len(revs) != 2 {
				t.Fatalf("revisions: %v", revs)
			}
			after := data(revs[1], "data").(map[string]any)
			delta := data(revs[1], "delta").(map[string]any)
			if after["title"] != "first" || fmt.Sprint(after["views"]) != "2" || len(delta) != 1 || fmt.Sprint(delta["views"]) != "2" || revs[1]["activity"] != got[1]["id"] {
				t.Errorf("the update's revision: data %v delta %v", after, delta)
			}

			// GraphQL, a data migration and a function write through the same path.
			gid := admin.mustGQL("acme", `mutation { create_posts_item(data: {title: "by graphql"}) { id } }`, nil).get("data.create_posts_item.id").(string)
			admin.mustCall(200, "POST", p+"/schema/apply?format=data-migration", `{"posts": [{"_unique": {"title": {"_eq": "by migration"}}, "title": "by migration", "views": 5}]}`)
			fid := createFunction(t, admin, "acme", map[string]any{"name": "writer", "kind": "endpoint", "method": "POST", "path": "write",
				"source": `export default async function (ctx) { return await ctx.items("posts").createOne({title: "by function"}) }`})
			admin.mustCall(200, "POST", p+"/fn/write", map[string]any{})
			for _, title := range []string{"by graphql", "by migration", "by function"} {
				rows := admin.mustCall(200, "GET", p+"/items/posts?filter="+url.QueryEscape(`{"title":{"_eq":"`+title+`"}}`), nil).get("data").([]any)
				if len(rows) != 1 {
					t.Fatalf("%s: %v", title, rows)
				}
				rid := rows[0].(map[string]any)["id"].(string)
				if e := entries(map[string]any{"item": map[string]any{"_eq": rid}}); len(e) != 1 || e[0]["action"] != "create" {
					t.Errorf("%s: activity %v", title, e)
				}
				if r := revisionsOf(rid); len(r) != 1 || data(r[0], "data").(map[string]any)["title"] != title {
					t.Errorf("%s: revisions %v", title, r)
				}
			}
			_ = gid

			// Changes made outside the records service are in the log too: settings,
			// functions, their secrets, webhooks.
			admin.mustCall(200, "PATCH", p+"/functions/"+fid, map[string]any{"timeout_ms": 2000})
			admin.mustCall(201, "PUT", p+"/functions/secrets/API_KEY", map[string]any{"value": "s3cret"})
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"webhook_hosts": []string{"hooks.example.com"}})
			hook := admin.mustCall(201, "POST", p+"/webhooks", map[string]any{"name": "h", "url": "https://hooks.example.com/in", "tables": []string{"posts"}, "events": []string{"create"}}).get("data.id").(string)
			admin.mustCall(204, "DELETE", p+"/webhooks/"+hook, nil)
			for _, want := range []struct{ action, collection, item string }{
				{"update", "settings", "settings"}, {"create", "function_definition", fid}, {"update", "function_definition", fid},
				{"create", "strata_function_secrets", "API_KEY"}, {"create", "strata_webhooks", hook}, {"delete", "strata_webhooks", hook},
			} {
				e := entries(map[string]any{"collection": map[string]any{"_eq": want.collection}, "action": map[string]any{"_eq": want.action}, "item": map[string]any{"_eq": want.item}})
				if len(e) == 0 || e[len(e)-1]["user"] == nil || e[len(e)-1]["ip"] != "127.0.0.1" {
					t.Errorf("%s %s %s: %v", want.action, want.collection, want.item, e)
				}
			}

			// Sign-ins are logged; a user reads only their own entries.
			ann := tenantUser(t, admin, "acme", "ann@example.com")
			annID := ann.mustCall(200, "GET", p+"/users/me", nil).get("data.id").(string)
			if e := entries(map[string]any{"action": map[string]any{"_eq": "login"}, "user": map[string]any{"_eq": annID}}); len(e) != 1 {
				t.Errorf("ann's sign-in: %v", e)
			}
			mine := ann.mustCall(200, "GET", p+"/activity?limit=-1", nil).get("data").([]any)
			for _, e := range mine {
				if e.(map[string]any)["user"] != annID {
					t.Errorf("ann reads another's entry: %v", e)
				}
			}
			if len(mine) == 0 {
				t.Error("ann reads none of her own entries")
			}
			if st, _ := ann.call("GET", p+"/revisions", nil, nil); st != 403 {
				t.Errorf("a user who is not an admin lists revisions: %d", st)
			}
			anon := &node{t: t, base: admin.base}
			if st, _ := anon.call("GET", p+"/activity", nil, nil); st != 401 {
				t.Errorf("anonymous reads the activity log: %d", st)
			}

			// Restore: the values as the first revision kept them.
			admin.mustCall(200, "PATCH", p+"/items/posts/"+id, map[string]any{"title": "changed", "views": 9})
			restored := admin.mustCall(200, "POST", p+"/revisions/"+revs[0]["id"].(string)+"/restore", nil)
			if restored.get("data.title") != "first" || fmt.Sprint(restored.get("data.views")) != "1" {
				t.Errorf("restored: %s", restored)
			}
			if e := entries(map[string]any{"item": map[string]any{"_eq": id}}); len(e) != 4 || e[3]["action"] != "update" {
				t.Errorf("the restore is not in the log as an update: %v", e)
			}
			// Under a rule that forbids it, a restore is refused like the update it is.
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "posts", "action": "update",
				"permissions": map[string]any{"title": map[string]any{"_eq": "nobody's"}}})
			if st, r := ann.call("POST", p+"/revisions/"+revs[0]["id"].(string)+"/restore", nil, nil); st != 403 && st != 404 {
				t.Errorf("a restore the row rule forbids: %d %s", st, r)
			}
			if st, _ := admin.call("POST", p+"/revisions/00000000-0000-7000-8000-000000000000/restore", nil, nil); st != 404 {
				t.Errorf("an unknown revision: %d", st)
			}

			// Accountability: activity only, then nothing.
			admin.mustCall(200, "PATCH", p+"/tables/posts", map[string]any{"accountability": "activity"})
			quiet := admin.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "no revision"}).get("data.id").(string)
			if len(entries(map[string]any{"item": map[string]any{"_eq": quiet}})) != 1 || len(revisionsOf(quiet)) != 0 {
				t.Errorf("accountability activity: entries or revisions wrong")
			}
			admin.mustCall(200, "PATCH", p+"/tables/posts", map[string]any{"accountability": "none"})
			silent := admin.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "no trace"}).get("data.id").(string)
			if len(entries(map[string]any{"item": map[string]any{"_eq": silent}})) != 0 {
				t.Errorf("accountability none: still logged")
			}
			if st, r := admin.call("PATCH", p+"/tables/posts", map[string]any{"accountability": "some"}, nil); st != 400 || !strings.Contains(r.String(), "accountability") {
				t.Errorf("an unknown accountability: %d %s", st, r)
			}
			if tbl := admin.mustCall(200, "GET", p+"/tables/posts", nil); tbl.get("data.accountability") != "none" {
				t.Errorf("the table's accountability: %s", tbl)
			}

			// Retention: entries and revisions older than the setting go; newer ones stay.
			if st := admin.mustCall(200, "GET", p+"/settings", nil); st.get("data.activity_retention") != float64(90) {
				t.Errorf("the default retention: %v", st.get("data.activity_retention"))
			}
			if st, _ := admin.call("PATCH", p+"/settings", map[string]any{"activity_retention": -1}, nil); st != 400 {
				t.Errorf("a negative retention: %d", st)
			}
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"activity_retention": 1})
			db := admin.tenantDB("acme")
			d := db.Dialect
			old := d.TimeValue(time.Now().Add(-49 * time.Hour))
			if _, err := db.Exec(d.Rebind("UPDATE "+d.Quote("strata_activity")+" SET "+d.Quote("timestamp")+" = ? WHERE "+d.Quote("item")+" = ?"), old, id); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(d.Rebind("UPDATE "+d.Quote("strata_revisions")+" SET "+d.Quote("created_at")+" = ? WHERE "+d.Quote("item")+" = ?"), old, id); err != nil {
				t.Fatal(err)
			}
			admin.app.PurgeTenantRecords(context.Background())
			if e := entries(map[string]any{"item": map[string]any{"_eq": id}}); len(e) != 0 || len(revisionsOf(id)) != 0 {
				t.Errorf("entries past the retention are kept: %v", e)
			}
			if e := entries(map[string]any{"item": map[string]any{"_eq": quiet}}); len(e) != 1 {
				t.Errorf("entries within the retention went: %v", e)
			}
		})
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
