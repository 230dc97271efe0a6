package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// csvRows is a CSV file of n generated rows, made as it is read: the client holds one
// row at a time, so what the process's memory shows is the server's.
type csvRows struct {
	header string
	row    func(i int) string
	n, i   int
	buf    []byte
	sent   bool
}

func (r *csvRows) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case !r.sent:
			r.buf, r.sent = []byte(r.header+"\n"), true
		case r.i < r.n:
			r.buf = []byte(r.row(r.i) + "\n")
			r.i++
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// wideRow is a row of about 200 bytes.
func wideRow(i int) string {
	return fmt.Sprintf("title %07d,%s,%d,%d.5,%t", i, strings.Repeat(string(rune('a'+i%26)), 150), i, i, i%2 == 0)
}

const wideHeader = "title,body,n,amount,flag"

func wideTable(t *testing.T, n *node, slug string) {
	t.Helper()
	n.mustCall(200, "POST", "/api/t/"+slug+"/tables", map[string]any{"name": "wide", "columns": []any{
		map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "body", "type": "text"},
		map[string]any{"name": "n", "type": "integer"}, map[string]any{"name": "amount", "type": "float"},
		map[string]any{"name": "flag", "type": "boolean"}}})
}

// residentOf is a process's resident memory (VmRSS), in bytes.
func residentOf(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in the server's status")
	return 0
}

// peakResident samples a process's resident memory every 10 ms until stopped, and
// answers the highest.
func peakResident(t *testing.T, pid int) (stop func() int64) {
	var peak int64
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak = max(peak, residentOf(t, pid))
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		<-sampled
		return peak
	}
}

// importStream posts body (of unknown length: chunked) to the import route.
func importStream(t *testing.T, n *node, path string, body io.Reader, ctype string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.base+path, body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+n.token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// TestImportMemoryStaysFlat: 100,000 CSV rows of about 200 bytes (18 MB) stream through
// an all-or-nothing import without the server holding the file or its rows: the server
// process's resident memory, sampled while the import runs, grows by less than one and
// a half times the file (a batch in flight, about 5 MB, the keys kept for the after
// hooks, 1.6 MB, the collector's headroom and, on SQLite, the database's cache). With
// the body buffered it grew by four times the file, with the rows held by eight.
func TestImportMemoryStaysFlat(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; it measures a server process of its own
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("reads the server process's resident memory from /proc, which this system has not")
	}
	const rows = 100_000
	size := int64(len(wideHeader) + 1)
	for i := range rows {
		size += int64(len(wideRow(i)) + 1)
	}
	mb := func(n int64) float64 { return float64(n) / 1e6 }
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			// The server runs in a process of its own: this one's other tests allocate
			// beside the import, and its resident memory would be theirs too.
			p := startProc(t, map[string]string{"STRATA_DATABASE_URL": b.newControlURL(t), "STRATA_DATA_DIR": t.TempDir(),
				"STRATA_ADMIN_PASSWORD": testPassword, "STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!", "STRATA_LOG_LEVEL": "warn"})
			admin := p.node(t)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			wideTable(t, admin, "acme")
			// A small import first, so the pools, caches and code an import uses are
			// already in memory when the large one is measured.
			if resp, raw := importStream(t, admin, "/api/t/acme/utils/import/wide", &csvRows{header: wideHeader, row: wideRow, n: 1000}, "text/csv", nil); resp.StatusCode != 200 {
				t.Fatalf("warm-up import: %d %s", resp.StatusCode, raw)
			}
			pid := p.cmd.Process.Pid
			before := residentOf(t, pid)
			stop := peakResident(t, pid)
			start := time.Now()
			resp, raw := importStream(t, admin, "/api/t/acme/utils/import/wide", &csvRows{header: wideHeader, row: wideRow, n: rows}, "text/csv", nil)
			took := time.Since(start)
			peak := stop()
			if resp.StatusCode != 200 || !bytes.Contains(raw, []byte(`"imported":100000`)) {
				t.Fatalf("import: %d %s", resp.StatusCode, raw)
			}
			t.Logf("%d rows, %.1f MB in %v (%.0f rows/s); the server's resident memory %.1f MB before, peak %.1f MB (+%.1f)",
				rows, mb(size), took.Round(time.Millisecond), rows/took.Seconds(), mb(before), mb(peak), mb(peak-before))
			// Holding the file would cost at least its size, holding its rows several
			// times that; streaming costs a batch in flight and the database's caches.
			if grew := peak - before; grew > 3*size/2 {
				t.Errorf("the server's resident memory grew by %.1f MB during a %.1f MB import: the file or its rows are held", mb(grew), mb(size))
			}
			if n := countRows(t, admin, "acme", "wide"); n != rows+1000 {
				t.Errorf("rows after the import: %d", n-1000)
			}
		})
	}
}

