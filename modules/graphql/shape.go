package graphql

import (
	"strings"

	"github.com/graphql-go/graphql/language/ast"
)

// The checks in this file run before graphql-go sees a document, because graphql-go
// trusts a document's shape: its parser recurses once per bracket, its validator
// recurses through fragment spreads without noticing a cycle (a fragment that spreads
// itself, directly or not, overflowed the stack and took the whole process down), and
// both slow down faster than linearly with nesting (a thousand nested lists took
// seconds to validate). So the text's bracket nesting is bounded before parsing, and
// the parsed document's fragment cycles and nesting before validation. The limits are
// far above what a real query needs; the cost limits (depth, aliases, complexity)
// still apply after validation.
//
// graphql-go's validator also costs more than the document's size, in ways no nesting
// bound catches: OverlappingFieldsCanBeMerged compares every two fields of one response
// name, through fragments and into their sub-selections, and reports every differing
// pair (300 root fields named alike with different arguments, 7 KB, took 16 s and
// reported 42,000 errors); each error's location is found by reading the whole text
// again (5,000 unused variables took 12 s); unknown names are compared with the
// schema's by edit distance. So before validation the document's fields are counted
// with fragments spread (memoised per fragment and saturating, so fragments spreading
// fragments twice over cannot make the count itself expensive), the fields of one
// response name in each merged selection set are counted and must agree (which is the
// rule's own test, run once per field instead of once per pair), and arguments and
// names are bounded; validation itself stops after MaxErrors errors.

// scanText refuses a document whose brackets ({ [ () nest deeper than l.MaxNesting or
// with a name or number longer than l.MaxNameBytes (each unknown name is compared with
// every name the schema has, in time the product of their lengths), reading the text as
// graphql-go's lexer does: brackets inside strings, block strings and comments do not
// count. Unbalanced text is left to the parser to report.
func scanText(q string, l Limits) error {
	depth, word := 0, 0
	for i := 0; i < len(q); i++ {
		if c := q[i]; c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			if word++; word > l.MaxNameBytes {
				return errorf("INVALID_QUERY", "the query has a name or number longer than %d characters", l.MaxNameBytes)
			}
			continue
		}
		word = 0
		switch q[i] {
		case '{', '[', '(':
			depth++
			if depth > l.MaxNesting {
				return errorf("INVALID_QUERY", "the query's brackets nest deeper than %d levels", l.MaxNesting)
			}
		case '}', ']', ')':
			if depth > 0 {
				depth--
			}
		case '#':
			// A comment runs to the end of the line.
			for i+1 < len(q) && q[i+1] != '\n' && q[i+1] != '\r' {
				i++
			}
		case '"':
			if strings.HasPrefix(q[i:], `"""`) {
				i = skipBlockString(q, i+3)
			} else {
				i = skipString(q, i+1)
			}
		}
	}
	return nil
}

// skipString returns the index of the quote that closes the string starting at i (or
// of the line end or text end where the lexer will report it unterminated).
func skipString(q string, i int) int {
	for ; i < len(q); i++ {
		switch q[i] {
		case '"', '\n', '\r':
			return i
		case '\\':
			i++ // the escaped character; \uXXXX's digits are no quotes
		}
	}
	return i
}

// skipBlockString returns the index of the last quote of the """ that closes the block
// string whose text starts at i; \""" is an escaped one.
func skipBlockString(q string, i int) int {
	for ; i < len(q); i++ {
		switch {
		case strings.HasPrefix(q[i:], `\"""`):
			i += 3
		case strings.HasPrefix(q[i:], `"""`):
			return i + 2
		}
	}
	return i
}

