package records

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// rowList is a source of rows given in advance; a nil row is one that could not be read.
type rowList struct {
	rows []map[string]any
	i    int
}

func (l *rowList) Next() (map[string]any, error) {
	if l.i >= len(l.rows) {
		return nil, io.EOF
	}
	l.i++
	if l.rows[l.i-1] == nil {
		return nil, &RowError{Err: apierr.InvalidPayload("body", "unreadable")}
	}
	return l.rows[l.i-1], nil
}

func (l *rowList) Offset() int64 { return int64(l.i) }

// notesRows are n rows of notes; the rows numbered in bad (1-based) are refused: a
// number is not text, "hook" is refused by a before hook, nil is unreadable.
func notesRows(n int, bad map[int]any) *rowList {
	l := &rowList{}
	for i := 1; i <= n; i++ {
		v, ok := bad[i]
		switch {
		case !ok:
			l.rows = append(l.rows, map[string]any{"text": "row " + strings.Repeat("i", i)})
		case v == nil:
			l.rows = append(l.rows, nil)
		default:
			l.rows = append(l.rows, map[string]any{"text": v})
		}
	}
	return l
}

// TestImportAllOrNothingAndPartial: an import writes in batches; all or nothing, one bad
// row leaves nothing written and every bad row is named; partial, the good rows of a
// batch with bad ones are written and the bad ones named; the hooks see every write
// and hear of it once committed.
func TestImportAllOrNothingAndPartial(t *testing.T) {
	s, sc, notes, pub := fixture(t)
	ctx := context.Background()
	var committed []int
	s.Hooks.Before = append(s.Hooks.Before, func(_ context.Context, _ schema.Querier, w *Write) error {
		for _, d := range w.Data {
			if d["text"] == "hook" {
				return apierr.Forbidden("the hook refuses it")
			}
		}
		return nil
	})
	s.Hooks.After = append(s.Hooks.After, func(_ context.Context, w *Write) { committed = append(committed, len(w.IDs)) })
	bad := map[int]any{3: 7, 5: "hook", 8: nil}
	var progress []ImportProgress
	opt := Import{Batch: 4, Progress: func(p ImportProgress) { progress = append(progress, p) }}

	res, err := s.Import(ctx, sc, notes, notesRows(10, bad), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 0 || res.Failed != 3 || len(texts(t, s, sc, notes)) != 0 || len(*pub) != 0 || len(committed) != 0 {
		t.Fatalf("all or nothing with bad rows: %+v, %v written, %v announced, %v committed", res, texts(t, s, sc, notes), *pub, committed)
	}
	var rows []int
	for _, e := range res.Errors {
		rows = append(rows, e.Row)
	}
	var ve *query.ValueError
	var ae *apierr.Error
	if !slices.Equal(rows, []int{3, 5, 8}) || !errors.As(res.Errors[0].Err, &ve) || ve.Field != "text" ||
		!errors.As(res.Errors[1].Err, &ae) || ae.Code != "FORBIDDEN" {
		t.Fatalf("the bad rows: %v", res.Errors)
	}
	if len(progress) != 3 || progress[2] != (ImportProgress{Rows: 10, Imported: 7, Failed: 3}) {
		t.Fatalf("progress: %+v", progress)
	}

	opt.Partial = true
	res, err = s.Import(ctx, sc, notes, notesRows(10, bad), opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(t, s, sc, notes); res.Imported != 7 || res.Failed != 3 || len(got) != 7 || slices.Contains(got, "hook") {
		t.Fatalf("partial: %+v, written %v", res, got)
	}
	// Three batches, the first two written again a row at a time: the hooks hear of each
	// batch's rows together.
	if !slices.Equal(committed, []int{3, 3, 1}) || len(*pub) != 3 {
		t.Fatalf("after hooks heard %v, announced %v", committed, *pub)
	}

	// All or nothing and good: one transaction, heard of a batch at a time.
	committed = nil
	res, err = s.Import(ctx, sc, notes, notesRows(9, nil), Import{Batch: 4})
	if err != nil || res.Imported != 9 || len(texts(t, s, sc, notes)) != 16 || !slices.Equal(committed, []int{4, 4, 1}) {
		t.Fatalf("a good import: %+v %v, after hooks heard %v", res, err, committed)
	}

	// All or nothing stops at MaxErrors bad rows; partial lists that many and counts all.
	res, _ = s.Import(ctx, sc, notes, notesRows(10, map[int]any{2: 1, 4: 1, 6: 1, 9: 1}), Import{Batch: 4, MaxErrors: 2})
	if res.Failed != 2 || len(res.Errors) != 2 || !res.Truncated {
		t.Fatalf("all or nothing past MaxErrors: %+v", res)
	}
	res, _ = s.Import(ctx, sc, notes, notesRows(10, map[int]any{2: 1, 4: 1, 6: 1, 9: 1}), Import{Batch: 4, MaxErrors: 2, Partial: true})
	if res.Failed != 4 || len(res.Errors) != 2 || !res.Truncated || res.Imported != 6 {
		t.Fatalf("partial past MaxErrors: %+v", res)
	}

	// MaxRows ends the import; partial keeps the batches before.
	before := len(texts(t, s, sc, notes))
	res, err = s.Import(ctx, sc, notes, notesRows(10, nil), Import{Batch: 4, MaxRows: 9, Partial: true})
	if !errors.As(err, &ae) || ae.Details["row"] != 10 || res.Imported != 8 || len(texts(t, s, sc, notes)) != before+8 {
		t.Fatalf("past MaxRows: %v, %+v", err, res)
	}
	before += 8
	if _, err = s.Import(ctx, sc, notes, notesRows(10, nil), Import{Batch: 4, MaxRows: 9}); err == nil || len(texts(t, s, sc, notes)) != before {
		t.Fatalf("past MaxRows, all or nothing: %v", err)
	}
}

// TestCSVSource: cells are typed by their columns; empty cells follow the columns'
// nullability and defaults; the header is checked before any row; a row of the wrong
// length or a cell that is not its column's kind is that row's error.
func TestCSVSource(t *testing.T) {
	tbl := &schema.Table{Name: "t", Columns: []schema.Column{
		{Name: "id", Type: schema.TypeUUID}, {Name: "created_at", Type: schema.TypeDatetime},
		{Name: "s", Type: schema.TypeString, Nullable: true}, {Name: "req", Type: schema.TypeString},
		{Name: "def", Type: schema.TypeString, Default: json.RawMessage(`"x"`)}, {Name: "n", Type: schema.TypeInteger},
		{Name: "f", Type: schema.TypeFloat, Nullable: true}, {Name: "b", Type: schema.TypeBoolean, Nullable: true},
		{Name: "j", Type: schema.TypeJSON, Nullable: true}, {Name: "d", Type: schema.TypeDecimal, Nullable: true}}}
	m := &schema.Model{Tables: []schema.Table{*tbl}}
	lim := SourceLimits{MaxFields: 20, MaxRowBytes: 1 << 10}
	read := func(file string) ([]map[string]any, []error, error) {
		src, _, err := NewCSVSource(strings.NewReader(file), m, tbl, lim)
		if err != nil {
			return nil, nil, err
		}
		var rows []map[string]any
		var bad []error
		for {
			obj, err := src.Next()
			var re *RowError
			switch {
			case errors.Is(err, io.EOF):
				return rows, bad, nil
			case errors.As(err, &re):
				bad = append(bad, re.Err)
			case err != nil:
				return rows, bad, err
			default:
				rows = append(rows, obj)
			}
		}
	}
	rows, bad, err := read("\uFEFFid,s,req,def,n,f,b,j,d\n" +
		",text,r,d,12, 1.5 ,TRUE,\"{\"\"a\"\":[1,2]}\",10.25\n" +
		",,,,,,,,\n" +
		",x,y,z,1.5e3,no,maybe,{bad,one\n" +
		"short,row\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"s": "text", "req": "r", "def": "d", "n": json.Number("12"), "f": json.Number("1.5"), "b": true, "j": map[string]any{"a": []any{json.Number("1"), json.Number("2")}}, "d": json.Number("10.25")},
		{"s": nil, "req": "", "f": nil, "b": nil, "j": nil, "d": nil},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows:\n%#v\nwant\n%#v", rows, want)
	}
	var ve *query.ValueError
	if len(bad) != 2 || !errors.As(bad[0], &ve) || ve.Field != "j" || !strings.Contains(bad[1].Error(), "2 fields") {
		t.Fatalf("bad rows: %v", bad)
	}
	// Cells not of their column's kind stay text, for Coerce to refuse naming the field.
	rows, _, _ = read("n,f,b\nabc,0x10,maybe\n")
	if !reflect.DeepEqual(rows, []map[string]any{{"n": "abc", "f": "0x10", "b": "maybe"}}) {
		t.Fatalf("cells of the wrong kind: %#v", rows)
	}

	for file, want := range map[string]string{
		"":                        "empty",
		"s,nope\n":                `no field "nope"`,
		"s,created_at\n":          "set by the server",
		"s,s\n":                   "twice",
		"s,\n":                    "has no name",
		"s\n\"" + "x\n":           "malformed",
		strings.Repeat("s", 2000): "larger than",
	} {
		_, _, err := read(file)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", file, err, want)
		}
	}
	if _, _, err := read("s\n\"" + strings.Repeat("x", 3000) + "\"\n"); err == nil || !strings.Contains(err.Error(), "row 1 is larger than") {
		t.Errorf("a row past the bound: %v", err)
	}
}

// TestJSONSource: an array of objects, one at a time; an element that is not an object
// is that row's error; a malformed file, one that goes on after its array, or a row past
// the bound ends the reading, naming the row.
func TestJSONSource(t *testing.T) {
	lim := SourceLimits{MaxFields: 3, MaxRowBytes: 1 << 10}
	read := func(file string) (int, []int, error) {
		src, err := NewJSONSource(strings.NewReader(file), lim)
		if err != nil {
			return 0, nil, err
		}
		good, n := 0, 0
		var bad []int
		for {
			_, err := src.Next()
			if errors.Is(err, io.EOF) {
				return good, bad, nil
			}
			n++
			var re *RowError
			switch {
			case errors.As(err, &re):
				bad = append(bad, n)
			case err != nil:
				return good, bad, err
			default:
				good++
			}
		}
	}
	good, bad, err := read(` [ {"a": 1}, 5, {"b": [1, {"c": null}]}, null, {"a":1,"b":2,"c":3,"d":4} ] ` + "\n")
	if err != nil || good != 2 || !slices.Equal(bad, []int{2, 4, 5}) {
		t.Fatalf("read: %d good, bad %v, %v", good, bad, err)
	}
	for file, want := range map[string]string{
		`{"a":1}`:           "an array of objects",
		`[{"a":1}] [`:       "goes on after",
		`[{"a":1}, {"a":`:   "row 2: the JSON array does not end",
		`[{"a":1} {"a":2}]`: "row 2",
		`[{"a":"` + strings.Repeat("x", 70<<10) + `"}]`: "row 1 is larger than",
	} {
		_, _, err := read(file)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", file, err, want)
		}
	}
}