// TestImportLimits: the body, rows, fields and row size of an import are bounded by
// their own settings, while other routes keep the body limit; a refusal past a bound
// names the row and writes nothing.
func TestImportLimits(t *testing.T) {
	t.Parallel()
	admin := startNode(t, "sqlite://"+t.TempDir()+"/c.db", map[string]string{"STRATA_IMPORT_MAX_ROWS": "5",
		"STRATA_IMPORT_MAX_FIELDS": "3", "STRATA_IMPORT_MAX_ROW_BYTES": "100", "STRATA_BODY_LIMIT": "256"})
	admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	p := "/api/t/acme"
	admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "notes", "columns": []any{
		map[string]any{"name": "a", "type": "string"}, map[string]any{"name": "b", "type": "string"},
		map[string]any{"name": "c", "type": "string"}, map[string]any{"name": "d", "type": "text"}}})
	csv := map[string]string{"Content-Type": "text/csv"}
	rows := func(n int) string {
		var sb strings.Builder
		sb.WriteString("a,d\n")
		for i := range n {
			fmt.Fprintf(&sb, "%d,%s\n", i, strings.Repeat("x", 60))
		}
		return sb.String()
	}
	// A body longer than the body limit is the import's to bound.
	if st, r := admin.call("POST", p+"/utils/import/notes", rows(5), csv); st != 200 || r.get("data.imported") != float64(5) {
		t.Fatalf("an import over the body limit, under its own: %d %s", st, r)
	}
	if st, _ := admin.call("POST", p+"/items/notes", `{"a":"`+strings.Repeat("x", 300)+`"}`, nil); st != 413 {
		t.Errorf("an item over the body limit: %d", st)
	}
	// A row is bounded past what the reader held when it began (a few KiB).
	long := "a,d\n1,2\n2," + strings.Repeat("x", 5000) + "\n"
	for _, tc := range []struct {
		name  string
		query string
		body  string
		want  string
	}{
		{"rows", "", rows(6), "at most 5 rows"},
		{"rows, partial", "?partial=true", rows(6), `"imported":0`},
		{"fields", "", "a,b,c,d\n1,2,3,4\n", "at most 3 fields"},
		{"row bytes", "", long, "row 2 is larger than 100 bytes"},
		{"row bytes, partial", "?partial=true", long, "row 2 is larger than 100 bytes"},
	} {
		resp, raw := importStream(t, admin, p+"/utils/import/notes"+tc.query, strings.NewReader(tc.body), "text/csv", nil)
		if resp.StatusCode != 400 || !strings.Contains(string(raw), tc.want) {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, raw)
		}
	}
	if n := countRows(t, admin, "acme", "notes"); n != 5 {
		t.Errorf("imports refused at a bound wrote %d rows", n-5)
	}

	// The create rule is checked before the body is read: a caller without it is
	// answered after the first bytes of a 100 MB body, and the connection closes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(admin.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST %s/utils/import/notes HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\na\n", p, 100<<20)
	_, _ = conn.Write(bytes.Repeat([]byte("x\n"), 8<<10))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != 401 || !resp.Close {
		t.Errorf("an anonymous import of 100 MB: %d %s %v", resp.StatusCode, raw, resp.Header)
	}

	// The body's bound: refused from its length when it is given, else as it is read.
	small := startNode(t, "sqlite://"+t.TempDir()+"/c.db", map[string]string{"STRATA_IMPORT_MAX_BYTES": "4096"})
	small.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	small.mustCall(200, "POST", p+"/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "a", "type": "string"}}})
	for name, body := range map[string]io.Reader{"sized": strings.NewReader(strings.Repeat("a\n", 2049)),
		"chunked": &csvRows{header: "a", row: func(int) string { return "x" }, n: 2048}} {
		resp, raw := importStream(t, small, p+"/utils/import/notes", body, "text/csv", nil)
		if resp.StatusCode != 413 || !strings.Contains(string(raw), "CONTENT_TOO_LARGE") {
			t.Errorf("a body past the bound, %s: %d %s", name, resp.StatusCode, raw)
		}
	}
	if n := countRows(t, small, "acme", "notes"); n != 0 {
		t.Errorf("imports past the byte bound wrote %d rows", n)
	}
}

