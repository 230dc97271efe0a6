package graphql

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"

	"strata/modules/access"
	"strata/modules/query"
	"strata/schema"
)

// Schema is one tenant's generated GraphQL schema at one schema version, as one policy
// sees it: only the tables and fields it may read, only the mutations it may run (an
// admin's shows everything). That is what introspection and the SDL reveal; what a
// caller may read and write is still decided when a request runs, by the same
// permission engine REST uses.
type Schema struct {
	gql   gql.Schema
	model *schema.Model
	// cost is the number of fields and arguments: what the cache weighs it by.
	cost int
	// docs keeps the documents that passed validation, by their text: clients send
	// the same few queries again and again, and graphql-go's validation costs more
	// than running them.
	docs docCache
}

// builder makes the types of one schema.
type builder struct {
	model   *schema.Model
	res     *query.Resolver   // relation lookups only; no caller
	perms   query.Permissions // nil: everything
	names   map[string]bool
	objects map[string]*gql.Object
	filters map[string]*gql.InputObject
	aggs    map[string]*gql.Object
	tables  []*schema.Table
	cost    int
}

// Scalars beyond GraphQL's own, named as Directus names them.
var (
	jsonScalar = gql.NewScalar(gql.ScalarConfig{
		Name:         "JSON",
		Description:  "Any JSON value.",
		Serialize:    func(v any) any { return v },
		ParseValue:   func(v any) any { return v },
		ParseLiteral: parseJSONLiteral,
	})
	dateScalar = gql.NewScalar(gql.ScalarConfig{
		Name:         "Date",
		Description:  "A date, time or date-time as ISO 8601 text.",
		Serialize:    func(v any) any { return v },
		ParseValue:   stringValue,
		ParseLiteral: func(v ast.Value) any { return stringLiteral(v) },
	})
	bigIntScalar = gql.NewScalar(gql.ScalarConfig{
		Name:         "GraphQLBigInt",
		Description:  "A 64-bit integer.",
		Serialize:    func(v any) any { return v },
		ParseValue:   bigIntValue,
		ParseLiteral: func(v ast.Value) any { return bigIntValue(literalValue(v)) },
	})
	stringOrFloatScalar = gql.NewScalar(gql.ScalarConfig{
		Name:         "GraphQLStringOrFloat",
		Description:  "A number, or a decimal or dynamic value ($NOW, $CURRENT_USER) as text.",
		Serialize:    func(v any) any { return v },
		ParseValue:   func(v any) any { return v },
		ParseLiteral: func(v ast.Value) any { return literalValue(v) },
	})
)

func stringValue(v any) any {
	if s, ok := v.(string); ok {
		return s
	}
	return nil
}

func stringLiteral(v ast.Value) any {
	if s, ok := v.(*ast.StringValue); ok {
		return s.Value
	}
	return nil
}

func bigIntValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x)
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
	}
	return nil
}

// literalValue turns an AST literal into the value JSON would give it.
func literalValue(v ast.Value) any {
	switch x := v.(type) {
	case *ast.StringValue:
		return x.Value
	case *ast.IntValue:
		if n, err := strconv.ParseInt(x.Value, 10, 64); err == nil {
			return n
		}
		return nil
	case *ast.FloatValue:
		if f, err := strconv.ParseFloat(x.Value, 64); err == nil {
			return f
		}
		return nil
	case *ast.BooleanValue:
		return x.Value
	case *ast.EnumValue:
		return x.Value
	case *ast.ListValue:
		out := make([]any, len(x.Values))
		for i, e := range x.Values {
			out[i] = literalValue(e)
		}
		return out
	case *ast.ObjectValue:
		out := make(map[string]any, len(x.Fields))
		for _, f := range x.Fields {
			out[f.Name.Value] = literalValue(f.Value)
		}
		return out
	}
	return nil
}

func parseJSONLiteral(v ast.Value) any { return literalValue(v) }

