package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Columns     []columnInput  `json:"columns"`
	Indexes     []schema.Index `json:"indexes,omitempty"`
}

func takeSnapshot(m *schema.Model) snapshot {
	out := snapshot{Tables: []snapshotTable{}, Relations: []relationInput{}}
	for _, t := range m.Tables {
		if t.System || t.Junction {
			continue
		}
		st := snapshotTable{Name: t.Name, Description: t.Description, Columns: []columnInput{}}
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
		out.Tables = append(out.Tables, st)
	}
	for _, r := range m.Relations {
		out.Relations = append(out.Relations, relationInput{Table: r.Table, Name: r.Name, Type: r.Type, Target: r.Target, OnDelete: r.OnDelete, Inverse: r.Inverse, Junction: r.Junction})
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

// planSnapshot lists the changes that turn model m into the snapshot: new tables,
// then columns, indexes and relations, then what goes (drops come last, relations first).
func planSnapshot(m *schema.Model, want snapshot) ([]schema.Change, error) {
	var adds, drops []schema.Change
	wanted := map[string]bool{}
	for i, st := range want.Tables {
		wanted[st.Name] = true
		cur := m.Table(st.Name)
		if cur == nil {
			t := &schema.Table{Name: st.Name, Description: st.Description, Indexes: st.Indexes}
			for _, ci := range st.Columns {
				t.Columns = append(t.Columns, ci.column())
			}
			adds = append(adds, schema.Change{Type: schema.CreateTable, Create: t})
			continue
		}
		if cur.System || cur.Junction {
			return nil, apierr.InvalidPayload(fmt.Sprintf("tables[%d].name", i), "%q is not a user table", st.Name)
		}
		if st.Description != cur.Description {
			d := st.Description
			adds = append(adds, schema.Change{Type: schema.AlterTable, Table: st.Name, Description: &d})
		}
		have := map[string]bool{}
		for _, ci := range st.Columns {
			have[ci.Name] = true
			col := ci.column()
			existing := cur.Column(ci.Name)
			switch {
			case existing == nil:
				adds = append(adds, schema.Change{Type: schema.AddColumn, Table: st.Name, Def: &col})
			case !existing.System && !sameDefinition(existing, &col):
				adds = append(adds, schema.Change{Type: schema.AlterColumn, Table: st.Name, Column: ci.Name, Def: &col})
			}
		}
		for _, c := range cur.Columns {
			if !c.System && !have[c.Name] {
				drops = append(drops, schema.Change{Type: schema.DropColumn, Table: st.Name, Column: c.Name})
			}
		}
		for _, ix := range st.Indexes {
			if cur.Index(ix.Name) == nil {
				ix := ix
				adds = append(adds, schema.Change{Type: schema.AddIndex, Table: st.Name, Index: &ix})
			}
		}
		for _, ix := range cur.Indexes {
			if !ix.Auto && !slices.ContainsFunc(st.Indexes, func(w schema.Index) bool { return w.Name == ix.Name }) {
				drops = append(drops, schema.Change{Type: schema.DropIndex, Table: st.Name, Column: ix.Name})
			}
		}
	}
	var relAdds, relDrops []schema.Change
	for _, ri := range want.Relations {
		if m.RelationByField(ri.Table, ri.Name) == nil {
			r := ri.relation()
			relAdds = append(relAdds, schema.Change{Type: schema.AddRelation, Relation: &r})
		}
	}
	for _, r := range m.Relations {
		if !slices.ContainsFunc(want.Relations, func(w relationInput) bool { return w.Table == r.Table && w.Name == r.Name }) {
			relDrops = append(relDrops, schema.Change{Type: schema.DropRelation, Relation: &schema.Relation{ID: r.ID}})
		}
	}
	var tableDrops []schema.Change
	for _, t := range m.Tables {
		if !t.System && !t.Junction && !wanted[t.Name] {
			tableDrops = append(tableDrops, schema.Change{Type: schema.DropTable, Table: t.Name})
		}
	}
	out := slices.Concat(adds, relAdds, relDrops, drops, tableDrops)
	return out, nil
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

// applySnapshot plans the difference between the tenant's model and a snapshot and runs
// it as migrations, in order; with dry_run it answers the plan. Whatever it removes is
// confirmed once, for the whole apply, with the usual hash and token.
func (a *API) applySnapshot(c *fiber.Ctx) error {
	var want snapshot
	if err := decode(c, &want); err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	changes, err := planSnapshot(m, want)
	if err != nil {
		return err
	}
	// Plan every step against the model it will meet, to validate the whole apply
	// before anything runs and to show the SQL.
	tc := tenantOf(c)
	model := m
	planned := make([]fiber.Map, 0, len(changes))
	removal := schema.Removal{RemovedColumns: []string{}, DroppedTables: []string{}}
	for i, ch := range changes {
		after, resolved, err := schema.Apply(model, ch, a.NewID)
		if err != nil {
			var fe *schema.FieldError
			if errors.As(err, &fe) {
				return apierr.InvalidPayload(fe.Field, "step %d (%s): %s", i+1, migration.DefaultName(ch), fe.Message)
			}
			return err
		}
		plan, err := tc.db.Dialect.Plan(model, resolved)
		if err != nil {
			return err
		}
		r := schema.Removals(model, resolved)
		removal.RemovedColumns = append(removal.RemovedColumns, r.RemovedColumns...)
		removal.DroppedTables = append(removal.DroppedTables, r.DroppedTables...)
		removal.RemovedRelations += r.RemovedRelations
		removal.Narrowing = append(removal.Narrowing, r.Narrowing...)
		planned = append(planned, fiber.Map{"type": resolved.Type, "name": migration.DefaultName(resolved), "up_sql": plan.UpSQL(), "destructive": !r.Empty()})
		model = after
	}
	if c.QueryBool("dry_run") {
		return c.JSON(fiber.Map{"data": fiber.Map{"dry_run": true, "changes": planned, "removal": removal}})
	}
	// Each step is planned against the ones before it, so they cannot wait for
	// approval one by one.
	if approval, err := a.requireApproval(c, tc); err != nil {
		return err
	} else if approval == "all" || (approval == "destructive" && !removal.Empty()) {
		return apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "this tenant holds changes for approval (require_approval=%s); apply the changes one by one instead", approval)
	}
	if !removal.Empty() {
		body, _ := json.Marshal(want)
		if err := a.Migration.Confirm(tc.t.ID, "apply snapshot "+string(body), c.Get("X-Schema-Confirm-Hash"), c.Get("X-Schema-Confirm-Token"), removal.DroppedTables); err != nil {
			return err
		}
	}
	var migrations []*migration.Migration
	for _, ch := range changes {
		res, err := a.Migration.Apply(c.UserContext(), a.Tenants.Target(tc.t, tc.db), migration.Request{Change: ch, CreatedBy: callerID(c), Unattended: true})
		if err != nil {
			return err
		}
		migrations = append(migrations, res.Migration)
	}
	return c.JSON(fiber.Map{"data": fiber.Map{"migrations": migrations}})
}