// FuzzCSVSource: any bytes read as a CSV file end, without a panic, in rows, row errors
// or one error, and never more rows than lines.
func FuzzCSVSource(f *testing.F) {
	for _, seed := range []string{"s,n\na,1\n", "s\n\"a\"\"b\"\n", "\uFEFFs,n\n,\n", "n\nx\n", "s,n\n1\n", "s\n\"unterminated\n"} {
		f.Add(seed)
	}
	tbl := &schema.Table{Name: "t", Columns: []schema.Column{{Name: "s", Type: schema.TypeString, Nullable: true},
		{Name: "n", Type: schema.TypeInteger}, {Name: "j", Type: schema.TypeJSON, Nullable: true}}}
	m := &schema.Model{Tables: []schema.Table{*tbl}}
	f.Fuzz(func(t *testing.T, file string) {
		src, _, err := NewCSVSource(strings.NewReader(file), m, tbl, SourceLimits{MaxFields: 5, MaxRowBytes: 256})
		if err != nil {
			return
		}
		for n := 0; ; n++ {
			if n > strings.Count(file, "\n")+strings.Count(file, "\r")+1 {
				t.Fatalf("more rows than lines in %q", file)
			}
			_, err := src.Next()
			var re *RowError
			if err != nil && !errors.As(err, &re) {
				return
			}
		}
	})
}

// FuzzJSONSource: any bytes read as a JSON import end, without a panic; a file that is a
// valid array of objects reads as exactly its objects.
func FuzzJSONSource(f *testing.F) {
	for _, seed := range []string{`[]`, `[{"a":1},{"b":[2]}]`, `[1,{"a":"x"}]`, `[{"a":1}`, ` [ ] x`, `[{"a":{"b":{"c":1}}}]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, file string) {
		var whole []map[string]any
		valid := json.Unmarshal([]byte(file), &whole) == nil && whole != nil && !slices.ContainsFunc(whole, func(m map[string]any) bool { return m == nil })
		src, err := NewJSONSource(strings.NewReader(file), SourceLimits{MaxFields: 1 << 20, MaxRowBytes: 1 << 20})
		if err != nil {
			if valid {
				t.Fatalf("a valid file refused: %v", err)
			}
			return
		}
		var got []map[string]any
		for {
			obj, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if valid {
					t.Fatalf("a valid file's row refused: %v", err)
				}
				return
			}
			got = append(got, obj)
		}
		if valid && len(got) != len(whole) {
			t.Fatalf("%d rows of %d", len(got), len(whole))
		}
	})
}
