package query

import (
	"reflect"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	cases := []struct {
		name string
		in   Params
		want Params
		err  string
	}{
		{"plain stays", Params{"fields": {"a,b"}, "limit": {"5"}}, Params{"fields": {"a,b"}, "limit": {"5"}}, ""},
		{"fields[]", Params{"fields[]": {"title", "views"}}, Params{"fields": {"title,views"}}, ""},
		{"fields[n] in index order", Params{"fields[1]": {"views"}, "fields[0]": {"title"}, "fields[10]": {"id"}}, Params{"fields": {"title,views,id"}}, ""},
		{"repeated fields", Params{"fields": {"title", "views"}}, Params{"fields": {"title,views"}}, ""},
		{"sort[]", Params{"sort[]": {"-views", "title"}}, Params{"sort": {"-views,title"}}, ""},
		{"groupBy[]", Params{"groupBy[]": {"published"}}, Params{"groupBy": {"published"}}, ""},
		{"meta[]", Params{"meta[]": {"total_count"}}, Params{"meta": {"total_count"}}, ""},
		{"aggregate[sum]", Params{"aggregate[sum]": {"views"}}, Params{"aggregate": {`{"sum":"views"}`}}, ""},
		{"aggregate[sum][]", Params{"aggregate[sum][]": {"views", "likes"}, "aggregate[count]": {"*"}}, Params{"aggregate": {`{"count":"*","sum":["views","likes"]}`}}, ""},
		{"deep", Params{"deep[author][_limit]": {"1"}, "deep[author][_sort][]": {"-id"}}, Params{"deep": {`{"author":{"_limit":"1","_sort":["-id"]}}`}}, ""},
		{"filter and", Params{"filter[_and][0][views][_gt]": {"5"}, "filter[_and][1][title][_in][]": {"a", "b"}},
			Params{"filter": {`{"_and":[{"views":{"_gt":"5"}},{"title":{"_in":["a","b"]}}]}`}}, ""},
		{"big index is a key", Params{"filter[x][5000]": {"1"}}, Params{"filter": {`{"x":{"5000":"1"}}`}}, ""},
		{"unknown left alone", Params{"_": {"123"}, "foo[bar]": {"x"}, "access_token": {"t"}}, Params{"_": {"123"}, "foo[bar]": {"x"}, "access_token": {"t"}}, ""},
		{"same limit twice", Params{"limit": {"5", "5"}}, Params{"limit": {"5"}}, ""},
		{"different limits", Params{"limit": {"5", "6"}}, nil, "given 2 times"},
		{"limit in brackets", Params{"limit[a]": {"5"}}, nil, "takes one value"},
		{"object for a list", Params{"fields[a]": {"x"}}, nil, "must be a list"},
		{"both forms", Params{"filter": {`{}`}, "filter[a][_eq]": {"1"}}, nil, "one form"},
		{"alias refused", Params{"alias[x]": {"title"}}, nil, "alias is not supported"},
		{"export refused", Params{"export": {"csv"}}, nil, "export is not supported"},
		{"malformed", Params{"deep[a": {"1"}}, nil, "malformed"},
		{"malformed tail", Params{"deep[a]x": {"1"}}, nil, "malformed"},
		{"empty inner", Params{"deep[][a]": {"1"}}, nil, "empty bracket"},
		{"value and object", Params{"deep[a]": {"1"}, "deep[a][b]": {"2"}}, nil, "both a value and an object"},
		{"too deep", Params{"filter" + strings.Repeat("[a]", 50): {"1"}}, nil, "nests deeper than 40 brackets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Canonical(c.in, 40)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add("deep[a][_limit]", "1", "fields[]", "x")
	f.Add("filter[_and][0][a][_eq]", "1", "filter[_and][1][b][_eq]", "2")
	f.Add("sort[3]", "a", "sort[]", "b")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		p, err := Canonical(Params{k1: {v1}, k2: {v2}}, 12)
		if err != nil {
			return
		}
		for k := range p {
			if kind := queryParams[paramName(k)]; kind != 0 && k != paramName(k) {
				t.Fatalf("bracket key %q survived", k)
			}
		}
	})
}