// TestImportEventsOutlastTheWriteTimeout: the server's write timeout bounds a whole
// answer; an import's event stream gets it afresh for each event, so an import longer
// than it streams to its end.
func TestImportEventsOutlastTheWriteTimeout(t *testing.T) {
	t.Parallel()
	admin := startNode(t, "sqlite://"+t.TempDir()+"/c.db", map[string]string{"STRATA_WRITE_TIMEOUT": "1s"})
	admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	wideTable(t, admin, "acme")
	start := time.Now()
	status, events := importEvents(t, admin, "/api/t/acme/utils/import/wide", &csvRows{header: wideHeader, row: wideRow, n: 60_000}, "text/csv")
	if took := time.Since(start); took < 1100*time.Millisecond {
		t.Logf("the import took %v: too quick to outlast the timeout here", took)
	}
	if status != 200 || len(events) == 0 || events[len(events)-1].name != "result" {
		t.Fatalf("events of an import longer than the write timeout: %d, %d events, last %v", status, len(events), events[max(0, len(events)-1):])
	}
}

// importEvents posts a file to an import asking for server-sent events and reads them
// all; an answer that is not a stream comes back as its status and no events.
func importEvents(t *testing.T, n *node, path string, body io.Reader, ctype string) (int, []event) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.base+path, body)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, nil
	}
	var out []event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var cur event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = reply{}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.data); err != nil {
				t.Fatalf("event %s data is not JSON: %q", cur.name, line)
			}
		case line == "" && cur.name != "":
			out = append(out, cur)
			cur = event{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the events: %v", err)
	}
	return resp.StatusCode, out
}

// rowErrors are the rows and fields an import's errors name: "row:field:code".
func rowErrors(list []any) []string {
	var out []string
	for _, x := range list {
		e := x.(map[string]any)
		if ext, ok := e["extensions"].(map[string]any); ok { // the error envelope
			e = ext
		}
		out = append(out, fmt.Sprintf("%v:%v:%v", e["row"], e["field"], e["code"]))
	}
	return out
}

func countRows(t *testing.T, n *node, slug, table string) int {
	t.Helper()
	r := n.mustCall(200, "GET", "/api/t/"+slug+"/items/"+table+"?aggregate[count]=*", nil)
	c, err := strconv.Atoi(fmt.Sprint(r.get("data.0.count")))
	if err != nil {
		t.Fatalf("count of %s: %s", table, r)
	}
	return c
}

