package database

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"strata/schema"
)

// Drivers hand back the same column as different Go types (pgx: int64, uuid as
// [16]byte, time.Time; MySQL: []byte; SQLite: int64, string). These read scanned values
// into one form, whatever the dialect.

// Text reads a scanned value as a string ("" for NULL).
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// Int64 reads a scanned value as an integer (0 for NULL or non-numbers).
func Int64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case float64:
		return int64(x)
	case []byte:
		n, _ := strconv.ParseInt(string(x), 10, 64)
		return n
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// Bool reads a scanned value as a boolean.
func Bool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case []byte:
		return string(x) == "1" || string(x) == "true"
	case string:
		return x == "1" || x == "true"
	}
	return false
}

// timeLayouts are the date-time texts read back: RFC 3339 (what Strata writes), and the
// forms SQLite's date functions and drivers write (zone-less ones read as UTC), so rows
// written by custom SQL read as Strata's own.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// Time reads a scanned date-time, or nil for NULL or unreadable text.
func Time(v any) *time.Time {
	switch x := v.(type) {
	case time.Time:
		t := x.UTC()
		return &t
	case string, []byte:
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, Text(x)); err == nil {
				t = t.UTC()
				return &t
			}
		}
	}
	return nil
}

// Texts runs query on q and returns the first column of every row as text.
func Texts(ctx context.Context, q schema.Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, Text(v))
	}
	return out, rows.Err()
}

// Clip cuts s to at most n bytes, never inside a character: text kept in a column of
// bounded length (an error, a user agent), which PostgreSQL and MySQL refuse if it is
// not UTF-8.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// NullText is s as a parameter, with "" as NULL.
func NullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}
