// Package meta reads and writes a tenant's schema model as rows of its metadata tables
// (table_definition, column_definition, relation_definition). It writes only what a
// change touched, so a migration's metadata writes are proportional to the change.
// It does not decide what may change: that is the schema package and the migration
// module's one path.
package meta

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"strata/modules/database"
	"strata/schema"
)

// rowSet is one metadata table's desired rows, keyed by id, values in column order.
type rowSet map[string][]any

// spec describes one metadata table: its name and the columns Sync writes.
type spec struct {
	table   string
	columns []string
}

var (
	tableSpec    = spec{"table_definition", []string{"name", "description", "is_system", "is_junction", "indexes", "position", "trash_name", "trashed_at", "display_template", "label", "accountability"}}
	columnSpec   = spec{"column_definition", []string{"table_id", "name", "type", "max_length", "numeric_precision", "numeric_scale", "enum_values", "is_nullable", "is_unique", "is_indexed", "default_value", "description", "is_system", "relation_id", "position", "trash_name", "trashed_at"}}
	relationSpec = spec{"relation_definition", []string{"table_id", "name", "type", "target_table_id", "on_delete", "inverse", "junction_table_id"}}
	functionSpec = spec{"function_definition", []string{"name", "kind", "definition", "checksum"}}
)

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return int64(n)
}

func jsonText(v any) any {
	rv := reflect.ValueOf(v)
	if v == nil || (rv.Kind() == reflect.Slice && rv.Len() == 0) {
		return nil
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// trashTime is when an item went into the trash, as a time parameter (nil if active).
func trashTime(at string) any {
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil
	}
	return t.UTC()
}

func columnRow(tableID string, pos int, c *schema.Column, trash, trashedAt string) []any {
	def := any(nil)
	if len(c.Default) > 0 {
		def = string(c.Default)
	}
	return []any{tableID, c.Name, string(c.Type), nullInt(c.Length), nullInt(c.Precision), nullInt(c.Scale),
		jsonText(c.Values), c.Nullable, c.Unique, c.Index, def, database.NullText(c.Description), c.System,
		database.NullText(c.Relation), int64(pos), database.NullText(trash), trashTime(trashedAt)}
}

// rows computes the desired rows of each metadata table for model m. A metadata table
// that does not exist in m yet (during tenant bootstrap) gets no rows.
func rows(m *schema.Model) map[string]rowSet {
	out := map[string]rowSet{}
	have := func(name string) bool { return m.Table(name) != nil }
	ids := map[string]string{} // table name -> id
	for _, t := range m.Tables {
		ids[t.Name] = t.ID
	}
	if have(tableSpec.table) {
		rs := rowSet{}
		for i, t := range m.Tables {
			rs[t.ID] = []any{t.Name, database.NullText(t.Description), t.System, t.Junction, jsonText(t.Indexes), int64(i), nil, nil, database.NullText(t.DisplayTemplate), database.NullText(t.Label), database.NullText(t.Accountability)}
		}
		for _, tr := range m.Trash {
			if tr.Kind == "table" && tr.TableDef != nil {
				t := tr.TableDef
				rs[t.ID] = []any{t.Name, database.NullText(t.Description), t.System, t.Junction, jsonText(t.Indexes), int64(-1), tr.TrashName, trashTime(tr.TrashedAt), database.NullText(t.DisplayTemplate), database.NullText(t.Label), database.NullText(t.Accountability)}
			}
		}
		out[tableSpec.table] = rs
	}
	if have(columnSpec.table) {
		rs := rowSet{}
		for _, t := range m.Tables {
			for i := range t.Columns {
				rs[t.Columns[i].ID] = columnRow(t.ID, i, &t.Columns[i], "", "")
			}
		}
		for _, tr := range m.Trash {
			switch {
			case tr.Kind == "table" && tr.TableDef != nil:
				for i := range tr.TableDef.Columns {
					rs[tr.TableDef.Columns[i].ID] = columnRow(tr.TableDef.ID, i, &tr.TableDef.Columns[i], "", "")
				}
			case tr.Kind == "column" && tr.ColumnDef != nil:
				rs[tr.ColumnDef.ID] = columnRow(tr.TableID, -1, tr.ColumnDef, tr.TrashName, tr.TrashedAt)
			}
		}
		out[columnSpec.table] = rs
	}
	if have(relationSpec.table) {
		rs := rowSet{}
		for _, r := range m.Relations {
			rs[r.ID] = []any{ids[r.Table], r.Name, string(r.Type), ids[r.Target], database.NullText(r.OnDelete), database.NullText(r.Inverse), database.NullText(ids[r.Junction])}
		}
		out[relationSpec.table] = rs
	}
	if have(functionSpec.table) {
		rs := rowSet{}
		for _, f := range m.Functions {
			b, _ := json.Marshal(f)
			rs[f.ID] = []any{f.Name, f.Kind, string(b), f.Checksum}
		}
		out[functionSpec.table] = rs
	}
	return out
}

// Sync writes the metadata rows that differ between before and after.
func Sync(ctx context.Context, q schema.Querier, d schema.Dialect, before, after *schema.Model, now time.Time) error {
	old, next := rows(before), rows(after)
	for _, sp := range []spec{tableSpec, columnSpec, relationSpec, functionSpec} {
		if err := syncTable(ctx, q, d, sp, old[sp.table], next[sp.table], now); err != nil {
			return fmt.Errorf("write %s: %w", sp.table, err)
		}
	}
	return nil
}

func syncTable(ctx context.Context, q schema.Querier, d schema.Dialect, sp spec, old, next rowSet, now time.Time) error {
	if next == nil {
		return nil
	}
	ids := make([]string, 0, len(next))
	for id := range next {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ts := d.TimeValue(now)
	quoted := make([]string, len(sp.columns))
	for i, c := range sp.columns {
		quoted[i] = d.Quote(c)
	}
	for _, id := range ids {
		row := convert(d, next[id])
		prev, existed := old[id]
		switch {
		case !existed:
			cols := append([]string{d.Quote("id")}, quoted...)
			cols = append(cols, d.Quote("created_at"), d.Quote("updated_at"))
			args := append([]any{id}, row...)
			args = append(args, ts, ts)
			if _, err := q.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote(sp.table)+" ("+strings.Join(cols, ", ")+") VALUES ("+schema.Placeholders(len(cols))+")"), args...); err != nil {
				return err
			}
		case !reflect.DeepEqual(convert(d, prev), row):
			sets := make([]string, 0, len(quoted)+2)
			for _, c := range quoted {
				sets = append(sets, c+" = ?")
			}
			sets = append(sets, d.Quote("updated_at")+" = ?")
			args := append(row, ts, id)
			if _, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(sp.table)+" SET "+strings.Join(sets, ", ")+" WHERE "+d.Quote("id")+" = ?"), args...); err != nil {
				return err
			}
		}
	}
	for id := range old {
		if _, ok := next[id]; !ok {
			if _, err := q.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(sp.table)+" WHERE "+d.Quote("id")+" = ?"), id); err != nil {
				return err
			}
		}
	}
	return nil
}

