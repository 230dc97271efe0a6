package query

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"strata/schema"
)

// CondKind tells what a condition node is.
type CondKind int

// Condition kinds.
const (
	CondAnd CondKind = iota
	CondOr
	CondLeaf // Column Op Value
	CondRel  // rows of a relation field match (or, with Negate, none do)
)

// Cond is a validated filter tree. Leaf values are plain Go values (string, int64,
// float64, bool, time.Time, or []any of them); the SQL builder turns them into bound
// parameters for the dialect.
type Cond struct {
	Kind     CondKind
	Children []*Cond
	Column   *schema.Column
	Op       string
	Value    any
	Field    *RelField
	Sub      *Cond
	Negate   bool
}

// Operator groups, by what they apply to.
var (
	opsAny     = []string{"_eq", "_neq", "_in", "_nin", "_null", "_nnull"}
	opsOrdered = []string{"_lt", "_lte", "_gt", "_gte", "_between", "_nbetween"}
	opsText    = []string{"_contains", "_ncontains", "_icontains", "_nicontains", "_starts_with", "_nstarts_with", "_istarts_with",
		"_nistarts_with", "_ends_with", "_nends_with", "_iends_with", "_niends_with", "_empty", "_nempty"}
	opsDoc = []string{"_null", "_nnull", "_empty", "_nempty"}
)

func isOperator(k string) bool {
	return slices.Contains(opsAny, k) || slices.Contains(opsOrdered, k) || slices.Contains(opsText, k)
}

// allowedOps lists the operators a column type supports.
func allowedOps(t schema.Type) []string {
	switch {
	case t.IsText():
		return slices.Concat(opsAny, opsOrdered, opsText)
	case t == schema.TypeJSON || t == schema.TypeMultiEnum:
		return opsDoc
	case t == schema.TypeBoolean || t == schema.TypeUUID || t == schema.TypeFile:
		return opsAny
	}
	return slices.Concat(opsAny, opsOrdered)
}

// parseFilterParam reads filter as JSON (filter=…) or in bracket form
// (filter[views][_gt]=500).
func (r *Resolver) parseFilterParam(t *schema.Table, p Params) (*Cond, error) {
	raw := p.get("filter") // bracket forms are JSON by now (Canonical)
	if raw == "" {
		return nil, nil
	}
	if max := r.Limits.maxJSONNesting(); jsonNestsDeeper(raw, max) {
		return nil, qerr("filter", "", "its JSON nests deeper than %d levels", max)
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, qerr("filter", "", "is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, qerr("filter", "", "is not a single JSON value")
	}
	return r.parseFilterValue(t, "filter", "", v)
}

// maxJSONNesting bounds how deep the JSON of filter and deep may nest, checked on the
// text before it is decoded: encoding/json decodes up to 10,000 levels, a map or slice
// each, before the parsers refuse what passes MaxFilterDepth or MaxRelationDepth (16 KB
// of "[" took 4 ms to refuse, and every fuzzed variant of such an input took as long).
// A filter level takes at most two JSON levels ({"_and":[{…}]}, {"rel":{"_some":{…}}}),
// a leaf two more ({"col":{"_in":[…]}}), and deep one per relation plus one for its
// _filter, so nothing the parsers accept nests deeper than this.
func (l Limits) maxJSONNesting() int { return 2*(l.MaxFilterDepth+l.MaxRelationDepth) + 8 }

// jsonNestsDeeper reports whether JSON text's arrays and objects nest deeper than max,
// reading strings as JSON does (brackets inside them do not count). Invalid text is left
// to the decoder to report.
func jsonNestsDeeper(s string, max int) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{', '[':
			if depth++; depth > max {
				return true
			}
		case '}', ']':
			depth--
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++ // the escaped character, which may be a quote
				}
			}
		}
	}
	return false
}

// parseFilterValue validates a decoded filter against table t.
func (r *Resolver) parseFilterValue(t *schema.Table, param, at string, v any) (*Cond, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, qerr(param, at, "must be an object")
	}
	nodes := 0
	c, err := r.parseCond(t, param, at, obj, 1, &nodes)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func join(at, k string) string {
	if at == "" {
		return k
	}
	return at + "." + k
}

