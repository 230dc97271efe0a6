package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestExportItems: GET /utils/export/{table} answers what the listing answers for the
// same query, in JSON, CSV and YAML, across more rows than one page of its stream, and
// only the rows the caller's read rule allows.
func TestExportItems(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), map[string]string{"STRATA_MAX_LIMIT": "2000"})
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			p := "/api/t/acme"
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "entries", "accountability": "none", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "n", "type": "integer"},
				map[string]any{"name": "meta", "type": "json"}, map[string]any{"name": "open", "type": "boolean"}}})
			const total = 1234
			for start := 0; start < total; start += 500 {
				var batch []any
				for i := start; i < min(total, start+500); i++ {
					batch = append(batch, map[string]any{"title": fmt.Sprintf("row, \"%d\"", i), "n": i, "meta": map[string]any{"i": i}, "open": i%3 == 0})
				}
				admin.mustCall(200, "POST", p+"/items/entries", batch)
			}
			query := "fields=id,title,n,meta,open&sort=-n&filter=" + url.QueryEscape(`{"n":{"_gte":100}}`)
			listing := admin.mustCall(200, "GET", p+"/items/entries?limit=-1&"+query, nil).get("data").([]any)
			if len(listing) != total-100 {
				t.Fatalf("listing: %d rows", len(listing))
			}
			download := func(who *node, format, q string) (string, http.Header) {
				t.Helper()
				req, _ := http.NewRequest("GET", who.base+p+"/utils/export/entries?format="+format+"&"+q, nil)
				if who.token != "" {
					req.Header.Set("Authorization", "Bearer "+who.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("export %s: %d %s", format, resp.StatusCode, body)
				}
				return string(body), resp.Header
			}

			body, h := download(admin, "json", query)
			var exported []any
			if err := json.Unmarshal([]byte(body), &exported); err != nil {
				t.Fatalf("JSON export: %v", err)
			}
			want, _ := json.Marshal(listing)
			got, _ := json.Marshal(exported)
			if string(want) != string(got) {
				t.Errorf("the JSON export differs from the listing (%d rows against %d)", len(exported), len(listing))
			}
			if !strings.Contains(h.Get("Content-Disposition"), `filename="entries.json"`) {
				t.Errorf("disposition %q", h.Get("Content-Disposition"))
			}

			body, h = download(admin, "csv", query)
			records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
				t.Fatalf("CSV export: %v %s", err, h.Get("Content-Type"))
			}
			if strings.Join(records[0], ",") != "id,title,n,meta,open" || len(records) != len(listing)+1 {
				t.Fatalf("CSV: header %v, %d records", records[0], len(records))
			}
			for i, row := range listing {
				r := row.(map[string]any)
				rec := records[i+1]
				meta, _ := json.Marshal(r["meta"])
				if rec[0] != r["id"] || rec[1] != r["title"] || rec[2] != fmt.Sprint(r["n"]) || rec[3] != string(meta) || rec[4] != fmt.Sprint(r["open"]) {
					t.Fatalf("CSV row %d: %v against %v", i, rec, r)
				}
			}

			body, _ = download(admin, "yaml", query)
			var fromYAML []map[string]any
			if err := yaml.Unmarshal([]byte(body), &fromYAML); err != nil || len(fromYAML) != len(listing) {
				t.Fatalf("YAML export: %v, %d rows", err, len(fromYAML))
			}
			// Every row equal to the listing's, once both are read as JSON values.
			asJSON, _ := json.Marshal(fromYAML)
			var yamlRows []any
			_ = json.Unmarshal(asJSON, &yamlRows)
			if got, _ := json.Marshal(yamlRows); string(got) != string(want) {
				t.Errorf("the YAML export differs from the listing: %.300s against %.300s", got, want)
			}

			// A limit is honoured; a bad query or format is a 400 before anything streams.
			if body, _ := download(admin, "json", "fields=n&sort=n&limit=3"); body != `[{"n":0},{"n":1},{"n":2}]` {
				t.Errorf("limited export: %s", body)
			}
			if st, _ := admin.call("GET", p+"/utils/export/entries?format=xml", nil, nil); st != 400 {
				t.Errorf("format xml: %d", st)
			}
			if st, _ := admin.call("GET", p+"/utils/export/entries?filter=%7B%22nope%22%3A1%7D", nil, nil); st != 400 {
				t.Errorf("a bad filter: %d", st)
			}

			// A user exports what their read rule lets them read, and nothing when none.
			user := tenantUser(t, admin, "acme", "u@example.com")
			if st, _ := user.call("GET", p+"/utils/export/entries", nil, nil); st != 403 {
				t.Errorf("an export without read permission: %d", st)
			}
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "entries", "action": "read",
				"permissions": map[string]any{"open": map[string]any{"_eq": true}}, "fields": []string{"id", "n", "open"}})
			body, _ = download(user, "json", "sort=n")
			var mine []map[string]any
			_ = json.Unmarshal([]byte(body), &mine)
			if len(mine) != (total+2)/3 {
				t.Errorf("the user exports %d rows, want %d", len(mine), (total+2)/3)
			}
			for _, r := range mine {
				if r["open"] != true || r["title"] != nil {
					t.Fatalf("the user exports a row or field they may not read: %v", r)
				}
			}
		})
	}
}