// checkShape refuses, before validation, a document that names two fragments alike,
// whose fragments spread each other in a cycle, or that nests deeper than l.MaxNesting:
// its selection sets as they nest once fragments are spread (a spread adds its
// fragment's selection set), and the list and object values of its arguments,
// directives and variables' defaults. It then refuses one with more than l.MaxFields
// fields, fragments spread, or a field or directive with more than l.MaxArguments
// arguments, and checks the fields of each merged selection set (merge).
func checkShape(doc *ast.Document, l Limits) error {
	s := &docShape{max: l.MaxNesting, limits: l, fragments: map[string]*ast.FragmentDefinition{},
		height: map[string]int{}, fields: map[string]int{}, state: map[string]int{}}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok && f.Name != nil {
			if s.fragments[f.Name.Value] != nil {
				return errorf("INVALID_QUERY", "there are two fragments named %q", f.Name.Value)
			}
			s.fragments[f.Name.Value] = f
		}
	}
	// Every operation and every fragment is validated, each with the fragments it
	// spreads, so the count is their sum.
	total := 0
	for _, d := range doc.Definitions {
		var h, n int
		var err error
		switch x := d.(type) {
		case *ast.OperationDefinition:
			// An operation's variables are its arguments; graphql-go reports every
			// unused or undefined one at once.
			if len(x.VariableDefinitions) > l.MaxArguments {
				return s.tooManyArguments()
			}
			for _, v := range x.VariableDefinitions {
				// graphql-go's parser lets `query($id:)` through with no type, and its
				// validator then dereferences the missing type.
				if v.Variable == nil || v.Variable.Name == nil || !typed(v.Type) {
					return errorf("INVALID_QUERY", "every variable needs a name and a type")
				}
				if v.DefaultValue != nil {
					if err := s.value(v.DefaultValue, 1); err != nil {
						return err
					}
				}
			}
			if err := s.directives(x.Directives, 1); err != nil {
				return err
			}
			h, n, err = s.set(x.SelectionSet)
		case *ast.FragmentDefinition:
			h, n, err = s.fragment(x.Name.Value)
		}
		if err != nil {
			return err
		}
		if h > s.max {
			return s.tooDeep()
		}
		if total = s.add(total, n); total > l.MaxFields {
			return s.tooManyFields()
		}
	}
	// Now that no fragment spreads itself and the fields are few, each selection set
	// can be walked with its fragments spread.
	for _, d := range doc.Definitions {
		switch x := d.(type) {
		case *ast.OperationDefinition:
			if err := s.merge([]*ast.SelectionSet{x.SelectionSet}); err != nil {
				return err
			}
		case *ast.FragmentDefinition:
			if err := s.merge([]*ast.SelectionSet{x.SelectionSet}); err != nil {
				return err
			}
		}
	}
	return nil
}

// typed reports whether a type reference is complete: a name, possibly wrapped in
// lists and non-nulls.
func typed(t ast.Type) bool {
	for depth := 0; depth < 64; depth++ {
		switch x := t.(type) {
		case *ast.Named:
			return x != nil && x.Name != nil && x.Name.Value != ""
		case *ast.List:
			if x == nil {
				return false
			}
			t = x.Type
		case *ast.NonNull:
			if x == nil {
				return false
			}
			t = x.Type
		default:
			return false
		}
	}
	return false
}

// docShape measures one document; fragments' heights and field counts are computed once
// each, so a fragment spread many times costs once.
type docShape struct {
	max       int
	limits    Limits
	fragments map[string]*ast.FragmentDefinition
	height    map[string]int
	fields    map[string]int // a fragment's fields, its own spreads spread, saturating
	state     map[string]int // 1 while a fragment is being measured, 2 once done
	path      []string       // the fragments being measured, outermost first
	values    int            // list items and object fields of the literal values so far
	// open counts the selection sets being measured, nested in one another: a path
	// that long exists in the document, so past max it is refused at once rather
	// than measured to its end (a chain of thousands of fragments each spreading the
	// next is short text).
	open int
}

func (s *docShape) tooDeep() error {
	return errorf("INVALID_QUERY", "the query nests deeper than %d levels", s.max)
}

func (s *docShape) tooManyFields() error {
	return errorf("INVALID_QUERY", "the query has more than %d fields and directives, counting a fragment's every time it is spread", s.limits.MaxFields)
}

// add is a+b, saturating just past MaxFields: a fragment spread twice in a fragment
// spread twice … would overflow an int after 63 levels.
func (s *docShape) add(a, b int) int {
	return min(a+b, s.limits.MaxFields+1)
}

// fragment is the height of a fragment's selection set and its fields, or the cycle it
// is part of.
func (s *docShape) fragment(name string) (int, int, error) {
	switch s.state[name] {
	case 2:
		return s.height[name], s.fields[name], nil
	case 1:
		cycle := name
		for i := len(s.path) - 1; i >= 0 && s.path[i] != name; i-- {
			cycle = s.path[i] + " → " + cycle
		}
		return 0, 0, errorf("INVALID_QUERY", "fragment %q spreads itself (%s → %s)", name, name, cycle)
	}
	f := s.fragments[name]
	if f == nil {
		return 0, 0, nil // validation reports the unknown fragment
	}
	s.state[name] = 1
	s.path = append(s.path, name)
	if err := s.directives(f.Directives, 1); err != nil {
		return 0, 0, err
	}
	h, n, err := s.set(f.SelectionSet)
	if err != nil {
		return 0, 0, err
	}
	s.path = s.path[:len(s.path)-1]
	s.state[name], s.height[name], s.fields[name] = 2, h, n
	return h, n, nil
}

