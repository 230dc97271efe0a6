package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	gojson "github.com/goccy/go-json"
	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/location"
)

// The fast path runs a query whose root fields are all table reads. Their resolvers
// already return the whole answer below them (one query-engine run each), so what is
// left is projecting those rows onto the selection: aliases, fragments, @skip and
// @include, __typename and scalar serialisation. graphql-go's executor does the same
// generically, by reflection, at several times the cost of the database work; mutations,
// introspection and anything unusual still go through it. It also keeps the order of
// the fields as asked, which graphql-go's maps lose.

// object is an answer object with its fields in the order they were selected.
type object []member

type member struct {
	key   string
	value any
}

// MarshalJSON writes the fields in order.
func (o object) MarshalJSON() ([]byte, error) { return appendJSON(nil, o) }

// appendJSON encodes an answer: the shapes the fast path and the query engine produce
// directly, anything else through goccy/go-json (as REST encodes).
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case object:
		b = append(b, '{')
		for i, f := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.key)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, f.value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case json.RawMessage:
		return append(b, x...), nil
	}
	raw, err := gojson.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(b, raw...), nil
}

// appendString writes s as a JSON string, escaping what JSON and HTML need escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hex = "0123456789abcdef"

// AppendJSON encodes the result as GraphQL-over-HTTP answers it.
func (r *Result) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if r.Data != nil {
		b = append(b, `"data":`...)
		var err error
		if b, err = appendJSON(b, r.Data); err != nil {
			return nil, err
		}
	} else if !r.RequestError {
		b = append(b, `"data":null`...) // execution began, so data is present, if null
	}
	if len(r.Errors) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		raw, err := gojson.Marshal(r.Errors)
		if err != nil {
			return nil, fmt.Errorf("encode errors: %w", err)
		}
		b = append(b, `"errors":`...)
		b = append(b, raw...)
	}
	return append(b, '}'), nil
}

// fastEligible reports whether an operation can take the fast path: a query whose root
// fields are table reads (or __typename), each answered once.
func fastEligible(sch *Schema, doc *ast.Document, op *ast.OperationDefinition) bool {
	if op.Operation != ast.OperationTypeQuery {
		return false
	}
	for _, s := range op.SelectionSet.Selections {
		f, ok := s.(*ast.Field)
		if !ok || len(f.Directives) > 0 {
			return false // fragments and directives at the root: leave them to graphql-go
		}
		name := f.Name.Value
		if name == "__typename" {
			continue
		}
		def := sch.gql.QueryType().Fields()[name]
		if def == nil || name == "__schema" || name == "__type" || name == "_empty" {
			return false
		}
	}
	return true
}

// fastExecute runs an eligible query.
func fastExecute(ctx context.Context, sch *Schema, doc *ast.Document, op *ast.OperationDefinition, c *call, internal func(error)) (any, []gqlerrors.FormattedError) {
	fragments := map[string]ast.Definition{}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok {
			fragments[f.Name.Value] = f
		}
	}
	root := sch.gql.QueryType()
	ctx = context.WithValue(ctx, ctxKey{}, c)
	var errs []gqlerrors.FormattedError
	data := object{}
	seen := map[string]bool{}
	for _, s := range op.SelectionSet.Selections {
		f := s.(*ast.Field)
		key := responseKey(f)
		if seen[key] {
			continue // validation made sure repeats ask the same; the first answers
		}
		seen[key] = true
		if f.Name.Value == "__typename" {
			data = append(data, member{key, root.Name()})
			continue
		}
		def := root.Fields()[f.Name.Value]
		args, _ := fieldArgs(f, c.vars)
		info := gql.ResolveInfo{FieldName: f.Name.Value, FieldASTs: sameKey(op.SelectionSet, key), Fragments: fragments,
			VariableValues: c.vars, ReturnType: def.Type, ParentType: root, Schema: sch.gql, Operation: op}
		v, err := def.Resolve(gql.ResolveParams{Args: args, Info: info, Context: ctx})
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.cause != nil && internal != nil {
				internal(e.cause)
			}
			errs = append(errs, fieldError(err, f, []any{key}))
			if _, nonNull := def.Type.(*gql.NonNull); nonNull {
				return nil, errs // a non-null root field failed: no data at all
			}
			data = append(data, member{key, nil})
			continue
		}
		data = append(data, member{key, project(v, def.Type, info.FieldASTs, c, fragments)})
	}
	return data, errs
}

func responseKey(f *ast.Field) string {
	if f.Alias != nil && f.Alias.Value != "" {
		return f.Alias.Value
	}
	return f.Name.Value
}

// sameKey lists the root fields answering under key.
func sameKey(set *ast.SelectionSet, key string) []*ast.Field {
	var out []*ast.Field
	for _, s := range set.Selections {
		if f, ok := s.(*ast.Field); ok && responseKey(f) == key {
			out = append(out, f)
		}
	}
	return out
}

