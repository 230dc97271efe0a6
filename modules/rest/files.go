package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/files"
	"strata/modules/records"
)

// systemRoute serves a system table (folders, the reads of files) through the item
// handlers: the route names the table, never the URL.
func systemRoute(table string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(routeTable{}, table)
		return c.Next()
	}
}

type routeTable struct{}

// Bounds of one multipart request.
const (
	maxFormFields    = 100
	maxFormFieldSize = 64 << 10
)

// jsonFields are file fields a form sends as JSON text.
var jsonFields = map[string]bool{"tags": true, "metadata": true}

// uploads reads a multipart body as it streams in, calling each for every file part
// with the form fields sent before it (Directus's rule: fields first, then the file they
// describe). It returns how many files it saw.
func uploads(c *fiber.Ctx, each func(files.Upload) error) (int, error) {
	mediatype, p, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mediatype != "multipart/form-data" || p["boundary"] == "" {
		return 0, apierr.InvalidPayload("body", "upload files as multipart/form-data (fields first, then the file); POST /files/import fetches a URL")
	}
	mr := multipart.NewReader(uploadBody(c), p["boundary"])
	fields := map[string]any{}
	count, nfields := 0, 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return count, nil
		}
		if err != nil {
			return count, apierr.InvalidPayload("body", "malformed multipart body: %v", err)
		}
		if part.FileName() != "" {
			if count++; count > maxFormFields {
				return count, apierr.InvalidPayload("file", "at most %d files per request", maxFormFields)
			}
			if err := each(files.Upload{Fields: fields, Filename: part.FileName(), Body: part}); err != nil {
				return count, err
			}
			fields = map[string]any{}
			continue
		}
		name := part.FormName()
		if nfields++; nfields > maxFormFields || name == "" {
			return count, apierr.InvalidPayload("body", "at most %d named form fields", maxFormFields)
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFormFieldSize+1))
		if err != nil {
			return count, apierr.InvalidPayload(name, "read form field %s: %v", name, err)
		}
		if len(b) > maxFormFieldSize {
			return count, apierr.InvalidPayload(name, "form field %s is longer than %d bytes", name, maxFormFieldSize)
		}
		fields[name] = formValue(name, string(b))
	}
}

// formValue reads a form field as Directus does: null, true and false are those
// values; JSON fields hold JSON.
func formValue(name, v string) any {
	switch strings.TrimSpace(v) {
	case "null":
		return nil
	case "true":
		return true
	case "false":
		return false
	}
	if jsonFields[name] {
		var decoded any
		if json.Unmarshal([]byte(v), &decoded) == nil {
			return decoded
		}
	}
	return v
}

// closeAfter makes the connection close after this response when the request body was
// not read to its end: what is left of it must not be read as the next request.
func closeAfter(c *fiber.Ctx, err error) error {
	if err != nil {
		c.Context().SetConnectionClose()
	}
	return err
}

// uploadFiles is POST /files: each file part becomes a file; one answers its object,
// several an array.
func (a *API) uploadFiles(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return closeAfter(c, err)
	}
	ctx := c.UserContext()
	var ids []string
	n, err := uploads(c, func(up files.Upload) error {
		id, err := a.Files.Create(ctx, sc, up)
		if err == nil {
			ids = append(ids, id)
		}
		return err
	})
	if err != nil {
		return closeAfter(c, err)
	}
	if n == 0 {
		return apierr.InvalidPayload("file", "no file uploaded: send a part with a filename")
	}
	return a.answerFiles(c, sc, ids, n > 1)
}