// parseCond turns one filter object into a condition; several keys are ANDed.
func (r *Resolver) parseCond(t *schema.Table, param, at string, obj map[string]any, depth int, nodes *int) (*Cond, error) {
	if depth > r.Limits.MaxFilterDepth {
		return nil, qerr(param, at, "nests deeper than %d", r.Limits.MaxFilterDepth)
	}
	and := &Cond{Kind: CondAnd}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		path := join(at, k)
		switch k {
		case "_and", "_or":
			items, ok := asList(obj[k])
			if !ok {
				return nil, qerr(param, path, "must be an array of filters")
			}
			group := &Cond{Kind: CondAnd}
			if k == "_or" {
				group.Kind = CondOr
			}
			for i, it := range items {
				sub, ok := it.(map[string]any)
				if !ok {
					return nil, qerr(param, fmt.Sprintf("%s[%d]", path, i), "must be an object")
				}
				c, err := r.parseCond(t, param, fmt.Sprintf("%s[%d]", path, i), sub, depth+1, nodes)
				if err != nil {
					return nil, err
				}
				group.Children = append(group.Children, c)
			}
			and.Children = append(and.Children, group)
			continue
		}
		if strings.HasPrefix(k, "_") {
			return nil, qerr(param, path, "unknown operator %q here; operators go inside a field", k)
		}
		spec, ok := obj[k].(map[string]any)
		if !ok {
			return nil, qerr(param, path, "must be an object of operators")
		}
		rf := r.Field(t, k)
		col := t.Column(k)
		switch {
		case (col != nil || rf != nil) && !r.fieldAllowed(t, k):
			return nil, forbidden(param, path, "you may not read %s.%s", t.Name, k)
		case col != nil && (rf == nil || onlyOperators(spec)):
			for _, op := range slices.Sorted(maps.Keys(spec)) {
				leaf, err := r.leaf(col, param, join(path, op), op, spec[op], nodes)
				if err != nil {
					return nil, err
				}
				and.Children = append(and.Children, leaf)
			}
		case rf != nil:
			c, err := r.relCond(rf, param, path, spec, depth, nodes)
			if err != nil {
				return nil, err
			}
			and.Children = append(and.Children, c)
		default:
			return nil, qerr(param, path, "table %q has no field %q", t.Name, k)
		}
	}
	if len(and.Children) == 1 {
		return and.Children[0], nil
	}
	return and, nil
}

func onlyOperators(spec map[string]any) bool {
	for k := range spec {
		if !isOperator(k) {
			return false
		}
	}
	return len(spec) > 0
}

// asList accepts a JSON array, or the object a bracket form makes of one ({"0":…}).
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case map[string]any:
		keys := slices.Collect(maps.Keys(x))
		slices.SortFunc(keys, func(a, b string) int {
			ai, _ := strconv.Atoi(a)
			bi, _ := strconv.Atoi(b)
			return ai - bi
		})
		out := make([]any, 0, len(keys))
		for _, k := range keys {
			if _, err := strconv.Atoi(k); err != nil {
				return nil, false
			}
			out = append(out, x[k])
		}
		return out, true
	}
	return nil, false
}

// relCond is a condition through a relation field.
func (r *Resolver) relCond(rf *RelField, param, path string, spec map[string]any, depth int, nodes *int) (*Cond, error) {
	if depth+1 > r.Limits.MaxRelationDepth+1 {
		return nil, qerr(param, path, "relations nest deeper than %d", r.Limits.MaxRelationDepth)
	}
	c := &Cond{Kind: CondRel, Field: rf}
	sub := spec
	if rf.Kind != ToOne {
		some, hasSome := spec["_some"]
		none, hasNone := spec["_none"]
		switch {
		case hasSome && hasNone || (hasSome || hasNone) && len(spec) > 1:
			return nil, qerr(param, path, "use either _some or _none, alone")
		case hasSome || hasNone:
			val := some
			if hasNone {
				val, c.Negate = none, true
			}
			m, ok := val.(map[string]any)
			if !ok {
				return nil, qerr(param, path, "_some/_none takes a filter object")
			}
			sub = m
		}
	} else if _, ok := spec["_some"]; ok {
		return nil, qerr(param, path, "_some applies to to-many relations; %q is to-one", rf.Name)
	}
	s, err := r.parseCond(rf.Target, param, path, sub, depth+1, nodes)
	if err != nil {
		return nil, err
	}
	// A filter through a relation sees only related rows the caller may read, or it
	// could probe hidden rows.
	rule, err := r.readCond(rf.Target, param, path)
	if err != nil {
		return nil, err
	}
	c.Sub = and(s, rule)
	return c, nil
}