// convert turns Go bools and times into the dialect's parameter form.
func convert(d schema.Dialect, row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case bool:
			out[i] = d.BoolValue(x)
		case time.Time:
			out[i] = d.TimeValue(x)
		default:
			out[i] = v
		}
	}
	return out
}

// Load reads the model from the metadata tables.
func Load(ctx context.Context, q schema.Querier, d schema.Dialect) (*schema.Model, error) {
	m := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	qi := d.Quote
	// Every column, by name: a tenant made by an older Strata lacks the columns added to
	// table_definition since (display_template), until its system upgrade adds them, and
	// that upgrade starts by loading its model.
	trows, err := q.QueryContext(ctx, "SELECT * FROM "+qi("table_definition")+" ORDER BY "+qi("position")+", "+qi("id"))
	if err != nil {
		return nil, fmt.Errorf("read table_definition: %w", err)
	}
	names, err := trows.Columns()
	if err != nil {
		trows.Close()
		return nil, fmt.Errorf("read table_definition: %w", err)
	}
	byID := map[string]*schema.Table{}
	trashed := map[string]schema.Trashed{}
	var order []string
	for trows.Next() {
		vals := make([]any, len(names))
		ptrs := make([]any, len(names))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := trows.Scan(ptrs...); err != nil {
			trows.Close()
			return nil, fmt.Errorf("scan table_definition: %w", err)
		}
		row := make(map[string]any, len(names))
		for i, n := range names {
			row[n] = vals[i]
		}
		idx, trash, trashedAt := row["indexes"], row["trash_name"], row["trashed_at"]
		t := &schema.Table{ID: database.Text(row["id"]), Name: database.Text(row["name"]), Description: database.Text(row["description"]),
			DisplayTemplate: database.Text(row["display_template"]), Label: database.Text(row["label"]), Accountability: database.Text(row["accountability"]), System: database.Bool(row["is_system"]), Junction: database.Bool(row["is_junction"]),
			Columns: []schema.Column{}, Indexes: []schema.Index{}}
		if s := database.Text(idx); s != "" {
			if err := json.Unmarshal([]byte(s), &t.Indexes); err != nil {
				trows.Close()
				return nil, fmt.Errorf("table %s indexes: %w", t.Name, err)
			}
		}
		byID[t.ID] = t
		if tn := database.Text(trash); tn != "" {
			trashed[t.ID] = schema.Trashed{ID: t.ID, Kind: "table", Table: t.Name, TrashName: tn, TrashedAt: timeText(trashedAt)}
		} else {
			order = append(order, t.ID)
		}
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return nil, fmt.Errorf("read table_definition: %w", err)
	}
	crows, err := q.QueryContext(ctx, "SELECT "+qi("id")+", "+qi("table_id")+", "+qi("name")+", "+qi("type")+", "+qi("max_length")+", "+qi("numeric_precision")+", "+qi("numeric_scale")+", "+qi("enum_values")+", "+qi("is_nullable")+", "+qi("is_unique")+", "+qi("is_indexed")+", "+qi("default_value")+", "+qi("description")+", "+qi("is_system")+", "+qi("relation_id")+", "+qi("trash_name")+", "+qi("trashed_at")+" FROM "+qi("column_definition")+" ORDER BY "+qi("position")+", "+qi("id"))
	if err != nil {
		return nil, fmt.Errorf("read column_definition: %w", err)
	}
	var trashedCols []schema.Trashed
	for crows.Next() {
		var id, tableID, name, typ, length, prec, scale, values, nullable, unique, index, def, desc, sys, rel, trash, trashedAt any
		if err := crows.Scan(&id, &tableID, &name, &typ, &length, &prec, &scale, &values, &nullable, &unique, &index, &def, &desc, &sys, &rel, &trash, &trashedAt); err != nil {
			crows.Close()
			return nil, fmt.Errorf("scan column_definition: %w", err)
		}
		c := schema.Column{ID: database.Text(id), Name: database.Text(name), Type: schema.Type(database.Text(typ)), Length: intOf(length), Precision: intOf(prec), Scale: intOf(scale),
			Nullable: database.Bool(nullable), Unique: database.Bool(unique), Index: database.Bool(index), Description: database.Text(desc), System: database.Bool(sys), Relation: database.Text(rel)}
		if s := database.Text(values); s != "" {
			_ = json.Unmarshal([]byte(s), &c.Values)
		}
		if s := database.Text(def); s != "" {
			c.Default = schema.CanonicalDefault([]byte(s))
		}
		t := byID[database.Text(tableID)]
		if t == nil {
			continue
		}
		if tn := database.Text(trash); tn != "" {
			cc := c
			trashedCols = append(trashedCols, schema.Trashed{ID: c.ID, Kind: "column", Table: t.Name, TableID: t.ID, Column: c.Name, TrashName: tn, TrashedAt: timeText(trashedAt), ColumnDef: &cc})
			continue
		}
		t.Columns = append(t.Columns, c)
	}
	crows.Close()
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("read column_definition: %w", err)
	}
	for _, id := range order {
		m.Tables = append(m.Tables, *byID[id])
	}
	for id, tr := range trashed {
		def := *byID[id]
		tr.TableDef = &def
		m.Trash = append(m.Trash, tr)
	}
	m.Trash = append(m.Trash, trashedCols...)
	sort.SliceStable(m.Trash, func(i, j int) bool { return m.Trash[i].ID < m.Trash[j].ID })
	rrows, err := q.QueryContext(ctx, "SELECT "+qi("id")+", "+qi("table_id")+", "+qi("name")+", "+qi("type")+", "+qi("target_table_id")+", "+qi("on_delete")+", "+qi("inverse")+", "+qi("junction_table_id")+" FROM "+qi("relation_definition")+" ORDER BY "+qi("id"))
	if err != nil {
		return nil, fmt.Errorf("read relation_definition: %w", err)
	}
	defer rrows.Close()
	name := func(id any) string {
		if t := byID[database.Text(id)]; t != nil {
			return t.Name
		}
		return ""
	}
	for rrows.Next() {
		var id, tableID, rname, typ, target, onDelete, inverse, junction any
		if err := rrows.Scan(&id, &tableID, &rname, &typ, &target, &onDelete, &inverse, &junction); err != nil {
			return nil, fmt.Errorf("scan relation_definition: %w", err)
		}
		m.Relations = append(m.Relations, schema.Relation{ID: database.Text(id), Table: name(tableID), Name: database.Text(rname), Type: schema.RelationType(database.Text(typ)),
			Target: name(target), OnDelete: database.Text(onDelete), Inverse: database.Text(inverse), Junction: name(junction)})
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("read relation_definition: %w", err)
	}
	if m.Table(functionSpec.table) == nil { // a tenant before its system upgrade
		return m, nil
	}
	return m, loadFunctions(ctx, q, d, m)
}

