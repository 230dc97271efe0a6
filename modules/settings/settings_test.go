package settings

import (
	"slices"
	"testing"
)

func TestOriginList(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string // nil: refused
	}{
		{[]string{"https://app.example.com"}, []string{"https://app.example.com"}},
		{[]string{" https://App.Example.com/ ", "http://localhost:5173", "*"}, []string{"https://app.example.com", "http://localhost:5173", "*"}},
		{[]string{"https://a.example.com", "https://A.example.com/"}, []string{"https://a.example.com"}},
		{[]string{}, []string{}},
		{[]string{"not a url"}, nil},
		{[]string{"app.example.com"}, nil},
		{[]string{"ftp://app.example.com"}, nil},
		{[]string{"https://app.example.com/path"}, nil},
		{[]string{"https://app.example.com?x=1"}, nil},
		{[]string{"https://user@app.example.com"}, nil},
		{[]string{"https://"}, nil},
	} {
		got, err := OriginList(c.in)
		if c.want == nil {
			if err == nil {
				t.Errorf("%q: accepted as %q", c.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %q %v, want %q", c.in, got, err, c.want)
		}
	}
	many := make([]string, MaxCORSOrigins+1)
	for i := range many {
		many[i] = "*"
	}
	if _, err := OriginList(many); err == nil {
		t.Error("more than the bound of origins accepted")
	}
}