// leaf validates one operator and its value against a column.
func (r *Resolver) leaf(col *schema.Column, param, path, op string, v any, nodes *int) (*Cond, error) {
	*nodes++
	if *nodes > r.Limits.MaxFilterNodes {
		return nil, qerr(param, path, "the filter has more than %d conditions", r.Limits.MaxFilterNodes)
	}
	if !isOperator(op) {
		return nil, qerr(param, path, "unknown operator %q", op)
	}
	if !slices.Contains(allowedOps(col.Type), op) {
		return nil, qerr(param, path, "operator %s does not apply to %s column %q", op, col.Type, col.Name)
	}
	c := &Cond{Kind: CondLeaf, Column: col, Op: op}
	switch op {
	case "_null", "_nnull", "_empty", "_nempty":
		b, err := boolValue(v)
		if err != nil {
			return nil, qerr(param, path, "must be true or false")
		}
		c.Value = b
	case "_in", "_nin":
		items, ok := v.([]any)
		if s, isStr := v.(string); isStr {
			for _, x := range splitList(s) {
				items = append(items, x)
			}
			ok = true
		}
		if !ok {
			return nil, qerr(param, path, "must be an array")
		}
		if len(items) > r.Limits.MaxFilterNodes*5 {
			return nil, qerr(param, path, "at most %d values", r.Limits.MaxFilterNodes*5)
		}
		vals := make([]any, 0, len(items))
		for i, x := range items {
			val, err := r.scalar(col, x)
			if err != nil {
				return nil, qerr(param, fmt.Sprintf("%s[%d]", path, i), "%v", err)
			}
			vals = append(vals, val)
		}
		c.Value = vals
	case "_between", "_nbetween":
		items, ok := v.([]any)
		if s, isStr := v.(string); isStr {
			items = nil
			for _, x := range splitList(s) {
				items = append(items, x)
			}
			ok = true
		}
		if !ok || len(items) != 2 {
			return nil, qerr(param, path, "must be an array of two values")
		}
		lo, err := r.scalar(col, items[0])
		if err != nil {
			return nil, qerr(param, path+"[0]", "%v", err)
		}
		hi, err := r.scalar(col, items[1])
		if err != nil {
			return nil, qerr(param, path+"[1]", "%v", err)
		}
		c.Value = []any{lo, hi}
	default:
		if v == nil && (op == "_eq" || op == "_neq") {
			c.Value = nil // IS NULL / IS NOT NULL
			return c, nil
		}
		if slices.Contains(opsText, op) {
			s, ok := v.(string)
			if !ok {
				if n, isNum := v.(json.Number); isNum {
					s, ok = n.String(), true
				}
			}
			if !ok {
				return nil, qerr(param, path, "must be a string")
			}
			if strings.ContainsRune(s, 0) {
				return nil, qerr(param, path, "must not contain NUL characters")
			}
			c.Value = s
			return c, nil
		}
		val, err := r.scalar(col, v)
		if err != nil {
			return nil, qerr(param, path, "%v", err)
		}
		c.Value = val
	}
	return c, nil
}

func boolValue(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		return strconv.ParseBool(x)
	case json.Number:
		return strconv.ParseBool(x.String())
	}
	return false, fmt.Errorf("not a boolean")
}

// noUser is $CURRENT_USER for callers who are no user; no row's id or owner is it.
const noUser = "00000000-0000-0000-0000-000000000000"

var nowRe = regexp.MustCompile(`^\$NOW(?:\(\s*([+-]?\d+)\s*(second|minute|hour|day|week|month|year)s?\s*\))?$`)

