package graphql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"

	"strata/modules/apierr"
	"strata/modules/query"
	"strata/schema"
)

// Backend reads and writes rows for one request's caller. REST implements it with its
// own handlers' code, so a GraphQL field compiles to the same typed query (the REST
// parameters below) and meets the same permission checks, validation and transactions.
type Backend interface {
	// List runs a query given as REST query parameters (fields, filter, sort, limit,
	// offset, page, search, deep, aggregate, groupBy).
	List(ctx context.Context, table string, p query.Params) ([]map[string]any, error)
	// Create inserts rows, all or none, and returns their ids in order.
	Create(ctx context.Context, table string, rows []map[string]any) ([]string, error)
	// Update changes the rows with these ids, all or none.
	Update(ctx context.Context, table string, ids []string, data map[string]any) error
	// Delete removes the rows with these ids, all or none.
	Delete(ctx context.Context, table string, ids []string) error
}

type ctxKey struct{}

// call is what resolvers need of the request that runs them.
type call struct {
	backend Backend
	res     *query.Resolver // relation lookups
	// vars are the request's variables as sent: graphql-go drops nulls when it
	// coerces them, and a filter's null ({"_eq": null}) means IS NULL.
	vars map[string]any
}

func callOf(p gql.ResolveParams) *call {
	c, _ := p.Context.Value(ctxKey{}).(*call)
	return c
}

// resolveList answers `posts(filter, sort, …) { … }` with one query-engine run: the
// whole selection below the field, nested relations included, is one query, loaded a
// level at a time (never a query per row).
func resolveList(t *schema.Table) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		c := callOf(p)
		params, err := c.params(t, p.Info, true)
		if err != nil {
			return nil, err
		}
		rows, err := c.backend.List(p.Context, t.Name, params)
		if err != nil {
			return nil, wrap(err)
		}
		return rows, nil
	}
}

func resolveByID(t *schema.Table) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		id, _ := p.Args["id"].(string)
		if !schema.IsUUID(id) {
			return nil, nil // no such row, as REST answers 404
		}
		rows, err := callOf(p).readBack(p, t, []string{id})
		if err != nil || len(rows) == 0 {
			return nil, err
		}
		return rows[0], nil
	}
}

// readBack reads rows by id with the field's selection, in the ids' order; rows the
// caller may not read are left out.
func (c *call) readBack(p gql.ResolveParams, t *schema.Table, ids []string) ([]map[string]any, error) {
	params, err := c.params(t, p.Info, false)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return []map[string]any{}, nil
	}
	filter, err := toJSON(map[string]any{"id": map[string]any{"_in": ids}})
	if err != nil {
		return nil, err
	}
	params["filter"] = []string{filter}
	params["limit"] = []string{strconv.Itoa(len(ids))}
	params["fields"] = []string{params["fields"][0] + ",id"}
	rows, err := c.backend.List(p.Context, t.Name, params)
	if err != nil {
		return nil, wrap(err)
	}
	byID := make(map[string]map[string]any, len(rows))
	for _, r := range rows {
		if id, ok := r["id"].(string); ok {
			byID[strings.ToLower(id)] = r
		}
	}
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		if r := byID[strings.ToLower(id)]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// resolveAggregated answers `posts_aggregated(groupBy, filter) { group countAll
// count { id } sum { views } … }` as REST's aggregate and groupBy.
func resolveAggregated(t *schema.Table) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		c := callOf(p)
		params, err := c.params(t, p.Info, true)
		if err != nil {
			return nil, err
		}
		delete(params, "fields")
		delete(params, "deep")
		spec := map[string][]string{}
		countAll := false
		for _, sel := range c.fields(p.Info, p.Info.FieldASTs) {
			switch name := sel.Name.Value; name {
			case "countAll":
				countAll = true
			case "group", "__typename":
			default:
				for _, sub := range c.fields(p.Info, []*ast.Field{sel}) {
					if sub.Name.Value != "__typename" && !slices.Contains(spec[name], sub.Name.Value) {
						spec[name] = append(spec[name], sub.Name.Value)
					}
				}
			}
		}
		if countAll && !slices.Contains(spec["count"], "id") {
			// count(id) is count(*): ids are never null. It keeps the answer's count
			// an object when count { … } is asked for too.
			spec["count"] = append(spec["count"], "id")
		}
		if len(spec) == 0 {
			spec["count"] = []string{"id"}
		}
		agg, err := toJSON(spec)
		if err != nil {
			return nil, err
		}
		params["aggregate"] = []string{agg}
		groupBy, _ := p.Args["groupBy"].([]any)
		var groups []string
		for _, g := range groupBy {
			if s, ok := g.(string); ok {
				groups = append(groups, s)
			}
		}
		if len(groups) > 0 {
			params["groupBy"] = []string{strings.Join(groups, ",")}
		}
		rows, err := c.backend.List(p.Context, t.Name, params)
		if err != nil {
			return nil, wrap(err)
		}
		out := make([]map[string]any, len(rows))
		for i, r := range rows {
			o := map[string]any{}
			group := map[string]any{}
			for _, g := range groups {
				group[g] = r[g]
			}
			o["group"] = group
			for fn := range spec {
				o[fn] = r[fn]
			}
			if countAll {
				if m, ok := r["count"].(map[string]any); ok {
					o["countAll"] = m["id"]
				}
			}
			out[i] = o
		}
		return out, nil
	}
}

