package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/schema"
	"strings"
)

// Decode reads a JSON body strictly: unknown fields are an error, never ignored.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apierr.InvalidPayload("body", "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return ae // a value's own check (a column's type, say)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return apierr.InvalidPayload(te.Field, "%s must be of type %s", te.Field, te.Type)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			return apierr.InvalidPayload(name, "unknown field %q", name)
		}
		return apierr.InvalidPayload("body", "invalid JSON body: %v", err)
	}
	if dec.More() {
		return apierr.InvalidPayload("body", "the body must be a single JSON value")
	}
	return nil
}

// TablePatch is a PATCH /tables/{table} body.
type TablePatch struct {
	Name            *string         `json:"name,omitempty"`
	Description     *string         `json:"description,omitempty"`
	DisplayTemplate *string         `json:"display_template,omitempty"`
	Label           *string         `json:"label,omitempty"`
	Accountability  *string         `json:"accountability,omitempty"`
	Permissions     json.RawMessage `json:"permissions,omitempty"`
}

// TableChanges turns a table patch into changes: a rename, a description, or both.
func TableChanges(table string, in TablePatch) ([]schema.Change, error) {
	var out []schema.Change
	if in.Name != nil && *in.Name != table {
		out = append(out, schema.Change{Type: schema.RenameTable, Table: table, NewName: *in.Name})
		table = *in.Name
	}
	if in.Description != nil || in.DisplayTemplate != nil || in.Label != nil || in.Accountability != nil {
		out = append(out, schema.Change{Type: schema.AlterTable, Table: table, Description: in.Description, DisplayTemplate: in.DisplayTemplate, Label: in.Label,
			Accountability: in.Accountability})
	}
	if len(out) == 0 && len(in.Permissions) == 0 {
		return nil, apierr.InvalidPayload("body", "nothing to change: send name, description, label, display_template, accountability or permissions")
	}
	return out, nil
}

// ColumnChanges merges a partial column body over the current definition and
// returns a rename and/or an alter.
func ColumnChanges(m *schema.Model, table, column string, body []byte) ([]schema.Change, error) {
	t := m.Table(table)
	if t == nil {
		return nil, apierr.NotFound("table %q not found", table)
	}
	cur := t.Column(column)
	if cur == nil {
		return nil, apierr.NotFound("column %q not found", table+"."+column)
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil || patch == nil {
		return nil, apierr.InvalidPayload("body", "a JSON object is required")
	}
	allowed := map[string]bool{"name": true, "type": true, "length": true, "precision": true, "scale": true, "values": true,
		"nullable": true, "unique": true, "index": true, "default": true, "description": true}
	base, _ := json.Marshal(Column{Name: cur.Name, Type: cur.Type, Length: cur.Length, Precision: cur.Precision, Scale: cur.Scale,
		Values: cur.Values, Nullable: &cur.Nullable, Unique: cur.Unique, Index: cur.Index, Default: cur.Default, Description: cur.Description})
	var merged map[string]json.RawMessage
	_ = json.Unmarshal(base, &merged)
	for k, v := range patch {
		if !allowed[k] {
			return nil, apierr.InvalidPayload(k, "unknown column property %q", k)
		}
		merged[k] = v
	}
	if _, ok := patch["type"]; ok {
		// A new type starts from its own defaults unless sizes are given with it.
		for _, k := range []string{"length", "precision", "scale"} {
			if _, given := patch[k]; !given {
				delete(merged, k)
			}
		}
	}
	raw, _ := json.Marshal(merged)
	var in Column
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, apierr.InvalidPayload("body", "invalid column: %v", err)
	}
	def := in.Schema()
	var out []schema.Change
	if def.Name != cur.Name {
		out = append(out, schema.Change{Type: schema.RenameColumn, Table: table, Column: cur.Name, NewName: def.Name})
	}
	def.Name = cur.Name
	if len(patch) > 1 || (len(patch) == 1 && patch["name"] == nil) {
		name := cur.Name
		if len(out) > 0 {
			name = out[0].NewName
		}
		def.Name = name
		out = append(out, schema.Change{Type: schema.AlterColumn, Table: table, Column: name, Def: &def})
	}
	if len(out) == 0 {
		return nil, apierr.InvalidPayload("body", "nothing to change")
	}
	return out, nil
}

// Index is an index as clients send it.
type Index struct {
	Name    string   `json:"name,omitempty"`
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique,omitempty"`
}

// StepError names the input entry of a step the model refuses.
func StepError(i int, st Step, err error) error {
	var fe *schema.FieldError
	var nf *schema.NotFoundError
	field := st.At
	if field == "" {
		field = "body"
	}
	switch {
	case errors.As(err, &fe):
		return apierr.InvalidPayload(field, "%s: step %d (%s): %s", field, i+1, migration.DefaultName(st.Change), fe.Error())
	case errors.As(err, &nf):
		return apierr.InvalidPayload(field, "%s: step %d (%s): %s", field, i+1, migration.DefaultName(st.Change), nf.Error())
	}
	return err
}

// PlannedStep is one step of an apply as dialect d would run it: the change resolved
// (ids, names), its SQL, and what it removes.
type PlannedStep struct {
	At      string
	Change  schema.Change
	UpSQL   string
	Removal schema.Removal
}

// PlanIn resolves and plans steps in order on dialect d, each against the model the
// ones before it leave (m first); a step the model refuses is named by StepError.
func PlanIn(m *schema.Model, d schema.Dialect, steps []Step, gen schema.IDGen) ([]PlannedStep, error) {
	out := make([]PlannedStep, 0, len(steps))
	model := m
	for i, st := range steps {
		after, resolved, err := schema.Apply(model, st.Change, gen)
		if err != nil {
			return nil, StepError(i, st, err)
		}
		plan, err := d.Plan(model, resolved)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", st.At, err)
		}
		out = append(out, PlannedStep{At: st.At, Change: resolved, UpSQL: plan.UpSQL(), Removal: schema.Removals(model, resolved)})
		model = after
	}
	return out, nil
}