// scalar converts a filter value for a column: numbers from JSON numbers or numeric
// strings (the bracket form has only strings), dates and times checked, dynamic values
// ($NOW, $CURRENT_USER) resolved.
func (r *Resolver) scalar(col *schema.Column, v any) (any, error) {
	if s, ok := v.(string); ok && strings.ContainsRune(s, 0) {
		return nil, fmt.Errorf("must not contain NUL characters") // no dialect stores them in text
	}
	if s, ok := v.(string); ok {
		switch {
		case s == "$CURRENT_USER":
			if col.Type != schema.TypeUUID && !col.Type.IsText() {
				return nil, fmt.Errorf("$CURRENT_USER compares with uuid or text columns")
			}
			if r.User == "" {
				// No user (anonymous, API key): compare with an id no row has, never
				// with NULL — "_eq: null" means IS NULL, and a self rule would then
				// show every row that has no owner.
				return noUser, nil
			}
			return r.User, nil
		case strings.HasPrefix(s, "$NOW"):
			m := nowRe.FindStringSubmatch(s)
			if m == nil {
				return nil, fmt.Errorf("malformed %q (want $NOW or $NOW(-1 day))", s)
			}
			now := r.now()
			if m[1] != "" {
				n, _ := strconv.Atoi(m[1])
				switch m[2] {
				case "second":
					now = now.Add(time.Duration(n) * time.Second)
				case "minute":
					now = now.Add(time.Duration(n) * time.Minute)
				case "hour":
					now = now.Add(time.Duration(n) * time.Hour)
				case "day":
					now = now.AddDate(0, 0, n)
				case "week":
					now = now.AddDate(0, 0, 7*n)
				case "month":
					now = now.AddDate(0, n, 0)
				case "year":
					now = now.AddDate(n, 0, 0)
				}
			}
			switch col.Type {
			case schema.TypeDatetime:
				return now.UTC(), nil
			case schema.TypeDate:
				return now.UTC().Format("2006-01-02"), nil
			case schema.TypeTime:
				return now.UTC().Format("15:04:05"), nil
			}
			return nil, fmt.Errorf("$NOW compares with date, datetime or time columns")
		}
	}
	switch {
	case col.Type.IsText():
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		}
		return nil, fmt.Errorf("must be a string")
	case col.Type == schema.TypeInteger || col.Type == schema.TypeBigint:
		f, ok := numeric(v)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("must be an integer for %s column %q", col.Type, col.Name)
		}
		return int64(f), nil
	case col.Type == schema.TypeFloat || col.Type == schema.TypePercent:
		f, ok := numeric(v)
		if !ok {
			return nil, fmt.Errorf("must be a number for %s column %q", col.Type, col.Name)
		}
		return f, nil
	case col.Type == schema.TypeDecimal || col.Type == schema.TypeCurrency:
		f, ok := numeric(v)
		if !ok {
			return nil, fmt.Errorf("must be a number for %s column %q", col.Type, col.Name)
		}
		return f, nil
	case col.Type == schema.TypeBoolean:
		b, err := boolValue(v)
		if err != nil {
			return nil, fmt.Errorf("must be true or false")
		}
		return b, nil
	case col.Type == schema.TypeUUID || col.Type == schema.TypeFile:
		s, ok := v.(string)
		if !ok || !schema.IsUUID(s) {
			return nil, fmt.Errorf("must be a UUID")
		}
		return strings.ToLower(s), nil
	case col.Type == schema.TypeDate:
		s, ok := v.(string)
		if ok && len(s) > 10 {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC().Format("2006-01-02"), nil
			}
		}
		if !ok || !dateRe.MatchString(s) {
			return nil, fmt.Errorf("must be a date YYYY-MM-DD")
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return nil, fmt.Errorf("must be a valid date")
		}
		return s, nil
	case col.Type == schema.TypeDatetime:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be an RFC 3339 date-time")
		}
		if dateRe.MatchString(s) {
			s += "T00:00:00Z"
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("must be an RFC 3339 date-time")
		}
		return t.UTC(), nil
	case col.Type == schema.TypeTime:
		s, ok := v.(string)
		if !ok || !timeRe.MatchString(s) {
			return nil, fmt.Errorf("must be a time HH:MM[:SS]")
		}
		return NormalizeTime(s), nil
	}
	return nil, fmt.Errorf("cannot compare %s column %q with a value", col.Type, col.Name)
}

func numeric(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && !math.IsInf(f, 0)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	return 0, false
}

// NormalizeTime pads a time of day to HH:MM:SS, so stored and compared times line up.
func NormalizeTime(s string) string {
	if len(s) == 5 {
		return s + ":00"
	}
	return s
}