func resolveCreate(t *schema.Table, many bool) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		c := callOf(p)
		var rows []map[string]any
		if many {
			list, _ := p.Args["data"].([]any)
			for _, x := range list {
				if m, ok := x.(map[string]any); ok {
					rows = append(rows, m)
				}
			}
		} else if m, ok := p.Args["data"].(map[string]any); ok {
			rows = append(rows, m)
		}
		if len(rows) == 0 {
			return nil, wrap(apierr.InvalidPayload("data", "nothing to create"))
		}
		ids, err := c.backend.Create(p.Context, t.Name, rows)
		if err != nil {
			return nil, wrap(err)
		}
		return c.mutated(p, t, ids, many)
	}
}

func resolveUpdate(t *schema.Table, many bool) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		c := callOf(p)
		ids := idsArg(p, many)
		data, _ := p.Args["data"].(map[string]any)
		if len(data) == 0 {
			return nil, wrap(apierr.InvalidPayload("data", "nothing to update"))
		}
		if err := c.backend.Update(p.Context, t.Name, ids, data); err != nil {
			return nil, wrap(err)
		}
		return c.mutated(p, t, ids, many)
	}
}

func resolveDelete(t *schema.Table, many bool) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		ids := idsArg(p, many)
		if err := callOf(p).backend.Delete(p.Context, t.Name, ids); err != nil {
			return nil, wrap(err)
		}
		if many {
			return map[string]any{"ids": ids}, nil
		}
		return map[string]any{"id": ids[0]}, nil
	}
}

func idsArg(p gql.ResolveParams, many bool) []string {
	if !many {
		id, _ := p.Args["id"].(string)
		return []string{id}
	}
	list, _ := p.Args["ids"].([]any)
	ids := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			ids = append(ids, s)
		}
	}
	return ids
}

// mutated answers a mutation with the rows it wrote, read back with the selection.
func (c *call) mutated(p gql.ResolveParams, t *schema.Table, ids []string, many bool) (any, error) {
	rows, err := c.readBack(p, t, ids)
	if err != nil {
		return nil, err
	}
	if many {
		return rows, nil
	}
	if len(rows) == 0 {
		return nil, nil // written, but the caller may not read it
	}
	return rows[0], nil
}

// params compiles a field and its selection into REST query parameters: with withArgs,
// the field's own arguments too (root fields); nested relations' arguments become deep.
func (c *call) params(t *schema.Table, info gql.ResolveInfo, withArgs bool) (query.Params, error) {
	var fields []string
	deep := map[string]any{}
	if err := c.selection(t, info, info.FieldASTs, "", &fields, deep, 0); err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		fields = []string{"id"}
	}
	p := query.Params{"fields": {strings.Join(fields, ",")}}
	if len(deep) > 0 {
		s, err := toJSON(deep)
		if err != nil {
			return nil, err
		}
		p["deep"] = []string{s}
	}
	if !withArgs {
		return p, nil
	}
	args, err := fieldArgs(info.FieldASTs[0], c.vars)
	if err != nil {
		return nil, err
	}
	if f, ok := args["filter"]; ok && f != nil {
		s, err := toJSON(f)
		if err != nil {
			return nil, err
		}
		p["filter"] = []string{s}
	}
	if s := stringList(args["sort"]); len(s) > 0 {
		p["sort"] = []string{strings.Join(s, ",")}
	}
	for _, k := range []string{"limit", "offset", "page"} {
		if n, ok := args[k].(int64); ok {
			p[k] = []string{strconv.FormatInt(n, 10)}
		}
	}
	if s, ok := args["search"].(string); ok && s != "" {
		p["search"] = []string{s}
	}
	return p, nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// fields flattens the selections of fs (fragments spread, @skip/@include applied) into
// the fields they select, in order.
func (c *call) fields(info gql.ResolveInfo, fs []*ast.Field) []*ast.Field {
	var out []*ast.Field
	var walk func(set *ast.SelectionSet, depth int)
	walk = func(set *ast.SelectionSet, depth int) {
		if set == nil || depth > 32 { // fragment cycles are refused by validation; this is a backstop
			return
		}
		for _, s := range set.Selections {
			switch x := s.(type) {
			case *ast.Field:
				if included(x.Directives, info.VariableValues) {
					out = append(out, x)
				}
			case *ast.InlineFragment:
				if included(x.Directives, info.VariableValues) {
					walk(x.SelectionSet, depth+1)
				}
			case *ast.FragmentSpread:
				if !included(x.Directives, info.VariableValues) {
					continue
				}
				if def, ok := info.Fragments[x.Name.Value].(*ast.FragmentDefinition); ok {
					walk(def.SelectionSet, depth+1)
				}
			}
		}
	}
	for _, f := range fs {
		walk(f.SelectionSet, 0)
	}
	return out
}

