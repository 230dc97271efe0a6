package rest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/schema"
)

// snapshot is a tenant's user schema as JSON: what GET /schema/snapshot answers and
// POST /schema/apply accepts. System tables and junctions are left out (they follow).
type snapshot struct {
	Tables    []snapshotTable `json:"tables"`
	Relations []relationInput `json:"relations"`
}

type snapshotTable struct {
	Name            string         `json:"name"`
	Description     string         `json:"description,omitempty"`
	DisplayTemplate string         `json:"display_template,omitempty"`
	Columns         []columnInput  `json:"columns"`
	Indexes         []schema.Index `json:"indexes,omitempty"`
	// Checksum is the table's structural checksum (see structureChecksum), so clients
	// can compare a table with an entities file. It is output only: an edited snapshot
	// keeps a stale one, so apply ignores it.
	Checksum string `json:"checksum,omitempty"`
}

func takeSnapshot(m *schema.Model) snapshot {
	out := snapshot{Tables: []snapshotTable{}, Relations: []relationInput{}}
	for _, r := range m.Relations {
		out.Relations = append(out.Relations, relationInput{Table: r.Table, Name: r.Name, Type: r.Type, Target: r.Target, OnDelete: r.OnDelete, Inverse: r.Inverse, Junction: r.Junction})
	}
	for _, t := range m.Tables {
		if t.System || t.Junction {
			continue
		}
		st := snapshotTable{Name: t.Name, Description: t.Description, DisplayTemplate: t.DisplayTemplate, Columns: []columnInput{}}
		for _, c := range t.Columns {
			if c.System {
				continue
			}
			nullable := c.Nullable
			st.Columns = append(st.Columns, columnInput{Name: c.Name, Type: c.Type, Length: c.Length, Precision: c.Precision, Scale: c.Scale,
				Values: c.Values, Nullable: &nullable, Unique: c.Unique, Index: c.Index, Default: c.Default, Description: c.Description})
		}
		for _, ix := range t.Indexes {
			if !ix.Auto {
				st.Indexes = append(st.Indexes, schema.Index{Name: ix.Name, Columns: ix.Columns, Unique: ix.Unique})
			}
		}
		st.Checksum = structureChecksum(st, out.Relations)
		out.Tables = append(out.Tables, st)
	}
	return out
}

func (a *API) getSnapshot(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": takeSnapshot(m)})
}

// planStep is one change of an apply and the entry of the input it comes from, so that
// a refusal names the entry.
type planStep struct {
	at     string
	change schema.Change
}

// planSnapshot lists the changes that turn model m into the snapshot: new tables,
// then columns and indexes, relations that change or go, new relations, then what else
// goes (drops come last).
func planSnapshot(m *schema.Model, want snapshot) ([]planStep, error) {
	var adds, drops []planStep
	wanted := map[string]bool{}
	for i, st := range want.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		for j, ci := range st.Columns {
			if !ci.Type.Valid() {
				return nil, unknownType(fmt.Sprintf("%s.columns[%d].type", at, j), ci.Type)
			}
		}
		if wanted[st.Name] {
			return nil, apierr.InvalidPayload(at+".name", "%s.name: table %q is listed twice", at, st.Name)
		}
		wanted[st.Name] = true
		cur := m.Table(st.Name)
		if cur == nil {
			t := &schema.Table{Name: st.Name, Description: st.Description, DisplayTemplate: st.DisplayTemplate, Indexes: st.Indexes}
			for _, ci := range st.Columns {
				t.Columns = append(t.Columns, ci.column())
			}
			adds = append(adds, planStep{at, schema.Change{Type: schema.CreateTable, Create: t}})
			continue
		}
		if cur.System || cur.Junction {
			return nil, apierr.InvalidPayload(at+".name", "%s.name: %q is not a user table", at, st.Name)
		}
		have := map[string]bool{}
		for j, ci := range st.Columns {
			have[ci.Name] = true
			col := ci.column()
			cat := fmt.Sprintf("%s.columns[%d]", at, j)
			existing := cur.Column(ci.Name)
			switch {
			case existing == nil:
				adds = append(adds, planStep{cat, schema.Change{Type: schema.AddColumn, Table: st.Name, Def: &col}})
			case !existing.System && !sameDefinition(existing, &col):
				adds = append(adds, planStep{cat, schema.Change{Type: schema.AlterColumn, Table: st.Name, Column: ci.Name, Def: &col}})
			}
		}
		// After the columns: a template may name a column this apply adds.
		if alter := (schema.Change{Type: schema.AlterTable, Table: st.Name}); st.Description != cur.Description || st.DisplayTemplate != cur.DisplayTemplate {
			if st.Description != cur.Description {
				alter.Description = &st.Description
			}
			if st.DisplayTemplate != cur.DisplayTemplate {
				alter.DisplayTemplate = &st.DisplayTemplate
			}
			adds = append(adds, planStep{at + ".description", alter})
		}
		for _, c := range cur.Columns {
			if !c.System && !have[c.Name] {
				drops = append(drops, planStep{at + ".columns", schema.Change{Type: schema.DropColumn, Table: st.Name, Column: c.Name}})
			}
		}
		for j, ix := range st.Indexes {
			if cur.Index(ix.Name) == nil {
				ix := ix
				adds = append(adds, planStep{fmt.Sprintf("%s.indexes[%d]", at, j), schema.Change{Type: schema.AddIndex, Table: st.Name, Index: &ix}})
			}
		}
		for _, ix := range cur.Indexes {
			if !ix.Auto && !slices.ContainsFunc(st.Indexes, func(w schema.Index) bool { return w.Name == ix.Name }) {
				drops = append(drops, planStep{at + ".indexes", schema.Change{Type: schema.DropIndex, Table: st.Name, Column: ix.Name}})
			}
		}
	}
	var relAdds, relDrops []planStep
	for i, ri := range want.Relations {
		at := fmt.Sprintf("relations[%d]", i)
		cur := m.RelationByField(ri.Table, ri.Name)
		if cur != nil && cur.Table == ri.Table && !sameRelation(cur, ri) {
			// A relation cannot be altered in place: it goes and comes back, which
			// drops its keys and so is confirmed like any removal.
			relDrops = append(relDrops, planStep{at, schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: cur.ID}}})
			cur = nil
		}
		if cur == nil {
			r := ri.relation()
			relAdds = append(relAdds, planStep{at, schema.Change{Type: schema.AddRelation, Relation: &r}})
		}
	}
	for _, r := range m.Relations {
		if !slices.ContainsFunc(want.Relations, func(w relationInput) bool { return w.Table == r.Table && w.Name == r.Name }) {
			relDrops = append(relDrops, planStep{"relations", schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: r.ID}}})
		}
	}
	var tableDrops []planStep
	for _, t := range m.Tables {
		if !t.System && !t.Junction && !wanted[t.Name] {
			tableDrops = append(tableDrops, planStep{"tables", schema.Change{Type: schema.DropTable, Table: t.Name}})
		}
	}
	return slices.Concat(adds, relDrops, relAdds, drops, tableDrops), nil
}

