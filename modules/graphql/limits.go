package graphql

import (
	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
)

// Limits bound what one GraphQL request may ask for. The zero value of a field takes
// its default (WithDefaults).
type Limits struct {
	// MaxDepth bounds how deep selections nest (fragments counted where spread).
	MaxDepth int
	// MaxAliases bounds the aliased fields of a document: aliases are how one request
	// asks for the same expensive field many times.
	MaxAliases int
	// MaxComplexity bounds the estimated work: every selected field counts once per
	// row it may be resolved for, rows estimated from the limit arguments (or the
	// default page size) of the lists above it.
	MaxComplexity int
	// MaxBatch bounds the operations of one batched HTTP request.
	MaxBatch int
	// MaxQueryBytes bounds the document's text.
	MaxQueryBytes int
	// MaxNesting bounds the document's shape, checked before it is parsed and
	// validated (graphql-go recurses as deep as a document nests, and validates deep
	// nesting slowly): its brackets, its selection sets with fragments spread, its
	// list and object values, and its variables. Unlike MaxDepth it counts
	// introspection and argument values too, so it is well above what real queries
	// need (the standard introspection query nests 14 levels).
	MaxNesting int
	// MaxFields, MaxSameName, MaxArguments, MaxNameBytes, MaxValues and MaxErrors bound what
	// graphql-go's validator may be asked to do, checked before it runs (as MaxNesting
	// is) because its cost grows faster than the document: it compares the fields of
	// one response name pairwise, through fragments (300 root fields named alike took
	// 16 s), locates each error by reading the whole text again (5,000 unused variables
	// took 12 s) and suggests names by edit distance.
	//
	// MaxFields bounds the fields (and directives) of the document counted with
	// fragments spread where they are used, over all its operations and fragments: a
	// fragment spread twice in one spread twice … counts every time.
	MaxFields int
	// MaxSameName bounds the fields that answer with one name in one selection set, as
	// GraphQL merges them (through fragments, and the sub-selections of fields merged
	// into one); they must also be the same field with the same arguments.
	MaxSameName int
	// MaxArguments bounds the arguments of one field or directive, and the variables
	// of one operation.
	MaxArguments int
	// MaxNameBytes bounds one name (or number) in the text.
	MaxNameBytes int
	// MaxValues bounds the list items and object fields of the document's literal
	// values, in all (variables are not bounded by it).
	MaxValues int
	// MaxErrors stops validation once it has found this many errors, as graphql-js's
	// maxErrors does.
	MaxErrors int
	// DefaultLimit and MaxLimit are the data API's page sizes, for the estimate.
	DefaultLimit, MaxLimit int
}

// WithDefaults fills in the defaults.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxDepth, 12)
	def(&l.MaxAliases, 50)
	def(&l.MaxComplexity, 250_000)
	def(&l.MaxBatch, 10)
	def(&l.MaxQueryBytes, 64<<10)
	def(&l.MaxNesting, 64)
	def(&l.MaxFields, 2000)
	def(&l.MaxSameName, 64)
	def(&l.MaxArguments, 64)
	def(&l.MaxNameBytes, 256)
	def(&l.MaxValues, 256)
	def(&l.MaxErrors, 20)
	def(&l.DefaultLimit, 100)
	def(&l.MaxLimit, 1000)
	return l
}

// checker measures one operation against the limits before it runs.
type checker struct {
	limits        Limits
	fragments     map[string]*ast.FragmentDefinition
	vars          map[string]any
	introspection func() (bool, error)
	aliases       int
	complexity    int
}

// check refuses an operation over a limit, or one that introspects where that is off.
func check(s *gql.Schema, doc *ast.Document, op *ast.OperationDefinition, vars map[string]any, l Limits, introspection func() (bool, error)) error {
	c := &checker{limits: l, fragments: map[string]*ast.FragmentDefinition{}, vars: vars, introspection: introspection}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok {
			c.fragments[f.Name.Value] = f
		}
	}
	root := s.QueryType()
	if op.Operation == ast.OperationTypeMutation {
		root = s.MutationType()
	}
	if root == nil {
		return nil // validation reports it
	}
	return c.walk(root, op.SelectionSet, 1, 1)
}

func (c *checker) walk(t *gql.Object, set *ast.SelectionSet, depth int, rows int) error {
	if set == nil {
		return nil
	}
	if depth > c.limits.MaxDepth {
		return errorf("INVALID_QUERY", "the query nests deeper than %d levels", c.limits.MaxDepth)
	}
	for _, s := range set.Selections {
		switch x := s.(type) {
		case *ast.InlineFragment:
			if err := c.walk(t, x.SelectionSet, depth, rows); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			f := c.fragments[x.Name.Value]
			if f == nil {
				continue // validation reports it
			}
			// Depth grows through spreads, so a cycle (refused by validation anyway)
			// ends at MaxDepth rather than never.
			if err := c.walk(t, f.SelectionSet, depth+1, rows); err != nil {
				return err
			}
		case *ast.Field:
			if err := c.field(t, x, depth, rows); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *checker) field(t *gql.Object, f *ast.Field, depth, rows int) error {
	name := f.Name.Value
	if name == "__schema" || name == "__type" {
		if c.introspection != nil {
			on, err := c.introspection()
			if err != nil {
				return wrap(err)
			}
			if !on {
				return errorf("FORBIDDEN", "introspection is turned off for this tenant")
			}
		}
	}
	if f.Alias != nil && f.Alias.Value != name {
		c.aliases++
		if c.aliases > c.limits.MaxAliases {
			return errorf("INVALID_QUERY", "the query uses more than %d aliases", c.limits.MaxAliases)
		}
	}
	c.complexity += rows
	if c.complexity > c.limits.MaxComplexity {
		return errorf("INVALID_QUERY", "the query is too complex: it may touch more than %d row fields; ask for fewer rows (limit) or fewer nested lists", c.limits.MaxComplexity)
	}
	def := t.Fields()[name]
	if def == nil || f.SelectionSet == nil {
		return nil // a scalar, or an unknown field validation reports
	}
	typ, list := unwrap(def.Type)
	obj, ok := typ.(*gql.Object)
	if !ok {
		return nil
	}
	if list {
		rows = saturatingMul(rows, c.rowsOf(f))
	}
	return c.walk(obj, f.SelectionSet, depth+1, rows)
}

// rowsOf estimates the rows a list field returns: its limit, or the default page.
func (c *checker) rowsOf(f *ast.Field) int {
	for _, a := range f.Arguments {
		if a.Name.Value != "limit" {
			continue
		}
		var n int64
		switch v := argValue(a.Value, c.vars).(type) {
		case int64:
			n = v
		case int:
			n = int64(v)
		case float64:
			n = int64(v)
		default:
			return c.limits.DefaultLimit
		}
		if n < 0 || n > int64(c.limits.MaxLimit) {
			return c.limits.MaxLimit
		}
		return max(int(n), 1)
	}
	return c.limits.DefaultLimit
}

func saturatingMul(a, b int) int {
	if a > 0 && b > (1<<40)/a {
		return 1 << 40
	}
	return a * b
}

// unwrap strips non-null and list wrappers, saying whether there was a list.
func unwrap(t gql.Type) (gql.Type, bool) {
	list := false
	for {
		switch x := t.(type) {
		case *gql.NonNull:
			t = x.OfType
		case *gql.List:
			list = true
			t = x.OfType
		default:
			return t, list
		}
	}
}
