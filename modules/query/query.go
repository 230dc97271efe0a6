package query

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"strata/schema"
)

// Limits bound what one query may ask for; exceeding one is a 400 naming it.
type Limits struct {
	DefaultLimit     int // rows per page when limit is not given (100)
	MaxLimit         int // the most rows a page (or limit=-1) may return (1000)
	MaxFilterDepth   int // nesting of _and/_or/relations inside filter (10)
	MaxFilterNodes   int // conditions in one filter (200)
	MaxRelationDepth int // levels of relations in fields, filter, sort and deep (4)
	MaxFields        int // entries in fields (200)
	MaxNestedRows    int // rows loaded for one relation level of one request (10000)
	MaxParamBytes    int // length of one query parameter's value (16384)
}

// WithDefaults fills unset limits with their documented defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.DefaultLimit, 100)
	def(&l.MaxLimit, 1000)
	def(&l.MaxFilterDepth, 10)
	def(&l.MaxFilterNodes, 200)
	def(&l.MaxRelationDepth, 4)
	def(&l.MaxFields, 200)
	def(&l.MaxNestedRows, 10000)
	def(&l.MaxParamBytes, 16384)
	return l
}

// Error is a query the engine refuses: which parameter, where inside it, and why.
// Forbidden marks a refusal for lack of permission (403) rather than bad input (400).
type Error struct {
	Param     string
	Path      string
	Message   string
	Forbidden bool
}

func (e *Error) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s at %s: %s", e.Param, e.Path, e.Message)
	}
	return e.Param + ": " + e.Message
}

func qerr(param, path, format string, args ...any) *Error {
	return &Error{Param: param, Path: path, Message: fmt.Sprintf(format, args...)}
}

// Query is a validated request against one table.
type Query struct {
	Table     *schema.Table
	Select    *Selection
	Filter    *Cond
	Search    string
	Sort      []Sort
	Limit     int // rows to return; with All set, the cap
	All       bool
	Offset    int
	Meta      Meta
	Aggregate []Aggregate
	GroupBy   []*schema.Column
	// Rule is the caller's read rule for the table: every row the query touches, and
	// every count (total_count included), is limited by it.
	Rule *Cond
	// SearchIn are the text columns search looks in: those the caller may read.
	SearchIn []*schema.Column
}

// Meta says which counts to return.
type Meta struct{ Total, Filter bool }

// Selection is what to return of one table's rows.
type Selection struct {
	Columns   []*schema.Column
	Relations []*RelSelection
}

// RelKind is where a relation field's key lives, from the side being read.
type RelKind int

// Relation field kinds.
const (
	ToOne    RelKind = iota // the key is a column of this table (many_to_one, one_to_one)
	ToMany                  // the key is a column of the target (one_to_many, or the inverse of a to-one)
	Junction                // many_to_many, through the junction table
)

// RelField is a relation field of a table, resolved for reading from that table.
type RelField struct {
	Name     string
	Kind     RelKind
	Relation *schema.Relation
	Target   *schema.Table
	// Key is the foreign-key column: on this table (ToOne) or on Target (ToMany).
	Key string
	// Junction table and its two key columns (near: points at this table).
	JunctionTable *schema.Table
	JunctionNear  string
	JunctionFar   string
}

// RelSelection is a relation field to expand, with its own selection and the deep
// options for its rows.
type RelSelection struct {
	Field  *RelField
	Select *Selection
	// IDsOnly returns the related keys instead of objects (to-many fields under "*").
	IDsOnly bool
	// Rule is the caller's read rule on the related table; Filter is deep's _filter.
	Rule   *Cond
	Filter *Cond
	Sort   []Sort
	Limit  int // 0 = no per-parent limit
	Offset int
}

// Sort is one ORDER BY term, possibly through to-one relations.
type Sort struct {
	Path []*RelField // to-one hops from the queried table
	// Rules are the caller's read rules on each hop's table (nil: every row): a related
	// row the caller may not read sorts as if there were none, so the order cannot
	// reveal what it holds.
	Rules  []*Cond
	Column *schema.Column
	Desc   bool
}

// Aggregate is one aggregate function over a column (nil column: count of rows).
type Aggregate struct {
	Func   string
	Column *schema.Column
}

// AggregateFuncs lists the supported aggregate functions.
var AggregateFuncs = []string{"count", "countDistinct", "sum", "sumDistinct", "avg", "avgDistinct", "min", "max"}

