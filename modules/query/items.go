package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"strata/schema"
)

// serverColumns are set by Strata on every write, never by the client.
var serverColumns = map[string]bool{"owner_id": true, "created_at": true, "updated_at": true}

// Insert writes one row built from a JSON object and returns its id. Unknown fields are
// refused rather than dropped, so a typo never silently loses data.
func Insert(ctx context.Context, q schema.Querier, d schema.Dialect, m *schema.Model, t *schema.Table, body map[string]any, id, owner string, now time.Time) (string, error) {
	stmt, args, key, err := InsertStatement(d, m, t, body, id, owner, now)
	if err != nil {
		return "", err
	}
	if _, err := q.ExecContext(ctx, d.Rebind(stmt), args...); err != nil {
		return "", err
	}
	return key, nil
}

// InsertStatement is Insert's statement (with ? placeholders, not rebound), its
// arguments and the new row's key, for a caller that runs it with others.
func InsertStatement(d schema.Dialect, m *schema.Model, t *schema.Table, body map[string]any, id, owner string, now time.Time) (stmt string, args []any, key string, err error) {
	cols := []string{d.Quote("id")}
	args = []any{id}
	if v, ok := body["id"]; ok {
		s, err := Coerce(d, t.Column("id"), v)
		if err != nil {
			return "", nil, "", err
		}
		if s != nil {
			args[0] = s
		}
	}
	ts := d.TimeValue(now)
	cols = append(cols, d.Quote("owner_id"), d.Quote("created_at"), d.Quote("updated_at"))
	var ownerArg any
	if owner != "" {
		ownerArg = owner
	}
	args = append(args, ownerArg, ts, ts)
	// Sorted, so the same write always renders the same SQL.
	for _, name := range slices.Sorted(maps.Keys(body)) {
		v := body[name]
		if name == "id" {
			continue
		}
		c := t.Column(name)
		if c == nil {
			if m.RelationByField(t.Name, name) != nil {
				return "", nil, "", &ValueError{Field: name, Message: "writing to-many relations is not supported yet; write the related rows' key instead"}
			}
			return "", nil, "", &ValueError{Field: name, Message: fmt.Sprintf("table %q has no field %q", t.Name, name)}
		}
		if serverColumns[name] {
			return "", nil, "", &ValueError{Field: name, Message: "is set by the server"}
		}
		val, err := Coerce(d, c, v)
		if err != nil {
			return "", nil, "", err
		}
		cols = append(cols, d.Quote(name))
		args = append(args, val)
	}
	ph := schema.Placeholders(len(cols))
	return "INSERT INTO " + d.Quote(t.Name) + " (" + strings.Join(cols, ", ") + ") VALUES (" + ph + ")", args, fmt.Sprint(args[0]), nil
}

// JoinInserts makes one statement of InsertStatement's statements for rows of the same
// columns (the same text): one VALUES list per row, their arguments in order. ok is
// false when the statements are not all the same text.
func JoinInserts(stmts []string, args [][]any) (stmt string, all []any, ok bool) {
	if len(stmts) == 0 {
		return "", nil, false
	}
	head, values, found := strings.Cut(stmts[0], " VALUES ")
	if !found {
		return "", nil, false
	}
	var sb strings.Builder
	sb.WriteString(head)
	sb.WriteString(" VALUES ")
	for i, st := range stmts {
		if st != stmts[0] {
			return "", nil, false
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(values)
		all = append(all, args[i]...)
	}
	return sb.String(), all, true
}

// Select reads rows of t: one by id when id is set, else the first limit rows by id.
func Select(ctx context.Context, q schema.Querier, d schema.Dialect, t *schema.Table, id string, limit int) ([]map[string]any, error) {
	names := t.ColumnNames()
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = d.Quote(n)
	}
	query := "SELECT " + strings.Join(quoted, ", ") + " FROM " + d.Quote(t.Name)
	var args []any
	if id != "" {
		if !schema.IsUUID(id) {
			return nil, nil
		}
		query += " WHERE " + d.Quote("id") + " = ?"
		args = append(args, strings.ToLower(id))
	}
	query += " ORDER BY " + d.Quote("id")
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := q.QueryContext(ctx, d.Rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", t.Name, err)
	}
	defer rows.Close()
	out := []map[string]any{}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("scan %s: %w", t.Name, err)
		}
		row := make(map[string]any, len(names))
		for i := range names {
			row[names[i]] = Decode(&t.Columns[i], vals[i])
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// ConstraintError is a write the database refused for a constraint; Code is the
// contract's error code.
type ConstraintError struct {
	Code, Field, Message string
}

func (e *ConstraintError) Error() string { return e.Message }

var (
	quotedName = regexp.MustCompile(`(?:column|Column|key|Field) ['"]?([a-z][a-z0-9_]*)['"]?`)
	sqliteCol  = regexp.MustCompile(`constraint failed: [a-z0-9_]+\.([a-z][a-z0-9_]*)`)
)

// ClassifyWriteError maps a database's constraint error (of any dialect) onto the
// contract's codes; other errors are returned unchanged. PostgreSQL and MySQL name the
// violated key, which the model maps to its column.
func ClassifyWriteError(m *schema.Model, t *schema.Table, err error) error {
	if err == nil {
		return nil
	}
	var ve *ValueError
	if errors.As(err, &ve) || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	msg := err.Error()
	field := ""
	if m := sqliteCol.FindStringSubmatch(msg); m != nil {
		field = m[1]
	} else if m := quotedName.FindStringSubmatch(msg); m != nil && t.Column(m[1]) != nil {
		field = m[1]
	}
	if field == "" { // PostgreSQL and MySQL name the index or key that was violated
		for _, ix := range t.Indexes {
			if strings.Contains(msg, ix.Name) {
				field = ix.Columns[0]
			}
		}
		for _, fk := range schema.ForeignKeys(m, t) {
			if strings.Contains(msg, fk.Name) {
				field = fk.Column
			}
		}
	}
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "unique") || strings.Contains(lower, "duplicate"):
		return &ConstraintError{Code: "RECORD_NOT_UNIQUE", Field: field, Message: "value of " + orField(field) + " has to be unique"}
	case strings.Contains(lower, "not null") || strings.Contains(lower, "not-null") || strings.Contains(lower, "cannot be null") || strings.Contains(lower, "doesn't have a default"):
		return &ConstraintError{Code: "CONTAINS_NULL_VALUES", Field: field, Message: orField(field) + " must not be null"}
	case strings.Contains(lower, "foreign key"):
		return &ConstraintError{Code: "INVALID_FOREIGN_KEY", Field: field, Message: orField(field) + " does not reference an existing row"}
	}
	return err
}

