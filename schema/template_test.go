package schema

import (
	"strings"
	"testing"
)

func TestValidateDisplayTemplate(t *testing.T) {
	tbl := &Table{Name: "authors", Columns: []Column{{Name: "id"}, {Name: "name"}, {Name: "year"}}}
	for _, tc := range []struct {
		tpl, err string
	}{
		{"", ""},
		{"{{name}}", ""},
		{"{{ name }} ({{year}})", ""},
		{"{{id}}", ""},
		{"{{nmae}}", `no column "nmae"`},
		{"plain text", "names no field"},
		{"{{name}} {{", "unclosed or empty"},
		{"{{}}", `no column ""`},
		{"{{author.name}}", `no column "author.name"`},
		{"{{name}}" + strings.Repeat("x", MaxDisplayTemplate), "at most 255"},
	} {
		err := ValidateDisplayTemplate("display_template", tbl, tc.tpl)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.tpl, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: got %v, want an error with %q", tc.tpl, err, tc.err)
		}
	}
}

func TestRenameInTemplate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{{name}}", "{{full_name}}"},
		{"{{ name }} / {{named}} / {{year}}", "{{full_name}} / {{named}} / {{year}}"},
		{"", ""},
		{"name", "name"},
	} {
		if got := renameInTemplate(tc.in, "name", "full_name"); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