// Resolver validates queries against a model, for one caller at one moment.
type Resolver struct {
	Model  *schema.Model
	Limits Limits
	// User is the caller's id, for $CURRENT_USER; Now is the clock for $NOW.
	User string
	Now  func() time.Time
	// Perms restricts what may be read; nil for admins.
	Perms Permissions
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Field resolves a relation field name on table t, or nil.
func (r *Resolver) Field(t *schema.Table, name string) *RelField {
	rel := r.Model.RelationByField(t.Name, name)
	if rel == nil {
		return nil
	}
	f := &RelField{Name: name, Relation: rel}
	ownSide := rel.Table == t.Name && rel.Name == name
	switch {
	case rel.Type == schema.ManyToMany:
		f.Kind = Junction
		f.JunctionTable = r.Model.Table(rel.Junction)
		a, b := r.Model.JunctionKeys(rel)
		if ownSide {
			f.Target, f.JunctionNear, f.JunctionFar = r.Model.Table(rel.Target), a, b
		} else {
			f.Target, f.JunctionNear, f.JunctionFar = r.Model.Table(rel.Table), b, a
		}
	case rel.Type == schema.OneToMany && ownSide:
		f.Kind, f.Target, f.Key = ToMany, r.Model.Table(rel.Target), rel.Inverse
	case rel.Type == schema.OneToMany: // the inverse of a one_to_many is a to-one key
		f.Kind, f.Target, f.Key = ToOne, r.Model.Table(rel.Table), rel.Inverse
	case ownSide: // many_to_one, one_to_one
		f.Kind, f.Target, f.Key = ToOne, r.Model.Table(rel.Target), rel.Name
	default: // the inverse alias of a to-one
		f.Kind, f.Target, f.Key = ToMany, r.Model.Table(rel.Table), rel.Name
	}
	if f.Target == nil || (f.Kind == Junction && f.JunctionTable == nil) {
		return nil
	}
	return f
}

// Parse validates the request's parameters against table t.
func (r *Resolver) Parse(t *schema.Table, p Params) (*Query, error) {
	l := r.Limits
	for k, vs := range p {
		// A name is as long as the client likes too (filter[a][b]… carries the
		// filter's path in it).
		if len(k) > l.MaxParamBytes {
			return nil, qerr(paramName(k), "", "its name is longer than %d bytes", l.MaxParamBytes)
		}
		for _, v := range vs {
			if len(v) > l.MaxParamBytes {
				return nil, qerr(paramName(k), "", "is longer than %d bytes", l.MaxParamBytes)
			}
		}
	}
	// alias renames fields in the answer, export and version change what is answered:
	// ignoring them would silently change what a client gets, so Canonical refuses them.
	p, err := Canonical(p, l.maxJSONNesting())
	if err != nil {
		return nil, err
	}
	if b := p.get("backlink"); b != "" && b != "true" {
		// backlink=false drops the relation back to the parent from *.*; until that
		// is served, only the default is accepted.
		return nil, qerr("backlink", "", "only backlink=true (the default) is supported")
	}
	q := &Query{Table: t, Limit: l.DefaultLimit}
	if q.Rule, err = r.readCond(t, "table", t.Name); err != nil {
		return nil, err
	}
	if q.Select, err = r.parseFields(t, p.get("fields")); err != nil {
		return nil, err
	}
	if q.Filter, err = r.parseFilterParam(t, p); err != nil {
		return nil, err
	}
	q.Search = p.get("search")
	if strings.ContainsRune(q.Search, 0) {
		return nil, qerr("search", "", "must not contain NUL characters")
	}
	for i := range t.Columns {
		if c := &t.Columns[i]; c.Type.IsText() && r.fieldAllowed(t, c.Name) {
			q.SearchIn = append(q.SearchIn, c)
		}
	}
	if q.Sort, err = r.parseSort(t, "sort", "", p.get("sort")); err != nil {
		return nil, err
	}
	if err := r.parsePaging(q, p); err != nil {
		return nil, err
	}
	for _, m := range splitList(p.get("meta")) {
		switch m {
		case "total_count":
			q.Meta.Total = true
		case "filter_count":
			q.Meta.Filter = true
		case "*":
			q.Meta.Total, q.Meta.Filter = true, true
		default:
			return nil, qerr("meta", m, "unknown meta %q (want total_count, filter_count or *)", m)
		}
	}
	if q.Aggregate, err = r.parseAggregate(t, p.get("aggregate")); err != nil {
		return nil, err
	}
	for _, g := range splitList(p.get("groupBy")) {
		c := t.Column(g)
		if c == nil {
			return nil, qerr("groupBy", g, "table %q has no column %q", t.Name, g)
		}
		if !r.fieldAllowed(t, g) {
			return nil, forbidden("groupBy", g, "you may not read %s.%s", t.Name, g)
		}
		q.GroupBy = append(q.GroupBy, c)
	}
	if len(q.GroupBy) > 0 && len(q.Aggregate) == 0 {
		return nil, qerr("groupBy", "", "groupBy needs aggregate")
	}
	if err := r.parseDeep(t, q.Select, p.get("deep")); err != nil {
		return nil, err
	}
	return q, nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (r *Resolver) parsePaging(q *Query, p Params) error {
	l := r.Limits
	if s := p.get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return qerr("limit", "", "must be an integer")
		case n == -1:
			q.Limit, q.All = l.MaxLimit, true
		case n < 0:
			return qerr("limit", "", "must be -1 or 0 to %d", l.MaxLimit)
		case n > l.MaxLimit:
			return qerr("limit", "", "must be at most %d (or -1 for all rows, up to %d)", l.MaxLimit, l.MaxLimit)
		default:
			q.Limit = n
		}
	}
	if s := p.get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > MaxOffset {
			return qerr("offset", "", "must be an integer from 0 to %d", MaxOffset)
		}
		q.Offset = n
	}
	if s := p.get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return qerr("page", "", "must be a positive integer")
		}
		if q.All {
			return qerr("page", "", "cannot page with limit=-1")
		}
		// (n-1)*limit must neither overflow nor pass MaxOffset.
		if n-1 > MaxOffset/max(q.Limit, 1) {
			return qerr("page", "", "is too large: page × limit may not pass %d rows", MaxOffset)
		}
		q.Offset = (n - 1) * q.Limit
	}
	return nil
}

