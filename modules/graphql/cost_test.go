package graphql

import (
	"fmt"
	"strings"
)

// costlyDocuments are documents that graphql-go's validator took seconds over, each
// within MaxQueryBytes and the nesting bound, most of them from anonymous callers (the
// validator runs before any limit that looks at the schema): its rules compare fields
// pairwise, suggest names by edit distance and locate every error by scanning the whole
// text again.
func costlyDocuments() []struct{ name, query string } {
	fill := func(prefix, item, suffix string, size int) string {
		var b strings.Builder
		b.WriteString(prefix)
		for i := 0; b.Len()+len(item)+len(suffix)+8 < size; i++ {
			b.WriteString(strings.ReplaceAll(item, "%d", fmt.Sprint(i)))
		}
		b.WriteString(suffix)
		return b.String()
	}
	var fanOut strings.Builder
	fanOut.WriteString("{ ...F0 }")
	for i := range 20 {
		fmt.Fprintf(&fanOut, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
	}
	fanOut.WriteString(" fragment F20 on Query { posts { id } }")
	const size = 60 << 10
	return []struct{ name, query string }{
		{"300 same-name fields, different arguments", fill("{ ", "posts(limit: %d) { id } ", "}", 7<<10)},
		{"same-name fields, different arguments, nested", "{ posts { " + fill("", "comments(limit: %d) { id } ", "", 7<<10) + "} }"},
		{"60 KB of one field repeated", fill("{ ", "posts { id } ", "}", size)},
		{"60 KB of unknown fields with arguments", fill("{ ", "nope(x: 1) ", "}", size)},
		{"60 KB of aliases with unknown arguments", fill("{ ", "a%d: posts(bogus: 1) { id } ", "}", size)},
		{"fragment fan-out (2^20)", fanOut.String()},
		{"one 60 KB unknown name", "{ " + strings.Repeat("a", size) + " }"},
		{"60 KB of unused variables", fill("query(", "$v%d: Int ", ") { posts { id } }", size)},
		{"60 KB of unused fragments", fill("{ posts { id } } ", "fragment F%d on Query { posts { id } } ", "", size)},
		{"60 KB of operations spreading one fragment", fill("fragment F on Query { posts { id title views author { name } } } ", "query Q%d { ...F } ", "", size)},
		{"60 KB of directives", fill("{ posts ", "@skip(if: false) ", "{ id } }", size)},
		{"60 KB of unknown arguments", fill("{ posts(", "a%d: 1 ", ") { id } }", size)},
		{"60 KB of input object fields", fill("{ posts(filter: {", "a%d: 1 ", "}) { id } }", size)},
	}
}

// atTheLimits are documents just inside the limits, each as costly for the validator
// as they can be made: they must still be validated quickly.
func atTheLimits() []struct{ name, query string } {
	l := Limits{}.WithDefaults()
	many := func(n int, item string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(strings.ReplaceAll(item, "%d", fmt.Sprint(i)))
		}
		return b.String()
	}
	long := strings.Repeat("x", l.MaxNameBytes)
	vars := many(l.MaxArguments, "$v%d: Int ")
	return []struct{ name, query string }{
		{"fields: distinct unknown names, 256 bytes long", "{" + many(240, "\n"+long[4:]+"%d") + "}"},
		{"fields: valid, aliased", "{" + many(l.MaxFields/2-1, "\na%d: posts { id }") + "}"},
		{"same name: the limit, merged a level down", "{" + many(l.MaxSameName, "\nposts(limit: 1) { "+"comments(limit: 2) { id } "+"}") + "}"},
		{"unused fragments", "{ posts { id } }" + many(1500, "\nfragment F%d on Query { __typename }")},
		{"unused variables, undefined variables", "query(" + vars + ") {" + many(l.MaxFields/2-1, "\na%d: posts(limit: $u) { id }") + "}"},
		{"values: invalid, in one list", "{ posts(sort: [" + many(l.MaxValues, "%d, ") + "]) { id } }"},
		{"values: invalid, in one object", "{ posts(filter: {" + many(l.MaxValues, "a%d: 1 ") + "}) { id } }"},
		{"arguments: unknown, long", "{" + many(3, "\na%d: posts("+many(l.MaxArguments, long[4:]+"%d: 1 ")+") { id }") + "}"},
	}
}
