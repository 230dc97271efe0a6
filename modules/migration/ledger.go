package migration

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"strata/modules/database"
	"strata/schema"
)

// Migration is one row of custom_migrations.
type Migration struct {
	ID           string          `json:"id"`
	TenantID     string          `json:"tenant_id"`
	Seq          int64           `json:"seq"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Type         string          `json:"type"`
	Change       json.RawMessage `json:"change"`
	UpSQL        string          `json:"up_sql"`
	DownSQL      string          `json:"down_sql"`
	Checksum     string          `json:"checksum"`
	Status       string          `json:"status"`
	Error        *string         `json:"error"`
	ExecutedAt   *time.Time      `json:"executed_at"`
	DurationMs   *int64          `json:"duration_ms"`
	CreatedBy    string          `json:"created_by"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	AppliedSteps int             `json:"applied_steps"`
	// Destructive is set on plans (dry runs and fresh results), not stored.
	Destructive bool `json:"destructive"`
	// Changeset names the changeset the migration came from (kept in its change).
	Changeset string `json:"changeset,omitempty"`
}

// changesetOf reads the changeset a recorded change names.
func changesetOf(change json.RawMessage) string {
	var c struct {
		Changeset string `json:"changeset"`
	}
	_ = json.Unmarshal(change, &c)
	return c.Changeset
}

// RollbackOf is the id of the migration a rollback undoes ("" for any other
// migration).
func (m *Migration) RollbackOf() string {
	if m.Type != string(schema.Rollback) {
		return ""
	}
	var c struct {
		Of string `json:"of"`
	}
	_ = json.Unmarshal(m.Change, &c)
	return c.Of
}

// OfChangeset lists the migrations of a tenant's history that came from the changeset
// name, by seq.
func OfChangeset(ctx context.Context, q schema.Querier, d schema.Dialect, name string) ([]Migration, error) {
	// The LIKE narrows (a changeset name holds nothing JSON escapes; PostgreSQL's jsonb
	// text has a space after the colon; '_' matches any character): the rows are
	// checked below.
	change := d.Quote("change")
	if d.Name() == "postgres" {
		change = "CAST(" + change + " AS TEXT)" // jsonb: LIKE needs its text
	}
	list, err := scanMigrations(ctx, q, d.Rebind("SELECT "+quoteAll(d, migrationColumns)+" FROM "+d.Quote("custom_migrations")+" WHERE "+
		change+" LIKE ? ORDER BY "+d.Quote("seq")), `%"changeset":%"`+name+`"%`)
	if err != nil {
		return nil, err
	}
	out := list[:0]
	for _, m := range list {
		if m.Changeset == name {
			out = append(out, m)
		}
	}
	return out, nil
}

func (m *Migration) durationMs() int64 {
	if m.DurationMs == nil {
		return 0
	}
	return *m.DurationMs
}

func (m *Migration) finish(start, now time.Time) {
	ms := time.Since(start).Milliseconds()
	t := now.UTC()
	m.DurationMs, m.ExecutedAt, m.Status, m.UpdatedAt = &ms, &t, StatusExecuted, t
}

var migrationColumns = []string{"id", "tenant_id", "seq", "name", "description", "type", "change", "up_sql", "down_sql",
	"checksum", "status", "error", "executed_at", "duration_ms", "created_by", "applied_steps", "created_at", "updated_at"}

func quoteAll(d schema.Dialect, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = d.Quote(c)
	}
	return strings.Join(q, ", ")
}

// insertMigration records m with the next seq. It runs under the tenant's migration
// lock, so max+1 is gap-free; the unique index on seq guards it anyway.
func insertMigration(ctx context.Context, q schema.Querier, d schema.Dialect, m *Migration, id string) error {
	var maxSeq any
	if err := q.QueryRowContext(ctx, "SELECT MAX("+d.Quote("seq")+") FROM "+d.Quote("custom_migrations")).Scan(&maxSeq); err != nil {
		return err
	}
	m.ID, m.Seq = id, database.Int64(maxSeq)+1
	args := []any{m.ID, database.NullText(m.TenantID), m.Seq, m.Name, database.NullText(m.Description), m.Type, string(m.Change), m.UpSQL, m.DownSQL,
		m.Checksum, m.Status, m.Error, timeArg(d, m.ExecutedAt), m.DurationMs, database.NullText(m.CreatedBy), m.AppliedSteps,
		d.TimeValue(m.CreatedAt), d.TimeValue(m.UpdatedAt)}
	ph := schema.Placeholders(len(args))
	_, err := q.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("custom_migrations")+" ("+quoteAll(d, migrationColumns)+") VALUES ("+ph+")"), args...)
	return err
}

