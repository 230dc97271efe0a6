package query

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Params is a query string: each key with its values in the order they came.
type Params map[string][]string

func (p Params) get(k string) string {
	if v := p[k]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// paramKind is how a query parameter's value reads.
type paramKind int

const (
	scalarParam  paramKind = iota + 1 // one value: limit=20
	listParam                         // a comma-separated list or an array: fields=a,b or fields[]=a&fields[]=b
	objectParam                       // JSON or bracket form: deep={"a":{…}} or deep[a][_limit]=1
	refusedParam                      // a Directus parameter Strata does not serve
)

// queryParams are the parameters Directus reads on a collection, with how each reads.
// Parameters outside this list are not Directus's and are left alone, as Directus
// leaves them (a cache-busting _=…, the SDK's pass-through params).
var queryParams = map[string]paramKind{
	"fields": listParam, "sort": listParam, "groupBy": listParam, "meta": listParam,
	"filter": objectParam, "deep": objectParam, "aggregate": objectParam,
	"limit": scalarParam, "offset": scalarParam, "page": scalarParam, "search": scalarParam,
	"backlink": scalarParam,
	"alias":    refusedParam, "export": refusedParam, "version": refusedParam, "versionRaw": refusedParam,
}

// maxArrayIndex bounds fields[N]-style indices: a larger number reads as an object
// key, as the qs parser Directus uses does past its own limit, so sort[999999999]=x
// cannot make a sparse array of that length.
const maxArrayIndex = 1000

// Canonical folds every form a Directus client may send a parameter in into the one
// form Parse reads: lists comma-separated (fields[]=a&fields[]=b, fields[0]=a, and a
// repeated fields=a&fields=b all become fields=a,b), objects as JSON text
// (aggregate[sum]=views becomes aggregate={"sum":"views"}). A form that cannot mean
// anything (an object where a list goes, a repeated limit, both JSON and bracket form)
// is an error, never silently dropped. maxDepth bounds the brackets of one key.
func Canonical(p Params, maxDepth int) (Params, error) {
	if plainForm(p) {
		return p, nil // the usual request: nothing to fold, nothing refused
	}
	out := make(Params, len(p))
	trees := map[string]map[string]any{}
	plain := map[string][]string{}
	for _, k := range slices.Sorted(maps.Keys(p)) { // sorted: k[0] before k[], every time
		vs := p[k]
		name := paramName(k)
		kind := queryParams[name]
		if kind == 0 {
			out[k] = vs
			continue
		}
		if kind == refusedParam {
			return nil, qerr(name, "", "%s is not supported", name)
		}
		if name == k {
			plain[name] = vs
			continue
		}
		if strings.Count(k, "[") > maxDepth {
			return nil, qerr(name, "", "nests deeper than %d brackets", maxDepth)
		}
		path, err := bracketPath(name, k)
		if err != nil {
			return nil, err
		}
		if trees[name] == nil {
			trees[name] = map[string]any{}
		}
		if err := setPath(trees[name], name, k, path, vs); err != nil {
			return nil, err
		}
	}
	for name, vs := range plain {
		if trees[name] != nil {
			return nil, qerr(name, "", "send %s in one form: plain or with brackets, not both", name)
		}
		switch queryParams[name] {
		case listParam:
			out[name] = []string{strings.Join(vs, ",")}
		default:
			if len(vs) > 1 && slices.ContainsFunc(vs[1:], func(v string) bool { return v != vs[0] }) {
				return nil, qerr(name, "", "is given %d times with different values", len(vs))
			}
			out[name] = vs[:1]
		}
	}
	for name, tree := range trees {
		v := arrays(tree)
		switch queryParams[name] {
		case listParam:
			list, ok := v.([]any)
			if !ok {
				return nil, qerr(name, "", "must be a list (%s[]=…), not an object", name)
			}
			parts := make([]string, len(list))
			for i, x := range list {
				s, ok := x.(string)
				if !ok {
					return nil, qerr(name, "", "must be a list of names")
				}
				parts[i] = s
			}
			out[name] = []string{strings.Join(parts, ",")}
		case objectParam:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, qerr(name, "", "%v", err)
			}
			out[name] = []string{string(b)}
		default:
			return nil, qerr(name, "", "takes one value, not brackets")
		}
	}
	return out, nil
}

// plainForm reports whether p is already in the form Parse reads: no brackets, no key
// given twice, no refused parameter.
func plainForm(p Params) bool {
	for k, vs := range p {
		if len(vs) > 1 || strings.IndexByte(k, '[') >= 0 || queryParams[k] == refusedParam {
			return false
		}
	}
	return true
}

// paramName turns a bracket-form key into the parameter it belongs to.
func paramName(k string) string {
	if i := strings.IndexByte(k, '['); i > 0 {
		return k[:i]
	}
	return k
}

// bracketPath splits key's brackets after name: deep[a][_limit] is [a _limit], and
// fields[] is [""] (append).
func bracketPath(name, key string) ([]string, error) {
	rest := key[len(name):]
	var path []string
	for rest != "" {
		end := strings.IndexByte(rest, ']')
		if rest[0] != '[' || end < 0 || strings.IndexByte(rest[1:end], '[') >= 0 {
			return nil, qerr(name, key, "malformed bracket parameter")
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	for _, seg := range path[:len(path)-1] {
		if seg == "" {
			return nil, qerr(name, key, "empty bracket before the last")
		}
	}
	return path, nil
}

// setPath stores the values of one bracket key into tree. A final [] appends; a key
// given several times is a list, as qs reads it.
func setPath(tree map[string]any, name, key string, path []string, vs []string) error {
	cur := tree
	for _, seg := range path[:len(path)-1] {
		next, ok := cur[seg].(map[string]any)
		if !ok {
			if _, taken := cur[seg]; taken {
				return qerr(name, key, "is both a value and an object")
			}
			next = map[string]any{}
			cur[seg] = next
		}
		cur = next
	}
	last := path[len(path)-1]
	if last == "" { // k[]=a: appended in the order given, after any k[0]-style entries
		n := len(cur)
		for i, v := range vs {
			cur[strconv.Itoa(n+i)] = v
		}
		return nil
	}
	if _, taken := cur[last]; taken {
		return qerr(name, key, "is given twice")
	}
	if len(vs) == 1 {
		cur[last] = vs[0]
		return nil
	}
	list := make([]any, len(vs))
	for i, v := range vs {
		list[i] = v
	}
	cur[last] = list
	return nil
}

// arrays turns every object whose keys are all small indices into a list in index
// order, as qs does: filter[_and][0][…] is an array.
func arrays(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	idx := make([]int, 0, len(m))
	for k, x := range m {
		m[k] = arrays(x)
		if n, err := strconv.Atoi(k); idx != nil && err == nil && n >= 0 && n <= maxArrayIndex && strconv.Itoa(n) == k {
			idx = append(idx, n)
		} else {
			idx = nil
		}
	}
	if len(idx) == 0 {
		return m
	}
	slices.Sort(idx)
	list := make([]any, len(idx))
	for i, n := range idx {
		list[i] = m[strconv.Itoa(n)]
	}
	return list
}