// exportRows is how many rows wideExport's table holds: enough that the export's
// answer outgrows the connection's buffers and waits on its client.
const exportRows = 30_000

// wideExport starts a node with env, imports exportRows wide rows into acme's "wide",
// and starts their CSV export, whose body the test reads (closed when it ends).
func wideExport(t *testing.T, env map[string]string) (*node, *http.Response) {
	t.Helper()
	admin := startNode(t, "sqlite://"+t.TempDir()+"/c.db", env)
	admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	wideTable(t, admin, "acme")
	if resp, raw := importStream(t, admin, "/api/t/acme/utils/import/wide", &csvRows{header: wideHeader, row: wideRow, n: exportRows}, "text/csv", nil); resp.StatusCode != 200 {
		t.Fatalf("import: %d %s", resp.StatusCode, raw)
	}
	req, _ := http.NewRequest("GET", admin.base+"/api/t/acme/utils/export/wide?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return admin, resp
}

// TestExportOutlastsTheWriteTimeout: the server's write timeout bounds a whole answer;
// an export's download gets it afresh for each page, so a client slower than the
// timeout still gets the whole file.
func TestExportOutlastsTheWriteTimeout(t *testing.T) {
	t.Parallel()
	_, resp := wideExport(t, map[string]string{"STRATA_WRITE_TIMEOUT": "1s"})
	// The client waits past the timeout before it reads: the server's writes fill the
	// connection's buffers and wait on it.
	time.Sleep(1500 * time.Millisecond)
	records, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(records) != exportRows+1 {
		t.Fatalf("a slow download: %d records, %v", len(records), err)
	}
}

// TestExportHoldsItsTenant: an export reads a page at a time and holds no connection
// while it waits for a slow client to take the last page; the tenant stays open on the
// node all the same, however long that takes past the tenant's idle timeout.
func TestExportHoldsItsTenant(t *testing.T) {
	t.Parallel()
	_, resp := wideExport(t, map[string]string{"STRATA_TENANT_IDLE_TIMEOUT": "1s"})
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past the idle timeout, the export waiting on the client
	records, err := csv.NewReader(io.MultiReader(bytes.NewReader(head), resp.Body)).ReadAll()
	if err != nil || len(records) != exportRows+1 {
		t.Fatalf("an export that waits past the idle timeout: %d records, %v", len(records), err)
	}
}

// TestExportCutShortIsVisible: an export that fails after its answer has begun (here
// its table is renamed between two pages) cuts the connection before the answer's end,
// so the client's read fails; it used to end the answer cleanly, and the CSV looked
// like a whole, shorter file.
func TestExportCutShortIsVisible(t *testing.T) {
	t.Parallel()
	admin, resp := wideExport(t, nil)
	// The first bytes arrive; the rest wait on the connection while the table goes.
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	admin.mustCall(200, "PATCH", "/api/t/acme/tables/wide", map[string]any{"name": "renamed"})
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		records, _ := csv.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(rest))).ReadAll()
		t.Fatalf("an export whose table went mid-way ended as a whole file of %d records (of %d)", len(records), exportRows+1)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("the read failed with %v", err)
	}
}