// TestImportItems: POST /utils/import/{table} writes a CSV or JSON file's rows as POST
// /items would: typed by their columns, under the caller's create rule, field list,
// presets and row rule, in the activity log with revisions. All or nothing, a bad row
// writes nothing and the answer names every bad row and field; partial, the good rows
// are written and the bad ones listed. With Accept: text/event-stream, progress events
// come as batches are written, then the same result.
func TestImportItems(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			p := "/api/t/acme"
			admin.mustCall(200, "POST", p+"/tables", map[string]any{"name": "entries", "columns": []any{
				map[string]any{"name": "title", "type": "string", "nullable": false},
				map[string]any{"name": "code", "type": "string", "unique": true},
				map[string]any{"name": "n", "type": "integer"}, map[string]any{"name": "amount", "type": "float"},
				map[string]any{"name": "open", "type": "boolean"}, map[string]any{"name": "meta", "type": "json"}}})
			csvHeaders := map[string]string{"Content-Type": "text/csv"}
			csvImport := func(who *node, query, file string) (int, reply) {
				t.Helper()
				return who.call("POST", p+"/utils/import/entries"+query, file, csvHeaders)
			}

			// Typed by the columns; an empty cell of a nullable column is null.
			st, r := csvImport(admin, "", "title,code,n,amount,open,meta\n"+
				"first,c1,1,1.5,true,\"{\"\"tags\"\":[\"\"a\"\"]}\"\n"+
				"second,c2,,2,false,\n"+
				"\"third, with a comma\",c3,3,-0.25,1,\"[1,2]\"\n")
			if st != 200 || r.get("data.imported") != float64(3) || r.get("data.failed") != nil {
				t.Fatalf("import: %d %s", st, r)
			}
			rows := admin.mustCall(200, "GET", p+"/items/entries?sort=code&fields=id,title,code,n,amount,open,meta", nil).get("data").([]any)
			got, _ := json.Marshal(rows[0])
			first := rows[0].(map[string]any)
			if len(rows) != 3 || first["n"] != float64(1) || first["amount"] != 1.5 || first["open"] != true ||
				fmt.Sprint(first["meta"]) != "map[tags:[a]]" || rows[1].(map[string]any)["n"] != nil ||
				rows[1].(map[string]any)["meta"] != nil || rows[2].(map[string]any)["title"] != "third, with a comma" {
				t.Fatalf("rows as imported: %s; %v", got, rows)
			}
			// Each row is in the activity log, as the caller, with its revision.
			for _, row := range rows {
				id := row.(map[string]any)["id"].(string)
				f, _ := json.Marshal(map[string]any{"item": map[string]any{"_eq": id}})
				acts := admin.mustCall(200, "GET", p+"/activity?filter="+url.QueryEscape(string(f)), nil).get("data").([]any)
				if len(acts) != 1 || acts[0].(map[string]any)["action"] != "create" || acts[0].(map[string]any)["collection"] != "entries" ||
					acts[0].(map[string]any)["user"] == nil || acts[0].(map[string]any)["ip"] != "127.0.0.1" {
					t.Fatalf("activity of an imported row: %v", acts)
				}
				revs := admin.mustCall(200, "GET", p+"/revisions?filter="+url.QueryEscape(string(f)), nil).get("data").([]any)
				if len(revs) != 1 {
					t.Fatalf("revisions of an imported row: %v", revs)
				}
			}

			// All or nothing: bad rows write nothing, and each is named with its field.
			bad := "title,code,n,open\n" +
				"ok,c10,1,true\n" +
				"bad n,c11,one,true\n" +
				",c12,2,false\n" + // title is not nullable: the empty cell is "", a string
				"bad open,c13,3,maybe\n" +
				"dup,c1,4,true\n" + // code is unique
				"short,c15\n"
			st, r = csvImport(admin, "", bad)
			errs, _ := r.get("errors").([]any)
			want := []string{"2:n:INVALID_PAYLOAD", "4:open:INVALID_PAYLOAD", "5:code:RECORD_NOT_UNIQUE", "6:body:INVALID_PAYLOAD"}
			if st != 400 || strings.Join(rowErrors(errs), " ") != strings.Join(want, " ") || r.get("errors.0.extensions.failed") != float64(4) ||
				!strings.HasPrefix(r.get("errors.0.message").(string), "row 2: ") {
				t.Fatalf("all or nothing with bad rows: %d %s", st, r)
			}
			if n := countRows(t, admin, "acme", "entries"); n != 3 {
				t.Fatalf("a refused import wrote %d rows", n-3)
			}
			// Partial: the good rows are written, the bad ones listed.
			st, r = csvImport(admin, "?partial=true", bad)
			errs, _ = r.get("data.errors").([]any)
			if st != 200 || r.get("data.imported") != float64(2) || r.get("data.failed") != float64(4) ||
				strings.Join(rowErrors(errs), " ") != strings.Join(want, " ") || r.get("data.errors.0.message") == "" {
				t.Fatalf("partial with bad rows: %d %s", st, r)
			}
			if n := countRows(t, admin, "acme", "entries"); n != 5 {
				t.Fatalf("a partial import left %d rows, want 5", n)
			}

			// JSON, as the body and as a multipart file.
			st, r = admin.call("POST", p+"/utils/import/entries?partial=true",
				`[{"title":"j1","code":"j1","n":7,"meta":{"x":[1]}}, 5, {"title":"j2","nope":1}, {"title":"j3","code":"j3"}]`, nil)
			errs, _ = r.get("data.errors").([]any)
			if st != 200 || r.get("data.imported") != float64(2) || strings.Join(rowErrors(errs), " ") != "2:body:INVALID_PAYLOAD 3:nope:INVALID_PAYLOAD" {
				t.Fatalf("JSON import: %d %s", st, r)
			}
			var form bytes.Buffer
			mw := multipart.NewWriter(&form)
			_ = mw.WriteField("note", "fields before the file are read past")
			fw, _ := mw.CreateFormFile("file", "entries.csv")
			_, _ = fw.Write([]byte("title,code\nm1,m1\nm2,m2\n"))
			_ = mw.Close()
			st, r = admin.call("POST", p+"/utils/import/entries", form.String(), map[string]string{"Content-Type": mw.FormDataContentType()})
			if st != 200 || r.get("data.imported") != float64(2) {
				t.Fatalf("multipart import: %d %s", st, r)
			}
			if n := countRows(t, admin, "acme", "entries"); n != 9 {
				t.Fatalf("after the JSON and multipart imports: %d rows, want 9", n)
			}

			// A header's unknown or server-set field, or an unknown format, is refused
			// before any row.
			for file, want := range map[string]string{"title,nope\nx,y\n": `no field \"nope\"`, "title,created_at\nx,y\n": "set by the server"} {
				if st, r := csvImport(admin, "", file); st != 400 || !strings.Contains(r.String(), want) {
					t.Errorf("header %q: %d %s", file, st, r)
				}
			}
			if st, _ := admin.call("POST", p+"/utils/import/entries", "title\nx\n", map[string]string{"Content-Type": "text/plain"}); st != 400 {
				t.Errorf("an unknown format: %d", st)
			}

			// Permissions: no create rule is a refusal before the file is read; a field
			// outside the list is refused from the header; presets fill in; the row rule
			// names the rows outside it.
			user := tenantUser(t, admin, "acme", "u@example.com")
			if st, _ := csvImport(user, "", "title\nx\n"); st != 403 {
				t.Errorf("an import without create permission: %d", st)
			}
			anon := &node{t: t, base: admin.base}
			if st, _ := csvImport(anon, "", "title\nx\n"); st != 401 {
				t.Errorf("an anonymous import: %d", st)
			}
			authd := roleID(t, admin, "acme", "authenticated")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "entries", "action": "create",
				"permissions": map[string]any{"n": map[string]any{"_lt": 100}}, "fields": []string{"title", "code", "n"}, "presets": map[string]any{"open": true}})
			if st, r := csvImport(user, "", "title,meta\nx,{}\n"); st != 403 || r.get("errors.0.extensions.field") != "meta" {
				t.Errorf("a field outside the user's list: %d %s", st, r)
			}
			st, r = csvImport(user, "?partial=true", "title,code,n\nu1,u1,1\nu2,u2,500\nu3,u3,3\n")
			errs, _ = r.get("data.errors").([]any)
			if st != 200 || r.get("data.imported") != float64(2) || strings.Join(rowErrors(errs), " ") != "2:<nil>:FORBIDDEN" {
				t.Fatalf("a user's import under a row rule: %d %s", st, r)
			}
			f, _ := json.Marshal(map[string]any{"code": map[string]any{"_in": []string{"u1", "u3"}}})
			for _, row := range admin.mustCall(200, "GET", p+"/items/entries?filter="+url.QueryEscape(string(f)), nil).get("data").([]any) {
				if row.(map[string]any)["open"] != true || row.(map[string]any)["owner_id"] == nil {
					t.Fatalf("the preset or owner of a user's imported row: %v", row)
				}
			}

			// Progress as events: one per batch, counting up, then the result the answer
			// would have been; a refusal is an error event in the error envelope.
			const many = 1200
			status, events := importEvents(t, admin, p+"/utils/import/entries", &csvRows{header: "title,n", row: func(i int) string { return fmt.Sprintf("e%d,%d", i, i) }, n: many}, "text/csv")
			if status != 200 || len(events) < 4 {
				t.Fatalf("events: %d %v", status, events)
			}
			last := 0
			for _, e := range events[:len(events)-1] {
				rows, _ := e.data.get("rows").(float64)
				if e.name != "progress" || int(rows) < last || e.data.get("bytes") == nil || e.data.get("failed") != float64(0) {
					t.Fatalf("progress events: %v", events)
				}
				last = int(rows)
			}
			if end := events[len(events)-1]; last != many || end.name != "result" || end.data.String() != `{"data":{"imported":1200}}` {
				t.Fatalf("the result event: %v", events)
			}
			status, events = importEvents(t, admin, p+"/utils/import/entries", strings.NewReader("title,n\nx,1\ny,two\n"), "text/csv")
			if end := events[len(events)-1]; status != 200 || end.name != "error" || strings.Join(rowErrors(end.data.get("errors").([]any)), " ") != "2:n:INVALID_PAYLOAD" {
				t.Fatalf("a refused import's events: %v", events)
			}
			if n := countRows(t, admin, "acme", "entries"); n != 11+many {
				t.Fatalf("after the streamed imports: %d rows, want %d", n, 11+many)
			}
		})
	}
}