// plan is how to shape rows of one object type for one selection: worked out once per
// list, not per row.
type plan struct {
	typename string
	entries  []planEntry
}

type planEntry struct {
	key, name string
	typename  bool // __typename
	typ       gql.Type
	sub       *plan // for object types (inside lists and non-nulls)
}

func makePlan(obj *gql.Object, fs []*ast.Field, c *call, fragments map[string]ast.Definition) *plan {
	info := gql.ResolveInfo{VariableValues: c.vars, Fragments: fragments}
	selected := c.fields(info, fs)
	p := &plan{typename: obj.Name()}
	done := map[string]bool{}
	defs := obj.Fields()
	for _, f := range selected {
		key := responseKey(f)
		if done[key] {
			continue
		}
		done[key] = true
		if f.Name.Value == "__typename" {
			p.entries = append(p.entries, planEntry{key: key, typename: true})
			continue
		}
		def := defs[f.Name.Value]
		if def == nil {
			continue
		}
		e := planEntry{key: key, name: f.Name.Value, typ: def.Type}
		if inner, _ := unwrap(def.Type); inner != nil {
			if o, ok := inner.(*gql.Object); ok {
				var sub []*ast.Field
				for _, g := range selected {
					if responseKey(g) == key {
						sub = append(sub, g)
					}
				}
				e.sub = makePlan(o, sub, c, fragments)
			}
		}
		p.entries = append(p.entries, e)
	}
	return p
}

// project shapes a resolved value by its GraphQL type and the fields selected on it.
func project(v any, t gql.Type, fs []*ast.Field, c *call, fragments map[string]ast.Definition) any {
	var p *plan
	if inner, _ := unwrap(t); inner != nil {
		if o, ok := inner.(*gql.Object); ok {
			p = makePlan(o, fs, c, fragments)
		}
	}
	return shape(v, t, p)
}

// shape applies a plan to a value of type t.
func shape(v any, t gql.Type, p *plan) any {
	if nn, ok := t.(*gql.NonNull); ok {
		t = nn.OfType
	}
	if v == nil {
		return nil
	}
	switch x := t.(type) {
	case *gql.List:
		switch list := v.(type) {
		case []map[string]any:
			out := make([]any, len(list))
			for i, e := range list {
				out[i] = shape(e, x.OfType, p)
			}
			return out
		case []any:
			out := make([]any, len(list))
			for i, e := range list {
				out[i] = shape(e, x.OfType, p)
			}
			return out
		}
		return nil
	case *gql.Scalar:
		if s, ok := v.(string); ok && (x == gql.String || x == gql.ID) {
			return s
		}
		return x.Serialize(v)
	case *gql.Object:
		row, ok := v.(map[string]any)
		if !ok || p == nil {
			return nil
		}
		out := make(object, len(p.entries))
		for i, e := range p.entries {
			if e.typename {
				out[i] = member{e.key, p.typename}
				continue
			}
			out[i] = member{e.key, shape(row[e.name], e.typ, e.sub)}
		}
		return out
	}
	return v
}

// fieldError formats a resolver's error as graphql-go would, with its path and place.
func fieldError(err error, f *ast.Field, path []any) gqlerrors.FormattedError {
	fe := gqlerrors.FormattedError{Message: err.Error(), Path: path, Locations: []location.SourceLocation{}}
	if f.Loc != nil {
		// The document is parsed without its source, as graphql-go would locate it
		// then; Execute relocates it.
		fe.Locations = append(fe.Locations, location.GetLocation(nil, f.Loc.Start))
	}
	var e *Error
	if errors.As(err, &e) {
		fe.Extensions = e.Extensions()
	} else {
		fe.Extensions = map[string]any{"code": "INTERNAL"}
		fe.Message = "internal error"
	}
	return fe
}

// checkVariables coerces the operation's variables as graphql-go's executor would and
// returns its errors: it runs a copy of the operation that selects only __typename,
// because graphql-go keeps its variable coercion to itself.
func checkVariables(sch *Schema, op *ast.OperationDefinition, vars map[string]any) []gqlerrors.FormattedError {
	if len(op.VariableDefinitions) == 0 {
		return nil
	}
	probe := &ast.OperationDefinition{Kind: op.Kind, Operation: op.Operation, VariableDefinitions: op.VariableDefinitions,
		SelectionSet: &ast.SelectionSet{Kind: op.SelectionSet.Kind, Selections: []ast.Selection{ast.NewField(&ast.Field{Name: ast.NewName(&ast.Name{Value: "__typename"})})}}}
	res := gql.Execute(gql.ExecuteParams{Schema: sch.gql, AST: ast.NewDocument(&ast.Document{Definitions: []ast.Node{probe}}), Args: vars})
	for i := range res.Errors {
		res.Errors[i].Extensions = map[string]any{"code": "INVALID_QUERY"}
	}
	return res.Errors
}
