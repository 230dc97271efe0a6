// Package graphql serves a tenant's generated GraphQL API. The schema is generated from
// the tenant's model (Directus's names), built lazily per schema version and cached
// across tenants with a bound; resolution compiles each root field's whole selection to
// the same REST query parameters the data API takes, so both run the same typed query
// through the same permission engine and can never disagree.
package graphql

import (
	"container/list"
	"context"
	"errors"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/location"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"
	"github.com/graphql-go/graphql/language/visitor"
	"golang.org/x/sync/singleflight"

	"strata/modules/access"
	"strata/modules/query"
	"strata/schema"
)

// Service builds, caches and runs tenants' GraphQL schemas.
type Service struct {
	limits Limits
	// maxCost bounds the cached schemas' total cost (fields and arguments).
	maxCost int
	mu      sync.Mutex
	lru     *list.List // of *entry, most recently used first
	byKey   map[string]*list.Element
	cost    int
	builds  singleflight.Group
}

type entry struct {
	key     string
	tenant  string
	version int64
	schema  *Schema
}

// NewService returns a service whose cache holds schemas of at most maxCost fields and
// arguments in all (least recently used ones go first).
func NewService(l Limits, maxCost int) *Service {
	if maxCost <= 0 {
		maxCost = 1_000_000
	}
	return &Service{limits: l.WithDefaults(), maxCost: maxCost, lru: list.New(), byKey: map[string]*list.Element{}}
}

// Limits are the service's request limits.
func (s *Service) Limits() Limits { return s.limits }

// Schema returns the tenant's schema at version as perms sees it (nil: everything),
// building it from model on first use. Callers whose policies allow the same tables,
// actions and fields share one schema; an older version of the tenant's schemas leaves
// the cache when a newer one comes in.
func (s *Service) Schema(tenantID string, version int64, model *schema.Model, perms query.Permissions) (*Schema, error) {
	key := tenantID + "@" + strconv.FormatInt(version, 10) + "\x00" + policyKey(model, perms)
	s.mu.Lock()
	if el := s.byKey[key]; el != nil {
		s.lru.MoveToFront(el)
		sch := el.Value.(*entry).schema
		s.mu.Unlock()
		return sch, nil
	}
	s.mu.Unlock()
	v, err, _ := s.builds.Do(key, func() (any, error) {
		sch, err := Build(model, perms)
		if err != nil {
			return nil, err
		}
		s.store(key, tenantID, version, sch)
		return sch, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Schema), nil
}

func (s *Service) store(key, tenantID string, version int64, sch *Schema) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byKey[key]; ok {
		return
	}
	// The tenant's older versions will not be asked for again; its other policies'
	// schemas of this version stay.
	for el := s.lru.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*entry); e.tenant == tenantID && e.version < version {
			s.remove(el)
		}
		el = next
	}
	s.byKey[key] = s.lru.PushFront(&entry{key: key, tenant: tenantID, version: version, schema: sch})
	s.cost += sch.cost
	for s.cost > s.maxCost && s.lru.Len() > 1 {
		s.remove(s.lru.Back())
	}
}

func (s *Service) remove(el *list.Element) {
	e := el.Value.(*entry)
	s.lru.Remove(el)
	delete(s.byKey, e.key)
	s.cost -= e.schema.cost
}

// policyKey names what perms lets a caller see of m, for the cache: per table, the
// actions allowed and the fields they allow (row rules change no types). Two roles with
// the same permissions share a key, and a changed permission makes a new one.
func policyKey(m *schema.Model, perms query.Permissions) string {
	if perms == nil {
		return "*"
	}
	var b strings.Builder
	for i := range m.Tables {
		t := &m.Tables[i]
		if !exposed(t) {
			continue
		}
		for _, action := range access.Actions {
			r := perms.Rule(t.Name, action)
			if r == nil {
				continue
			}
			// Names cannot hold control characters, so these separators are unambiguous.
			b.WriteString(t.Name)
			b.WriteByte(1)
			b.WriteString(action)
			if r.Fields != nil {
				b.WriteByte(1)
				b.WriteString(strings.Join(r.Fields, "\x01"))
			}
			b.WriteByte(2)
		}
	}
	return b.String()
}