// DanglingKey finds which foreign key of a written object points at no row. It runs
// only after the database refused a write for a key it did not name (SQLite), one
// lookup per key written.
func DanglingKey(ctx context.Context, q schema.Querier, d schema.Dialect, m *schema.Model, t *schema.Table, body map[string]any) string {
	for _, fk := range schema.ForeignKeys(m, t) {
		v, ok := body[fk.Column].(string)
		if !ok {
			continue
		}
		var one int
		err := q.QueryRowContext(ctx, d.Rebind("SELECT 1 FROM "+d.Quote(fk.RefTable)+" WHERE "+d.Quote("id")+" = ?"), strings.ToLower(v)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fk.Column
		}
	}
	return ""
}

func orField(f string) string {
	if f == "" {
		return "a field"
	}
	return "field " + f
}

// assignments validates a partial object for an update and returns the SET list and
// its parameters, in a stable order.
func assignments(d schema.Dialect, m *schema.Model, t *schema.Table, body map[string]any, now time.Time) ([]string, []any, error) {
	var sets []string
	var args []any
	for _, name := range slices.Sorted(maps.Keys(body)) {
		c := t.Column(name)
		switch {
		case c == nil && m.RelationByField(t.Name, name) != nil:
			return nil, nil, &ValueError{Field: name, Message: "writing to-many relations is not supported yet; write the related rows' key instead"}
		case c == nil:
			return nil, nil, &ValueError{Field: name, Message: fmt.Sprintf("table %q has no field %q", t.Name, name)}
		case name == "id":
			return nil, nil, &ValueError{Field: name, Message: "the primary key cannot be changed"}
		case serverColumns[name]:
			return nil, nil, &ValueError{Field: name, Message: "is set by the server"}
		}
		val, err := Coerce(d, c, body[name])
		if err != nil {
			return nil, nil, err
		}
		sets = append(sets, d.Quote(name)+" = ?")
		args = append(args, val)
	}
	sets = append(sets, d.Quote("updated_at")+" = ?")
	args = append(args, d.TimeValue(now))
	return sets, args, nil
}

// Update applies a partial object to the rows with the given ids and returns how many
// rows matched.
func Update(ctx context.Context, q schema.Querier, d schema.Dialect, m *schema.Model, t *schema.Table, ids []string, body map[string]any, now time.Time) (int64, error) {
	sets, args, err := assignments(d, m, t, body, now)
	if err != nil {
		return 0, err
	}
	ph, idArgs, err := idList(ids)
	if err != nil {
		return 0, err
	}
	res, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(t.Name)+" SET "+strings.Join(sets, ", ")+" WHERE "+d.Quote("id")+" IN ("+ph+")"), append(args, idArgs...)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Delete removes the rows with the given ids and returns how many there were.
func Delete(ctx context.Context, q schema.Querier, d schema.Dialect, t *schema.Table, ids []string) (int64, error) {
	ph, args, err := idList(ids)
	if err != nil {
		return 0, err
	}
	res, err := q.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(t.Name)+" WHERE "+d.Quote("id")+" IN ("+ph+")"), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func idList(ids []string) (string, []any, error) {
	if len(ids) == 0 {
		return "", nil, &ValueError{Field: "keys", Message: "at least one key is required"}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		if !schema.IsUUID(id) {
			return "", nil, &ValueError{Field: "keys", Message: fmt.Sprintf("%q is not a UUID", id)}
		}
		args[i] = strings.ToLower(id)
	}
	return schema.Placeholders(len(ids)), args, nil
}