// MaxOffset is the furthest a page may start: far past any table one pages through,
// and small enough that no dialect's arithmetic on it overflows.
const MaxOffset = 1<<31 - 1

// parseFields resolves the fields parameter; empty means "*".
func (r *Resolver) parseFields(t *schema.Table, raw string) (*Selection, error) {
	list := splitList(raw)
	if len(list) == 0 {
		list = []string{"*"}
	}
	if len(list) > r.Limits.MaxFields {
		return nil, qerr("fields", "", "at most %d fields", r.Limits.MaxFields)
	}
	root := &Selection{}
	for _, f := range list {
		if err := r.addField(t, root, strings.Split(f, "."), f, 0); err != nil {
			return nil, err
		}
	}
	return root, nil
}

func (r *Resolver) addField(t *schema.Table, sel *Selection, path []string, full string, depth int) error {
	name := path[0]
	if name == "*" {
		for i := range t.Columns {
			if r.fieldAllowed(t, t.Columns[i].Name) {
				addColumn(sel, &t.Columns[i])
			}
		}
		if len(path) > 1 {
			// *.* (Directus): every field, and path[1:] of every relation the caller
			// may read; relations it may not read are left out, as * leaves them.
			for _, rf := range r.aliases(t) {
				if !r.fieldAllowed(t, rf.Name) {
					continue
				}
				if _, err := r.readRule(rf.Target, "fields", full); err != nil {
					continue
				}
				if err := r.addField(t, sel, append([]string{rf.Name}, path[1:]...), full, depth); err != nil {
					return err
				}
			}
			return nil
		}
		for _, rf := range r.aliases(t) {
			if rf.Kind != ToOne && findRel(sel, rf.Name) == nil && r.fieldAllowed(t, rf.Name) {
				if _, err := r.readRule(rf.Target, "fields", full); err != nil {
					continue // "*" means what the caller may see
				}
				rs, err := r.relSelection(rf, full)
				if err != nil {
					return err
				}
				rs.IDsOnly = true
				sel.Relations = append(sel.Relations, rs)
			}
		}
		return nil
	}
	if !r.fieldAllowed(t, name) {
		return forbidden("fields", full, "you may not read %s.%s", t.Name, name)
	}
	rf := r.Field(t, name)
	if len(path) == 1 {
		if c := t.Column(name); c != nil {
			addColumn(sel, c)
			return nil
		}
		if rf != nil {
			if findRel(sel, name) == nil {
				rs, err := r.relSelection(rf, full)
				if err != nil {
					return err
				}
				rs.IDsOnly = true
				sel.Relations = append(sel.Relations, rs)
			}
			return nil
		}
		return qerr("fields", full, "table %q has no field %q", t.Name, name)
	}
	if rf == nil {
		return qerr("fields", full, "%q is not a relation of table %q", name, t.Name)
	}
	if depth+1 > r.Limits.MaxRelationDepth {
		return qerr("fields", full, "relations nest deeper than %d", r.Limits.MaxRelationDepth)
	}
	rs := findRel(sel, name)
	if rs == nil {
		var err error
		if rs, err = r.relSelection(rf, full); err != nil {
			return err
		}
		sel.Relations = append(sel.Relations, rs)
	}
	if rs.IDsOnly || rs.Select == nil {
		rs.IDsOnly, rs.Select = false, &Selection{}
	}
	return r.addField(rf.Target, rs.Select, path[1:], full, depth+1)
}