// importFile is POST /files/import {url, data?}.
func (a *API) importFile(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	var in struct {
		URL  string         `json:"url"`
		Data map[string]any `json:"data"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	id, err := a.Files.Import(c.UserContext(), sc, in.URL, in.Data)
	if err != nil {
		return err
	}
	return a.answerFiles(c, sc, []string{id}, false)
}

// answerFiles reads files back as the caller may see them.
func (a *API) answerFiles(c *fiber.Ctx, sc *records.Scope, ids []string, many bool) error {
	t := sc.Model.Table(files.Table)
	rows, err := a.Records.Read(c.UserContext(), sc, t, params(c), ids)
	if err != nil {
		return err
	}
	if len(rows) < len(ids) {
		return c.SendStatus(fiber.StatusNoContent) // written, but not readable by the caller
	}
	if many {
		return c.JSON(fiber.Map{"data": rows})
	}
	return c.JSON(fiber.Map{"data": rows[0]})
}

// patchFile is PATCH /files/{id}: JSON edits the metadata; multipart replaces the bytes
// (and the fields sent before them).
func (a *API) patchFile(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return closeAfter(c, err)
	}
	id, ctx := c.Params("id"), c.UserContext()
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), "multipart/") {
		n, err := uploads(c, func(up files.Upload) error { return a.Files.Replace(ctx, sc, id, up) })
		if err != nil {
			return closeAfter(c, err)
		}
		if n != 1 {
			return apierr.InvalidPayload("file", "send exactly one file to replace a file's bytes")
		}
		return a.answerFiles(c, sc, []string{id}, false)
	}
	var body map[string]any
	if err := decodeJSON(c, &body); err != nil || body == nil {
		return apierr.InvalidPayload("body", "expected a JSON object")
	}
	if err := a.Files.Update(ctx, sc, []string{id}, body, true); err != nil {
		return err
	}
	return a.answerFiles(c, sc, []string{id}, false)
}

// patchFiles is PATCH /files {keys, data}.
func (a *API) patchFiles(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	var in batchUpdate
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Data == nil {
		return apierr.InvalidPayload("data", "data is required")
	}
	if err := a.Files.Update(c.UserContext(), sc, in.Keys, in.Data, false); err != nil {
		return err
	}
	return a.answerFiles(c, sc, in.Keys, true)
}

func (a *API) deleteFile(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	if err := a.Files.Delete(c.UserContext(), sc, []string{c.Params("id")}, true); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// deleteFiles is DELETE /files with {"keys":[…]} or a bare array of keys.
func (a *API) deleteFiles(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	keys, err := deleteKeys(c)
	if err != nil {
		return err
	}
	if err := a.Files.Delete(c.UserContext(), sc, keys, false); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// inlineTypes are served inline; every other type is an attachment, so a file cannot
// run as a page of this origin (HTML, SVG, XML with scripts).
var inlineTypes = regexp.MustCompile(`^(image/(jpeg|png|gif|webp|avif|bmp)|video/[a-z0-9.+-]+|audio/[a-z0-9.+-]+|application/pdf|text/plain)$`)

// transformQuery reads an image transformation from /assets' query string.
func transformQuery(c *fiber.Ctx) (files.Transform, string, error) {
	var tr files.Transform
	q := c.Queries()
	if _, ok := q["transforms"]; ok {
		return tr, "", apierr.InvalidQuery("transforms", "custom transformation chains are not supported; use width, height, fit, quality, format and withoutEnlargement, or a preset key")
	}
	for name, dst := range map[string]*int{"width": &tr.Width, "height": &tr.Height, "quality": &tr.Quality} {
		if v, ok := q[name]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return tr, "", apierr.InvalidQuery(name, "%s must be a positive whole number", name)
			}
			*dst = n
		}
	}
	tr.Fit, tr.Format = q["fit"], q["format"]
	if v, ok := q["withoutEnlargement"]; ok {
		tr.WithoutEnlargement = v == "" || v == "true" || v == "1"
	}
	if err := tr.Check("transform"); err != nil {
		var e *apierr.Error
		if errors.As(err, &e) {
			return tr, "", apierr.InvalidQuery("transform", "%s", e.Message)
		}
		return tr, "", err
	}
	return tr, q["key"], nil
}

// asset is GET /assets/{id}: the bytes (or an image transformation of them), streamed,
// with validators and ranges.
func (a *API) asset(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	tr, preset, err := transformQuery(c)
	if err != nil {
		return err
	}
	as, err := a.Files.Asset(c.UserContext(), sc, c.Params("id"), tr, preset)
	if err != nil {
		return err
	}
	etag := `"` + as.Tag + `"`
	h := &c.Response().Header
	h.Set(fiber.HeaderETag, etag)
	h.Set(fiber.HeaderLastModified, as.Modified.UTC().Format(http.TimeFormat))
	h.Set(fiber.HeaderAcceptRanges, "bytes")
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	if callerOf(c) == nil || callerOf(c).Kind == "anonymous" {
		h.Set(fiber.HeaderCacheControl, "public, no-cache")
	} else {
		h.Set(fiber.HeaderCacheControl, "private, no-cache")
	}
	kind := as.Type
	if kind == "" {
		kind = "application/octet-stream"
	}
	disposition := "inline"
	if _, download := c.Queries()["download"]; download || !inlineTypes.MatchString(kind) {
		disposition = "attachment"
		h.Set("Content-Security-Policy", "sandbox")
	}
	h.Set(fiber.HeaderContentDisposition, disposition+`; filename="`+asciiName(as.Download)+`"; filename*=UTF-8''`+url.PathEscape(as.Download))
	h.SetContentType(kind)
	if notModified(c, etag, as.Modified) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	off, n, status := int64(0), as.Size, fiber.StatusOK
	if rng := c.Get(fiber.HeaderRange); rng != "" && (c.Get(fiber.HeaderIfRange) == "" || c.Get(fiber.HeaderIfRange) == etag) {
		start, length, ok := parseRange(rng, as.Size)
		switch {
		case !ok:
			h.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", as.Size))
			return apierr.New(fiber.StatusRequestedRangeNotSatisfiable, "RANGE_NOT_SATISFIABLE", "the range %q is outside the file's %d bytes", rng, as.Size)
		case length >= 0:
			off, n, status = start, length, fiber.StatusPartialContent
			h.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, as.Size))
		}
	}
	c.Status(status)
	if c.Method() == fiber.MethodHead {
		h.SetContentLength(int(n))
		return nil
	}
	r, err := a.Files.Open(c.UserContext(), as, off, n)
	if err != nil {
		return err
	}
	// fasthttp closes the stream once it is sent.
	c.Context().SetBodyStream(&sendBody{r: r, conn: c.Context().Conn(), size: n}, int(n))
	return nil
}

// notModified answers a conditional GET: If-None-Match first, else If-Modified-Since.
func notModified(c *fiber.Ctx, etag string, modified interface{ Unix() int64 }) bool {
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(t), "W/")); t == etag || t == "*" {
				return true
			}
		}
		return false
	}
	if ims := c.Get(fiber.HeaderIfModifiedSince); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && modified.Unix() <= t.Unix() {
			return true
		}
	}
	return false
}

// parseRange reads a single byte range against a size: the start and length to
// send, length -1 to send it all (a form this server does not serve in parts, such as
// several ranges), ok false when the range cannot be satisfied.
func parseRange(h string, size int64) (start, length int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, -1, true
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, -1, true
	}
	if first == "" { // the last n bytes
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		n = min(n, size)
		return size - n, n, true
	}
	s, err := strconv.ParseInt(first, 10, 64)
	if err != nil || s < 0 || s >= size {
		return 0, 0, false
	}
	e := size - 1
	if last != "" {
		if e, err = strconv.ParseInt(last, 10, 64); err != nil || e < s {
			return 0, 0, false
		}
		e = min(e, size-1)
	}
	return s, e - s + 1, true
}

// asciiName is a file name for the plain filename parameter (filename* carries it
// exactly).
func asciiName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
}

// deleteKeys reads a bulk delete's keys: {"keys":[…]} or a bare array.
func deleteKeys(c *fiber.Ctx) ([]string, error) {
	var keys []string
	if b := strings.TrimSpace(string(c.Body())); strings.HasPrefix(b, "[") {
		if err := decodeJSON(c, &keys); err != nil {
			return nil, err
		}
		return keys, nil
	}
	var in struct {
		Keys []string `json:"keys"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return nil, err
	}
	return in.Keys, nil
}

