package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits bound what one model may hold.
const (
	MaxIdentifierLen = 63
	MaxColumns       = 500
	MaxStringLength  = 65535
	MaxEnumValues    = 500
	MaxDecimalDigits = 38
)

// FieldError is a validation failure that names the offending field of the request.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// identRe is a user's identifier: mixed case is allowed (camelCase names from other
// systems' files), but two names that differ only by case may not meet where they
// would collide (see foldTaken): MySQL and SQLite compare column names, and SQLite
// table names, without case.
var identRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// systemIdentRe is a name Strata gives its own columns.
var systemIdentRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// SystemTables are the tables every tenant has; user changes may not touch them.
var SystemTables = []string{"table_definition", "column_definition", "relation_definition", "custom_migrations", "settings",
	"strata_roles", "strata_users", "strata_permissions", "strata_sessions", "strata_api_keys", "migration_resolutions",
	"strata_files", "strata_folders", "function_definition", "strata_function_runs", "strata_function_secrets", "strata_function_outbox",
	"strata_template_files",
	"strata_user_tokens", "strata_auth_providers", "strata_auth_states", "strata_user_identities",
	"strata_activity", "strata_revisions", "strata_webhooks"}

// FilesTable holds a tenant's files; user tables may relate to it (a file field).
// FoldersTable holds the folders they are filed in.
const (
	FilesTable   = "strata_files"
	FoldersTable = "strata_folders"
)

// IsFileTable reports whether a system table may be a relation target: the files.
func IsFileTable(name string) bool { return name == FilesTable }

// SystemColumns are the columns every table carries.
var SystemColumns = []string{"id", "owner_id", "created_at", "updated_at"}

// TrashPrefix is the namespace soft-dropped tables and columns are renamed into.
const TrashPrefix = "strata_del_"