func setStatus(ctx context.Context, q schema.Querier, d schema.Dialect, m *Migration, status string, errText *string, now time.Time) error {
	m.Status, m.Error, m.UpdatedAt = status, errText, now.UTC()
	_, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("custom_migrations")+" SET "+d.Quote("status")+" = ?, "+d.Quote("error")+" = ?, "+
		d.Quote("applied_steps")+" = ?, "+d.Quote("updated_at")+" = ? WHERE "+d.Quote("id")+" = ?"), status, errText, m.AppliedSteps, d.TimeValue(m.UpdatedAt), m.ID)
	return err
}

// replan stores a recorded migration's new plan and marks it running.
func replan(ctx context.Context, q schema.Querier, d schema.Dialect, m *Migration, now time.Time) error {
	m.Status, m.UpdatedAt = StatusRunning, now.UTC()
	_, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("custom_migrations")+" SET "+d.Quote("status")+" = ?, "+d.Quote("error")+" = NULL, "+
		d.Quote("change")+" = ?, "+d.Quote("up_sql")+" = ?, "+d.Quote("down_sql")+" = ?, "+d.Quote("checksum")+" = ?, "+d.Quote("applied_steps")+" = 0, "+
		d.Quote("updated_at")+" = ? WHERE "+d.Quote("id")+" = ?"), StatusRunning, string(m.Change), m.UpSQL, m.DownSQL, m.Checksum, d.TimeValue(m.UpdatedAt), m.ID)
	return err
}

func setProgress(ctx context.Context, q schema.Querier, d schema.Dialect, m *Migration) error {
	_, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("custom_migrations")+" SET "+d.Quote("applied_steps")+" = ? WHERE "+d.Quote("id")+" = ?"), m.AppliedSteps, m.ID)
	return err
}

// markExecuted records m as executed; a rollback also marks the migration it undid as
// rolled_back, in the same transaction.
func markExecuted(ctx context.Context, q schema.Querier, d schema.Dialect, m *Migration) error {
	if m.Type == string(schema.Rollback) {
		of := m.RollbackOf()
		if of == "" {
			return fmt.Errorf("rollback migration %d does not name what it undoes", m.Seq)
		}
		if _, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("custom_migrations")+" SET "+d.Quote("status")+" = ?, "+d.Quote("updated_at")+" = ? WHERE "+
			d.Quote("id")+" = ? AND "+d.Quote("status")+" = ?"), StatusRolledBack, d.TimeValue(m.UpdatedAt), of, StatusExecuted); err != nil {
			return fmt.Errorf("mark migration rolled back: %w", err)
		}
	}
	_, err := q.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("custom_migrations")+" SET "+d.Quote("status")+" = ?, "+d.Quote("error")+" = NULL, "+
		d.Quote("executed_at")+" = ?, "+d.Quote("duration_ms")+" = ?, "+d.Quote("applied_steps")+" = ?, "+d.Quote("updated_at")+" = ? WHERE "+d.Quote("id")+" = ?"),
		StatusExecuted, timeArg(d, m.ExecutedAt), m.DurationMs, m.AppliedSteps, d.TimeValue(m.UpdatedAt), m.ID)
	return err
}

// ListFilter narrows a history listing.
type ListFilter struct {
	Status string
	Type   string
	Limit  int
	Page   int
}

