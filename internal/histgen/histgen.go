// Package histgen generates random, valid schema histories for property tests: from a
// seed, a sequence of schema writes over Strata's tenant HTTP API (create, alter,
// rename and drop tables and columns, relations of every kind, indexes, rollbacks of
// earlier migrations), each one valid given those before it, and now and then a
// request the server must refuse (Step.Expect).
//
// It keeps a small model of what exists so it never asks for the impossible: a step
// the server refuses is a disagreement between this model and the server, worth
// reading. It does not send requests; the caller does, then commits the answer.
//
// Step kinds are Makers, weighted. A new kind is one more Maker appended to the list
// (see Default): a function that looks at the model and returns a step, or nothing
// when the model has nothing it applies to.
package histgen

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strata/internal/testkit"
)

// Step is one schema write, relative to the tenant base URL /api/t/{tenant}.
type Step struct {
	Kind   string
	Method string
	Path   string
	Body   any
	// Apply records the step's effect in the model once the server accepted it; reply
	// is the server's answer (for the ids and names it chose). Nil: no effect. It may
	// run again on an earlier copy of the model, when a rollback undoes a step before
	// this one and the model is rebuilt: it must not keep pointers into the model or
	// hand it pointers of its own.
	Apply func(m *Model, reply Reply) error
	// Expect is the status the server must answer: 0 for 200 (accepted, answering a
	// confirm challenge if one comes), or 400 for a request it must refuse as invalid
	// (code INVALID_PAYLOAD, naming Field), which changes nothing.
	Expect int
	Field  string
}

// String renders the step as a request line, for failure messages.
func (s Step) String() string {
	if s.Body == nil {
		return fmt.Sprintf("[%s] %s %s", s.Kind, s.Method, s.Path)
	}
	b, _ := json.Marshal(s.Body)
	return fmt.Sprintf("[%s] %s %s %s", s.Kind, s.Method, s.Path, b)
}

// Reply is a decoded JSON answer of the server.
type Reply = testkit.Reply

// Maker makes steps of one kind.
type Maker struct {
	Kind   string
	Weight int
	// Make returns the next step of this kind, or false when the model has nothing it
	// applies to. It may draw from g.Rand but must not change g.Model: the step's
	// Apply does that once the server accepted it.
	Make func(g *Gen) (Step, bool)
}

// MigrationRef is a migration the server recorded for a committed step.
type MigrationRef struct {
	ID   string
	Seq  int64
	Type string
	Step int // index of the step that made it
	// RolledBack is set once a later rollback undid it.
	RolledBack bool
}

// committed is a step the server answered, kept so that a rollback can put the model
// back: the model before it, and what its Apply needs to run again.
type committed struct {
	step   Step
	reply  Reply
	before *Model
	// migrations indexes g.Migrations: the ones this step made.
	migrations []int
	rollback   bool // a rollback step: undoing it is not a thing
	undone     bool // rolled back by a later step
}

// Gen generates one history.
type Gen struct {
	Rand  *rand.Rand
	Model *Model
	// Migrations lists the migrations of the committed steps, in order (a step may
	// record two: a rename and an alter sent together).
	Migrations []MigrationRef
	// MaxTables and MinTables bound the number of user tables (junctions not counted).
	MaxTables, MinTables int
	// Dialect is the tenant's ("postgres", "mysql", "sqlite"; "" when unknown). The
	// steps made to be accepted stay within every dialect's limits, since a history is
	// replayed onto the others; on "mysql" the generator also makes steps beyond
	// MySQL's own limits, which the server must refuse.
	Dialect string
	makers  []Maker
	names   int
	history []*committed
}

// New returns a generator for seed using makers (Default() when none are given).
func New(seed int64, makers ...Maker) *Gen {
	if len(makers) == 0 {
		makers = Default()
	}
	return &Gen{Rand: rand.New(rand.NewSource(seed)), Model: &Model{}, MaxTables: 12, MinTables: 3, makers: makers}
}