// sameDefinition compares what a snapshot can say about a column.
func sameDefinition(a, b *schema.Column) bool {
	b2 := *b
	if err := schema.ValidateColumn("column", &b2, false); err != nil {
		return false // it will be refused with its reason when applied
	}
	return a.Type == b2.Type && a.Length == b2.Length && a.Precision == b2.Precision && a.Scale == b2.Scale &&
		slices.Equal(a.Values, b2.Values) && a.Nullable == b2.Nullable && a.Unique == b2.Unique && a.Index == b2.Index &&
		bytes.Equal(a.Default, b2.Default) && a.Description == b2.Description
}

// sameRelation compares what a snapshot can say about a relation; a junction left
// unnamed takes whatever name the relation has.
func sameRelation(cur *schema.Relation, want relationInput) bool {
	w := want.relation()
	return cur.Type == w.Type && cur.Target == w.Target && cur.Inverse == w.Inverse &&
		cur.OnDeleteAction() == w.OnDeleteAction() && (w.Junction == "" || w.Junction == cur.Junction)
}

func unknownType(field string, t schema.Type) error {
	known := make([]string, len(schema.AllTypes))
	for i, k := range schema.AllTypes {
		known[i] = string(k)
	}
	return apierr.InvalidPayload(field, "%s: unknown type %q (known types: %s)", field, t, strings.Join(known, ", "))
}

// applySnapshotFile applies a snapshot.json body: the difference between the tenant's
// model and the snapshot, planned and run by runPlan.
func (a *API) applySnapshotFile(c *fiber.Ctx, body []byte) error {
	var want snapshot
	if err := decodeBody(body, &want); err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	steps, err := planSnapshot(m, want)
	if err != nil {
		return err
	}
	return a.runPlan(c, m, formatSnapshot, steps, nil, nil)
}

