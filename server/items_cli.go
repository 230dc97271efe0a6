package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

const itemsUsage = `usage: strata items <command> [flags]

Asks a running server: --server URL (or STRATA_SERVER) with STRATA_TOKEN (a platform
API key, or a platform admin's or tenant user's access token). Rows are written and
read as that caller, under its permissions, hooks and activity log, so there is no
local mode. Every command takes --json. On a terminal, progress shows on stderr.

  import --tenant SLUG --table T FILE [--partial] [--format csv|json]
           write FILE's rows (- reads standard input; then --format is needed): CSV with
           a header of field names, or a JSON array of objects, the format from --format
           or the file's extension. All or nothing unless --partial; exits 1 when any
           row was refused, listing them
  export --tenant SLUG --table T [--format csv|json|yaml] [--filter JSON] [--out FILE]
           the rows the caller may read (default json), every one unless --filter
           narrows them, to FILE or standard output
`

// itemsFlags are the flags of `strata items`.
type itemsFlags struct {
	fs                                         *flag.FlagSet
	tenant, table, format, filter, out, server string
	partial, json                              bool
	args                                       []string
}

func newItemsFlags(cmd string) *itemsFlags {
	f := &itemsFlags{fs: flag.NewFlagSet("strata items "+cmd, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.tenant, "tenant", "", "tenant slug")
	fs.StringVar(&f.table, "table", "", "table")
	fs.StringVar(&f.format, "format", "", "import: csv or json (default: the file's extension); export: csv, json or yaml (default json)")
	fs.StringVar(&f.filter, "filter", "", "export: a filter in the query language's JSON")
	fs.StringVar(&f.out, "out", "", "export: write to this file instead of standard output")
	fs.StringVar(&f.server, "server", "", "the running server's base URL (default STRATA_SERVER)")
	fs.BoolVar(&f.partial, "partial", false, "import: write the good rows and list the bad ones")
	fs.BoolVar(&f.json, "json", false, "answer in JSON")
	return f
}

var itemsCommands = map[string]func(*cli, *remoteDoor, *itemsFlags, io.Reader) (int, error){
	"import": (*cli).itemsImport,
	"export": (*cli).itemsExport,
}

// runItems runs `strata items <command>` and returns the process exit code.
func runItems(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, itemsUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := args[0], args[1:]
	run, ok := itemsCommands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "strata items: unknown command %q\n\n%s", cmd, itemsUsage)
		return exitUsage
	}
	f := newItemsFlags(cmd)
	rest, err := parseInterleaved(f.fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "strata items %s: %v\n\n%s", cmd, err, itemsUsage)
		return exitUsage
	}
	f.args = rest
	c := &cli{ctx: ctx, prog: "strata items " + cmd, out: stdout, errOut: stderr, in: bufio.NewReader(stdin), json: f.json, tty: isTerminal(stderr)}
	server := cmp.Or(f.server, getenv("STRATA_SERVER"))
	if server == "" {
		c.fail(usagef("give the running server with --server URL or STRATA_SERVER, and STRATA_TOKEN"))
		return exitUsage
	}
	rd, err := newRemoteDoor(server, getenv("STRATA_TOKEN"))
	if err != nil {
		c.fail(err)
		return exitUsage
	}
	if f.tenant == "" || f.table == "" {
		c.fail(usagef("--tenant and --table are required"))
		return exitUsage
	}
	return c.finish(run(c, rd, f, stdin))
}

