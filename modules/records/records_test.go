package records

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/query"
	"strata/schema"
)

// published records what a Publisher was told.
type published []string

func (p *published) Publish(_ context.Context, sc *Scope, table, action string, ids []string) {
	*p = append(*p, sc.TenantID+" "+table+" "+action+" "+strings.Join(ids, ","))
}

// fixture is a SQLite database with one table, notes(text), and an admin scope on it.
func fixture(t *testing.T) (*Service, *Scope, *schema.Table, *published) {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	empty := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	gen := func() string { return uuid.Must(uuid.NewV7()).String() }
	m, resolved, err := schema.Apply(empty, schema.Change{Type: schema.CreateTable, Create: &schema.Table{Name: "notes",
		Columns: []schema.Column{{Name: "text", Type: schema.TypeString, Nullable: true}}}}, gen)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := db.Dialect.Plan(empty, resolved)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range plan.Steps {
		for _, q := range step.Up {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	pub := &published{}
	s := &Service{Limits: query.Limits{}.WithDefaults(), MaxBatch: 10, Now: time.Now, Publisher: pub}
	sc := &Scope{TenantID: "t1", DB: db, Model: m, Caller: &access.Caller{Kind: "platform", Policy: &access.Policy{Admin: true}}}
	return s, sc, m.Table("notes"), pub
}

func texts(t *testing.T, s *Service, sc *Scope, tbl *schema.Table) []string {
	t.Helper()
	res, err := s.List(context.Background(), sc, tbl, query.Params{"fields": {"text"}, "sort": {"text"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Data {
		out = append(out, r["text"].(string))
	}
	return out
}

// TestHooksRunInOrderAroundTheWrite: before hooks see the write inside its
// transaction and can refuse it (nothing is left written, nothing announced); after
// hooks and the publisher see only committed writes.
func TestHooksRunInOrderAroundTheWrite(t *testing.T) {
	s, sc, notes, pub := fixture(t)
	ctx := context.Background()
	var seen []string
	refuse := ""
	s.Hooks.Before = append(s.Hooks.Before,
		func(ctx context.Context, q schema.Querier, w *Write) error {
			// Inside the transaction: the rows written are already there to read.
			var n int
			if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM "notes"`).Scan(&n); err != nil {
				return err
			}
			seen = append(seen, "before1 "+w.Action+" "+strings.Repeat("*", n))
			return nil
		},
		func(_ context.Context, _ schema.Querier, w *Write) error {
			seen = append(seen, "before2 "+w.Action)
			if w.Action == refuse {
				return apierr.Forbidden("refused by a hook")
			}
			return nil
		})
	s.Hooks.After = append(s.Hooks.After, func(_ context.Context, w *Write) {
		seen = append(seen, "after "+w.Action+" "+strings.Join(w.IDs, ","))
	})

	ids, err := s.Create(ctx, sc, notes, []map[string]any{{"text": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"before1 create *", "before2 create", "after create " + ids[0]}
	if !slices.Equal(seen, want) {
		t.Fatalf("hooks of a create: %q, want %q", seen, want)
	}
	if !slices.Equal(*pub, []string{"t1 notes create " + ids[0]}) {
		t.Fatalf("published: %q", *pub)
	}

	for _, tc := range []struct {
		action string
		write  func() error
	}{
		{"create", func() error { _, err := s.Create(ctx, sc, notes, []map[string]any{{"text": "b"}}); return err }},
		{"update", func() error {
			return s.Update(ctx, sc, notes, []Change{{IDs: ids, Data: map[string]any{"text": "z"}}}, ids, true)
		}},
		{"delete", func() error { return s.Delete(ctx, sc, notes, ids, true) }},
	} {
		seen, *pub, refuse = nil, nil, tc.action
		var ae *apierr.Error
		if err := tc.write(); !errors.As(err, &ae) || ae.Status != 403 {
			t.Errorf("%s refused by a hook: %v", tc.action, err)
		}
		if got := texts(t, s, sc, notes); !slices.Equal(got, []string{"a"}) {
			t.Errorf("%s refused by a hook left %q", tc.action, got)
		}
		if len(*pub) > 0 || slices.ContainsFunc(seen, func(x string) bool { return strings.HasPrefix(x, "after") }) {
			t.Errorf("%s refused by a hook was announced: %q %q", tc.action, *pub, seen)
		}
	}
}

// TestGuardsRefuseBeforeWriting: a caller without the action's rule is refused, 401
// when anonymous and 403 otherwise, and a field outside the rule's list is a 403
// naming the field.
func TestGuardsRefuseBeforeWriting(t *testing.T) {
	s, admin, notes, _ := fixture(t)
	ctx := context.Background()
	anon := *admin
	anon.Caller = &access.Caller{Kind: "anonymous", Policy: &access.Policy{}}
	user := *admin
	user.Caller = &access.Caller{Kind: "user", UserID: uuid.NewString(), Policy: &access.Policy{}}
	for _, tc := range []struct {
		name   string
		sc     *Scope
		status int
	}{{"anonymous", &anon, 401}, {"user without a rule", &user, 403}} {
		_, err := s.Create(ctx, tc.sc, notes, []map[string]any{{"text": "x"}})
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Status != tc.status {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.status)
		}
	}
	if got := texts(t, s, admin, notes); len(got) != 0 {
		t.Errorf("refused writes left %q", got)
	}
	if _, err := s.Create(ctx, admin, notes, make([]map[string]any, 11)); err == nil || !strings.Contains(err.Error(), "at most 10") {
		t.Errorf("a batch past MaxBatch: %v", err)
	}
}
