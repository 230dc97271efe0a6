// Package query turns request input into typed values and parameterised SQL for a
// tenant's tables, and database values back into JSON. Identifiers come only from the
// schema model and are always quoted; values are always bound parameters.
package query

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"strata/modules/database"
	"strata/schema"
)

var (
	dateRe  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timeRe  = regexp.MustCompile(`^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$`)
	phoneRe = regexp.MustCompile(`^\+?[0-9 ()./-]{3,32}$`)
)

// ValueError is a value that does not fit its column.
type ValueError struct{ Field, Message string }

func (e *ValueError) Error() string { return e.Field + ": " + e.Message }

// Coerce checks a JSON-decoded value against a column and converts it into a bound
// parameter for dialect d. nil stays nil (nullability is the database's to enforce, so
// the error names the column consistently).
func Coerce(d schema.Dialect, c *schema.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func(format string, args ...any) error {
		return &ValueError{Field: c.Name, Message: fmt.Sprintf(format, args...)}
	}
	str := func() (string, error) {
		s, ok := v.(string)
		if !ok {
			return "", bad("must be a string")
		}
		if strings.ContainsRune(s, 0) {
			return "", bad("must not contain NUL characters")
		}
		return s, nil
	}
	switch c.Type {
	case schema.TypeString, schema.TypeText:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if c.Type == schema.TypeString && len([]rune(s)) > c.Length {
			return nil, bad("is longer than %d characters", c.Length)
		}
		return s, nil
	case schema.TypeEmail:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if n := c.TextLength(); len([]rune(s)) > n {
			return nil, bad("is longer than %d characters", n)
		}
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return nil, bad("must be an email address")
		}
		return s, nil
	case schema.TypeURL:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if n := c.TextLength(); len([]rune(s)) > n {
			return nil, bad("is longer than %d characters", n)
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, bad("must be an http(s) URL")
		}
		return s, nil
	case schema.TypePhone:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if n := c.TextLength(); len([]rune(s)) > n {
			return nil, bad("is longer than %d characters", n)
		}
		if !phoneRe.MatchString(s) {
			return nil, bad("must be a phone number")
		}
		return s, nil
	case schema.TypeInteger, schema.TypeBigint:
		f, ok := number(v)
		if !ok || f != math.Trunc(f) {
			return nil, bad("must be an integer")
		}
		if c.Type == schema.TypeInteger && (f > math.MaxInt32 || f < math.MinInt32) {
			return nil, bad("is out of range for an integer")
		}
		if math.Abs(f) > 1<<53 {
			return nil, bad("is out of range")
		}
		return int64(f), nil
	case schema.TypeFloat, schema.TypePercent:
		f, ok := number(v)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, bad("must be a number")
		}
		return f, nil
	case schema.TypeDecimal, schema.TypeCurrency:
		s := ""
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			s = x
		default:
			return nil, bad("must be a number")
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, bad("must be a number")
		}
		p, sc := c.Precision, c.Scale
		if c.Type == schema.TypeCurrency {
			p, sc = 19, 4
		}
		out := r.FloatString(sc)
		digits := strings.TrimLeft(strings.ReplaceAll(strings.TrimPrefix(out, "-"), ".", ""), "0")
		if len(digits) > p {
			return nil, bad("does not fit decimal(%d,%d)", p, sc)
		}
		return out, nil
	case schema.TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, bad("must be true or false")
		}
		return d.BoolValue(b), nil
	case schema.TypeDate:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if !dateRe.MatchString(s) {
			return nil, bad("must be a date YYYY-MM-DD")
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, bad("must be a valid date")
		}
		return s, nil
	case schema.TypeDatetime:
		s, err := str()
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, bad("must be an RFC 3339 date-time")
		}
		return d.TimeValue(t), nil
	case schema.TypeTime:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if !timeRe.MatchString(s) {
			return nil, bad("must be a time HH:MM[:SS]")
		}
		return NormalizeTime(s), nil
	case schema.TypeUUID, schema.TypeFile:
		s, err := str()
		if err != nil {
			return nil, err
		}
		if !schema.IsUUID(s) {
			return nil, bad("must be a UUID")
		}
		return strings.ToLower(s), nil
	case schema.TypeEnum:
		s, err := str()
		if err != nil {
			return nil, err
		}
		for _, x := range c.Values {
			if x == s {
				return s, nil
			}
		}
		return nil, bad("must be one of %s", strings.Join(c.Values, ", "))
	case schema.TypeMultiEnum:
		arr, ok := v.([]any)
		if !ok {
			return nil, bad("must be an array of values")
		}
		for _, x := range arr {
			s, ok := x.(string)
			found := false
			for _, allowed := range c.Values {
				found = found || (ok && allowed == s)
			}
			if !found {
				return nil, bad("values must be among %s", strings.Join(c.Values, ", "))
			}
		}
		b, _ := json.Marshal(arr)
		return string(b), nil
	case schema.TypeJSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, bad("must be JSON")
		}
		return string(b), nil
	}
	return nil, bad("has an unknown type %s", c.Type)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	}
	return 0, false
}