// columnType is the GraphQL type of a column's values.
func columnType(c *schema.Column) gql.Output {
	if c.Name == "id" {
		return gql.ID
	}
	switch c.Type {
	case schema.TypeInteger:
		return gql.Int
	case schema.TypeBigint:
		return bigIntScalar
	case schema.TypeFloat, schema.TypePercent:
		return gql.Float
	case schema.TypeBoolean:
		return gql.Boolean
	case schema.TypeDate, schema.TypeDatetime, schema.TypeTime:
		return dateScalar
	case schema.TypeJSON, schema.TypeMultiEnum:
		return jsonScalar
	}
	// Text, enums, uuids, files, and decimals, which leave as text so no precision is
	// lost (as in REST).
	return gql.String
}

// inputType is the GraphQL type a column's values are written with.
func inputType(c *schema.Column) gql.Input {
	switch c.Type {
	case schema.TypeDecimal, schema.TypeCurrency:
		return stringOrFloatScalar
	case schema.TypeUUID, schema.TypeFile:
		return gql.ID
	}
	if c.Relation != "" {
		return gql.ID
	}
	return columnType(c).(gql.Input)
}

// operatorsType names the filter operators input of a column.
func operatorsName(c *schema.Column) string {
	switch {
	case c.Name == "id" || c.Type == schema.TypeUUID || c.Type == schema.TypeFile || c.Relation != "":
		return "id_filter_operators"
	case c.Type == schema.TypeBoolean:
		return "boolean_filter_operators"
	case c.Type == schema.TypeInteger || c.Type == schema.TypeBigint || c.Type == schema.TypeFloat ||
		c.Type == schema.TypeDecimal || c.Type == schema.TypeCurrency || c.Type == schema.TypePercent:
		return "number_filter_operators"
	case c.Type == schema.TypeDate || c.Type == schema.TypeDatetime || c.Type == schema.TypeTime:
		return "date_filter_operators"
	case c.Type == schema.TypeJSON || c.Type == schema.TypeMultiEnum:
		return "json_filter_operators"
	}
	return "string_filter_operators"
}

// operatorTypes are the shared filter operator inputs, by name.
var operatorTypes = func() map[string]*gql.InputObject {
	list := func(t gql.Input) gql.Input { return gql.NewList(t) }
	fields := func(t gql.Input, ops ...string) gql.InputObjectConfigFieldMap {
		out := gql.InputObjectConfigFieldMap{
			"_null":  {Type: gql.Boolean},
			"_nnull": {Type: gql.Boolean},
		}
		for _, op := range ops {
			switch op {
			case "_in", "_nin", "_between", "_nbetween":
				out[op] = &gql.InputObjectFieldConfig{Type: list(t)}
			case "_empty", "_nempty":
				out[op] = &gql.InputObjectFieldConfig{Type: gql.Boolean}
			default:
				out[op] = &gql.InputObjectFieldConfig{Type: t}
			}
		}
		return out
	}
	text := []string{"_eq", "_neq", "_lt", "_lte", "_gt", "_gte", "_between", "_nbetween", "_contains", "_ncontains", "_icontains", "_nicontains",
		"_starts_with", "_nstarts_with", "_istarts_with", "_nistarts_with", "_ends_with", "_nends_with", "_iends_with", "_niends_with",
		"_in", "_nin", "_empty", "_nempty"}
	ordered := []string{"_eq", "_neq", "_lt", "_lte", "_gt", "_gte", "_in", "_nin", "_between", "_nbetween"}
	return map[string]*gql.InputObject{
		"string_filter_operators":  gql.NewInputObject(gql.InputObjectConfig{Name: "string_filter_operators", Fields: fields(gql.String, text...)}),
		"id_filter_operators":      gql.NewInputObject(gql.InputObjectConfig{Name: "id_filter_operators", Fields: fields(gql.String, "_eq", "_neq", "_in", "_nin")}),
		"number_filter_operators":  gql.NewInputObject(gql.InputObjectConfig{Name: "number_filter_operators", Fields: fields(stringOrFloatScalar, ordered...)}),
		"date_filter_operators":    gql.NewInputObject(gql.InputObjectConfig{Name: "date_filter_operators", Fields: fields(gql.String, ordered...)}),
		"boolean_filter_operators": gql.NewInputObject(gql.InputObjectConfig{Name: "boolean_filter_operators", Fields: fields(gql.Boolean, "_eq", "_neq")}),
		"json_filter_operators":    gql.NewInputObject(gql.InputObjectConfig{Name: "json_filter_operators", Fields: fields(gql.String, "_empty", "_nempty")}),
	}
}()

