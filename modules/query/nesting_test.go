package query

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDeepInputCostsLittle: FuzzFilter stalled at 0 execs/sec because its deep seeds
// (a bracket key of 3,000 levels, 16 KB of "[") were decoded level by level before the
// parser refused them at MaxFilterDepth, which cost milliseconds per run and made every
// interesting variant take the fuzzer's whole minimizing time. They are refused on their
// text now, with a handful of allocations whatever their length.
func TestDeepInputCostsLittle(t *testing.T) {
	m := fuzzModel(t)
	r := &Resolver{Model: m, Limits: Limits{}.WithDefaults()}
	for _, c := range []struct {
		p    Params
		want string
	}{
		{Params{"filter": {deepJSON("[", "", "]", 8000)}}, "nests deeper than 36 levels"},
		{Params{"filter": {deepJSON(`{"_and":[`, `{"views":{"_null":true}}`, `]}`, 800)}}, "nests deeper than 36 levels"},
		{Params{"filter" + strings.Repeat("[_and][0]", 1500) + "[views][_eq]": {"1"}}, "nests deeper than 36 brackets"},
		{Params{"filter[" + strings.Repeat("a", 20000) + "]": {"1"}}, "name is longer than 16384 bytes"},
		{Params{"fields": {"comments.body"}, "deep": {deepJSON(`{"comments":`, `1`, `}`, 1000)}}, "nests deeper than 36 levels"},
		{Params{"aggregate": {deepJSON(`{"sum":`, `1`, `}`, 1500)}}, "nests deeper than 36 levels"},
	} {
		_, err := r.Parse(m.Table("posts"), c.p)
		var qe *Error
		if !errors.As(err, &qe) || !strings.Contains(qe.Message, c.want) {
			t.Errorf("%.60s: %.200v, want %q", fmt.Sprint(c.p), err, c.want)
		}
		if n := testing.AllocsPerRun(5, func() { _, _ = r.Parse(m.Table("posts"), c.p) }); n > 50 {
			t.Errorf("%.60s: %v allocations to refuse it", fmt.Sprint(c.p), n)
		}
	}
	// What the parsers accept still passes the text check: brackets inside strings do
	// not count, and the deepest filter MaxFilterDepth allows is well inside it.
	ok := deepJSON(`{"_or":[`, `{"title":{"_in":["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"]}}`, `]}`, 9)
	if _, err := r.Parse(m.Table("posts"), Params{"filter": {ok}}); err != nil {
		t.Errorf("deepest valid filter: %v", err)
	}
	bracket := "filter" + strings.Repeat("[_and][0]", 9) + "[title][_eq]"
	if _, err := r.Parse(m.Table("posts"), Params{bracket: {"[[x"}}); err != nil {
		t.Errorf("deepest valid bracket filter: %v", err)
	}
}