// List reads the history ordered by seq, and the number of rows that match.
func List(ctx context.Context, q schema.Querier, d schema.Dialect, f ListFilter) ([]Migration, int, error) {
	where, args := []string{"1=1"}, []any{}
	if f.Status != "" {
		where, args = append(where, d.Quote("status")+" = ?"), append(args, f.Status)
	}
	if f.Type != "" {
		where, args = append(where, d.Quote("type")+" = ?"), append(args, f.Type)
	}
	cond := strings.Join(where, " AND ")
	var total any
	if err := q.QueryRowContext(ctx, d.Rebind("SELECT COUNT(*) FROM "+d.Quote("custom_migrations")+" WHERE "+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count migrations: %w", err)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Page < 1 {
		f.Page = 1
	}
	query := "SELECT " + quoteAll(d, migrationColumns) + " FROM " + d.Quote("custom_migrations") + " WHERE " + cond +
		" ORDER BY " + d.Quote("seq") + " LIMIT " + strconv.Itoa(f.Limit) + " OFFSET " + strconv.Itoa((f.Page-1)*f.Limit)
	out, err := scanMigrations(ctx, q, d.Rebind(query), args...)
	return out, int(database.Int64(total)), err
}

// StatusCounts counts a tenant's migrations by status, in one query.
func StatusCounts(ctx context.Context, q schema.Querier, d schema.Dialect) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+d.Quote("status")+", COUNT(*) FROM "+d.Quote("custom_migrations")+" GROUP BY "+d.Quote("status"))
	if err != nil {
		return nil, fmt.Errorf("count migrations by status: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var status string
		var n any
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count migrations by status: %w", err)
		}
		out[status] = int(database.Int64(n))
	}
	return out, rows.Err()
}