// reservedNames are the names of the shared types, which a table's types must not take.
var reservedNames = []string{"Query", "Mutation", "JSON", "Date", "GraphQLBigInt", "GraphQLStringOrFloat", "delete_one", "delete_many",
	"string_filter_operators", "id_filter_operators", "number_filter_operators", "date_filter_operators",
	"boolean_filter_operators", "json_filter_operators"}

// name gives a generated type a name no other type has: the wanted one, or it with
// underscores appended (tables named like another table's generated types).
func (b *builder) name(want string) string {
	n := want
	for b.names[n] {
		n += "_"
	}
	b.names[n] = true
	return n
}

// Build generates the schema of a model as perms sees it (nil: everything): its user
// tables and junctions (system tables have their own routes). Every model the API
// accepts, and every policy, yields a valid schema: types that would have no fields are
// left out with what needs them.
func Build(m *schema.Model, perms query.Permissions) (*Schema, error) {
	b := &builder{model: m, res: &query.Resolver{Model: m}, perms: perms, names: map[string]bool{},
		objects: map[string]*gql.Object{}, filters: map[string]*gql.InputObject{}, aggs: map[string]*gql.Object{}}
	for _, n := range reservedNames {
		b.names[n] = true
	}
	for i := range m.Tables {
		if t := &m.Tables[i]; exposed(t) {
			b.names[t.Name] = true // table types keep their names
			if b.visible(t) {
				b.tables = append(b.tables, t)
			}
		}
	}
	for _, t := range b.tables {
		b.object(t)
		b.filter(t)
	}
	queryFields, mutationFields := gql.Fields{}, gql.Fields{}
	for _, t := range b.tables {
		b.rootFields(t, queryFields, mutationFields)
	}
	if len(queryFields) == 0 {
		// A schema needs a query type with a field; a tenant without tables (or a caller
		// who may read none) has this one.
		queryFields["_empty"] = &gql.Field{Type: gql.Boolean, Description: "There are no tables you may read.",
			Resolve: func(gql.ResolveParams) (any, error) { return nil, nil }}
	}
	cfg := gql.SchemaConfig{Query: gql.NewObject(gql.ObjectConfig{Name: "Query", Fields: queryFields})}
	if len(mutationFields) > 0 {
		cfg.Mutation = gql.NewObject(gql.ObjectConfig{Name: "Mutation", Fields: mutationFields})
	}
	s, err := gql.NewSchema(cfg)
	if err != nil {
		return nil, fmt.Errorf("build the GraphQL schema: %w", err)
	}
	return &Schema{gql: s, model: m, cost: b.cost}, nil
}

// field reads a key of the row map: the answer of the query engine.
func field(name string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		if row, ok := p.Source.(map[string]any); ok {
			return row[name], nil
		}
		return nil, nil
	}
}

// listArgs are the arguments of a list of rows, at the root or nested.
func (b *builder) listArgs(t *schema.Table, root bool) gql.FieldConfigArgument {
	args := gql.FieldConfigArgument{
		"filter": {Type: b.filter(t)},
		"sort":   {Type: gql.NewList(gql.String), Description: "Fields to sort by; a leading - sorts descending."},
		"limit":  {Type: gql.Int, Description: "Rows to return; -1 for all, up to the server's cap."},
		"offset": {Type: gql.Int},
		"page":   {Type: gql.Int},
	}
	if root {
		args["search"] = &gql.ArgumentConfig{Type: gql.String, Description: "Text to look for in every text field."}
	}
	b.cost += len(args)
	return args
}