// CacheStats says how many schemas are cached and their total cost.
func (s *Service) CacheStats() (schemas, cost int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.cost
}

// Request is one GraphQL operation as GraphQL-over-HTTP carries it.
type Request struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables,omitempty"`
	OperationName string         `json:"operationName,omitempty"`
	Extensions    map[string]any `json:"extensions,omitempty"`
}

// Result is the answer to one operation. RequestError is set when it failed before
// execution (syntax, validation, limits): then it carries no data at all.
type Result struct {
	Data         any                        `json:"data,omitempty"`
	Errors       []gqlerrors.FormattedError `json:"errors,omitempty"`
	RequestError bool                       `json:"-"`
	// Mutation is set when the operation was a mutation (not allowed over GET).
	Mutation bool `json:"-"`
}

// Options are per request.
type Options struct {
	// Introspection says whether __schema and __type are allowed (a tenant setting),
	// asked only of documents that use them; nil allows them.
	Introspection func() (bool, error)
	// QueryOnly refuses mutations (a GET request).
	QueryOnly bool
	// Full is the schema with everything (an admin's), when the one executed is a
	// caller's narrower one: an operation that names what the caller does not see,
	// but that is valid in full, runs on it, so that the permission engine refuses it
	// with the code REST would give (FORBIDDEN, or INVALID_CREDENTIALS for anonymous
	// writes) instead of a validation error. Introspection never runs on it. It is
	// asked for only then, so callers' traffic alone does not build it.
	Full func() (*Schema, error)
	// Internal hears about internal errors, which answer only "internal error".
	Internal func(error)
	// slow turns the fast path off (tests compare the two).
	slow bool
}

// Execute runs one operation against sch for the caller backend serves.
func (s *Service) Execute(ctx context.Context, sch *Schema, req Request, backend Backend, opts Options) *Result {
	fail := func(code, format string, a ...any) *Result {
		return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(errorf(code, format, a...))}}
	}
	if req.Query == "" {
		return fail("INVALID_QUERY", "a query is required")
	}
	if len(req.Query) > s.limits.MaxQueryBytes {
		return fail("INVALID_QUERY", "the query is longer than %d bytes", s.limits.MaxQueryBytes)
	}
	if err := checkVariableNesting(req.Variables, s.limits.MaxNesting); err != nil {
		return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(err)}}
	}
	doc, valid := sch.docs.get(req.Query)
	if doc == nil {
		// A cached document passed these checks already; a new one is measured before
		// graphql-go's parser and validator, which recurse as deep as it nests.
		if err := scanText(req.Query, s.limits); err != nil {
			return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(err)}}
		}
		var err error
		// Without its source: graphql-go would locate each error by reading the text
		// from its start (relocate does it by binary search).
		doc, err = parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(req.Query), Name: "GraphQL request"}),
			Options: parser.ParseOptions{NoSource: true}})
		if err != nil {
			fe := gqlerrors.FormatError(err)
			fe.Extensions = map[string]any{"code": "INVALID_QUERY"}
			return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{fe}}
		}
		if err := checkShape(doc, s.limits); err != nil {
			return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(err)}}
		}
	}
	op, err := operation(doc, req.OperationName)
	if err != nil {
		return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(err)}}
	}
	res := &Result{Mutation: op.Operation == ast.OperationTypeMutation}
	switch {
	case op.Operation == ast.OperationTypeSubscription:
		return fail("INVALID_QUERY", "subscriptions are served over the websocket (/websocket), not over HTTP")
	case res.Mutation && opts.QueryOnly:
		r := fail("INVALID_QUERY", "mutations need POST")
		r.Mutation = true
		return r
	}
	if !valid {
		if errs := validate(sch, doc, op, s.limits.MaxErrors); len(errs) > 0 {
			var full *Schema
			if opts.Full != nil && !introspects(doc) {
				var err error
				if full, err = opts.Full(); err != nil {
					if opts.Internal != nil {
						opts.Internal(err)
					}
					return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(wrap(err))}, Mutation: res.Mutation}
				}
			}
			if full == nil || full == sch || len(validate(full, doc, op, s.limits.MaxErrors)) > 0 {
				// The caller's own schema's errors: they name only what it shows.
				for i := range errs {
					errs[i].Extensions = map[string]any{"code": "INVALID_QUERY"}
				}
				relocate(req.Query, errs)
				return &Result{RequestError: true, Errors: errs, Mutation: res.Mutation}
			}
			sch = full
		} else {
			sch.docs.put(req.Query, doc)
		}
	}
	if err := check(&sch.gql, doc, op, req.Variables, s.limits, opts.Introspection); err != nil {
		return &Result{RequestError: true, Errors: []gqlerrors.FormattedError{format2(err)}, Mutation: res.Mutation}
	}
	c := &call{backend: backend, res: &query.Resolver{Model: sch.model}, vars: req.Variables}
	if !opts.slow && fastEligible(sch, doc, op) {
		if errs := checkVariables(sch, op, req.Variables); len(errs) > 0 {
			relocate(req.Query, errs)
			return &Result{RequestError: true, Errors: errs}
		}
		data, errs := fastExecute(ctx, sch, doc, op, c, opts.Internal)
		if data != nil {
			res.Data = data
		}
		res.Errors = errs
		relocate(req.Query, res.Errors)
		return res
	}
	out := gql.Execute(gql.ExecuteParams{Schema: sch.gql, AST: doc, OperationName: req.OperationName, Args: req.Variables,
		Context: context.WithValue(ctx, ctxKey{}, c)})
	res.Data = out.Data
	for _, e := range out.Errors {
		if e.Extensions == nil {
			// graphql-go's own: bad variables before execution, or a broken promise
			// (a null for a non-null field) during it.
			code := "INTERNAL"
			if out.Data == nil {
				code, res.RequestError = "INVALID_QUERY", true
			}
			e.Extensions = map[string]any{"code": code}
		}
		var ge *Error
		if errors.As(e.OriginalError(), &ge) && ge.cause != nil && opts.Internal != nil {
			opts.Internal(ge.cause)
		}
		res.Errors = append(res.Errors, e)
	}
	relocate(req.Query, res.Errors)
	return res
}