// datetimeText renders a date-time stored as text as RFC 3339 in UTC. Strata's own
// SQLite text (schema.TimeLayout) only loses the fraction's trailing zeros, without
// a parse: that is every date-time of every row read on SQLite.
func datetimeText(s string) string {
	if isTimeLayout(s) {
		end := len(s) - 1 // the Z
		if s[end-1] != '0' {
			return s
		}
		frac := end
		for frac > 20 && s[frac-1] == '0' {
			frac--
		}
		if frac == 20 { // all zeros: no fraction, as time.RFC3339Nano writes it
			frac = 19
		}
		return s[:frac] + "Z"
	}
	if t := database.Time(s); t != nil {
		return t.Format(time.RFC3339Nano)
	}
	return s
}

// isTimeLayout reports whether s has exactly the shape of schema.TimeLayout.
func isTimeLayout(s string) bool {
	const shape = "dddd-dd-ddTdd:dd:dd.ddddddZ"
	if len(s) != len(shape) {
		return false
	}
	for i := range len(shape) {
		if shape[i] == 'd' {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		} else if s[i] != shape[i] {
			return false
		}
	}
	return true
}

// Decode turns a scanned database value into its JSON form for column c.
func Decode(c *schema.Column, v any) any {
	if v == nil {
		return nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch c.Type {
	case schema.TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x
		case int64:
			return x != 0
		case string:
			return x == "1" || x == "true" || x == "t"
		}
	case schema.TypeInteger, schema.TypeBigint:
		return database.Int64(v)
	case schema.TypeFloat, schema.TypePercent:
		switch x := v.(type) {
		case float64:
			return x
		case float32:
			return float64(x)
		case int64:
			return float64(x)
		case string:
			f, _ := strconv.ParseFloat(x, 64)
			return f
		}
	case schema.TypeDecimal, schema.TypeCurrency:
		// Decimals leave as strings, as Directus does, so no precision is lost.
		switch x := v.(type) {
		case string:
			return x
		case float64:
			scale := c.Scale
			if c.Type == schema.TypeCurrency {
				scale = 4
			}
			return strconv.FormatFloat(x, 'f', scale, 64)
		case int64:
			return strconv.FormatInt(x, 10)
		}
	case schema.TypeDatetime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		case string:
			return datetimeText(x)
		}
	case schema.TypeDate:
		if t, ok := v.(time.Time); ok {
			return t.Format("2006-01-02")
		}
		if s, ok := v.(string); ok && len(s) >= 10 {
			return s[:10]
		}
	case schema.TypeTime:
		if t, ok := v.(time.Time); ok {
			return t.Format("15:04:05")
		}
		if s, ok := v.(string); ok {
			if i := strings.IndexByte(s, '.'); i > 0 && strings.Trim(s[i+1:], "0") == "" {
				return s[:i]
			}
			return s
		}
	case schema.TypeJSON, schema.TypeMultiEnum:
		if s, ok := v.(string); ok {
			return json.RawMessage(s)
		}
	case schema.TypeUUID, schema.TypeFile:
		return database.Text(v)
	}
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// ServerColumn reports whether a column is set by the server on every write (its key's
// owner and times), never by a client.
func ServerColumn(name string) bool { return serverColumns[name] }

// jsonNumber is the grammar of a JSON number (RFC 8259), the only text a CSV cell may
// hold to be read as one.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// TextValue reads a non-empty text cell (a CSV import's) as the JSON value it stands for
// in column c, so Coerce then checks it exactly as it checks a JSON body's: a number
// for numeric columns, true or false (or 1 or 0) for booleans, JSON text for json and
// multi_enum columns; other columns take the text as it is. Text that is not of the
// column's kind is left as text, and Coerce refuses it naming the column. c nil is a
// to-many field (field names it): its cell is JSON (an array of keys).
func TextValue(field string, c *schema.Column, s string) (any, error) {
	kind := schema.TypeJSON
	if c != nil {
		kind = c.Type
	}
	switch kind {
	case schema.TypeInteger, schema.TypeBigint, schema.TypeFloat, schema.TypePercent, schema.TypeDecimal, schema.TypeCurrency:
		if n := strings.TrimSpace(s); jsonNumber.MatchString(n) {
			return json.Number(n), nil
		}
	case schema.TypeBoolean:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
	case schema.TypeJSON, schema.TypeMultiEnum:
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil || dec.More() {
			return nil, &ValueError{Field: field, Message: "must be JSON text"}
		}
		return v, nil
	}
	return s, nil
}