// set is the height of a selection set (1, plus the highest of its selections) and its
// fields, fragments spread.
func (s *docShape) set(set *ast.SelectionSet) (int, int, error) {
	if set == nil {
		return 0, 0, nil
	}
	s.open++
	defer func() { s.open-- }()
	if s.open > s.max {
		return 0, 0, s.tooDeep()
	}
	inner, fields := 0, 0
	for _, sel := range set.Selections {
		var h, n int
		var err error
		switch x := sel.(type) {
		case *ast.Field:
			if len(x.Arguments) > s.limits.MaxArguments {
				return 0, 0, s.tooManyArguments()
			}
			for _, a := range x.Arguments {
				if err := s.value(a.Value, 1); err != nil {
					return 0, 0, err
				}
			}
			if err = s.directives(x.Directives, 1); err == nil {
				h, n, err = s.set(x.SelectionSet)
				n = s.add(n, 1+len(x.Directives))
			}
		case *ast.InlineFragment:
			if err = s.directives(x.Directives, 1); err == nil {
				h, n, err = s.set(x.SelectionSet)
				n = s.add(n, len(x.Directives))
			}
		case *ast.FragmentSpread:
			if err = s.directives(x.Directives, 1); err == nil && x.Name != nil {
				h, n, err = s.fragment(x.Name.Value)
				n = s.add(n, len(x.Directives))
			}
		}
		if err != nil {
			return 0, 0, err
		}
		// A fragment measured before may be spread deep down: this set is level
		// s.open of the definition being measured.
		if s.open+h > s.max {
			return 0, 0, s.tooDeep()
		}
		inner = max(inner, h)
		if fields = s.add(fields, n); fields > s.limits.MaxFields {
			return 0, 0, s.tooManyFields()
		}
	}
	return inner + 1, fields, nil
}

func (s *docShape) tooManyArguments() error {
	return errorf("INVALID_QUERY", "a field, directive or operation (its variables) of the query has more than %d arguments", s.limits.MaxArguments)
}