// relocate gives errors about a document parsed without its source their line and
// column in q. Such errors carry line 1 and the offset plus one as their column;
// graphql-go counts "\r\n", "\n" and "\r" as line breaks and columns in bytes, and so
// does this.
func relocate(q string, errs []gqlerrors.FormattedError) {
	var breaks, next []int // where each line break starts, and where its line ends
	found := false
	for i := range errs {
		for j, l := range errs[i].Locations {
			if !found {
				for k := 0; k < len(q); k++ {
					switch {
					case q[k] == '\r' && k+1 < len(q) && q[k+1] == '\n':
						breaks, next = append(breaks, k), append(next, k+2)
						k++
					case q[k] == '\n' || q[k] == '\r':
						breaks, next = append(breaks, k), append(next, k+1)
					}
				}
				found = true
			}
			pos := l.Column - 1
			n := sort.SearchInts(breaks, pos) // the breaks before pos
			if n == 0 {
				continue
			}
			errs[i].Locations[j] = location.SourceLocation{Line: n + 1, Column: pos + 1 - next[n-1]}
		}
	}
}

// docCache remembers validated documents by their text, a bounded number of them.
type docCache struct {
	mu   sync.Mutex
	docs map[string]*ast.Document
}

// maxCachedDocs bounds the documents one schema remembers; past it, the cache starts
// over (clients send a few queries again and again, not thousands of different ones).
const maxCachedDocs = 256

func (c *docCache) get(q string) (*ast.Document, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs[q]
	return d, d != nil
}

func (c *docCache) put(q string, d *ast.Document) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs == nil || len(c.docs) >= maxCachedDocs {
		c.docs = map[string]*ast.Document{}
	}
	c.docs[q] = d
}

// format2 formats one of our errors as GraphQL does.
func format2(err error) gqlerrors.FormattedError {
	fe := gqlerrors.FormatError(err)
	var e *Error
	if errors.As(err, &e) {
		fe.Extensions = e.Extensions()
	}
	return fe
}

