package schema

import (
	"regexp"
	"strings"
)

// MaxDisplayTemplate bounds a display template (it is stored in a varchar(255)).
const MaxDisplayTemplate = 255

// templateField matches one {{field}} of a display template.
var templateField = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// TemplateFields lists the fields a display template names, in order.
func TemplateFields(tpl string) []string {
	var out []string
	for _, m := range templateField.FindAllStringSubmatch(tpl, -1) {
		out = append(out, m[1])
	}
	return out
}

// ValidateDisplayTemplate checks a template for table: bounded, and each {{field}} a
// column of the table, so a typo is refused when it is written, not shown blank later.
func ValidateDisplayTemplate(field string, t *Table, tpl string) error {
	if tpl == "" {
		return nil
	}
	if len(tpl) > MaxDisplayTemplate {
		return fieldErr(field, "at most %d characters", MaxDisplayTemplate)
	}
	names := TemplateFields(tpl)
	if len(names) == 0 {
		return fieldErr(field, "names no field: write fields as {{column}}")
	}
	if strings.Count(tpl, "{{") != len(names) {
		return fieldErr(field, "has an unclosed or empty {{ }}")
	}
	for _, n := range names {
		if t.Column(n) == nil {
			return fieldErr(field, "table %q has no column %q", t.Name, n)
		}
	}
	return nil
}

// renameInTemplate follows a column rename in a display template.
func renameInTemplate(tpl, from, to string) string {
	if tpl == "" {
		return tpl
	}
	return templateField.ReplaceAllStringFunc(tpl, func(m string) string {
		if templateField.FindStringSubmatch(m)[1] == from {
			return "{{" + to + "}}"
		}
		return m
	})
}
