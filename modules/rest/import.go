package rest

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/records"
	"strata/schema"
)

// ImportLimits bound one import (POST /utils/import/{table}).
type ImportLimits struct {
	MaxBytes    int64 // the request's body
	MaxRows     int
	MaxFields   int   // fields of a row
	MaxRowBytes int64 // bytes of one row, every cell included
}

// importErrors is how many bad rows an answer lists.
const importErrors = 1000

// importItems is POST /utils/import/{table}: rows of a CSV or JSON file, sent as the
// body or as the multipart field "file", written as creates of the caller, a batch at a
// time as the file streams in. All or nothing unless ?partial=true; with Accept:
// text/event-stream the answer is progress events, then the result.
func (a *API) importItems(c *fiber.Ctx) error {
	sc, t, err := a.writableTable(c)
	if err != nil {
		return closeAfter(c, err)
	}
	// The create rule before a byte of the file is read.
	g, err := a.Records.Guard(sc, t, access.Create)
	if err != nil {
		return closeAfter(c, err)
	}
	lim := a.Limits.Import
	total := int64(c.Request().Header.ContentLength())
	if total > lim.MaxBytes {
		return closeAfter(c, importTooLarge(lim.MaxBytes))
	}
	// An import may outlast the tenant's idle timeout, and a partial one holds no
	// connection while it waits for the next rows: it holds the tenant's pool open.
	release, err := a.Tenants.Hold(c.UserContext(), tenantOf(c).t)
	if err != nil {
		return closeAfter(c, err)
	}
	body := &importBody{r: uploadBody(c), max: lim.MaxBytes}
	src, err := a.importSource(c, body, sc.Model, t, g)
	if err != nil {
		release()
		return closeAfter(c, importFailure(err, nil, false, lim.MaxBytes))
	}
	opt := records.Import{Partial: c.QueryBool("partial"), MaxRows: lim.MaxRows, MaxErrors: importErrors}
	if wantsEvents(c) {
		a.streamImport(c, sc, t, src, opt, body, total, release)
		return nil
	}
	res, err := a.Records.Import(c.UserContext(), sc, t, src, opt)
	release()
	if !body.drained() {
		c.Context().SetConnectionClose()
	}
	data, refused := importOutcome(res, err, opt.Partial, lim.MaxBytes)
	if refused != nil && refused.Status >= 500 {
		return err // logged and answered by the error handler
	}
	if refused != nil {
		return refused
	}
	return c.JSON(fiber.Map{"data": data})
}

// streamImport runs an import as the answer's event stream: a progress event after each
// batch, then the result (or the error) the JSON answer would have been. A client that
// goes away stops it.
func (a *API) streamImport(c *fiber.Ctx, sc *records.Scope, t *schema.Table, src records.RowSource, opt records.Import, body *importBody, total int64, release func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(c.UserContext()))
	maxBytes, log := a.Limits.Import.MaxBytes, a.Log
	streamEvents(c, true, func(send sendEvent) {
		defer release()
		defer cancel()
		opt.Progress = func(p records.ImportProgress) {
			if !send("progress", importProgress(p, body.n, total)) {
				cancel() // the client is gone: the import stops, and undoes what it may
			}
		}
		res, err := a.Records.Import(ctx, sc, t, src, opt)
		data, refused := importOutcome(res, err, opt.Partial, maxBytes)
		if refused != nil {
			if refused.Status >= 500 {
				log.Error("import failed", "tenant", sc.Slug, "table", t.Name, "err", err)
			}
			send("error", apierr.Body(refused))
			return
		}
		send("progress", importProgress(records.ImportProgress{Rows: res.Imported + res.Failed, Imported: res.Imported, Failed: res.Failed}, body.n, total))
		send("result", fiber.Map{"data": data})
	}, func() { cancel(); release() })
}

// importOutcome is an import's answer: its data, or its refusal (an all-or-nothing
// import with bad rows, or one that could not go on).
func importOutcome(res *records.ImportResult, err error, partial bool, maxBytes int64) (fiber.Map, *apierr.Error) {
	if err == nil && res.Failed > 0 && !partial {
		return nil, rowsRefused(res)
	}
	if err != nil {
		return nil, importFailure(err, res, partial, maxBytes)
	}
	return importAnswer(res, partial), nil
}

// importSource finds the file in the request (the body, or the multipart field "file")
// and opens its rows: CSV or JSON by ?format=, or by the file's (or the body's)
// content type, or by the file's name. A CSV header's fields are checked against the
// caller's field permissions before any row is read.
func (a *API) importSource(c *fiber.Ctx, body io.Reader, m *schema.Model, t *schema.Table, g *records.Guard) (records.RowSource, error) {
	format := c.Query("format")
	if format != "" && format != "csv" && format != "json" {
		return nil, apierr.InvalidQuery("format", "format is csv or json")
	}
	file := body
	ctype := c.Get(fiber.HeaderContentType)
	media, params, _ := mime.ParseMediaType(ctype)
	if media == "multipart/form-data" {
		part, err := formFile(body, params["boundary"])
		if err != nil {
			return nil, err
		}
		file, ctype = part, part.Header.Get(fiber.HeaderContentType)
		if format == "" {
			format = formatOf(ctype, path.Ext(part.FileName()))
		}
	}
	if format == "" {
		format = formatOf(ctype, "")
	}
	lim := records.SourceLimits{MaxFields: a.Limits.Import.MaxFields, MaxRowBytes: a.Limits.Import.MaxRowBytes}
	switch format {
	case "csv":
		src, header, err := records.NewCSVSource(file, m, t, lim)
		if err != nil {
			return nil, err
		}
		fields := make(map[string]any, len(header))
		for _, f := range header {
			fields[f] = nil
		}
		if err := g.Fields(fields); err != nil {
			return nil, err
		}
		return src, nil
	case "json":
		return records.NewJSONSource(file, lim)
	}
	return nil, apierr.InvalidPayload("body", "send a CSV (text/csv) or JSON (application/json) file, as the body or as the multipart field \"file\"")
}