// reserved holds words that are keywords in at least one supported dialect, or that
// would read confusingly as identifiers; lower-case.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`add all alter analyze and any as asc asensitive authorization before between bigint
	binary blob both by call cascade case cast change char character check collate column commit
	condition constraint continue convert create cross current current_date current_time
	current_timestamp current_user cursor database databases declare default deferrable delete desc
	describe distinct distinctrow div do double drop else elseif enclosed end escape escaped except
	exists exit explain false fetch float for force foreign from full fulltext grant group having
	if ignore ilike in index inner inout insert int integer intersect interval into is isnull
	join key keys kill leading leave left like limit lines load localtime localtimestamp lock long
	loop match merge natural not notnull null numeric of offset on only optimize option or order
	out outer over partition placing precision primary procedure purge range read real references
	regexp release rename repeat replace require restrict return returning revoke right rlike
	rollback row rows schema schemas select session_user set show similar smallint some spatial
	sql sqlstate start table then to trailing transaction trigger true undo union unique unlock
	unsigned update usage use user using values varchar varying verbose when where while window with
	write xor year_month zerofill abort attach autoincrement detach exclusive glob indexed
	initially instead nothing notnull pragma raise recursive reindex savepoint temp temporary
	vacuum view virtual analyse array asymmetric collation concurrently freeze leading localtime
	symmetric tablesample variadic verbose`) {
		reserved[w] = true
	}
}

// ValidateIdentifier checks a table, column, relation or index name: lower-case
// letters, digits and underscores, starting with a letter, at most 63 characters, not a
// keyword and not in Strata's own namespace.
func ValidateIdentifier(field, name string) *FieldError {
	switch {
	case name == "":
		return fieldErr(field, "is required")
	case len(name) > MaxIdentifierLen:
		return fieldErr(field, "%q is longer than %d characters", name, MaxIdentifierLen)
	case !identRe.MatchString(name):
		return fieldErr(field, "%q must start with a letter and contain only letters, digits and _", name)
	case reserved[strings.ToLower(name)]:
		return fieldErr(field, "%q is a reserved SQL keyword", name)
	case hasReservedPrefix(strings.ToLower(name)):
		return fieldErr(field, "%q uses a reserved prefix", name)
	}
	return nil
}

// ValidateColumn checks one column definition (not its place in a table). System
// tables are defined by Strata itself and may use keywords as column names (`change`).
func ValidateColumn(field string, c *Column, system bool) *FieldError {
	if system {
		if !systemIdentRe.MatchString(c.Name) {
			return fieldErr(field+".name", "invalid system column name %q", c.Name)
		}
	} else if err := ValidateIdentifier(field+".name", c.Name); err != nil {
		return err
	}
	if isSystemColumn(c.Name) {
		return fieldErr(field+".name", "%q is a system column every table already has", c.Name)
	}
	if !c.Type.Valid() {
		return fieldErr(field+".type", "unknown type %q", c.Type)
	}
	switch c.Type {
	case TypeString:
		if c.Length == 0 {
			c.Length = 255
		}
		if c.Length < 1 || c.Length > MaxStringLength {
			return fieldErr(field+".length", "must be between 1 and %d", MaxStringLength)
		}
	case TypeEmail, TypeURL, TypePhone:
		// 0 and 255 are the one legacy length, stored as 0 so that a column made before
		// lengths could be set and one that says 255 are the same column.
		if c.Length == LegacyTextLength {
			c.Length = 0
		}
		if c.Length < 0 || c.Length > MaxStringLength {
			return fieldErr(field+".length", "must be between 1 and %d", MaxStringLength)
		}
	case TypeDecimal:
		if c.Precision == 0 {
			c.Precision, c.Scale = 10, 2
		}
		if c.Precision < 1 || c.Precision > MaxDecimalDigits {
			return fieldErr(field+".precision", "must be between 1 and %d", MaxDecimalDigits)
		}
		if c.Scale < 0 || c.Scale > c.Precision {
			return fieldErr(field+".scale", "must be between 0 and precision")
		}
	case TypeEnum, TypeMultiEnum:
		if len(c.Values) == 0 {
			return fieldErr(field+".values", "an enum needs at least one value")
		}
		if len(c.Values) > MaxEnumValues {
			return fieldErr(field+".values", "at most %d values", MaxEnumValues)
		}
		seen := map[string]bool{}
		for i, v := range c.Values {
			if v == "" || len(v) > 255 || strings.ContainsRune(v, 0) {
				return fieldErr(fmt.Sprintf("%s.values[%d]", field, i), "must be 1 to 255 characters")
			}
			if seen[v] {
				return fieldErr(fmt.Sprintf("%s.values[%d]", field, i), "duplicate value %q", v)
			}
			seen[v] = true
		}
	}
	if c.Type != TypeString && !c.Type.SizedText() {
		c.Length = 0
	}
	if c.Type != TypeDecimal {
		c.Precision, c.Scale = 0, 0
	}
	if c.Type != TypeEnum && c.Type != TypeMultiEnum {
		c.Values = nil
	}
	if c.Unique && (c.Type == TypeText || c.Type == TypeJSON || c.Type == TypeMultiEnum) {
		return fieldErr(field+".unique", "type %s cannot be unique", c.Type)
	}
	if c.Index && (c.Type == TypeText || c.Type == TypeJSON || c.Type == TypeMultiEnum) {
		return fieldErr(field+".index", "type %s cannot be indexed", c.Type)
	}
	if len(c.Description) > 2000 {
		return fieldErr(field+".description", "at most 2000 characters")
	}
	if err := validateDefault(field+".default", c); err != nil {
		return err
	}
	return nil
}

func isSystemColumn(name string) bool {
	for _, s := range SystemColumns {
		if strings.EqualFold(s, name) { // Owner_ID would be owner_id on MySQL and SQLite
			return true
		}
	}
	return false
}

// IsSystemTable reports whether name is one of the tables every tenant has.
// MaxLabelLen bounds a table's label (its metadata column's length).
const MaxLabelLen = 255

// ValidateLabel checks a table's display name: any text a person reads, short.
func ValidateLabel(field, label string) *FieldError {
	if utf8.RuneCountInString(label) > MaxLabelLen {
		return fieldErr(field, "at most %d characters", MaxLabelLen)
	}
	if strings.ContainsFunc(label, unicode.IsControl) {
		return fieldErr(field, "must not contain control characters")
	}
	return nil
}

// Accountabilities are what the audit trail may keep of a table's writes ("": all).
var Accountabilities = []string{"", "all", "activity", "none"}

// ValidateAccountability checks a table's accountability.
func ValidateAccountability(field, a string) *FieldError {
	if !slices.Contains(Accountabilities, a) {
		return fieldErr(field, "must be all, activity or none")
	}
	return nil
}

func hasReservedPrefix(name string) bool {
	return strings.HasPrefix(name, "strata_") || strings.HasPrefix(name, "pg_") || strings.HasPrefix(name, "sqlite_")
}

// reservedTableName reports whether a user's table may not be called name, in any case:
// a system table's name, or one ending like the metadata tables.
func reservedTableName(name string) bool {
	lower := strings.ToLower(name)
	return IsSystemTable(lower) || strings.HasSuffix(lower, "_definition")
}

func IsSystemTable(name string) bool {
	for _, s := range SystemTables {
		if s == name {
			return true
		}
	}
	return false
}

// DefaultValue decodes a column default into a Go value (string, float64, bool, or
// a JSON text for json columns), or nil when the column has none.
func (c *Column) DefaultValue() any {
	if len(c.Default) == 0 || string(c.Default) == "null" {
		return nil
	}
	var v any
	_ = json.Unmarshal(c.Default, &v)
	if c.Type == TypeJSON || c.Type == TypeMultiEnum {
		return string(c.Default)
	}
	return v
}

var (
	dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	timeRe = regexp.MustCompile(`^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$`)
)

// CanonicalDefault rewrites a stored default in the form validation gives it. The
// databases hand JSON back differently (PostgreSQL's jsonb writes 1e-7 as 0.0000001,
// SQLite may keep a number as REAL), and a model read back must equal the one written.
func CanonicalDefault(raw []byte) json.RawMessage {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return json.RawMessage(raw)
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(raw)
	}
	return canon
}

// validateDefault checks that a default fits the column's type; defaults are rendered
// into DDL as literals, so they must be exactly what the type expects.
func validateDefault(field string, c *Column) *FieldError {
	if len(c.Default) == 0 || string(c.Default) == "null" {
		c.Default = nil
		return nil
	}
	var v any
	if err := json.Unmarshal(c.Default, &v); err != nil {
		return fieldErr(field, "is not valid JSON")
	}
	bad := func(want string) *FieldError { return fieldErr(field, "must be %s for a %s column", want, c.Type) }
	switch c.Type {
	case TypeString, TypeText, TypeEmail, TypeURL, TypePhone:
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if strings.ContainsRune(s, 0) {
			return fieldErr(field, "must not contain NUL")
		}
		if n := c.TextLength(); n > 0 && len([]rune(s)) > n {
			return fieldErr(field, "is longer than the column's length %d", n)
		}
	case TypeInteger, TypeBigint:
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return bad("an integer")
		}
		if c.Type == TypeInteger && (f > math.MaxInt32 || f < math.MinInt32) {
			return fieldErr(field, "is out of range for integer")
		}
		if math.Abs(f) > 1<<53 {
			return fieldErr(field, "is out of the exactly representable range")
		}
	case TypeFloat, TypeDecimal, TypeCurrency, TypePercent:
		f, ok := v.(float64)
		if !ok {
			return bad("a number")
		}
		// A fixed-point default must fit exactly: PostgreSQL and MySQL refuse one
		// that overflows (at execution, leaving a failed migration) and round extra
		// decimals, while SQLite keeps any number, so a history would not replay.
		switch c.Type {
		case TypeDecimal:
			if err := fitsNumeric(field, f, c.Precision, c.Scale); err != nil {
				return err
			}
		case TypeCurrency:
			if err := fitsNumeric(field, f, CurrencyPrecision, CurrencyScale); err != nil {
				return err
			}
		}
	case TypeBoolean:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case TypeDate:
		s, ok := v.(string)
		if !ok || !dateRe.MatchString(s) {
			return bad("a date YYYY-MM-DD")
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return bad("a valid date")
		}
	case TypeDatetime:
		s, ok := v.(string)
		if !ok {
			return bad("an RFC 3339 date-time")
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return bad("an RFC 3339 date-time")
		}
		// Rendered in UTC on MySQL and SQLite: the year must stay four digits there.
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return fieldErr(field, "is outside the years 0001 to 9999 in UTC")
		}
	case TypeTime:
		s, ok := v.(string)
		if !ok || !timeRe.MatchString(s) {
			return bad("a time HH:MM[:SS]")
		}
	case TypeUUID, TypeFile:
		s, ok := v.(string)
		if !ok || !IsUUID(s) {
			return bad("a UUID")
		}
	case TypeEnum:
		s, ok := v.(string)
		if !ok || !contains(c.Values, s) {
			return bad("one of the enum's values")
		}
	case TypeMultiEnum:
		arr, ok := v.([]any)
		if !ok {
			return bad("an array of the enum's values")
		}
		for _, x := range arr {
			s, ok := x.(string)
			if !ok || !contains(c.Values, s) {
				return bad("an array of the enum's values")
			}
		}
	case TypeJSON:
		// any JSON value is fine
	}
	// Store the default in canonical form so plans and hashes are stable.
	canon, _ := json.Marshal(v)
	c.Default = canon
	return nil
}

// Currency columns are fixed-point numbers of this precision and scale on every dialect.
const (
	CurrencyPrecision = 19
	CurrencyScale     = 4
)

// fitsNumeric checks that f, written in the shortest decimal form that reads back as
// the same number (how the default is kept and rendered), has at most precision-scale
// digits before the point and scale after it.
func fitsNumeric(field string, f float64, precision, scale int) *FieldError {
	s := strings.TrimPrefix(strconv.FormatFloat(f, 'f', -1, 64), "-")
	ip, fp, _ := strings.Cut(s, ".")
	ip = strings.TrimLeft(ip, "0")
	if len(ip) > precision-scale {
		return fieldErr(field, "%s does not fit numeric(%d,%d): at most %d digits before the decimal point", s, precision, scale, precision-scale)
	}
	if len(fp) > scale {
		return fieldErr(field, "%s does not fit numeric(%d,%d): at most %d digits after the decimal point", s, precision, scale, scale)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// IsUUID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form. It runs on
// every request that names a row, so it is a plain loop rather than a regexp.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