// operation picks the operation to run: the named one, or the only one.
func operation(doc *ast.Document, name string) (*ast.OperationDefinition, error) {
	var found *ast.OperationDefinition
	n := 0
	for _, d := range doc.Definitions {
		op, ok := d.(*ast.OperationDefinition)
		if !ok {
			continue
		}
		n++
		if name == "" || (op.Name != nil && op.Name.Value == name) {
			found = op
		}
	}
	switch {
	case n == 0:
		return nil, errorf("INVALID_QUERY", "the document has no operation")
	case name == "" && n > 1:
		return nil, errorf("INVALID_QUERY", "the document has %d operations: name one with operationName", n)
	case found == nil:
		return nil, errorf("INVALID_QUERY", "the document has no operation named %q", name)
	}
	return found, nil
}

// validationRules are graphql-go's rules but OverlappingFieldsCanBeMerged: checkShape's
// merge is that rule for schemas without interfaces and unions (which Strata's are), in
// linear time, where graphql-go's compares fields pairwise and prints their arguments
// for each pair (the printer is quadratic too).
var validationRules = func() []gql.ValidationRuleFn {
	skip := reflect.ValueOf(gql.OverlappingFieldsCanBeMergedRule).Pointer()
	var out []gql.ValidationRuleFn
	for _, rule := range gql.SpecifiedRules {
		if reflect.ValueOf(rule).Pointer() != skip {
			out = append(out, rule)
		}
	}
	return out
}()

// validate is graphql-go's validation plus what it lets through: a mutation on a
// schema without mutations (a caller who may write nothing) passes it and fails only
// when executed. It stops after maxErrors errors.
func validate(sch *Schema, doc *ast.Document, op *ast.OperationDefinition, maxErrors int) []gqlerrors.FormattedError {
	if op.Operation == ast.OperationTypeMutation && sch.gql.MutationType() == nil {
		return []gqlerrors.FormattedError{gqlerrors.NewFormattedError("there are no mutations in this schema")}
	}
	rules := make([]gql.ValidationRuleFn, len(validationRules))
	for i, rule := range validationRules {
		rules[i] = stopAfter(maxErrors, rule)
	}
	errs := gql.ValidateDocument(&sch.gql, doc, rules).Errors
	// One visit may report many (every unused variable at once).
	return errs[:min(len(errs), maxErrors)]
}

// stopAfter runs rule until the validation has found max errors. Each error costs time
// in proportion to the document (graphql-go finds its line by reading the text from the
// start), so a document of many small mistakes cost seconds; a client needs the first
// few. graphql-go's visitor has no way to stop, but a rule that answers BREAK is not
// called again.
func stopAfter(max int, rule gql.ValidationRuleFn) gql.ValidationRuleFn {
	return func(ctx *gql.ValidationContext) *gql.ValidationRuleInstance {
		inner := rule(ctx).VisitorOpts
		visit := func(leaving bool) visitor.VisitFunc {
			return func(p visitor.VisitFuncParams) (string, any) {
				if len(ctx.Errors()) >= max {
					return visitor.ActionBreak, nil
				}
				node, ok := p.Node.(ast.Node)
				if !ok {
					return visitor.ActionNoChange, nil
				}
				if fn := visitor.GetVisitFn(inner, node.GetKind(), leaving); fn != nil {
					return fn(p)
				}
				return visitor.ActionNoChange, nil
			}
		}
		return &gql.ValidationRuleInstance{VisitorOpts: &visitor.VisitorOptions{Enter: visit(false), Leave: visit(true)}}
	}
}

// introspects reports whether a document asks for __schema or __type anywhere.
func introspects(doc *ast.Document) bool {
	found := false
	var sets func(set *ast.SelectionSet)
	sets = func(set *ast.SelectionSet) {
		if set == nil || found {
			return
		}
		for _, sel := range set.Selections {
			switch x := sel.(type) {
			case *ast.Field:
				if n := x.Name.Value; n == "__schema" || n == "__type" {
					found = true
					return
				}
				sets(x.SelectionSet)
			case *ast.InlineFragment:
				sets(x.SelectionSet)
			}
		}
	}
	for _, d := range doc.Definitions {
		switch x := d.(type) {
		case *ast.OperationDefinition:
			sets(x.SelectionSet)
		case *ast.FragmentDefinition:
			sets(x.SelectionSet)
		}
	}
	return found
}

// SDL renders the schema in the GraphQL schema definition language.
func (sch *Schema) SDL() string { return printSDL(&sch.gql) }