// importResult is an import's answer.
type importResult struct {
	Imported  int  `json:"imported"`
	Failed    *int `json:"failed,omitempty"`
	Truncated bool `json:"errors_truncated,omitempty"`
	Errors    []struct {
		Row     int    `json:"row"`
		Field   string `json:"field,omitempty"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors,omitempty"`
}

// importProgress is an import's progress event.
type importProgress struct {
	Rows       int   `json:"rows"`
	Imported   int   `json:"imported"`
	Failed     int   `json:"failed"`
	Bytes      int64 `json:"bytes"`
	TotalBytes int64 `json:"total_bytes"`
}

func (c *cli) itemsImport(rd *remoteDoor, f *itemsFlags, stdin io.Reader) (int, error) {
	if len(f.args) != 1 {
		return exitUsage, usagef("import takes one FILE (- for standard input)")
	}
	name, format := f.args[0], f.format
	if format == "" {
		format = strings.TrimPrefix(strings.ToLower(filepath.Ext(name)), ".")
	}
	if format != "csv" && format != "json" {
		return exitUsage, usagef("--format csv or json (the file's extension does not say which)")
	}
	var body io.Reader = stdin
	size := int64(-1)
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return exitError, fmt.Errorf("open the file to import: %w", err)
		}
		defer file.Close()
		if st, err := file.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		body = file
	}
	bar := &progressBar{w: c.errOut, on: c.tty, label: "importing " + filepath.Base(name)}
	res, err := rd.importRows(c.ctx, f.tenant, f.table, format, f.partial, body, size, func(p importProgress) {
		text := fmt.Sprintf("%s rows (%d refused), %s", thousands(p.Rows), p.Failed, megabytes(p.Bytes))
		if p.TotalBytes > 0 {
			text += " of " + megabytes(p.TotalBytes)
		}
		bar.at(int(p.Bytes), int(p.TotalBytes), text)
	})
	bar.done()
	if err != nil {
		return exitError, err
	}
	failed := 0
	if res.Failed != nil {
		failed = *res.Failed
	}
	c.emit(map[string]any{"data": res}, func(w io.Writer) {
		fmt.Fprintf(w, "imported %s rows into %s/%s", thousands(res.Imported), f.tenant, f.table)
		if failed == 0 {
			fmt.Fprintln(w)
			return
		}
		fmt.Fprintf(w, "; %s refused:\n", thousands(failed))
		for i, e := range res.Errors {
			if i == 20 {
				fmt.Fprintf(w, "  … and %d more\n", failed-i)
				break
			}
			fmt.Fprintf(w, "  row %d: %s: %s\n", e.Row, e.Code, e.Message)
		}
	})
	if failed > 0 {
		return exitError, nil
	}
	return exitOK, nil
}