// relSelection starts the expansion of a relation field; the related rows are limited by
// the caller's read rule on the related table.
func (r *Resolver) relSelection(rf *RelField, path string) (*RelSelection, error) {
	rule, err := r.readCond(rf.Target, "fields", path)
	if err != nil {
		return nil, err
	}
	return &RelSelection{Field: rf, Rule: rule}, nil
}

// RelationFields lists the relation fields of table t, both sides of every relation.
func (r *Resolver) RelationFields(t *schema.Table) []*RelField { return r.aliases(t) }

// aliases lists the relation fields of t.
func (r *Resolver) aliases(t *schema.Table) []*RelField {
	var out []*RelField
	for _, rel := range r.Model.Relations {
		for _, side := range []struct{ table, name string }{{rel.Table, rel.Name}, {rel.Target, rel.Inverse}} {
			if side.table == t.Name && side.name != "" {
				if f := r.Field(t, side.name); f != nil {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

func addColumn(sel *Selection, c *schema.Column) {
	if !slices.Contains(sel.Columns, c) {
		sel.Columns = append(sel.Columns, c)
	}
}

func findRel(sel *Selection, name string) *RelSelection {
	for _, rs := range sel.Relations {
		if rs.Field.Name == name {
			return rs
		}
	}
	return nil
}

// parseSort resolves "-views,title,author.name" (to-one hops only).
func (r *Resolver) parseSort(t *schema.Table, param, at, raw string) ([]Sort, error) {
	var out []Sort
	for _, s := range splitList(raw) {
		desc := strings.HasPrefix(s, "-")
		parts := strings.Split(strings.TrimPrefix(s, "-"), ".")
		cur := t
		var path []*RelField
		var rules []*Cond
		for i, p := range parts {
			if i == len(parts)-1 {
				c := cur.Column(p)
				if c == nil {
					return nil, qerr(param, at+s, "table %q has no column %q", cur.Name, p)
				}
				if !r.fieldAllowed(cur, p) {
					return nil, forbidden(param, at+s, "you may not read %s.%s", cur.Name, p)
				}
				if c.Type == schema.TypeJSON || c.Type == schema.TypeMultiEnum {
					return nil, qerr(param, at+s, "cannot sort by a %s column", c.Type)
				}
				out = append(out, Sort{Path: path, Rules: rules, Column: c, Desc: desc})
				break
			}
			rf := r.Field(cur, p)
			if rf == nil || rf.Kind != ToOne {
				return nil, qerr(param, at+s, "%q is not a to-one relation of %q; sort follows many-to-one relations only", p, cur.Name)
			}
			if !r.fieldAllowed(cur, p) {
				return nil, forbidden(param, at+s, "you may not read %s.%s", cur.Name, p)
			}
			rule, err := r.readCond(rf.Target, param, at+s)
			if err != nil {
				return nil, err
			}
			if len(path)+1 > r.Limits.MaxRelationDepth {
				return nil, qerr(param, at+s, "relations nest deeper than %d", r.Limits.MaxRelationDepth)
			}
			path, rules = append(path, rf), append(rules, rule)
			cur = rf.Target
		}
	}
	return out, nil
}

// parseAggregate reads {"count":"*","sum":["views"],"avg":"views"}.
func (r *Resolver) parseAggregate(t *schema.Table, raw string) ([]Aggregate, error) {
	if raw == "" {
		return nil, nil
	}
	if max := r.Limits.maxJSONNesting(); jsonNestsDeeper(raw, max) {
		return nil, qerr("aggregate", "", "its JSON nests deeper than %d levels", max)
	}
	var spec map[string]any
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return nil, qerr("aggregate", "", "is not a JSON object: %v", err)
	}
	var out []Aggregate
	for _, fn := range slices.Sorted(maps.Keys(spec)) {
		if !slices.Contains(AggregateFuncs, fn) {
			return nil, qerr("aggregate", fn, "unknown function %q (want one of %s)", fn, strings.Join(AggregateFuncs, ", "))
		}
		var fields []string
		switch v := spec[fn].(type) {
		case string:
			fields = splitList(v)
		case []any:
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, qerr("aggregate", fn, "fields must be strings")
				}
				fields = append(fields, s)
			}
		default:
			return nil, qerr("aggregate", fn, "must be a field name, a list of them, or *")
		}
		for _, f := range fields {
			if f == "*" {
				if fn != "count" {
					return nil, qerr("aggregate", fn, "* only works with count")
				}
				out = append(out, Aggregate{Func: fn})
				continue
			}
			c := t.Column(f)
			if c == nil {
				return nil, qerr("aggregate", fn+"."+f, "table %q has no column %q", t.Name, f)
			}
			if !r.fieldAllowed(t, f) {
				return nil, forbidden("aggregate", fn+"."+f, "you may not read %s.%s", t.Name, f)
			}
			if strings.HasPrefix(fn, "sum") || strings.HasPrefix(fn, "avg") {
				if !isNumeric(c.Type) {
					return nil, qerr("aggregate", fn+"."+f, "%s needs a numeric column, %q is %s", fn, f, c.Type)
				}
			}
			if (fn == "min" || fn == "max") && (c.Type == schema.TypeJSON || c.Type == schema.TypeMultiEnum || c.Type == schema.TypeBoolean) {
				return nil, qerr("aggregate", fn+"."+f, "%s does not apply to a %s column", fn, c.Type)
			}
			out = append(out, Aggregate{Func: fn, Column: c})
		}
	}
	if len(out) == 0 {
		return nil, qerr("aggregate", "", "names no function")
	}
	return out, nil
}

func isNumeric(t schema.Type) bool {
	switch t {
	case schema.TypeInteger, schema.TypeBigint, schema.TypeFloat, schema.TypeDecimal, schema.TypeCurrency, schema.TypePercent:
		return true
	}
	return false
}

// parseDeep reads {"comments":{"_limit":5,"_sort":"-id","_filter":{…},"author":{…}}}.
func (r *Resolver) parseDeep(t *schema.Table, sel *Selection, raw string) error {
	if raw == "" {
		return nil
	}
	if max := r.Limits.maxJSONNesting(); jsonNestsDeeper(raw, max) {
		return qerr("deep", "", "its JSON nests deeper than %d levels", max)
	}
	var spec map[string]any
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return qerr("deep", "", "is not a JSON object: %v", err)
	}
	return r.applyDeep(t, sel, spec, "")
}

func (r *Resolver) applyDeep(t *schema.Table, sel *Selection, spec map[string]any, at string) error {
	for _, field := range slices.Sorted(maps.Keys(spec)) {
		path := at + field
		opts, ok := spec[field].(map[string]any)
		if !ok {
			return qerr("deep", path, "must be an object")
		}
		rs := findRel(sel, field)
		if rs == nil || rs.Select == nil {
			return qerr("deep", path, "%q is not a relation expanded in fields", field)
		}
		nested := map[string]any{}
		for k, v := range opts {
			switch k {
			case "_limit", "_offset":
				f, ok := v.(float64)
				if s, isText := v.(string); isText { // deep[rel][_limit]=1 in bracket form
					n, err := strconv.Atoi(s)
					f, ok = float64(n), err == nil
				}
				if !ok || f != float64(int(f)) || f < 0 || int(f) > r.Limits.MaxLimit {
					return qerr("deep", path+"."+k, "must be an integer from 0 to %d", r.Limits.MaxLimit)
				}
				if k == "_limit" {
					rs.Limit = int(f)
				} else {
					rs.Offset = int(f)
				}
			case "_sort":
				s, _ := v.(string)
				if arr, ok := v.([]any); ok {
					var parts []string
					for _, x := range arr {
						xs, _ := x.(string)
						parts = append(parts, xs)
					}
					s = strings.Join(parts, ",")
				}
				sorts, err := r.parseSort(rs.Field.Target, "deep", path+"._sort.", s)
				if err != nil {
					return err
				}
				rs.Sort = sorts
			case "_filter":
				c, err := r.parseFilterValue(rs.Field.Target, "deep", path+"._filter", v)
				if err != nil {
					return err
				}
				rs.Filter = c
			default:
				if strings.HasPrefix(k, "_") {
					return qerr("deep", path+"."+k, "unknown deep option %q (want _limit, _offset, _sort, _filter)", k)
				}
				nested[k] = v
			}
		}
		if rs.Field.Kind == ToOne && (rs.Limit > 0 || rs.Offset > 0 || rs.Sort != nil) {
			return qerr("deep", path, "_limit, _offset and _sort apply to to-many relations only")
		}
		if err := r.applyDeep(rs.Field.Target, rs.Select, nested, path+"."); err != nil {
			return err
		}
	}
	return nil
}