// merge checks the fields that answer in one object: the fields of sets (one selection
// set, or the sub-selections of fields merged into one), their inline fragments and the
// fragments they spread, grouped by response name. A group may hold at most
// MaxSameName fields, which must be one field with the same arguments (GraphQL's
// "field selection merging"); the sub-selections of each group are merged in turn.
// graphql-go compares the fields of a group pairwise and reports each pair that
// differs; here each is compared once with the first. The walk visits each field once
// per time it is spread, which checkShape has bounded by MaxFields.
func (s *docShape) merge(sets []*ast.SelectionSet) error {
	groups := map[string][]*ast.Field{}
	var order []string
	// A fragment spread twice into one object adds nothing the first did not
	// (graphql-go compares it once too).
	spread := map[string]bool{}
	var collect func(set *ast.SelectionSet) error
	collect = func(set *ast.SelectionSet) error {
		if set == nil {
			return nil
		}
		for _, sel := range set.Selections {
			switch x := sel.(type) {
			case *ast.Field:
				name := x.Name.Value
				if x.Alias != nil {
					name = x.Alias.Value
				}
				if groups[name] == nil {
					order = append(order, name)
				}
				groups[name] = append(groups[name], x)
				if len(groups[name]) > s.limits.MaxSameName {
					return errorf("INVALID_QUERY", "the query asks for %q more than %d times in one selection set (fragments spread)", name, s.limits.MaxSameName)
				}
			case *ast.InlineFragment:
				if err := collect(x.SelectionSet); err != nil {
					return err
				}
			case *ast.FragmentSpread:
				if f := s.fragments[x.Name.Value]; f != nil && !spread[x.Name.Value] {
					spread[x.Name.Value] = true
					if err := collect(f.SelectionSet); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, set := range sets {
		if err := collect(set); err != nil {
			return err
		}
	}
	for _, name := range order {
		fields := groups[name]
		first := fields[0]
		var subs []*ast.SelectionSet
		for _, f := range fields {
			if f.Name.Value != first.Name.Value {
				return errorf("INVALID_QUERY", "fields %q conflict because %s and %s are different fields; use different aliases on the fields to fetch both", name, first.Name.Value, f.Name.Value)
			}
			if !sameArguments(first.Arguments, f.Arguments) {
				return errorf("INVALID_QUERY", "fields %q conflict because they have differing arguments; use different aliases on the fields to fetch both", name)
			}
			if f.SelectionSet != nil {
				subs = append(subs, f.SelectionSet)
			}
		}
		if len(subs) > 0 {
			if err := s.merge(subs); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameArguments is graphql-go's test of two fields' arguments: as many, and each of a
// named in b with the same value.
func sameArguments(a, b []*ast.Argument) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x.Name.Value == y.Name.Value {
				found = sameValue(x.Value, y.Value)
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sameValue reports whether two values are written alike, as graphql-go compares them
// (by their printed text, so an object's fields in the same order).
func sameValue(a, b ast.Value) bool {
	switch x := a.(type) {
	case *ast.Variable:
		y, ok := b.(*ast.Variable)
		return ok && x.Name.Value == y.Name.Value
	case *ast.IntValue:
		y, ok := b.(*ast.IntValue)
		return ok && x.Value == y.Value
	case *ast.FloatValue:
		y, ok := b.(*ast.FloatValue)
		return ok && x.Value == y.Value
	case *ast.StringValue:
		y, ok := b.(*ast.StringValue)
		return ok && x.Value == y.Value
	case *ast.BooleanValue:
		y, ok := b.(*ast.BooleanValue)
		return ok && x.Value == y.Value
	case *ast.EnumValue:
		y, ok := b.(*ast.EnumValue)
		return ok && x.Value == y.Value
	case *ast.ListValue:
		y, ok := b.(*ast.ListValue)
		if !ok || len(x.Values) != len(y.Values) {
			return false
		}
		for i := range x.Values {
			if !sameValue(x.Values[i], y.Values[i]) {
				return false
			}
		}
		return true
	case *ast.ObjectValue:
		y, ok := b.(*ast.ObjectValue)
		if !ok || len(x.Fields) != len(y.Fields) {
			return false
		}
		for i := range x.Fields {
			if x.Fields[i].Name.Value != y.Fields[i].Name.Value || !sameValue(x.Fields[i].Value, y.Fields[i].Value) {
				return false
			}
		}
		return true
	}
	return false
}

func (s *docShape) directives(ds []*ast.Directive, depth int) error {
	for _, d := range ds {
		if len(d.Arguments) > s.limits.MaxArguments {
			return s.tooManyArguments()
		}
		for _, a := range d.Arguments {
			if err := s.value(a.Value, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// value refuses list and object values nested deeper than max, or more of them than
// MaxValues.
func (s *docShape) value(v ast.Value, depth int) error {
	var kids []ast.Value
	switch x := v.(type) {
	case *ast.ListValue:
		kids = x.Values
	case *ast.ObjectValue:
		for _, f := range x.Fields {
			kids = append(kids, f.Value)
		}
	default:
		return nil
	}
	if depth > s.max {
		return s.tooDeep()
	}
	// graphql-go prints an argument it finds invalid into its error, and its printer
	// takes time in the square of a list's length (1,000 items took 0.8 s).
	if s.values += len(kids); s.values > s.limits.MaxValues {
		return errorf("INVALID_QUERY", "the query's arguments hold more than %d list items and object fields in all; send long lists as variables", s.limits.MaxValues)
	}
	for _, k := range kids {
		if err := s.value(k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkVariableNesting refuses variables whose lists and objects nest deeper than max:
// graphql-go coerces them recursively, as it does literal values.
func checkVariableNesting(vars map[string]any, max int) error {
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		switch x := v.(type) {
		case map[string]any:
			if depth > max {
				return false
			}
			for _, e := range x {
				if !walk(e, depth+1) {
					return false
				}
			}
		case []any:
			if depth > max {
				return false
			}
			for _, e := range x {
				if !walk(e, depth+1) {
					return false
				}
			}
		}
		return true
	}
	for _, v := range vars {
		if !walk(v, 1) {
			return errorf("INVALID_QUERY", "the variables nest deeper than %d levels", max)
		}
	}
	return nil
}