// importRows posts a file to the import route and follows its progress events to the
// result; size < 0 is a body of unknown length.
func (r *remoteDoor) importRows(ctx context.Context, slug, table, format string, partial bool, body io.Reader, size int64, progress func(importProgress)) (*importResult, error) {
	path := "/t/" + url.PathEscape(slug) + "/utils/import/" + url.PathEscape(table)
	if partial {
		path += "?partial=true"
	}
	req, err := http.NewRequestWithContext(ctx, "POST", r.base+"/api"+path, body)
	if err != nil {
		return nil, err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", map[string]string{"csv": "text/csv", "json": "application/json"}[format])
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req) // no timeout: an import takes as long as it takes
	if err != nil {
		return nil, fmt.Errorf("import into %s/%s: %w", slug, table, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, remoteError(resp.StatusCode, raw)
	}
	var out *importResult
	err = readEvents(resp.Body, func(event string, data []byte) error {
		switch event {
		case "progress":
			var p importProgress
			if err := json.Unmarshal(data, &p); err != nil {
				return err
			}
			progress(p)
		case "result":
			var env struct {
				Data *importResult `json:"data"`
			}
			if err := json.Unmarshal(data, &env); err != nil || env.Data == nil {
				return fmt.Errorf("the import's result could not be read")
			}
			out = env.Data
		case "error":
			return remoteError(fiber400(data), data)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("import into %s/%s: the answer ended before its result", slug, table)
	}
	return out, nil
}

// fiber400 is the status an error event stands for: the contract's codes map to one, and
// a stream's own status is 200 whatever happened.
func fiber400(data []byte) int {
	var env struct {
		Errors []struct {
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(data, &env)
	if len(env.Errors) > 0 {
		switch env.Errors[0].Extensions.Code {
		case "FORBIDDEN":
			return http.StatusForbidden
		case "CONTENT_TOO_LARGE":
			return http.StatusRequestEntityTooLarge
		case "INTERNAL":
			return http.StatusInternalServerError
		case "SERVICE_UNAVAILABLE":
			return http.StatusServiceUnavailable
		}
	}
	return http.StatusBadRequest
}

// readEvents reads a stream of server-sent events, calling each for every event.
func readEvents(r io.Reader, each func(event string, data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := each(event, []byte(strings.TrimPrefix(line, "data: "))); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

func (c *cli) itemsExport(rd *remoteDoor, f *itemsFlags, _ io.Reader) (int, error) {
	if len(f.args) != 0 {
		return exitUsage, usagef("export takes no arguments; --out names the file")
	}
	format := cmp.Or(f.format, "json")
	if format != "csv" && format != "json" && format != "yaml" {
		return exitUsage, usagef("--format csv, json or yaml")
	}
	var out io.Writer = c.out
	var file *os.File
	if f.out != "" {
		// Written beside the file and moved over it once whole: a failed export leaves no
		// half file.
		var err error
		if file, err = os.CreateTemp(filepath.Dir(f.out), "."+filepath.Base(f.out)+".*"); err != nil {
			return exitError, fmt.Errorf("create the export's file: %w", err)
		}
		defer os.Remove(file.Name()) // gone once renamed
		defer file.Close()
		out = file
	}
	bar := &progressBar{w: c.errOut, on: c.tty, label: "exporting " + f.table}
	count := &rowCounter{format: format}
	var written int64
	err := rd.exportRows(c.ctx, f.tenant, f.table, format, f.filter, writerFunc(func(p []byte) (int, error) {
		n, err := out.Write(p)
		written += int64(n)
		_, _ = count.Write(p[:n])
		bar.at(0, 0, fmt.Sprintf("%s rows, %s", thousands(count.rows()), megabytes(written)))
		return n, err
	}))
	bar.done()
	if err == nil && !count.whole() {
		err = fmt.Errorf("export of %s/%s: the file ended before its end; the server's log says why", f.tenant, f.table)
	}
	if err != nil {
		return exitError, err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return exitError, fmt.Errorf("write the export's file: %w", err)
		}
		if err := os.Rename(file.Name(), f.out); err != nil {
			return exitError, fmt.Errorf("write the export's file: %w", err)
		}
	}
	summary := map[string]any{"rows": count.rows(), "bytes": written}
	if f.out != "" {
		summary["file"] = f.out
	}
	if c.json && f.out != "" {
		c.emit(map[string]any{"data": summary}, nil)
		return exitOK, nil
	}
	// Standard output may be the file itself: the summary goes to standard error.
	where := "standard output"
	if f.out != "" {
		where = f.out
	}
	fmt.Fprintf(c.errOut, "exported %s rows (%s) of %s/%s to %s\n", thousands(count.rows()), megabytes(written), f.tenant, f.table, where)
	return exitOK, nil
}

// exportRows streams the export of a table into w.
func (r *remoteDoor) exportRows(ctx context.Context, slug, table, format, filter string, w io.Writer) error {
	q := url.Values{"format": {format}}
	if filter != "" {
		q.Set("filter", filter)
	}
	req, err := r.request(ctx, "GET", "/t/"+url.PathEscape(slug)+"/utils/export/"+url.PathEscape(table)+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{}).Do(req) // no timeout: an export takes as long as it takes
	if err != nil {
		return fmt.Errorf("export %s/%s: %w", slug, table, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return remoteError(resp.StatusCode, raw)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("export %s/%s: %w", slug, table, err)
	}
	return nil
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// rowCounter counts the rows of an export as its bytes go by, in its format: CSV
// records (outside quotes) after the header, JSON objects at the array's top level,
// YAML list items at a line's start.
type rowCounter struct {
	format        string
	n             int
	inString, esc bool // CSV: inside quotes; JSON: inside a string, after a backslash
	depth         int
	lineStart     bool
	started       bool
	closed        bool
}

func (rc *rowCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		switch rc.format {
		case "csv":
			if b == '"' {
				rc.inString = !rc.inString
			} else if b == '\n' && !rc.inString {
				rc.n++
			}
		case "json":
			switch {
			case rc.esc:
				rc.esc = false
			case rc.inString && b == '\\':
				rc.esc = true
			case b == '"':
				rc.inString = !rc.inString
			case rc.inString:
			case b == '[' || b == '{':
				if b == '{' && rc.depth == 1 {
					rc.n++
				}
				rc.depth++
				rc.started = true
			case b == ']' || b == '}':
				rc.depth--
				rc.closed = rc.started && rc.depth == 0
			}
		case "yaml":
			if (rc.lineStart || !rc.started) && b == '-' {
				rc.n++
			}
			rc.started, rc.lineStart = true, b == '\n'
		}
	}
	return len(p), nil
}

func (rc *rowCounter) rows() int {
	if rc.format == "csv" {
		return max(rc.n-1, 0) // the header
	}
	return rc.n
}

// whole reports whether the file ended where its format ends (a JSON array closed);
// CSV and YAML cannot tell.
func (rc *rowCounter) whole() bool {
	return rc.format != "json" || rc.closed
}

// thousands writes n with thin separators: 1,234,567.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b bytes.Buffer
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && r != '-' && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