// GetBySeq reads one migration by its seq.
func GetBySeq(ctx context.Context, q schema.Querier, d schema.Dialect, seq int64) (*Migration, error) {
	out, err := scanMigrations(ctx, q, d.Rebind("SELECT "+quoteAll(d, migrationColumns)+" FROM "+d.Quote("custom_migrations")+" WHERE "+d.Quote("seq")+" = ?"), seq)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

// Get reads one migration by id.
func Get(ctx context.Context, q schema.Querier, d schema.Dialect, id string) (*Migration, error) {
	out, err := scanMigrations(ctx, q, d.Rebind("SELECT "+quoteAll(d, migrationColumns)+" FROM "+d.Quote("custom_migrations")+" WHERE "+d.Quote("id")+" = ?"), id)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return &out[0], nil
}

func scanMigrations(ctx context.Context, q schema.Querier, query string, args ...any) ([]Migration, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	defer rows.Close()
	out := []Migration{}
	for rows.Next() {
		v := make([]any, len(migrationColumns))
		p := make([]any, len(v))
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			return nil, fmt.Errorf("scan migration: %w", err)
		}
		m := Migration{ID: database.Text(v[0]), TenantID: database.Text(v[1]), Seq: database.Int64(v[2]), Name: database.Text(v[3]), Description: database.Text(v[4]), Type: database.Text(v[5]),
			UpSQL: database.Text(v[7]), DownSQL: database.Text(v[8]), Checksum: database.Text(v[9]), Status: database.Text(v[10]), CreatedBy: database.Text(v[14]), AppliedSteps: int(database.Int64(v[15]))}
		if c := database.Text(v[6]); c != "" {
			m.Change = json.RawMessage(c)
			m.Changeset = changesetOf(m.Change)
		}
		if e := database.Text(v[11]); v[11] != nil {
			m.Error = &e
		}
		m.ExecutedAt = database.Time(v[12])
		if v[13] != nil {
			ms := database.Int64(v[13])
			m.DurationMs = &ms
		}
		if t := database.Time(v[16]); t != nil {
			m.CreatedAt = *t
		}
		if t := database.Time(v[17]); t != nil {
			m.UpdatedAt = *t
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func timeArg(d schema.Dialect, t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.TimeValue(*t)
}

// ConfirmHash binds a destructive request to exactly what it removes: the requested
// change and the removal it plans to, for this tenant.
func (s *Service) ConfirmHash(tenantID string, requested schema.Change, r schema.Removal) string {
	h := sha256.New()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write(mustJSON(requested))
	h.Write([]byte{0})
	h.Write(mustJSON(r))
	return hex.EncodeToString(h.Sum(nil))
}

// confirmToken signs (tenant, hash, expiry) so a confirmation is short-lived and
// cannot be forged or moved to another change.
func (s *Service) confirmToken(tenantID, hash string) string {
	exp := strconv.FormatInt(s.cfg.Now().Add(s.cfg.ConfirmTTL).UnixMilli(), 10)
	return exp + "." + s.sign(tenantID, hash, exp)
}

func (s *Service) sign(tenantID, hash, exp string) string {
	mac := hmac.New(sha256.New, s.cfg.Secret)
	mac.Write([]byte("schema-confirm\x00" + tenantID + "\x00" + hash + "\x00" + exp))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkConfirm returns why a confirmation is not valid, or "" when it is.
func (s *Service) checkConfirm(tenantID, want, gotHash, token string) string {
	if gotHash == "" || token == "" {
		return "send X-Schema-Confirm-Hash and X-Schema-Confirm-Token to confirm"
	}
	if !hmac.Equal([]byte(gotHash), []byte(want)) {
		return "the confirm hash does not match this change"
	}
	exp, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.sign(tenantID, want, exp))) {
		return "the confirm token is not valid for this change"
	}
	ms, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || s.cfg.Now().UnixMilli() > ms {
		return "the confirm token has expired"
	}
	return ""
}

// Confirm runs the confirm-hash challenge for a destructive operation that is not a
// schema change (deleting a tenant): nil when hash and token confirm subject.
func (s *Service) Confirm(tenantID, subject, gotHash, token string, dropped []string) error {
	r := schema.Removal{RemovedColumns: []string{}, DroppedTables: dropped}
	hash := s.ConfirmHash(tenantID, schema.Change{Type: schema.ChangeType(subject)}, r)
	if reason := s.checkConfirm(tenantID, hash, gotHash, token); reason != "" {
		return &ConfirmRequiredError{Hash: hash, Token: s.confirmToken(tenantID, hash), TTL: s.cfg.ConfirmTTL, Removal: r, Reason: reason}
	}
	return nil
}

// ChangesetHeld reports that a tenant already holds a changeset: executed (Pending is
// false) or waiting for approval (Pending). Partial says some of its migrations failed
// or were rolled back after others executed: it is neither applied nor absent.
type ChangesetHeld struct {
	Changeset  string
	Pending    bool
	Partial    bool
	Migrations []Migration
}

func (e *ChangesetHeld) Error() string {
	switch {
	case e.Partial:
		return fmt.Sprintf("changeset %s is partly applied: retry or roll back its migrations", e.Changeset)
	case e.Pending:
		return fmt.Sprintf("changeset %s waits for approval", e.Changeset)
	}
	return fmt.Sprintf("changeset %s is already applied", e.Changeset)
}

// What a tenant holds of a changeset, from its migrations (ChangesetState).
const (
	ChangesetAbsent  = ""        // none of it, or only failed, rejected or rolled back attempts
	ChangesetApplied = "applied" // executed (or running: being applied)
	ChangesetHeldBy  = "pending" // waiting for approval
	ChangesetPartial = "partial" // some executed, others failed or rolled back
)

// ChangesetState says what a tenant holds of a changeset, given its migrations of it.
func ChangesetState(list []Migration) string {
	live, dead, pending := 0, 0, false
	for _, m := range list {
		switch m.Status {
		case StatusExecuted, StatusRunning:
			live++
		case StatusPending, "approved":
			live++
			pending = true
		default: // failed, rejected, rolled back
			dead++
		}
	}
	switch {
	case live == 0:
		return ChangesetAbsent
	case pending:
		return ChangesetHeldBy
	case dead > 0:
		return ChangesetPartial
	}
	return ChangesetApplied
}

// checkChangeset refuses to run a changeset the tenant already holds (under its
// migration lock, so two runs of it cannot both start).
func checkChangeset(ctx context.Context, q schema.Querier, d schema.Dialect, name string) error {
	if name == "" {
		return nil
	}
	list, err := OfChangeset(ctx, q, d, name)
	if err != nil {
		return err
	}
	state := ChangesetState(list)
	if state == ChangesetAbsent {
		return nil
	}
	return &ChangesetHeld{Changeset: name, Pending: state == ChangesetHeldBy, Partial: state == ChangesetPartial, Migrations: list}
}