// streamIdle is how long a streamed upload may stall before the connection is given
// up: the server's read and write timeouts bound whole requests, which a large file on
// a slow link outlasts, so uploads push the deadline on as bytes move, and downloads
// get time in proportion to their size.
const streamIdle = time.Minute

// deadlineReader moves a connection's read deadline on at each read.
type deadlineReader struct {
	r    io.Reader
	conn net.Conn
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.conn.SetReadDeadline(time.Now().Add(streamIdle))
	return d.r.Read(p)
}

// minSendRate is the slowest a download is allowed to be: it gets streamIdle plus its
// size at this rate to be sent.
const minSendRate = 64 << 10 // bytes a second

// sendBody is an asset's bytes as the response body. fasthttp copies a body through
// WriteTo when the body has one: this one sets the write deadline the download's size
// deserves (the server's own is set for the whole answer just before), then hands the
// bytes to the connection's ReadFrom, so a file still goes out with sendfile.
type sendBody struct {
	r    io.Reader
	conn net.Conn
	size int64
}

func (b *sendBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *sendBody) WriteTo(w io.Writer) (int64, error) {
	_ = b.conn.SetWriteDeadline(time.Now().Add(streamIdle + time.Duration(b.size/minSendRate)*time.Second))
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(b.r)
	}
	return io.Copy(w, b.r)
}

// Close closes the bytes' reader (fasthttp closes a body stream once it is sent).
func (b *sendBody) Close() error {
	if c, ok := b.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// uploadBody is the request body as it streams in, for as long as it keeps moving.
func uploadBody(c *fiber.Ctx) io.Reader {
	return &deadlineReader{r: c.Context().RequestBodyStream(), conn: c.Context().Conn()}
}
