package records

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"

	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// SourceLimits bound what an import's file may hold.
type SourceLimits struct {
	// MaxFields bounds the fields of a row (a CSV header's, a JSON object's keys).
	MaxFields int
	// MaxRowBytes bounds the bytes of one row, every cell included: a source reads no
	// more than that past what its reader already held when the row began (a few KiB),
	// so a row is never held past it, however the file is made.
	MaxRowBytes int64
}

// errRowTooLarge is a row longer than MaxRowBytes.
var errRowTooLarge = errors.New("the row is too large")

// rowBound refuses to read more than a row's bound past where the row began; the
// source moves the bound on before each row.
type rowBound struct {
	r     io.Reader
	n     int64 // bytes read
	limit int64
}

func (b *rowBound) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		return 0, errRowTooLarge
	}
	if int64(len(p)) > b.limit-b.n {
		p = p[:b.limit-b.n]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// tooLarge names the row that passed the bound.
func (l SourceLimits) tooLarge(row int) error {
	return apierr.InvalidPayload("body", "row %d is larger than %d bytes", row, l.MaxRowBytes).With("row", row)
}

// csvSource reads rows of a CSV file with a header of field names. Each cell is read
// as the JSON value it stands for in its column (query.TextValue), so it is checked as a
// JSON body's value is. An empty cell is null in a nullable column; in a column that
// is not, it is left out, so the column's default applies, except in a string or text
// column without a default, where it is the empty string (as an export writes one).
type csvSource struct {
	r      *csv.Reader
	bound  *rowBound
	lim    SourceLimits
	fields []csvField
	n      int
}

// csvField is a header's field: a column of the table, or (col nil) a to-many field,
// whose cell is JSON (an array of keys).
type csvField struct {
	name string
	col  *schema.Column
}

// NewCSVSource reads the header of a CSV file of rows of t and returns its rows' source
// and the header's fields. A header that names a field t does not have, one the server
// sets, or a field twice, is refused before any row is read.
func NewCSVSource(r io.Reader, m *schema.Model, t *schema.Table, lim SourceLimits) (RowSource, []string, error) {
	bound := &rowBound{r: r, limit: lim.MaxRowBytes}
	br := bufio.NewReader(bound)
	if bom, _ := br.Peek(3); string(bom) == "\uFEFF" { // as spreadsheets save UTF-8
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	header, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil, nil, apierr.InvalidPayload("body", "the CSV file is empty: its first line names the fields")
	case errors.Is(err, errRowTooLarge):
		return nil, nil, apierr.InvalidPayload("body", "the CSV header is larger than %d bytes", lim.MaxRowBytes)
	case errors.As(err, new(*csv.ParseError)):
		return nil, nil, apierr.InvalidPayload("body", "the CSV header is malformed: %v", err)
	case err != nil:
		return nil, nil, err
	}
	if len(header) > lim.MaxFields {
		return nil, nil, apierr.InvalidPayload("body", "a CSV file has at most %d fields", lim.MaxFields)
	}
	header = slices.Clone(header) // the reader reuses its record
	s := &csvSource{r: cr, bound: bound, lim: lim}
	for i, name := range header {
		if slices.Contains(header[:i], name) {
			return nil, nil, apierr.InvalidPayload(name, "the CSV header names %q twice", name)
		}
		col := t.Column(name)
		switch {
		case name == "":
			return nil, nil, apierr.InvalidPayload("body", "the CSV header's field %d has no name", i+1)
		case col != nil && query.ServerColumn(name):
			return nil, nil, apierr.InvalidPayload(name, "%s is set by the server: leave it out of the file", name)
		case col == nil && m.RelationByField(t.Name, name) == nil:
			return nil, nil, apierr.InvalidPayload(name, "table %q has no field %q", t.Name, name)
		}
		s.fields = append(s.fields, csvField{name: name, col: col})
	}
	return s, header, nil
}

func (s *csvSource) Offset() int64 { return s.r.InputOffset() }

func (s *csvSource) Next() (map[string]any, error) {
	s.bound.limit = s.bound.n + s.lim.MaxRowBytes
	rec, err := s.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	s.n++
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount):
		return nil, &RowError{Err: apierr.InvalidPayload("body", "the row has %d fields; the header has %d", len(rec), len(s.fields))}
	case errors.Is(err, errRowTooLarge):
		return nil, s.lim.tooLarge(s.n)
	case pe != nil:
		return nil, apierr.InvalidPayload("body", "row %d: the CSV is malformed: %v", s.n, err).With("row", s.n)
	case err != nil:
		return nil, err
	}
	obj := make(map[string]any, len(rec))
	for i, cell := range rec {
		f := s.fields[i]
		if cell == "" {
			switch {
			case f.col == nil || f.name == "id":
			case f.col.Nullable:
				obj[f.name] = nil
			case len(f.col.Default) == 0 && (f.col.Type == schema.TypeString || f.col.Type == schema.TypeText):
				obj[f.name] = ""
			}
			continue
		}
		v, err := query.TextValue(f.name, f.col, cell)
		if err != nil {
			return nil, &RowError{Err: err}
		}
		obj[f.name] = v
	}
	return obj, nil
}

