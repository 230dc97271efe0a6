package rest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.yaml.in/yaml/v3"

	"strata/modules/apierr"
	"strata/modules/query"
)

// exportPage is how many rows an export reads at a time while it streams.
const exportPage = 500

// exportTime bounds how long one export may stream.
const exportTime = time.Hour

// exportItems is GET /utils/export/{table}?format=csv|json|yaml with the query
// language: the rows the caller may read, as the listing answers them, streamed a page
// at a time (all of them unless limit is given), as a download.
func (a *API) exportItems(c *fiber.Ctx) error {
	format := c.Query("format", "json")
	if !slices.Contains([]string{"csv", "json", "yaml"}, format) {
		return apierr.InvalidPayload("format", "format is csv, json or yaml")
	}
	sc, t, err := a.itemsTable(c)
	if err != nil {
		return err
	}
	p := params(c)
	delete(p, "format")
	_, paged := p["limit"]
	_, offset := p["offset"]
	_, page := p["page"]
	q, err := a.Records.Resolver(sc).Parse(t, p)
	if err != nil {
		return err
	}
	if len(q.Aggregate) > 0 {
		return apierr.InvalidPayload("aggregate", "an export lists rows; aggregate with GET /items")
	}
	whole := !paged && !offset && !page
	if whole {
		// Pages follow each other by offset: the key breaks ties, so no row is read twice
		// or skipped between pages.
		q.Limit, q.All, q.Offset = exportPage, false, 0
		q.Sort = append(q.Sort, query.Sort{Column: t.Column("id")})
	}
	q.Meta = query.Meta{}
	// The first page is read before the answer starts: an error is still an error.
	first, err := a.Records.Runner(sc).Run(c.UserContext(), q)
	if err != nil {
		return err
	}
	names := exportColumns(q, first.Data)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.%s"`, t.Name, format))
	switch format {
	case "csv":
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	case "yaml":
		c.Set(fiber.HeaderContentType, "application/yaml")
	default:
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	}
	ctx := context.WithoutCancel(c.UserContext())
	runner, slug, log, conn := a.Records.Runner(sc), sc.Slug, a.Log, c.Context().Conn()
	// Between pages the export holds no connection while a slow client takes the last
	// one: it holds the tenant's pool open past the idle timeout.
	release, err := a.Tenants.Hold(ctx, tenantOf(c).t)
	if err != nil {
		return err
	}
	// fasthttp runs the writer as soon as it is set, whatever becomes of the answer.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		ctx, cancel := context.WithTimeout(ctx, exportTime)
		defer cancel()
		// The answer has begun, so an error cannot be its status: the connection is cut
		// before the chunked answer's last chunk, which every client reads as a file cut
		// short (Go: unexpected EOF), where ending the answer would look like a whole
		// file. The log says why.
		cut := func(err error) {
			log.Warn("export cut short", "tenant", slug, "table", q.Table.Name, "err", err)
			_ = conn.Close()
		}
		out := newExportWriter(format, w, names)
		rows := first.Data
		for {
			// The server's write timeout bounds a whole answer, which a large export to a
			// slow client outlasts: each page gets it afresh.
			_ = conn.SetWriteDeadline(time.Now().Add(streamIdle))
			for _, row := range rows {
				if err := out.row(row); err != nil {
					cut(err)
					return
				}
			}
			if !whole || len(rows) < exportPage {
				break
			}
			q.Offset += exportPage
			next, err := runner.Run(ctx, q)
			if err != nil {
				cut(err)
				return
			}
			rows = next.Data
		}
		if err := out.end(); err != nil {
			cut(err)
		}
	})
	return nil
}

// exportColumns are a CSV's columns: the fields asked for, in their order (the
// selection's columns, then its relations).
func exportColumns(q *query.Query, rows []map[string]any) []string {
	var names []string
	if q.Select != nil {
		for _, col := range q.Select.Columns {
			names = append(names, col.Name)
		}
		for _, rel := range q.Select.Relations {
			names = append(names, rel.Field.Name)
		}
	}
	if len(names) == 0 && len(rows) > 0 {
		for k := range rows[0] {
			names = append(names, k)
		}
		slices.Sort(names)
	}
	return names
}

// exportWriter writes rows in one format.
type exportWriter struct {
	format string
	w      *bufio.Writer
	csv    *csv.Writer
	names  []string
	n      int
}

func newExportWriter(format string, w *bufio.Writer, names []string) *exportWriter {
	e := &exportWriter{format: format, w: w, names: names}
	switch format {
	case "csv":
		e.csv = csv.NewWriter(w)
		_ = e.csv.Write(names)
	case "json":
		_, _ = w.WriteString("[")
	}
	return e
}

func (e *exportWriter) row(row map[string]any) error {
	defer func() { e.n++ }()
	switch e.format {
	case "csv":
		rec := make([]string, len(e.names))
		for i, n := range e.names {
			rec[i] = cell(row[n])
		}
		if err := e.csv.Write(rec); err != nil {
			return err
		}
		if e.n%exportPage == exportPage-1 {
			e.csv.Flush()
			return e.csv.Error()
		}
		return nil
	case "yaml":
		b, err := yaml.Marshal([]map[string]any{jsonValues(row)})
		if err != nil {
			return err
		}
		_, err = e.w.Write(b)
		return err
	default:
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		if e.n > 0 {
			_ = e.w.WriteByte(',')
		}
		_, err = e.w.Write(b)
		return err
	}
}

func (e *exportWriter) end() error {
	switch e.format {
	case "csv":
		e.csv.Flush()
		return e.csv.Error()
	case "yaml":
		if e.n == 0 {
			_, _ = e.w.WriteString("[]\n")
		}
	default:
		_, _ = e.w.WriteString("]")
	}
	return e.w.Flush()
}

// cell is a value as a CSV cell: text as it is, null as empty, anything structured
// (JSON, related rows) as JSON.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.RawMessage:
		// As compact as the JSON export writes it, whatever spacing the database kept.
		var b bytes.Buffer
		if json.Compact(&b, x) != nil {
			return string(x)
		}
		return b.String()
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// jsonValues turns a row's raw JSON values into values YAML can write.
func jsonValues(row map[string]any) map[string]any {
	out := make(map[string]any, len(row))
	for k, v := range row {
		if raw, ok := v.(json.RawMessage); ok {
			var x any
			if json.Unmarshal(raw, &x) == nil {
				v = x
			}
		}
		out[k] = v
	}
	return out
}