// TestItemsCLI: strata items import and export against a running server: a file's rows
// written (all or nothing, or partial, the refused rows listed and exit 1), a table
// exported to a file or standard output with its rows counted, progress drawn on a
// terminal, and a missing server a usage error.
func TestItemsCLI(t *testing.T) {
	t.Parallel()
	admin := startNode(t, "sqlite://"+t.TempDir()+"/c.db", nil)
	admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	admin.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "entries", "columns": []any{
		map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "n", "type": "integer"},
		map[string]any{"name": "meta", "type": "json"}}})
	env := map[string]string{"STRATA_SERVER": admin.base, "STRATA_TOKEN": admin.token}
	dir := t.TempDir()
	write := func(name, content string) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	items := func(args ...string) (int, string, string) {
		return runCommand(env, append([]string{"items"}, args...)...)
	}
	good := write("good.csv", "title,n,meta\na,1,\"{\"\"k\"\":1}\"\nb,2,\nc,3,[]\n")
	if code, out, errOut := items("import", "--tenant", "acme", "--table", "entries", good); code != 0 || out != "imported 3 rows into acme/entries\n" {
		t.Fatalf("import: exit %d, %q %q", code, out, errOut)
	}
	bad := write("bad.csv", "title,n\nd,4\ne,five\nf,6\ng,seven\n")
	code, out, errOut := items("import", "--tenant", "acme", "--table", "entries", bad)
	if code != 1 || out != "" || !strings.Contains(errOut, "row 2: n: must be an integer") || !strings.Contains(errOut, "row 4: n: must be an integer") {
		t.Fatalf("all or nothing with bad rows: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = items("import", bad, "--tenant", "acme", "--table", "entries", "--partial")
	if code != 1 || !strings.HasPrefix(out, "imported 2 rows into acme/entries; 2 refused:\n  row 2: INVALID_PAYLOAD: n: must be an integer\n") {
		t.Fatalf("partial: exit %d, %q", code, out)
	}
	code, out, _ = items("import", "--tenant", "acme", "--table", "entries", "--json", write("rows.json", `[{"title":"h","n":8}]`))
	if code != 0 || !strings.Contains(out, `"imported": 1`) {
		t.Fatalf("JSON import with --json: exit %d, %q", code, out)
	}
	if n := countRows(t, admin, "acme", "entries"); n != 6 {
		t.Fatalf("after the CLI's imports: %d rows, want 6", n)
	}

	// Export: to a file, with its rows counted; the file is the server's export.
	file := dir + "/out.csv"
	code, out, errOut = items("export", "--tenant", "acme", "--table", "entries", "--format", "csv", "--out", file, "--filter", `{"n":{"_lte":3}}`)
	if code != 0 || out != "" || !strings.HasPrefix(errOut, "exported 3 rows") {
		t.Fatalf("export to a file: exit %d, %q %q", code, out, errOut)
	}
	got, _ := os.ReadFile(file)
	req, _ := http.NewRequest("GET", admin.base+"/api/t/acme/utils/export/entries?format=csv&filter="+url.QueryEscape(`{"n":{"_lte":3}}`), nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, want) || !strings.Contains(string(got), `"{""k"":1}"`) {
		t.Fatalf("the exported file:\n%s\nthe server's export:\n%s", got, want)
	}
	for format, check := range map[string]func(string) bool{
		"json": func(s string) bool { var v []any; return json.Unmarshal([]byte(s), &v) == nil && len(v) == 6 },
		"yaml": func(s string) bool { return strings.Count(s, "\n- ") == 5 && strings.HasPrefix(s, "- ") },
	} {
		code, out, errOut = items("export", "--tenant", "acme", "--table", "entries", "--format", format)
		if code != 0 || !check(out) || !strings.HasPrefix(errOut, "exported 6 rows") {
			t.Errorf("export as %s to standard output: exit %d, %q %q", format, code, out, errOut)
		}
	}

	// On a terminal, progress is drawn on standard error.
	var drawn bytes.Buffer
	rd, err := newRemoteDoor(admin.base, admin.token)
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{ctx: context.Background(), prog: "strata items import", out: io.Discard, errOut: &drawn, tty: true}
	path := dir + "/many.csv"
	f, _ := os.Create(path)
	_, _ = io.Copy(f, &csvRows{header: "title,n", row: func(i int) string { return fmt.Sprintf("m%d,%d", i, i) }, n: 3000})
	f.Close()
	fl := newItemsFlags("import")
	fl.tenant, fl.table, fl.args = "acme", "entries", []string{path}
	if code, err := c.itemsImport(rd, fl, nil); code != 0 || err != nil {
		t.Fatalf("import with progress: %d %v", code, err)
	}
	if s := drawn.String(); !strings.Contains(s, "\r\033[Kimporting many.csv [") || !strings.Contains(s, "00 rows (0 refused), 0.0 MB of 0.0 MB") {
		t.Errorf("progress drawn: %q", s)
	}

	if code, _, errOut := runCommand(nil, "items", "export", "--tenant", "acme", "--table", "entries"); code != exitUsage || !strings.Contains(errOut, "--server") {
		t.Errorf("without a server: exit %d, %q", code, errOut)
	}
}

// TestImportRunsTheTenantsHooks: an import's rows go through the tenant's functions as
// POST /items's do: a before hook rewrites each row once (a batch written again a row at
// a time starts from the rows as read), another refuses one, naming its row; an after
// hook hears of each row written, and of none when the import is refused.
func TestImportRunsTheTenantsHooks(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/c.db", nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	p := "/api/t/acme"
	n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
		map[string]any{"name": "slug", "type": "string", "unique": true}, map[string]any{"name": "title", "type": "string"}}})
	n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "audit", "columns": []any{map[string]any{"name": "note", "type": "string"}}})
	createFunction(t, n, "acme", map[string]any{"name": "shout", "kind": "hook", "table": "posts", "event": "create", "phase": "before", "priority": 2,
		"source": `export default async function (ctx: any) { ctx.event.payload.title = String(ctx.event.payload.title).toUpperCase() + "!" }`})
	createFunction(t, n, "acme", map[string]any{"name": "guard", "kind": "hook", "table": "posts", "event": "create", "phase": "before", "priority": 1,
		"source": `export default async function (ctx) { if (ctx.event.payload.title === "spam") ctx.reject(422, "SPAM", "no spam here") }`})
	createFunction(t, n, "acme", map[string]any{"name": "note", "kind": "hook", "table": "posts", "event": "create", "phase": "after",
		"source": `export default async function (ctx) { await ctx.items("audit").createOne({note: ctx.event.payload.slug}) }`})
	file := "slug,title\na,hello\nb,spam\nc,world\nd,again\n"
	st, r := n.call("POST", p+"/utils/import/posts", file, map[string]string{"Content-Type": "text/csv"})
	if st != 422 || r.get("errors.0.extensions.code") != "SPAM" || r.get("errors.0.extensions.row") != float64(2) || r.get("errors.1") != nil {
		t.Fatalf("an import a hook refuses a row of: %d %s", st, r)
	}
	if rows := rowsOf(n, "acme", "posts", "slug"); len(rows) != 0 {
		t.Fatalf("a refused import left rows: %v", rows)
	}
	st, r = n.call("POST", p+"/utils/import/posts?partial=true", file, map[string]string{"Content-Type": "text/csv"})
	if st != 200 || r.get("data.imported") != float64(3) || r.get("data.errors.0.row") != float64(2) || r.get("data.errors.0.code") != "SPAM" {
		t.Fatalf("a partial import: %d %s", st, r)
	}
	rows := rowsOf(n, "acme", "posts", "slug")
	for slug, want := range map[string]string{"a": "HELLO!", "c": "WORLD!", "d": "AGAIN!"} {
		if rows[slug]["title"] != want {
			t.Errorf("%s: title %v, want %s (rewritten once)", slug, rows[slug]["title"], want)
		}
	}
	notedOnce(t, n, "acme", "a", "c", "d")
}

