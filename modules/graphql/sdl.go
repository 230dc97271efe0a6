package graphql

import (
	"fmt"
	"slices"
	"strings"

	gql "github.com/graphql-go/graphql"
)

// builtIn are the types every GraphQL schema has, which SDL leaves out.
var builtIn = map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}

// printSDL renders a schema in the schema definition language, types sorted by name
// (graphql-go has no printer).
func printSDL(s *gql.Schema) string {
	var b strings.Builder
	names := make([]string, 0, len(s.TypeMap()))
	for name := range s.TypeMap() {
		if !builtIn[name] && !strings.HasPrefix(name, "__") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		switch t := s.TypeMap()[name].(type) {
		case *gql.Scalar:
			description(&b, t.Description(), "")
			fmt.Fprintf(&b, "scalar %s\n\n", t.Name())
		case *gql.Enum:
			description(&b, t.Description(), "")
			fmt.Fprintf(&b, "enum %s {\n", t.Name())
			for _, v := range t.Values() {
				fmt.Fprintf(&b, "  %s\n", v.Name)
			}
			b.WriteString("}\n\n")
		case *gql.InputObject:
			description(&b, t.Description(), "")
			fmt.Fprintf(&b, "input %s {\n", t.Name())
			fields := t.Fields()
			for _, fn := range sortedKeys(fields) {
				f := fields[fn]
				description(&b, f.Description(), "  ")
				fmt.Fprintf(&b, "  %s: %s\n", fn, f.Type.String())
			}
			b.WriteString("}\n\n")
		case *gql.Object:
			description(&b, t.Description(), "")
			fmt.Fprintf(&b, "type %s {\n", t.Name())
			fields := t.Fields()
			for _, fn := range sortedKeys(fields) {
				f := fields[fn]
				description(&b, f.Description, "  ")
				fmt.Fprintf(&b, "  %s%s: %s\n", fn, printArgs(f.Args), f.Type.String())
			}
			b.WriteString("}\n\n")
		}
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func printArgs(args []*gql.Argument) string {
	if len(args) == 0 {
		return ""
	}
	sorted := slices.Clone(args)
	slices.SortFunc(sorted, func(a, b *gql.Argument) int { return strings.Compare(a.Name(), b.Name()) })
	parts := make([]string, len(sorted))
	for i, a := range sorted {
		parts[i] = a.Name() + ": " + a.Type.String()
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// description writes a block string; triple quotes inside are escaped as the spec says.
func description(b *strings.Builder, text, indent string) {
	if text == "" {
		return
	}
	text = strings.ReplaceAll(text, `"""`, `\"""`)
	fmt.Fprintf(b, "%s\"\"\"%s\"\"\"\n", indent, text)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