// Next returns the next step: a weighted pick among the makers that apply.
func (g *Gen) Next() Step {
	avail := make([]int, len(g.makers))
	for i := range avail {
		avail[i] = i
	}
	for len(avail) > 0 {
		total := 0
		for _, i := range avail {
			total += g.makers[i].Weight
		}
		if total <= 0 {
			break
		}
		r := g.Rand.Intn(total)
		k := 0
		for r >= g.makers[avail[k]].Weight {
			r -= g.makers[avail[k]].Weight
			k++
		}
		m := g.makers[avail[k]]
		if s, ok := m.Make(g); ok {
			if s.Kind == "" {
				s.Kind = m.Kind
			}
			return s
		}
		avail = append(avail[:k], avail[k+1:]...)
	}
	// Nothing applies (an empty model with table creation capped): make a table anyway.
	s, _ := makeCreateTable(g)
	s.Kind = "create_table"
	return s
}

// Commit records a step the server answered as expected in the model, with the
// migrations the answer names (a rollback's answer names several).
func (g *Gen) Commit(s Step, reply Reply) error {
	c := &committed{step: s, reply: reply, before: g.Model.Clone(), rollback: s.Kind == "rollback"}
	if s.Apply != nil && s.Expect == 0 {
		if err := s.Apply(g.Model, reply); err != nil {
			return fmt.Errorf("%s: %w", s.Kind, err)
		}
	}
	var list []any
	for _, path := range []string{"data.previous_migrations", "data.migrations"} {
		if l, ok := reply.Get(path).([]any); ok {
			list = append(list, l...)
		}
	}
	for _, m := range append(list, reply.Get("data.migration")) {
		mm, ok := m.(map[string]any)
		if !ok {
			continue
		}
		id, _ := mm["id"].(string)
		seq, _ := mm["seq"].(float64)
		typ, _ := mm["type"].(string)
		c.migrations = append(c.migrations, len(g.Migrations))
		g.Migrations = append(g.Migrations, MigrationRef{ID: id, Seq: int64(seq), Type: typ, Step: len(g.history)})
	}
	g.history = append(g.history, c)
	return nil
}

// Name makes a new identifier: prefix, then a counter that keeps every name of the
// history unique (so fields, tables, junctions and indexes never collide by accident).
func (g *Gen) Name(prefix string) string {
	g.names++
	return fmt.Sprintf("%s_%d", prefix, g.names)
}

// pick returns a random element.
func pick[T any](g *Gen, list []T) T { return list[g.Rand.Intn(len(list))] }

// chance is true with probability p.
func (g *Gen) chance(p float64) bool { return g.Rand.Float64() < p }

// Default lists the step kinds of a schema history with their weights. A new kind is
// one more entry, here or appended by a caller.
func Default() []Maker {
	return []Maker{
		{Kind: "create_table", Weight: 8, Make: makeCreateTable},
		{Kind: "rename_table", Weight: 4, Make: makeRenameTable},
		{Kind: "describe_table", Weight: 2, Make: makeDescribeTable},
		{Kind: "drop_table", Weight: 3, Make: makeDropTable},
		{Kind: "add_column", Weight: 14, Make: makeAddColumn},
		{Kind: "alter_column", Weight: 14, Make: makeAlterColumn},
		{Kind: "rename_column", Weight: 6, Make: makeRenameColumn},
		{Kind: "drop_column", Weight: 5, Make: makeDropColumn},
		{Kind: "add_relation:many_to_one", Weight: 3, Make: relationMaker("many_to_one")},
		{Kind: "add_relation:one_to_many", Weight: 3, Make: relationMaker("one_to_many")},
		{Kind: "add_relation:one_to_one", Weight: 3, Make: relationMaker("one_to_one")},
		{Kind: "add_relation:many_to_many", Weight: 3, Make: relationMaker("many_to_many")},
		{Kind: "drop_relation", Weight: 4, Make: makeDropRelation},
		{Kind: "add_index", Weight: 7, Make: makeAddIndex},
		{Kind: "drop_index", Weight: 4, Make: makeDropIndex},
		{Kind: "rollback", Weight: 5, Make: makeRollback},
		{Kind: "refused", Weight: 2, Make: makeRefused},
	}
}
