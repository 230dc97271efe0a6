package query

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"strata/modules/database"
	"strata/schema"
)

// Result is what a query returns: rows (or aggregate groups) and the counts asked for.
type Result struct {
	Data []map[string]any
	Meta map[string]int64
}

// Runner executes validated queries against one tenant database. Statements counts the
// SQL statements it ran: it grows with the levels of relations asked for, never with
// the number of rows.
type Runner struct {
	DB         schema.Querier
	D          schema.Dialect
	Limits     Limits
	Statements int
}

// builder accumulates SQL text and its bound parameters.
type builder struct {
	d      schema.Dialect
	sb     strings.Builder
	args   []any
	nalias int
}

func (b *builder) w(parts ...string) {
	for _, p := range parts {
		b.sb.WriteString(p)
	}
}

func (b *builder) alias() string {
	b.nalias++
	return "t" + strconv.Itoa(b.nalias)
}

func (b *builder) col(alias, name string) string { return alias + "." + b.d.Quote(name) }

// param binds a value, converting Go bools and times into the dialect's form.
func (b *builder) param(v any) string {
	switch x := v.(type) {
	case bool:
		v = b.d.BoolValue(x)
	case time.Time:
		v = b.d.TimeValue(x)
	}
	b.args = append(b.args, v)
	return "?"
}

func (b *builder) sql() string { return b.d.Rebind(b.sb.String()) }

// likeEscape makes s literal inside a LIKE pattern (escape character '!').
func likeEscape(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return r.Replace(s)
}

// cond renders a filter tree for rows of alias.
func (b *builder) cond(c *Cond, alias string) string {
	switch c.Kind {
	case CondAnd, CondOr:
		if len(c.Children) == 0 {
			if c.Kind == CondAnd {
				return "1=1"
			}
			return "1=0"
		}
		sep := " AND "
		if c.Kind == CondOr {
			sep = " OR "
		}
		parts := make([]string, len(c.Children))
		for i, ch := range c.Children {
			parts[i] = b.cond(ch, alias)
		}
		return "(" + strings.Join(parts, sep) + ")"
	case CondRel:
		return b.relCond(c, alias)
	}
	return b.leaf(c, alias)
}

func (b *builder) leaf(c *Cond, alias string) string {
	e := b.col(alias, c.Column.Name)
	cmp := func(op string) string { return e + " " + op + " " + b.param(c.Value) }
	like := func(pattern string, ci, negate bool) string {
		expr, p := e, pattern
		if ci {
			expr, p = "LOWER("+e+")", strings.ToLower(pattern)
		}
		s := expr + " LIKE " + b.param(p) + " ESCAPE '!'"
		if negate {
			return "NOT (" + s + ")"
		}
		return s
	}
	s, _ := c.Value.(string)
	switch c.Op {
	case "_eq":
		if c.Value == nil {
			return e + " IS NULL"
		}
		return cmp("=")
	case "_neq":
		if c.Value == nil {
			return e + " IS NOT NULL"
		}
		return cmp("<>")
	case "_lt":
		return cmp("<")
	case "_lte":
		return cmp("<=")
	case "_gt":
		return cmp(">")
	case "_gte":
		return cmp(">=")
	case "_in", "_nin":
		vals := c.Value.([]any)
		if len(vals) == 0 {
			if c.Op == "_in" {
				return "1=0"
			}
			return "1=1"
		}
		ph := make([]string, len(vals))
		for i, v := range vals {
			ph[i] = b.param(v)
		}
		op := " IN ("
		if c.Op == "_nin" {
			op = " NOT IN ("
		}
		return e + op + strings.Join(ph, ", ") + ")"
	case "_null", "_nnull":
		if c.Value.(bool) == (c.Op == "_null") {
			return e + " IS NULL"
		}
		return e + " IS NOT NULL"
	case "_between", "_nbetween":
		vals := c.Value.([]any)
		op := " BETWEEN "
		if c.Op == "_nbetween" {
			op = " NOT BETWEEN "
		}
		return e + op + b.param(vals[0]) + " AND " + b.param(vals[1])
	case "_empty", "_nempty":
		var empty string
		if c.Column.Type.IsText() {
			empty = "(" + e + " IS NULL OR " + e + " = " + b.param("") + ")"
		} else {
			empty = "(" + e + " IS NULL OR " + e + " = " + b.param("[]") + " OR " + e + " = " + b.param("{}") + ")"
		}
		if c.Value.(bool) == (c.Op == "_empty") {
			return empty
		}
		return "NOT " + empty
	case "_contains":
		return like("%"+likeEscape(s)+"%", false, false)
	case "_ncontains":
		return like("%"+likeEscape(s)+"%", false, true)
	case "_icontains":
		return like("%"+likeEscape(s)+"%", true, false)
	case "_nicontains":
		return like("%"+likeEscape(s)+"%", true, true)
	case "_starts_with":
		return like(likeEscape(s)+"%", false, false)
	case "_nstarts_with":
		return like(likeEscape(s)+"%", false, true)
	case "_istarts_with":
		return like(likeEscape(s)+"%", true, false)
	case "_nistarts_with":
		return like(likeEscape(s)+"%", true, true)
	case "_ends_with":
		return like("%"+likeEscape(s), false, false)
	case "_nends_with":
		return like("%"+likeEscape(s), false, true)
	case "_iends_with":
		return like("%"+likeEscape(s), true, false)
	case "_niends_with":
		return like("%"+likeEscape(s), true, true)
	}
	panic("query: unvalidated operator " + c.Op)
}