// runPlan validates steps in order against the model each will meet, before anything
// runs, so that a refusal names the input entry at fault; then it answers the plan (dry
// run) or sends the steps down the one path as one request (Migration.ApplyAll): each
// its own migration, what they remove together confirmed once with the usual hash and
// token, and where the tenant holds changes for approval, the first held holding the
// rest (answered 202). then, when set, runs after the steps; extra is added to the answer.
func (a *API) runPlan(c *fiber.Ctx, m *schema.Model, format string, steps []planStep, extra fiber.Map, then func() error) error {
	tc := tenantOf(c)
	model := m
	planned := make([]fiber.Map, 0, len(steps))
	removal := schema.Removal{RemovedColumns: []string{}, DroppedTables: []string{}}
	for i, st := range steps {
		after, resolved, err := schema.Apply(model, st.change, a.NewID)
		if err != nil {
			return stepError(i, st, err)
		}
		plan, err := tc.db.Dialect.Plan(model, resolved)
		if err != nil {
			return fmt.Errorf("plan step %d: %w", i+1, err)
		}
		r := schema.Removals(model, resolved)
		removal.RemovedColumns = append(removal.RemovedColumns, r.RemovedColumns...)
		removal.DroppedTables = append(removal.DroppedTables, r.DroppedTables...)
		removal.RemovedRelations += r.RemovedRelations
		removal.Narrowing = append(removal.Narrowing, r.Narrowing...)
		planned = append(planned, fiber.Map{"type": resolved.Type, "name": migration.DefaultName(resolved), "up_sql": plan.UpSQL(), "destructive": !r.Empty()})
		model = after
	}
	answer := func(data fiber.Map) error {
		data["format"] = format
		for k, v := range extra {
			data[k] = v
		}
		return c.JSON(fiber.Map{"data": data})
	}
	if c.QueryBool("dry_run") {
		return answer(fiber.Map{"dry_run": true, "changes": planned, "removal": removal})
	}
	migrations := []*migration.Migration{}
	if len(steps) > 0 {
		reqs := make([]migration.Request, len(steps))
		for i, st := range steps {
			reqs[i] = migration.Request{Change: st.change, CreatedBy: callerID(c),
				ConfirmHash: c.Get("X-Schema-Confirm-Hash"), ConfirmToken: c.Get("X-Schema-Confirm-Token")}
		}
		results, err := a.Migration.ApplyAll(c.UserContext(), a.Tenants.Target(tc.t, tc.db), reqs)
		if err != nil {
			return err
		}
		for _, res := range results {
			migrations = append(migrations, res.Migration)
			if res.Migration.Status == migration.StatusPending {
				c.Status(fiber.StatusAccepted) // held for approval
			}
		}
	}
	if then != nil {
		if err := then(); err != nil {
			return err
		}
	}
	return answer(fiber.Map{"migrations": migrations})
}

// stepError names the input entry of a step the model refuses.
func stepError(i int, st planStep, err error) error {
	var fe *schema.FieldError
	var nf *schema.NotFoundError
	field := st.at
	if field == "" {
		field = "body"
	}
	switch {
	case errors.As(err, &fe):
		return apierr.InvalidPayload(field, "%s: step %d (%s): %s", field, i+1, migration.DefaultName(st.change), fe.Error())
	case errors.As(err, &nf):
		return apierr.InvalidPayload(field, "%s: step %d (%s): %s", field, i+1, migration.DefaultName(st.change), nf.Error())
	}
	return err
}

// structureChecksum is a stable hash of what a table is, as opposed to how it is
// described: column names, types, sizes, values, nullability, flags and defaults,
// indexes and the relations it owns (those in rels with Table = t.Name). Descriptions
// are left out. Columns, indexes and relations are addressed by name, so their order
// does not count; the order of an index's columns and of enum values does.
func structureChecksum(t snapshotTable, rels []relationInput) string {
	type column struct {
		Name      string          `json:"name"`
		Type      schema.Type     `json:"type"`
		Length    int             `json:"length,omitempty"`
		Precision int             `json:"precision,omitempty"`
		Scale     int             `json:"scale,omitempty"`
		Values    []string        `json:"values,omitempty"`
		Nullable  bool            `json:"nullable"`
		Unique    bool            `json:"unique"`
		Index     bool            `json:"index"`
		Default   json.RawMessage `json:"default,omitempty"`
	}
	type relation struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Target   string `json:"target"`
		OnDelete string `json:"on_delete"`
		Inverse  string `json:"inverse,omitempty"`
		Junction string `json:"junction,omitempty"`
	}
	s := struct {
		Name      string         `json:"name"`
		Columns   []column       `json:"columns"`
		Indexes   []schema.Index `json:"indexes"`
		Relations []relation     `json:"relations"`
	}{Name: t.Name, Columns: []column{}, Indexes: []schema.Index{}, Relations: []relation{}}
	for _, ci := range t.Columns {
		col := ci.column()
		// Normalised as validation would store it (a string's default length, say),
		// so spelling out a default or leaving it out gives the same checksum.
		_ = schema.ValidateColumn("column", &col, false)
		var def json.RawMessage
		if len(col.Default) > 0 {
			def = schema.CanonicalDefault(col.Default)
		}
		s.Columns = append(s.Columns, column{col.Name, col.Type, col.Length, col.Precision, col.Scale, col.Values, col.Nullable, col.Unique, col.Index, def})
	}
	for _, ix := range t.Indexes {
		name := ix.Name
		if name == "" {
			name = schema.DefaultIndexName(t.Name, ix.Columns)
		}
		s.Indexes = append(s.Indexes, schema.Index{Name: name, Columns: ix.Columns, Unique: ix.Unique})
	}
	for _, ri := range rels {
		if ri.Table != t.Name {
			continue
		}
		r := ri.relation()
		junction := r.Junction
		if junction == r.Table+"_"+r.Name {
			junction = "" // the default name, given or not
		}
		s.Relations = append(s.Relations, relation{r.Name, string(r.Type), r.Target, r.OnDeleteAction(), r.Inverse, junction})
	}
	slices.SortFunc(s.Columns, func(a, b column) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Indexes, func(a, b schema.Index) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Relations, func(a, b relation) int { return strings.Compare(a.Name, b.Name) })
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
