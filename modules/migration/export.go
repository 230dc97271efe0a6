package migration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"strata/modules/meta"
	"strata/schema"
)

// executedHistory lists a tenant's applied migrations in the order they ran: the
// executed ones and those rolled back since (their rollback follows them).
func executedHistory(ctx context.Context, q schema.Querier, d schema.Dialect) ([]Migration, error) {
	all, _, err := List(ctx, q, d, ListFilter{Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	list := all[:0]
	for _, m := range all {
		// A failed migration resolved as rolled_back by hand never ran: it has no
		// executed_at and no rollback after it, so it is no part of the history.
		if m.Status == StatusExecuted || (m.Status == StatusRolledBack && m.ExecutedAt != nil) {
			list = append(list, m)
		}
	}
	slices.SortStableFunc(list, func(a, b Migration) int {
		if a.ExecutedAt != nil && b.ExecutedAt != nil && !a.ExecutedAt.Equal(*b.ExecutedAt) {
			return a.ExecutedAt.Compare(*b.ExecutedAt)
		}
		return int(a.Seq - b.Seq)
	})
	return list, nil
}

// ExportSQL renders the executed history as one SQL script that builds the schema from
// empty on dialect target: each stored dialect-neutral change is planned again for it.
func ExportSQL(ctx context.Context, q schema.Querier, d, target schema.Dialect, tenant string, now time.Time) (string, error) {
	list, err := executedHistory(ctx, q, d)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- Strata schema export\n-- tenant: %s\n-- dialect: %s\n-- migrations: %d\n-- generated: %s\n-- Run on an empty %s.\n",
		tenant, target.Name(), len(list), now.UTC().Format(time.RFC3339), map[string]string{"postgres": "schema (set search_path first)", "mysql": "database", "sqlite": "database file"}[target.Name()])
	model := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	for _, m := range list {
		var change schema.Change
		if err := json.Unmarshal(m.Change, &change); err != nil || change.Type == "" {
			return "", fmt.Errorf("migration %d has no dialect-neutral change to export", m.Seq)
		}
		after, resolved, err := schema.Apply(model, change, func() string { return "" })
		if err != nil {
			return "", fmt.Errorf("replay migration %d: %w", m.Seq, err)
		}
		plan, err := target.Plan(model, resolved)
		if err != nil {
			return "", fmt.Errorf("plan migration %d: %w", m.Seq, err)
		}
		up := plan.UpSQL()
		fmt.Fprintf(&b, "\n-- seq %d: %s (%s), checksum %s\n%s", m.Seq, m.Name, m.Type, checksum(up), up)
		if change.Type.IsFunctionChange() && resolved.Function != nil {
			// A function is Strata's metadata, not the database's: nothing here builds it.
			fmt.Fprintf(&b, "-- function %s has no SQL: the JSON export (format=json) carries it\n", resolved.Function.Name)
		}
		model = after
	}
	// What the history left in the trash is gone for users: the script drops it, so
	// the schema it builds has no strata_del_… leftovers. (The history itself keeps the
	// soft drops: a later restore or rollback in it needs the trashed names.)
	for _, tr := range schema.PurgeOrder(model.Trash) {
		after, resolved, err := schema.Apply(model, schema.Change{Type: schema.Purge, TrashID: tr.ID}, func() string { return "" })
		if err != nil {
			return "", fmt.Errorf("purge trashed %s: %w", tr.TrashName, err)
		}
		plan, err := target.Plan(model, resolved)
		if err != nil {
			return "", fmt.Errorf("plan purge of %s: %w", tr.TrashName, err)
		}
		what := tr.Table
		if tr.Column != "" {
			what += "." + tr.Column
		}
		fmt.Fprintf(&b, "\n-- trash: %s %s, dropped in the history and never restored\n%s", tr.Kind, what, plan.UpSQL())
		model = after
	}
	return b.String(), nil
}

// Bundle is the portable export of a history: the dialect-neutral changes in the order
// they ran, replayable onto any dialect.
type Bundle struct {
	Format     string         `json:"format"`
	Tenant     string         `json:"tenant"`
	Generated  time.Time      `json:"generated"`
	Migrations []BundleRecord `json:"migrations"`
}

// BundleRecord is one migration of a Bundle.
type BundleRecord struct {
	Seq      int64           `json:"seq"`
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Checksum string          `json:"checksum"`
	Change   json.RawMessage `json:"change"`
}

// ExportBundle returns the executed history as a Bundle.
func ExportBundle(ctx context.Context, q schema.Querier, d schema.Dialect, tenant string, now time.Time) (*Bundle, error) {
	list, err := executedHistory(ctx, q, d)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Format: "strata-migrations/1", Tenant: tenant, Generated: now.UTC(), Migrations: []BundleRecord{}}
	for _, m := range list {
		b.Migrations = append(b.Migrations, BundleRecord{Seq: m.Seq, Name: m.Name, Type: m.Type, Checksum: m.Checksum, Change: m.Change})
	}
	return b, nil
}

// Drift compares a tenant's live schema with its metadata: the missing, extra and
// different tables, columns, indexes and foreign keys, one line each (none when in
// sync).
func Drift(ctx context.Context, q schema.Querier, d schema.Dialect) ([]string, error) {
	m, err := meta.Load(ctx, q, d)
	if err != nil {
		return nil, err
	}
	live, err := d.Inspect(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("inspect the live schema: %w", err)
	}
	diff := schema.CompareLive(schema.ExpectedLive(d, m), live)
	if diff == nil {
		diff = []string{}
	}
	return diff, nil
}