// relCond renders EXISTS over the related rows.
func (b *builder) relCond(c *Cond, alias string) string {
	f := c.Field
	s := b.alias()
	q := b.d.Quote
	var from string
	switch f.Kind {
	case ToOne:
		from = q(f.Target.Name) + " " + s + " WHERE " + b.col(s, "id") + " = " + b.col(alias, f.Key)
	case ToMany:
		from = q(f.Target.Name) + " " + s + " WHERE " + b.col(s, f.Key) + " = " + b.col(alias, "id")
	case Junction:
		j := b.alias()
		from = q(f.JunctionTable.Name) + " " + j + " JOIN " + q(f.Target.Name) + " " + s + " ON " + b.col(s, "id") + " = " + b.col(j, f.JunctionFar) +
			" WHERE " + b.col(j, f.JunctionNear) + " = " + b.col(alias, "id")
	}
	out := "EXISTS (SELECT 1 FROM " + from + " AND " + b.cond(c.Sub, s) + ")"
	if c.Negate {
		return "NOT " + out
	}
	return out
}

// search matches rows whose text columns (those the caller may read) contain s,
// case-insensitively.
func (b *builder) search(cols []*schema.Column, alias, s string) string {
	var parts []string
	pattern := "%" + likeEscape(strings.ToLower(s)) + "%"
	for _, c := range cols {
		parts = append(parts, "LOWER("+b.col(alias, c.Name)+") LIKE "+b.param(pattern)+" ESCAPE '!'")
	}
	if len(parts) == 0 {
		return "1=0"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// where renders the read rule, filter and search of q for alias t0.
func (b *builder) where(q *Query, alias string) string {
	var parts []string
	if q.Rule != nil {
		parts = append(parts, b.cond(q.Rule, alias))
	}
	if q.Filter != nil {
		parts = append(parts, b.cond(q.Filter, alias))
	}
	if q.Search != "" {
		parts = append(parts, b.search(q.SearchIn, alias, q.Search))
	}
	if len(parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(parts, " AND ")
}

// orderBy renders sorts (joining to-one relations as needed, within the caller's read
// rules) and the id tie-breaker that makes paging stable. The joins may hold parameters
// and come before the WHERE clause: render them first. where is the statement's
// condition (nil: none): a column it keeps from being NULL sorts in plain index order.
//
// The tie-breaker runs in the direction of the last term, so an index on the sorted
// columns that ends with id (the shape of a column's index flag) serves the whole order
// in one scan, forwards or backwards. A last term on id, or on a unique column that
// cannot be NULL here, already orders every row and needs none.
func (b *builder) orderBy(sorts []Sort, alias string, joins *[]string, where *Cond) string {
	var terms []string
	joined := map[string]string{}
	tieBreak, desc := true, false
	for _, s := range sorts {
		cur := alias
		key := ""
		for i, rf := range s.Path {
			key += "." + rf.Name
			next, ok := joined[key]
			if !ok {
				next = b.alias()
				joined[key] = next
				on := b.col(next, "id") + " = " + b.col(cur, rf.Key)
				if i < len(s.Rules) && s.Rules[i] != nil {
					on += " AND " + b.cond(s.Rules[i], next)
				}
				*joins = append(*joins, " LEFT JOIN "+b.d.Quote(rf.Target.Name)+" "+next+" ON "+on)
			}
			cur = next
		}
		nullable := len(s.Path) > 0 || (s.Column.Nullable && !rejectsNull(where, s.Column))
		terms = append(terms, b.d.OrderTerm(b.col(cur, s.Column.Name), s.Desc, nullable))
		desc = s.Desc
		tieBreak = len(s.Path) > 0 || (s.Column.Name != "id" && !(s.Column.Unique && !nullable))
	}
	if tieBreak {
		dir := " ASC"
		if desc {
			dir = " DESC"
		}
		terms = append(terms, b.col(alias, "id")+dir)
	}
	return " ORDER BY " + strings.Join(terms, ", ")
}

// rejectsNull reports whether every row that satisfies c has a non-NULL col (a column
// of the rows c is about, not of a related table): true when a comparison on col must
// hold, since a comparison with NULL is never true.
func rejectsNull(c *Cond, col *schema.Column) bool {
	if c == nil {
		return false
	}
	switch c.Kind {
	case CondAnd:
		return slices.ContainsFunc(c.Children, func(ch *Cond) bool { return rejectsNull(ch, col) })
	case CondOr:
		return len(c.Children) > 0 && !slices.ContainsFunc(c.Children, func(ch *Cond) bool { return !rejectsNull(ch, col) })
	case CondLeaf:
		if c.Column == nil || c.Column.Name != col.Name {
			return false
		}
		switch c.Op {
		case "_eq": // _eq null is IS NULL; _neq null is IS NOT NULL
			return c.Value != nil
		case "_nin":
			vals, _ := c.Value.([]any)
			return len(vals) > 0
		case "_null", "_empty":
			return c.Value == false
		case "_nnull", "_nempty":
			return c.Value == true
		}
		// Every other operator is a comparison or a LIKE, and neither holds for NULL.
		return true
	}
	return false
}

// selectList names the columns to read for a selection: the requested ones plus the
// keys needed to attach related rows. It returns the columns in scan order.
func selectColumns(t *schema.Table, sel *Selection) []*schema.Column {
	cols := slices.Clone(sel.Columns)
	need := func(name string) {
		if c := t.Column(name); c != nil && !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	need("id")
	for _, rs := range sel.Relations {
		if rs.Field.Kind == ToOne {
			need(rs.Field.Key)
		}
	}
	return cols
}

// Run executes q.
func (r *Runner) Run(ctx context.Context, q *Query) (*Result, error) {
	res := &Result{}
	if q.Meta.Total || q.Meta.Filter {
		res.Meta = map[string]int64{}
	}
	if q.Meta.Total {
		n, err := r.count(ctx, q, false)
		if err != nil {
			return nil, err
		}
		res.Meta["total_count"] = n
	}
	if q.Meta.Filter {
		n, err := r.count(ctx, q, true)
		if err != nil {
			return nil, err
		}
		res.Meta["filter_count"] = n
	}
	if len(q.Aggregate) > 0 {
		rows, err := r.aggregate(ctx, q)
		if err != nil {
			return nil, err
		}
		res.Data = rows
		return res, nil
	}
	b := &builder{d: r.D}
	cols := selectColumns(q.Table, q.Select)
	var joins []string
	order := b.orderBy(q.Sort, "t0", &joins, and(q.Rule, q.Filter)) // its joins' parameters come first
	where := b.where(q, "t0")
	b.w("SELECT ", columnList(b, "t0", cols), " FROM ", r.D.Quote(q.Table.Name), " t0", strings.Join(joins, ""), where, order)
	limit := q.Limit
	if q.All {
		limit++ // one more than the cap tells us the cap was not enough
	}
	b.w(" LIMIT ", b.param(int64(limit)), " OFFSET ", b.param(int64(q.Offset)))
	recs, err := r.fetch(ctx, b, cols)
	if err != nil {
		return nil, err
	}
	if q.All && len(recs) > q.Limit {
		return nil, qerr("limit", "", "limit=-1 would return more than %d rows; page through them with limit and page", q.Limit)
	}
	if err := r.expand(ctx, q.Table, q.Select, recs, 1); err != nil {
		return nil, err
	}
	res.Data = output(q.Select, recs)
	return res, nil
}

func columnList(b *builder, alias string, cols []*schema.Column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = b.d.SelectTerm(b.col(alias, c.Name), c)
	}
	return strings.Join(parts, ", ")
}

// record is one fetched row: its decoded values and, for to-many loading, the parent
// it belongs to.
type record struct {
	vals   map[string]any
	parent string
}

// fetch runs a SELECT whose columns are cols (plus, when withParent, a leading parent
// key) and decodes the rows.
func (r *Runner) fetch(ctx context.Context, b *builder, cols []*schema.Column, withParent ...bool) ([]*record, error) {
	r.Statements++
	rows, err := r.DB.QueryContext(ctx, b.sql(), b.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	lead := 0
	if len(withParent) > 0 && withParent[0] {
		lead = 1
	}
	raw := make([]any, len(cols)+lead)
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var out []*record
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		rec := &record{vals: make(map[string]any, len(cols))}
		if lead == 1 {
			rec.parent = database.Text(raw[0])
		}
		for i, c := range cols {
			rec.vals[c.Name] = Decode(c, raw[i+lead])
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// expand loads the relations of sel for recs: one statement per relation field.
func (r *Runner) expand(ctx context.Context, t *schema.Table, sel *Selection, recs []*record, depth int) error {
	if len(recs) == 0 {
		return nil
	}
	for _, rs := range sel.Relations {
		if err := r.expandOne(ctx, rs, recs, depth); err != nil {
			return fmt.Errorf("load %s.%s: %w", t.Name, rs.Field.Name, err)
		}
	}
	return nil
}

func (r *Runner) expandOne(ctx context.Context, rs *RelSelection, recs []*record, depth int) error {
	f := rs.Field
	b := &builder{d: r.D}
	q := r.D.Quote
	keyOf := func(rec *record, name string) string { return database.Text(rec.vals[name]) }
	// The keys to look up: parents' ids, or for to-one the foreign keys.
	var keys []string
	seen := map[string]bool{}
	for _, rec := range recs {
		k := keyOf(rec, "id")
		if f.Kind == ToOne {
			k = keyOf(rec, f.Key)
		}
		if k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		for _, rec := range recs {
			if f.Kind == ToOne {
				rec.vals[f.Name] = nil
			} else {
				rec.vals[f.Name] = []any{}
			}
		}
		return nil
	}
	in := func() string {
		ph := make([]string, len(keys))
		for i, k := range keys {
			ph[i] = b.param(k)
		}
		return "(" + strings.Join(ph, ", ") + ")"
	}
	var sub *Selection
	if rs.IDsOnly {
		sub = &Selection{Columns: []*schema.Column{f.Target.Column("id")}}
	} else {
		sub = rs.Select
	}
	cols := selectColumns(f.Target, sub)
	s := "s"
	var children []*record
	var err error
	switch f.Kind {
	case ToOne:
		b.w("SELECT ", columnList(b, s, cols), " FROM ", q(f.Target.Name), " ", s, " WHERE ", b.col(s, "id"), " IN ", in())
		if f := and(rs.Rule, rs.Filter); f != nil {
			b.w(" AND ", b.cond(f, s))
		}
		children, err = r.fetch(ctx, b, cols)
		if err != nil {
			return err
		}
		for _, c := range children {
			c.parent = keyOf(c, "id")
		}
	case ToMany, Junction:
		// The sort's joins come first in the statement, and so do their parameters.
		var joins []string
		order := b.orderBy(rs.Sort, s, &joins, and(rs.Rule, rs.Filter))
		var from, parent string
		if f.Kind == ToMany {
			parent = b.col(s, f.Key)
			from = q(f.Target.Name) + " " + s + " WHERE " + parent + " IN " + in()
		} else {
			parent = b.col("j", f.JunctionNear)
			from = q(f.JunctionTable.Name) + " j JOIN " + q(f.Target.Name) + " " + s + " ON " + b.col(s, "id") + " = " + b.col("j", f.JunctionFar) +
				" WHERE " + parent + " IN " + in()
		}
		if f := and(rs.Rule, rs.Filter); f != nil {
			from += " AND " + b.cond(f, s)
		}
		if f.Kind == Junction && len(rs.Sort) == 0 {
			order = " ORDER BY " + b.col("j", "id") + " ASC" // the order the links were made
		}
		if rs.Limit > 0 || rs.Offset > 0 {
			// Per-parent paging: number each parent's rows and keep a window of them.
			limit := rs.Limit
			if limit == 0 {
				limit = r.Limits.MaxNestedRows
			}
			inner := make([]string, len(cols))
			outer := make([]string, len(cols))
			for i, c := range cols {
				inner[i] = b.col(s, c.Name) + " AS c" + strconv.Itoa(i)
				outer[i] = "w.c" + strconv.Itoa(i)
			}
			b.w("SELECT w.p, ", strings.Join(outer, ", "), " FROM (SELECT ", parent, " AS p, ", strings.Join(inner, ", "),
				", ROW_NUMBER() OVER (PARTITION BY ", parent, order, ") AS rn FROM ", joinsInto(from, joins),
				") w WHERE w.rn > ", b.param(int64(rs.Offset)), " AND w.rn <= ", b.param(int64(rs.Offset+limit)), " ORDER BY w.p, w.rn")
		} else {
			b.w("SELECT ", parent, ", ", columnList(b, s, cols), " FROM ", joinsInto(from, joins), order)
		}
		children, err = r.fetch(ctx, b, cols, true)
		if err != nil {
			return err
		}
	}
	if len(children) > r.Limits.MaxNestedRows {
		return qerr("fields", f.Name, "more than %d related rows in one level; narrow them with deep _limit or a filter", r.Limits.MaxNestedRows)
	}
	if !rs.IDsOnly && depth < r.Limits.MaxRelationDepth+1 {
		if err := r.expand(ctx, f.Target, sub, children, depth+1); err != nil {
			return err
		}
	}
	// Attach.
	if f.Kind == ToOne {
		byID := make(map[string]*record, len(children))
		for _, c := range children {
			byID[c.parent] = c
		}
		for _, rec := range recs {
			if c := byID[keyOf(rec, f.Key)]; c != nil {
				rec.vals[f.Name] = outputOne(sub, c)
			} else {
				rec.vals[f.Name] = nil
			}
		}
		return nil
	}
	grouped := map[string][]any{}
	for _, c := range children {
		if rs.IDsOnly {
			grouped[c.parent] = append(grouped[c.parent], c.vals["id"])
		} else {
			grouped[c.parent] = append(grouped[c.parent], outputOne(sub, c))
		}
	}
	for _, rec := range recs {
		list := grouped[keyOf(rec, "id")]
		if list == nil {
			list = []any{}
		}
		rec.vals[f.Name] = list
	}
	return nil
}

// joinsInto puts LEFT JOINs (for related sorts) between a FROM's tables and its WHERE.
func joinsInto(from string, joins []string) string {
	if len(joins) == 0 {
		return from
	}
	i := strings.Index(from, " WHERE ")
	return from[:i] + strings.Join(joins, "") + from[i:]
}

// output turns records into response objects with exactly the selected fields.
func output(sel *Selection, recs []*record) []map[string]any {
	out := make([]map[string]any, len(recs))
	for i, rec := range recs {
		out[i] = outputOne(sel, rec)
	}
	return out
}

func outputOne(sel *Selection, rec *record) map[string]any {
	o := make(map[string]any, len(sel.Columns)+len(sel.Relations))
	for _, c := range sel.Columns {
		o[c.Name] = rec.vals[c.Name]
	}
	for _, rs := range sel.Relations {
		o[rs.Field.Name] = rec.vals[rs.Field.Name]
	}
	return o
}

// count runs COUNT(*) over the table, with or without the filter and search.
func (r *Runner) count(ctx context.Context, q *Query, filtered bool) (int64, error) {
	b := &builder{d: r.D}
	b.w("SELECT COUNT(*) FROM ", r.D.Quote(q.Table.Name), " t0")
	if filtered {
		b.w(b.where(q, "t0"))
	} else if q.Rule != nil { // total_count counts only what the caller may see
		b.w(" WHERE ", b.cond(q.Rule, "t0"))
	}
	r.Statements++
	var n any
	if err := r.DB.QueryRowContext(ctx, b.sql(), b.args...).Scan(&n); err != nil {
		return 0, err
	}
	return database.Int64(n), nil
}

// aggregate runs the aggregate functions, grouped by q.GroupBy.
func (r *Runner) aggregate(ctx context.Context, q *Query) ([]map[string]any, error) {
	b := &builder{d: r.D}
	var sel []string
	for _, g := range q.GroupBy {
		sel = append(sel, b.col("t0", g.Name))
	}
	for _, a := range q.Aggregate {
		if a.Column == nil {
			sel = append(sel, "COUNT(*)")
			continue
		}
		e := b.col("t0", a.Column.Name)
		switch a.Func {
		case "count":
			sel = append(sel, "COUNT("+e+")")
		case "countDistinct":
			sel = append(sel, "COUNT(DISTINCT "+e+")")
		case "sum":
			sel = append(sel, "SUM("+e+")")
		case "sumDistinct":
			sel = append(sel, "SUM(DISTINCT "+e+")")
		case "avg":
			sel = append(sel, "AVG("+e+")")
		case "avgDistinct":
			sel = append(sel, "AVG(DISTINCT "+e+")")
		case "min":
			sel = append(sel, "MIN("+e+")")
		case "max":
			sel = append(sel, "MAX("+e+")")
		}
	}
	b.w("SELECT ", strings.Join(sel, ", "), " FROM ", r.D.Quote(q.Table.Name), " t0", b.where(q, "t0"))
	if len(q.GroupBy) > 0 {
		var g, o []string
		for _, c := range q.GroupBy {
			g = append(g, b.col("t0", c.Name))
			o = append(o, r.D.OrderTerm(b.col("t0", c.Name), false, c.Nullable))
		}
		b.w(" GROUP BY ", strings.Join(g, ", "), " ORDER BY ", strings.Join(o, ", "))
		b.w(" LIMIT ", b.param(int64(q.Limit)), " OFFSET ", b.param(int64(q.Offset)))
	}
	r.Statements++
	rows, err := r.DB.QueryContext(ctx, b.sql(), b.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	n := len(q.GroupBy) + len(q.Aggregate)
	raw := make([]any, n)
	ptrs := make([]any, n)
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	out := []map[string]any{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		o := map[string]any{}
		for i, g := range q.GroupBy {
			o[g.Name] = Decode(g, raw[i])
		}
		for i, a := range q.Aggregate {
			v := raw[len(q.GroupBy)+i]
			if a.Column == nil {
				o[a.Func] = database.Int64(v)
				continue
			}
			m, _ := o[a.Func].(map[string]any)
			if m == nil {
				m = map[string]any{}
				o[a.Func] = m
			}
			m[a.Column.Name] = aggValue(a, v)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// aggValue normalises an aggregate's result across drivers: counts are integers, sums
// of integer columns integers, averages and other sums floats, min/max the column's type.
func aggValue(a Aggregate, v any) any {
	if v == nil {
		return nil
	}
	switch a.Func {
	case "count", "countDistinct":
		return database.Int64(v)
	case "min", "max":
		return Decode(a.Column, v)
	}
	f, ok := numeric(database.Text(v))
	if x, isF := v.(float64); isF {
		f, ok = x, true
	}
	if x, isI := v.(int64); isI {
		f, ok = float64(x), true
	}
	if !ok {
		return nil
	}
	if strings.HasPrefix(a.Func, "sum") && (a.Column.Type == schema.TypeInteger || a.Column.Type == schema.TypeBigint) {
		return int64(math.Round(f))
	}
	return f
}
