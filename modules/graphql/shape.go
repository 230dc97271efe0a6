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

// scanNesting refuses a document whose brackets ({ [ () nest deeper than max, reading
// the text as graphql-go's lexer does: brackets inside strings, block strings and
// comments do not count. Unbalanced text is left to the parser to report.
func scanNesting(q string, max int) error {
	depth := 0
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '{', '[', '(':
			depth++
			if depth > max {
				return errorf("INVALID_QUERY", "the query's brackets nest deeper than %d levels", max)
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
// whose fragments spread each other in a cycle, or that nests deeper than max: its
// selection sets as they nest once fragments are spread (a spread adds its fragment's
// selection set), and the list and object values of its arguments, directives and
// variables' defaults.
func checkShape(doc *ast.Document, max int) error {
	s := &docShape{max: max, fragments: map[string]*ast.FragmentDefinition{}, height: map[string]int{}, state: map[string]int{}}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok && f.Name != nil {
			if s.fragments[f.Name.Value] != nil {
				return errorf("INVALID_QUERY", "there are two fragments named %q", f.Name.Value)
			}
			s.fragments[f.Name.Value] = f
		}
	}
	for _, d := range doc.Definitions {
		var h int
		var err error
		switch x := d.(type) {
		case *ast.OperationDefinition:
			for _, v := range x.VariableDefinitions {
				if v.DefaultValue != nil {
					if err := s.value(v.DefaultValue, 1); err != nil {
						return err
					}
				}
			}
			if err := s.directives(x.Directives, 1); err != nil {
				return err
			}
			h, err = s.set(x.SelectionSet)
		case *ast.FragmentDefinition:
			h, err = s.fragment(x.Name.Value)
		}
		if err != nil {
			return err
		}
		if h > max {
			return s.tooDeep()
		}
	}
	return nil
}

// docShape measures one document; fragments' heights are computed once each, so a
// fragment spread many times costs once.
type docShape struct {
	max       int
	fragments map[string]*ast.FragmentDefinition
	height    map[string]int
	state     map[string]int // 1 while a fragment is being measured, 2 once done
	path      []string       // the fragments being measured, outermost first
	// open counts the selection sets being measured, nested in one another: a path
	// that long exists in the document, so past max it is refused at once rather
	// than measured to its end (a chain of thousands of fragments each spreading the
	// next is short text).
	open int
}

func (s *docShape) tooDeep() error {
	return errorf("INVALID_QUERY", "the query nests deeper than %d levels", s.max)
}

// fragment is the height of a fragment's selection set, or the cycle it is part of.
func (s *docShape) fragment(name string) (int, error) {
	switch s.state[name] {
	case 2:
		return s.height[name], nil
	case 1:
		cycle := name
		for i := len(s.path) - 1; i >= 0 && s.path[i] != name; i-- {
			cycle = s.path[i] + " → " + cycle
		}
		return 0, errorf("INVALID_QUERY", "fragment %q spreads itself (%s → %s)", name, name, cycle)
	}
	f := s.fragments[name]
	if f == nil {
		return 0, nil // validation reports the unknown fragment
	}
	s.state[name] = 1
	s.path = append(s.path, name)
	if err := s.directives(f.Directives, 1); err != nil {
		return 0, err
	}
	h, err := s.set(f.SelectionSet)
	if err != nil {
		return 0, err
	}
	s.path = s.path[:len(s.path)-1]
	s.state[name], s.height[name] = 2, h
	return h, nil
}

// set is the height of a selection set: 1, plus the highest of its selections.
func (s *docShape) set(set *ast.SelectionSet) (int, error) {
	if set == nil {
		return 0, nil
	}
	s.open++
	defer func() { s.open-- }()
	if s.open > s.max {
		return 0, s.tooDeep()
	}
	inner := 0
	for _, sel := range set.Selections {
		var h int
		var err error
		switch x := sel.(type) {
		case *ast.Field:
			for _, a := range x.Arguments {
				if err := s.value(a.Value, 1); err != nil {
					return 0, err
				}
			}
			if err = s.directives(x.Directives, 1); err == nil {
				h, err = s.set(x.SelectionSet)
			}
		case *ast.InlineFragment:
			if err = s.directives(x.Directives, 1); err == nil {
				h, err = s.set(x.SelectionSet)
			}
		case *ast.FragmentSpread:
			if err = s.directives(x.Directives, 1); err == nil && x.Name != nil {
				h, err = s.fragment(x.Name.Value)
			}
		}
		if err != nil {
			return 0, err
		}
		// A fragment measured before may be spread deep down: this set is level
		// s.open of the definition being measured.
		if s.open+h > s.max {
			return 0, s.tooDeep()
		}
		inner = max(inner, h)
	}
	return inner + 1, nil
}

func (s *docShape) directives(ds []*ast.Directive, depth int) error {
	for _, d := range ds {
		for _, a := range d.Arguments {
			if err := s.value(a.Value, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// value refuses list and object values nested deeper than max.
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