// jsonSource reads a JSON array of objects, one element at a time.
type jsonSource struct {
	dec   *json.Decoder
	bound *rowBound
	lim   SourceLimits
	n     int
	done  bool
}

// NewJSONSource reads the opening of a JSON array of rows and returns their source.
func NewJSONSource(r io.Reader, lim SourceLimits) (RowSource, error) {
	bound := &rowBound{r: r, limit: lim.MaxRowBytes}
	dec := json.NewDecoder(bound)
	dec.UseNumber()
	tok, err := dec.Token()
	if errors.Is(err, errRowTooLarge) {
		return nil, apierr.InvalidPayload("body", "the JSON file does not begin with an array within %d bytes", lim.MaxRowBytes)
	}
	if err != nil && !isJSONSyntax(err) {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, apierr.InvalidPayload("body", "a JSON import is an array of objects")
	}
	return &jsonSource{dec: dec, bound: bound, lim: lim}, nil
}

func (s *jsonSource) Offset() int64 { return s.dec.InputOffset() }

func (s *jsonSource) Next() (map[string]any, error) {
	if s.done {
		return nil, io.EOF
	}
	s.bound.limit = s.bound.n + s.lim.MaxRowBytes
	if !s.dec.More() {
		// The array's end, and nothing but white space after it.
		tok, err := s.dec.Token()
		if err == nil {
			if d, ok := tok.(json.Delim); ok && d == ']' {
				if _, err = s.dec.Token(); errors.Is(err, io.EOF) {
					s.done = true
					return nil, io.EOF
				}
				return nil, apierr.InvalidPayload("body", "the JSON file goes on after its array")
			}
		}
		return nil, s.malformed(err)
	}
	s.n++
	var v any
	if err := s.dec.Decode(&v); err != nil {
		return nil, s.malformed(err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &RowError{Err: apierr.InvalidPayload("body", "the row is not a JSON object")}
	}
	if len(obj) > s.lim.MaxFields {
		return nil, &RowError{Err: apierr.InvalidPayload("body", "the row has more than %d fields", s.lim.MaxFields)}
	}
	return obj, nil
}

// malformed names what stopped the reading of row n: the bound, a syntax error or the
// file's early end (a 400 naming the row), or the body's own error, as it is.
func (s *jsonSource) malformed(err error) error {
	row := max(s.n, 1)
	switch {
	case errors.Is(err, errRowTooLarge):
		return s.lim.tooLarge(row)
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return apierr.InvalidPayload("body", "row %d: the JSON array does not end", row).With("row", row)
	case isJSONSyntax(err):
		return apierr.InvalidPayload("body", "row %d: the JSON is malformed: %v", row, err).With("row", row)
	}
	return err
}

func isJSONSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}