// included applies @skip(if:) and @include(if:).
func included(ds []*ast.Directive, vars map[string]any) bool {
	for _, d := range ds {
		if len(d.Arguments) == 0 {
			continue
		}
		v, _ := argValue(d.Arguments[0].Value, vars).(bool)
		switch d.Name.Value {
		case "skip":
			if v {
				return false
			}
		case "include":
			if !v {
				return false
			}
		}
	}
	return true
}

// argValue evaluates an argument's AST value with the request's variables.
func argValue(v ast.Value, vars map[string]any) any {
	switch x := v.(type) {
	case *ast.Variable:
		return vars[x.Name.Value]
	case *ast.ListValue:
		out := make([]any, len(x.Values))
		for i, e := range x.Values {
			out[i] = argValue(e, vars)
		}
		return out
	case *ast.ObjectValue:
		out := make(map[string]any, len(x.Fields))
		for _, f := range x.Fields {
			out[f.Name.Value] = argValue(f.Value, vars)
		}
		return out
	}
	return literalValue(v)
}

// selection adds the fields selected under fs on table t to fields (as dotted paths
// under prefix), and the arguments of nested relation fields to deep. A relation asked
// for twice (under aliases) must be asked with the same arguments: one query answers
// both, so they could not differ.
func (c *call) selection(t *schema.Table, info gql.ResolveInfo, fs []*ast.Field, prefix string, fields *[]string, deep map[string]any, depth int) error {
	byName := map[string][]*ast.Field{}
	var order []string
	for _, f := range c.fields(info, fs) {
		name := f.Name.Value
		if strings.HasPrefix(name, "__") {
			continue
		}
		if _, seen := byName[name]; !seen {
			order = append(order, name)
		}
		byName[name] = append(byName[name], f)
	}
	for _, name := range order {
		rf := c.res.Field(t, name)
		if rf == nil {
			*fields = append(*fields, prefix+name)
			continue
		}
		occ := byName[name]
		args, err := fieldArgs(occ[0], info.VariableValues)
		if err != nil {
			return err
		}
		for _, o := range occ[1:] {
			other, err := fieldArgs(o, info.VariableValues)
			if err != nil {
				return err
			}
			a, _ := toJSON(args)
			b, _ := toJSON(other)
			if a != b {
				return wrap(apierr.InvalidQuery("fields", "%s%s is asked for twice with different arguments; one query answers both, so use the same arguments", prefix, name))
			}
		}
		nested := map[string]any{}
		before := len(*fields)
		if err := c.selection(rf.Target, info, occ, prefix+name+".", fields, nested, depth+1); err != nil {
			return err
		}
		if len(*fields) == before {
			*fields = append(*fields, prefix+name+".id") // only __typename: still expand it
		}
		if len(args) > 0 {
			if rf.Kind == query.ToOne {
				return wrap(apierr.InvalidQuery("fields", "%s%s is a single row and takes no arguments", prefix, name))
			}
			for k, v := range args {
				switch k {
				case "filter":
					nested["_filter"] = v
				case "sort":
					nested["_sort"] = v
				case "limit":
					nested["_limit"] = v
				case "offset":
					nested["_offset"] = v
				}
			}
			if page, ok := args["page"]; ok {
				n, _ := page.(int64)
				limit, _ := args["limit"].(int64)
				if n < 1 || limit < 1 {
					return wrap(apierr.InvalidQuery("page", "%s%s: page needs a positive limit", prefix, name))
				}
				nested["_offset"] = (n - 1) * limit
			}
		}
		if len(nested) > 0 {
			deep[name] = nested
		}
	}
	return nil
}

// fieldArgs are a field's arguments with variables substituted.
func fieldArgs(f *ast.Field, vars map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range f.Arguments {
		v := argValue(a.Value, vars)
		if v == nil {
			continue
		}
		switch x := v.(type) {
		case int:
			v = int64(x)
		case float64: // from JSON variables
			if x == float64(int64(x)) {
				v = int64(x)
			}
		}
		out[a.Name.Value] = v
	}
	return out, nil
}

// Error is a GraphQL error with the contract's code in extensions.
type Error struct {
	msg   string
	ext   map[string]any
	cause error // an internal error, for the log; never shown
}

func (e *Error) Error() string { return e.msg }

// Extensions is what graphql-go puts in the error's extensions.
func (e *Error) Extensions() map[string]any { return e.ext }

// Cause is the internal error behind an INTERNAL one, or nil.
func (e *Error) Cause() error { return e.cause }

func errorf(code, format string, a ...any) *Error {
	return &Error{msg: fmt.Sprintf(format, a...), ext: map[string]any{"code": code}}
}

// wrap gives an error the contract's code; errors not from the contract become
// INTERNAL, without their text (it may hold SQL).
func wrap(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		return &Error{msg: "internal error", ext: map[string]any{"code": "INTERNAL"}, cause: err}
	}
	ext := map[string]any{"code": ae.Code}
	for k, v := range ae.Details {
		ext[k] = v
	}
	return &Error{msg: ae.Message, ext: ext}
}
