package query

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		now, want      []string
		added, removed []string
	}{
		{nil, nil, nil, nil},
		{[]string{"a", "b"}, []string{"b", "c"}, []string{"c"}, []string{"a"}},
		{[]string{"a"}, nil, nil, []string{"a"}},
		{nil, []string{"a", "b"}, []string{"a", "b"}, nil},
		{[]string{"a", "b"}, []string{"b", "a"}, nil, nil},
	} {
		got := Diff(c.now, c.want)
		if !reflect.DeepEqual(got.Added, c.added) || !reflect.DeepEqual(got.Removed, c.removed) {
			t.Errorf("Diff(%v, %v) = %+v, want +%v -%v", c.now, c.want, got, c.added, c.removed)
		}
	}
}

func TestLinkKeys(t *testing.T) {
	const a, b = "01a22b92-e6aa-7ae5-a7df-a82945590474", "01A22B92-E6C4-7444-9F74-5F3A4679840E"
	for _, c := range []struct {
		in   any
		want []string
		bad  bool
	}{
		{nil, nil, false},
		{[]any{}, []string{}, false},
		{[]any{a, map[string]any{"id": b}, a}, []string{a, "01a22b92-e6c4-7444-9f74-5f3a4679840e"}, false},
		{"x", nil, true},
		{[]any{1}, nil, true},
		{[]any{"not-a-uuid"}, nil, true},
		{[]any{map[string]any{"name": "x"}}, nil, true},
		{make([]any, MaxLinks+1), nil, true},
	} {
		got, err := linkKeys("tags", c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%v: accepted", c.in)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: %v %v, want %v", c.in, got, err, c.want)
		}
	}
}