func loadFunctions(ctx context.Context, q schema.Querier, d schema.Dialect, m *schema.Model) error {
	rows, err := q.QueryContext(ctx, "SELECT "+d.Quote("definition")+" FROM "+d.Quote(functionSpec.table)+" ORDER BY "+d.Quote("id"))
	if err != nil {
		return fmt.Errorf("read function_definition: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var def any
		if err := rows.Scan(&def); err != nil {
			return fmt.Errorf("scan function_definition: %w", err)
		}
		var f schema.Function
		if err := json.Unmarshal([]byte(database.Text(def)), &f); err != nil {
			return fmt.Errorf("function_definition: %w", err)
		}
		m.Functions = append(m.Functions, f)
	}
	return rows.Err()
}

// Version is the tenant's schema version: the highest seq of the executed migrations
// plus how many there are. It grows with every schema change — a new migration raises
// the seq, an approved or retried older one (which keeps its seq) the count, and a
// rollback raises the seq while it moves its original out — so caches keyed by it
// never serve a stale model.
func Version(ctx context.Context, q schema.Querier, d schema.Dialect) (int64, error) {
	var top, n any
	err := q.QueryRowContext(ctx, "SELECT MAX("+d.Quote("seq")+"), COUNT(*) FROM "+d.Quote("custom_migrations")+" WHERE "+d.Quote("status")+" = 'executed'").Scan(&top, &n)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int64(intOf(top)) + int64(intOf(n)), nil
}

// State is what a tenant's first request on a node reads of its migration history.
type State struct {
	Version int64 // as Version
	Running int64 // migrations recorded as running: a crashed node's, to settle first
	// Head is a digest of the greatest id among the executed migrations ("" for none).
	// Ids grow with time (UUIDv7), so a history restored from a backup and grown back
	// to the same Version has another Head: with it, Stamp names one history, not just
	// its length. A digest, since the login tag (Tag) is readable by every account on
	// the server, and the id would tell them when the tenant last changed its schema.
	Head string
}

// Stamp names the schema this state's model belongs to, for caches that outlive a node
// (the shared model cache).
func (s State) Stamp() string { return strconv.FormatInt(s.Version, 10) + " " + s.Head }

// headDigest is the Head of the greatest executed id: 32 hex digits of its SHA-256.
// TagState's trigger computes the same on the server.
func headDigest(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// ReadState reads the State in one statement: on a connection just opened, where
// every statement costs, a tenant's first request needs all of it (interrupted
// migrations are settled before the model is read).
func ReadState(ctx context.Context, q schema.Querier, d schema.Dialect) (State, error) {
	var top, n, run, head any
	err := q.QueryRowContext(ctx, stateSelect(d)+d.Quote("custom_migrations"), database.OnceArgs(d)...).Scan(&top, &n, &run, &head)
	if err != nil {
		return State{}, fmt.Errorf("read schema version: %w", err)
	}
	return State{Version: int64(intOf(top)) + int64(intOf(n)), Running: int64(intOf(run)), Head: headDigest(database.Text(head))}, nil
}

// stateSelect is the select list of ReadState, up to the table's name: the highest seq
// of the executed migrations, how many there are, how many are running, and the
// greatest executed id. The trigger that keeps the state in a PostgreSQL account's login
// (TagState) runs the same.
func stateSelect(d schema.Dialect) string {
	st := d.Quote("status")
	executed := "CASE WHEN " + st + " = 'executed' THEN "
	id := d.Quote("id")
	if d.Name() == "postgres" {
		id = "CAST(" + id + " AS TEXT)" // uuid has no MAX
	}
	return "SELECT MAX(" + executed + d.Quote("seq") + " END), " +
		"COALESCE(SUM(" + executed + "1 ELSE 0 END), 0), " +
		"COALESCE(SUM(CASE WHEN " + st + " = 'running' THEN 1 ELSE 0 END), 0), " +
		"MAX(" + executed + id + " END) FROM "
}

// timeText renders a stored time the way the model holds it (RFC 3339, UTC), whatever
// form the driver returned.
func timeText(v any) string {
	s := database.Text(v)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return s
}

// ErrNoRows is returned by lookups that find nothing.
var ErrNoRows = sql.ErrNoRows

func intOf(v any) int { return int(database.Int64(v)) }