// object is a table's row type: its columns, and its relations as nested fields both
// ways (to-one as an object, to-many as a list).
func (b *builder) object(t *schema.Table) *gql.Object {
	if o := b.objects[t.Name]; o != nil {
		return o
	}
	o := gql.NewObject(gql.ObjectConfig{Name: t.Name, Description: t.Description, Fields: gql.FieldsThunk(func() gql.Fields {
		fs := gql.Fields{}
		for i := range t.Columns {
			c := &t.Columns[i]
			if c.Relation != "" || !b.allowed(t, access.Read, c.Name) {
				continue // the relation's field, below; or hidden from the caller
			}
			typ := columnType(c)
			if c.Name == "id" {
				typ = gql.NewNonNull(typ)
			}
			fs[c.Name] = &gql.Field{Type: typ, Description: c.Description, Resolve: field(c.Name)}
		}
		for _, f := range b.res.RelationFields(t) {
			name := f.Name
			if !b.relationVisible(t, f) {
				continue
			}
			if f.Kind == query.ToOne {
				fs[name] = &gql.Field{Type: b.object(f.Target), Resolve: field(name)}
				continue
			}
			fs[name] = &gql.Field{Type: gql.NewList(b.object(f.Target)), Args: b.listArgs(f.Target, false), Resolve: field(name)}
		}
		b.cost += len(fs)
		return fs
	})})
	b.objects[t.Name] = o
	return o
}

// filter is a table's filter input: its columns with their operators, its relations
// with the related table's filter, _and, _or, and _some/_none for to-many relations.
func (b *builder) filter(t *schema.Table) *gql.InputObject {
	if f := b.filters[t.Name]; f != nil {
		return f
	}
	var self *gql.InputObject
	self = gql.NewInputObject(gql.InputObjectConfig{Name: b.name(t.Name + "_filter"), Fields: gql.InputObjectConfigFieldMapThunk(func() gql.InputObjectConfigFieldMap {
		fs := gql.InputObjectConfigFieldMap{
			"_and":  {Type: gql.NewList(self)},
			"_or":   {Type: gql.NewList(self)},
			"_some": {Type: self, Description: "On a to-many relation: at least one related row matches."},
			"_none": {Type: self, Description: "On a to-many relation: no related row matches."},
		}
		// On a to-one relation, its key can be compared directly, as in REST.
		for _, op := range []string{"_eq", "_neq"} {
			fs[op] = &gql.InputObjectFieldConfig{Type: gql.String, Description: "On a to-one relation: its key."}
		}
		for _, op := range []string{"_in", "_nin"} {
			fs[op] = &gql.InputObjectFieldConfig{Type: gql.NewList(gql.String), Description: "On a to-one relation: its key."}
		}
		for _, op := range []string{"_null", "_nnull"} {
			fs[op] = &gql.InputObjectFieldConfig{Type: gql.Boolean, Description: "On a to-one relation: whether its key is null."}
		}
		for i := range t.Columns {
			if c := &t.Columns[i]; c.Relation == "" && b.allowed(t, access.Read, c.Name) {
				fs[c.Name] = &gql.InputObjectFieldConfig{Type: operatorTypes[operatorsName(c)]}
			}
		}
		for _, f := range b.res.RelationFields(t) {
			if b.relationVisible(t, f) {
				fs[f.Name] = &gql.InputObjectFieldConfig{Type: b.filter(f.Target)}
			}
		}
		b.cost += len(fs)
		return fs
	})})
	b.filters[t.Name] = self
	return self
}