// pausingRows is a CSV of n rows that stops for pause after row at, as a slow client
// would.
type pausingRows struct {
	csvRows
	at    int
	pause time.Duration
}

func (r *pausingRows) Read(p []byte) (int, error) {
	if r.i == r.at && len(r.buf) == 0 && r.pause > 0 {
		time.Sleep(r.pause)
		r.pause = 0
	}
	return r.csvRows.Read(p)
}

// TestImportHoldsItsTenant: a partial import holds no connection between its batches,
// while it waits for the client's next rows; the tenant stays open on the node all the
// same, however long that takes past the tenant's idle timeout.
func TestImportHoldsItsTenant(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/c.db", map[string]string{"STRATA_TENANT_IDLE_TIMEOUT": "1s"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	wideTable(t, n, "acme")
	body := &pausingRows{csvRows: csvRows{header: wideHeader, row: wideRow, n: 800}, at: 600, pause: 3 * time.Second}
	resp, raw := importStream(t, n, "/api/t/acme/utils/import/wide?partial=true", body, "text/csv", nil)
	if resp.StatusCode != 200 || !bytes.Contains(raw, []byte(`"imported":800`)) {
		t.Fatalf("an import that waits past the idle timeout: %d %s", resp.StatusCode, raw)
	}
}

// TestTransfersPerTenant: a tenant runs at most STRATA_TRANSFERS_PER_TENANT imports and
// exports at once on a node; the next is refused with 429 before its body is read, and
// once one ends another may start. Each running transfer holds the tenant's pool open
// (and an import its transaction) for as long as its client takes, so without the bound
// a tenant admin could pile up as many as the node takes connections.
func TestTransfersPerTenant(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/c.db", map[string]string{"STRATA_TRANSFERS_PER_TENANT": "1"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "title", "type": "string"}}})
	importURL := n.base + "/api/t/acme/utils/import/notes"
	post := func(body io.Reader) (int, string, error) {
		req, _ := http.NewRequest("POST", importURL, body)
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+n.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), nil
	}

	// An import whose client sends its header, then waits.
	slow, feed := io.Pipe()
	first := make(chan string, 1)
	go func() {
		st, raw, err := post(slow)
		first <- fmt.Sprint(st, " ", raw, " ", err)
	}()
	if _, err := feed.Write([]byte("title\nfirst\n")); err != nil {
		t.Fatal(err)
	}

	// Once it holds its turn, a second import and an export are refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, raw, err := post(strings.NewReader("title\nsecond\n"))
		if err != nil {
			t.Fatal(err)
		}
		if st == 429 {
			if !strings.Contains(raw, "REQUESTS_EXCEEDED") || !strings.Contains(raw, "STRATA_TRANSFERS_PER_TENANT") {
				t.Fatalf("the refusal should say why: %s", raw)
			}
			break
		}
		if st != 200 || time.Now().After(deadline) {
			t.Fatalf("a second import while the first runs: %d %s", st, raw)
		}
		time.Sleep(20 * time.Millisecond) // the first has not taken its turn yet
	}
	if st, r := n.call("GET", "/api/t/acme/utils/export/notes?format=csv", nil, nil); st != 429 {
		t.Fatalf("an export while an import runs: %d %s", st, r)
	}

	// The first ends; the next may start.
	_ = feed.Close()
	if got := <-first; !strings.HasPrefix(got, "200 ") {
		t.Fatalf("the first import: %s", got)
	}
	if st, raw, err := post(strings.NewReader("title\nthird\n")); err != nil || st != 200 {
		t.Fatalf("an import after the first ended: %d %s %v", st, raw, err)
	}
	if st, r := n.call("GET", "/api/t/acme/items/notes?filter[title][_eq]=first&aggregate[count]=*", nil, nil); st != 200 || fmt.Sprint(r.get("data.0.count")) != "1" {
		t.Fatalf("the first import's row: %d %s", st, r)
	}
}