// formatOf is the format a content type or file extension names ("" for neither).
func formatOf(ctype, ext string) string {
	media, _, _ := mime.ParseMediaType(ctype)
	switch {
	case media == "text/csv", strings.EqualFold(ext, ".csv"):
		return "csv"
	case media == "application/json", strings.EqualFold(ext, ".json"):
		return "json"
	}
	return ""
}

// formFile reads a multipart body up to its part "file"; other fields before it are
// read past, within the form's bounds.
func formFile(body io.Reader, boundary string) (*multipart.Part, error) {
	if boundary == "" {
		return nil, apierr.InvalidPayload("body", "a multipart body needs its boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for n := 0; n < maxFormFields; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, apierr.InvalidPayload("body", "malformed multipart body: %v", err)
		}
		if part.FormName() == "file" {
			return part, nil
		}
		if n, err := io.Copy(io.Discard, io.LimitReader(part, maxFormFieldSize+1)); err != nil || n > maxFormFieldSize {
			return nil, apierr.InvalidPayload(part.FormName(), "form field %s is longer than %d bytes", part.FormName(), maxFormFieldSize)
		}
	}
	return nil, apierr.InvalidPayload("file", "no file: send it as the multipart field \"file\"")
}

// importBody is the request's body as it streams in, counted and bounded.
type importBody struct {
	r   io.Reader
	n   int64
	max int64
	eof bool
}

// errImportTooLarge is a body over the import's bound.
var errImportTooLarge = errors.New("the import is larger than its bound")

// bodyError is the body failing as it is read (the client gone, or stalled).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read the request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

func (b *importBody) Read(p []byte) (int, error) {
	// One byte past the bound tells a body of exactly the bound from a longer one.
	if room := b.max + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.max:
		return 0, errImportTooLarge
	case errors.Is(err, io.EOF):
		b.eof = true
	case err != nil:
		err = &bodyError{err: err}
	}
	return n, err
}

// drained reports whether the body was read to its end, after reading what little a
// multipart body has left past its file; otherwise the connection must close after
// the answer.
func (b *importBody) drained() bool {
	if !b.eof {
		n, err := io.Copy(io.Discard, io.LimitReader(b, 64<<10))
		return err == nil && n < 64<<10
	}
	return true
}

func importTooLarge(max int64) *apierr.Error {
	return apierr.New(fiber.StatusRequestEntityTooLarge, "CONTENT_TOO_LARGE", "an import is at most %d bytes (STRATA_IMPORT_MAX_BYTES)", max).With("field", "body")
}

// importProgress is a progress event.
func importProgress(p records.ImportProgress, read, total int64) fiber.Map {
	ev := fiber.Map{"rows": p.Rows, "imported": p.Imported, "failed": p.Failed, "bytes": read}
	if total > 0 {
		ev["total_bytes"] = total
	}
	return ev
}

// importAnswer is a successful import's data: with partial, the rows refused too.
func importAnswer(res *records.ImportResult, partial bool) fiber.Map {
	out := fiber.Map{"imported": res.Imported}
	if !partial {
		return out
	}
	list := make([]fiber.Map, len(res.Errors))
	for i, re := range res.Errors {
		e := rowError(re)
		item := fiber.Map{"row": re.Row, "code": e.Code, "message": e.Message}
		if f, ok := e.Details["field"]; ok && f != "" {
			item["field"] = f
		}
		list[i] = item
	}
	out["failed"], out["errors"] = res.Failed, list
	if res.Truncated {
		out["errors_truncated"] = true
	}
	return out
}

// rowError is a refused row's cause in the contract's terms.
func rowError(re *records.RowError) *apierr.Error {
	if e, ok := Translate(re.Err).(*apierr.Error); ok {
		return e
	}
	return apierr.New(fiber.StatusBadRequest, "INVALID_PAYLOAD", "%v", re.Err)
}

// rowsRefused is an all-or-nothing import's refusal: one error per bad row listed, in
// file order, each naming its row (and field); the first says how many rows failed.
func rowsRefused(res *records.ImportResult) *apierr.Error {
	var first *apierr.Error
	for _, re := range res.Errors {
		cause := rowError(re)
		e := apierr.New(cause.Status, cause.Code, "row %d: %s", re.Row, cause.Message)
		for k, v := range cause.Details {
			e.With(k, v)
		}
		e.With("row", re.Row)
		if first == nil {
			first = e.With("failed", res.Failed)
			if res.Truncated {
				first.With("errors_truncated", true)
			}
			continue
		}
		first.More = append(first.More, e)
	}
	return first
}

// importFailure is an import that could not go on, in the contract's terms; a partial
// one says what it had committed before.
func importFailure(err error, res *records.ImportResult, partial bool, maxBytes int64) *apierr.Error {
	var (
		e  *apierr.Error
		be *bodyError
	)
	switch {
	case errors.Is(err, errImportTooLarge):
		e = importTooLarge(maxBytes)
	case errors.As(err, &be):
		e = apierr.InvalidPayload("body", "the file could not be read to its end: %v", be.err)
	case database.IsSchemaRace(err):
		e = apierr.New(fiber.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the table changed shape while the import ran; send it again").With("retryable", true)
	default:
		var ok bool
		if e, ok = Translate(err).(*apierr.Error); !ok {
			e = apierr.New(fiber.StatusInternalServerError, "INTERNAL", "an internal error occurred")
		}
	}
	if partial && res != nil {
		e.With("imported", res.Imported).With("failed", res.Failed)
	}
	return e
}