// aggregated is the row type of a table's aggregate query, as Directus shapes it:
// group (the groupBy values), countAll, and count/countDistinct/sum/avg/min/max with a
// field per column they apply to.
func (b *builder) aggregated(t *schema.Table) *gql.Object {
	if o := b.aggs[t.Name]; o != nil {
		return o
	}
	all, numeric := gql.Fields{}, gql.Fields{}
	ordered := gql.Fields{}
	for i := range t.Columns {
		c := &t.Columns[i]
		if !b.allowed(t, access.Read, c.Name) {
			continue
		}
		all[c.Name] = &gql.Field{Type: gql.Int, Resolve: field(c.Name)}
		switch c.Type {
		case schema.TypeInteger, schema.TypeBigint, schema.TypeFloat, schema.TypeDecimal, schema.TypeCurrency, schema.TypePercent:
			numeric[c.Name] = &gql.Field{Type: gql.Float, Resolve: field(c.Name)}
		}
		if c.Type != schema.TypeJSON && c.Type != schema.TypeMultiEnum && c.Type != schema.TypeBoolean {
			ordered[c.Name] = &gql.Field{Type: columnType(c), Resolve: field(c.Name)}
		}
	}
	fs := gql.Fields{
		"group":    {Type: jsonScalar, Resolve: field("group")},
		"countAll": {Type: gql.Int, Resolve: field("countAll")},
	}
	if len(all) > 0 {
		countType := gql.NewObject(gql.ObjectConfig{Name: b.name(t.Name + "_aggregated_count"), Fields: all})
		fs["count"] = &gql.Field{Type: countType, Resolve: field("count")}
		fs["countDistinct"] = &gql.Field{Type: countType, Resolve: field("countDistinct")}
	}
	if len(numeric) > 0 {
		numType := gql.NewObject(gql.ObjectConfig{Name: b.name(t.Name + "_aggregated_fields"), Fields: numeric})
		for _, fn := range []string{"sum", "sumDistinct", "avg", "avgDistinct"} {
			fs[fn] = &gql.Field{Type: numType, Resolve: field(fn)}
		}
	}
	if len(ordered) > 0 {
		ordType := gql.NewObject(gql.ObjectConfig{Name: b.name(t.Name + "_aggregated_values"), Fields: ordered})
		fs["min"] = &gql.Field{Type: ordType, Resolve: field("min")}
		fs["max"] = &gql.Field{Type: ordType, Resolve: field("max")}
	}
	b.cost += len(all) + len(numeric) + len(ordered) + len(fs)
	o := gql.NewObject(gql.ObjectConfig{Name: b.name(t.Name + "_aggregated"), Fields: fs})
	b.aggs[t.Name] = o
	return o
}

// inputs are a table's create and update input types: its columns, the keys of its
// to-one relations, and the lists of keys of its to-many ones, those the caller may
// write. Create marks what must be given (not nullable, no default). An input type
// that would have no fields is nil (a table of system columns only has nothing to
// update): GraphQL has no empty input types, and the mutation is left out.
func (b *builder) inputs(t *schema.Table) (create, update *gql.InputObject) {
	cf, uf := gql.InputObjectConfigFieldMap{}, gql.InputObjectConfigFieldMap{}
	for i := range t.Columns {
		c := &t.Columns[i]
		if c.System && c.Relation == "" && c.Name != "id" {
			continue // owner_id, created_at, updated_at are Strata's to set
		}
		typ := inputType(c)
		if c.Name != "id" && b.allowed(t, access.Update, c.Name) {
			uf[c.Name] = &gql.InputObjectFieldConfig{Type: typ, Description: c.Description}
		}
		if !c.Nullable && len(c.Default) == 0 && c.Name != "id" && c.Relation == "" {
			typ = gql.NewNonNull(typ)
		}
		if b.allowed(t, access.Create, c.Name) {
			cf[c.Name] = &gql.InputObjectFieldConfig{Type: typ, Description: c.Description}
		}
	}
	// To-many fields take the keys of the rows to link, as REST's do.
	for _, f := range b.res.RelationFields(t) {
		if f.Kind == query.ToOne || !b.visible(f.Target) {
			continue
		}
		keys := &gql.InputObjectFieldConfig{Type: gql.NewList(gql.NewNonNull(gql.ID)), Description: "the keys of the " + f.Target.Name + " rows to link; the others are unlinked"}
		if b.allowed(t, access.Create, f.Name) {
			cf[f.Name] = keys
		}
		if b.allowed(t, access.Update, f.Name) {
			uf[f.Name] = keys
		}
	}
	b.cost += len(cf) + len(uf)
	if len(cf) > 0 {
		create = gql.NewInputObject(gql.InputObjectConfig{Name: b.name("create_" + t.Name + "_input"), Fields: cf})
	}
	if len(uf) > 0 {
		update = gql.NewInputObject(gql.InputObjectConfig{Name: b.name("update_" + t.Name + "_input"), Fields: uf})
	}
	return create, update
}

// rule is the caller's rule for action on t; nil when it is not allowed.
func (b *builder) rule(t *schema.Table, action string) *access.Rule {
	if b.perms == nil {
		return &access.Rule{}
	}
	return b.perms.Rule(t.Name, action)
}

// allowed reports whether the caller may do action on field of t.
func (b *builder) allowed(t *schema.Table, action, field string) bool {
	r := b.rule(t, action)
	return r != nil && r.AllowsField(field)
}

// exposed reports whether a table can be in a GraphQL schema: every user table, and of
// the system tables the files and folders (read only), which user tables relate to.
func exposed(t *schema.Table) bool {
	return !t.System || t.Name == schema.FilesTable || t.Name == schema.FoldersTable
}

// visible reports whether t is in the caller's schema: a user table they may read at
// least one column of (its type would otherwise have no fields).
func (b *builder) visible(t *schema.Table) bool {
	if !exposed(t) || b.rule(t, access.Read) == nil {
		return false
	}
	for i := range t.Columns {
		if c := &t.Columns[i]; c.Relation == "" && b.allowed(t, access.Read, c.Name) {
			return true
		}
	}
	return false
}

// relationVisible reports whether the caller sees relation field f of t: they may read
// the field, and its target table.
func (b *builder) relationVisible(t *schema.Table, f *query.RelField) bool {
	return b.allowed(t, access.Read, f.Name) && b.visible(f.Target)
}

var (
	deleteOne = gql.NewObject(gql.ObjectConfig{Name: "delete_one", Fields: gql.Fields{
		"id": {Type: gql.NewNonNull(gql.ID), Resolve: field("id")}}})
	deleteMany = gql.NewObject(gql.ObjectConfig{Name: "delete_many", Fields: gql.Fields{
		"ids": {Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(gql.ID))), Resolve: field("ids")}}})
)

// rootFields adds a table's queries and mutations, named as Directus names them.
func (b *builder) rootFields(t *schema.Table, q, mu gql.Fields) {
	o := b.object(t)
	name := t.Name
	q[name] = &gql.Field{Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(o))), Args: b.listArgs(t, true), Resolve: resolveList(t)}
	q[name+"_by_id"] = &gql.Field{Type: o, Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}}, Resolve: resolveByID(t)}
	aggArgs := b.listArgs(t, true)
	aggArgs["groupBy"] = &gql.ArgumentConfig{Type: gql.NewList(gql.String)}
	q[name+"_aggregated"] = &gql.Field{Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(b.aggregated(t)))), Args: aggArgs, Resolve: resolveAggregated(t)}

	if t.System {
		// Files are written through /files, which stores their bytes with the row.
		return
	}
	// Mutations for the actions the caller may take. Creates and updates answer with
	// the rows written, read back, so only tables the caller sees have them (the
	// others are written through REST).
	create, update := b.inputs(t)
	ids := gql.NewNonNull(gql.NewList(gql.NewNonNull(gql.ID)))
	if create != nil && b.rule(t, access.Create) != nil {
		mu["create_"+name+"_item"] = &gql.Field{Type: o, Args: gql.FieldConfigArgument{"data": {Type: gql.NewNonNull(create)}}, Resolve: resolveCreate(t, false)}
		mu["create_"+name+"_items"] = &gql.Field{Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(o))),
			Args: gql.FieldConfigArgument{"data": {Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(create)))}}, Resolve: resolveCreate(t, true)}
	}
	if update != nil && b.rule(t, access.Update) != nil {
		mu["update_"+name+"_item"] = &gql.Field{Type: o, Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}, "data": {Type: gql.NewNonNull(update)}}, Resolve: resolveUpdate(t, false)}
		mu["update_"+name+"_items"] = &gql.Field{Type: gql.NewNonNull(gql.NewList(gql.NewNonNull(o))),
			Args: gql.FieldConfigArgument{"ids": {Type: ids}, "data": {Type: gql.NewNonNull(update)}}, Resolve: resolveUpdate(t, true)}
	}
	if b.rule(t, access.Delete) != nil {
		mu["delete_"+name+"_item"] = &gql.Field{Type: deleteOne, Args: gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}}, Resolve: resolveDelete(t, false)}
		mu["delete_"+name+"_items"] = &gql.Field{Type: deleteMany, Args: gql.FieldConfigArgument{"ids": {Type: ids}}, Resolve: resolveDelete(t, true)}
	}
	b.cost += 9
}

// toJSON renders an argument value the way REST receives it in the query string.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode argument: %w", err)
	}
	return string(b), nil
}
