package histgen

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"strata/schema"
)

// tableName makes a table name: now and then a long one (junction and index names
// derived from it then need shortening), now and then a dropped table's name again.
func (g *Gen) tableName() string {
	if len(g.Model.Dropped) > 0 && g.chance(0.15) {
		for _, i := range g.Rand.Perm(len(g.Model.Dropped)) {
			if name := g.Model.Dropped[i]; g.Model.Table(name) == nil {
				return name
			}
		}
	}
	prefix := pick(g, []string{"orders", "people", "notes", "events", "assets", "places"})
	if g.chance(0.1) { // long: up to the 63-character limit
		name := g.Name(prefix + "_with_a_rather_long_descriptive_name_and_then_some_more_and_more")
		keep := 40 + g.Rand.Intn(schema.MaxIdentifierLen-40+1)
		_, counter, _ := strings.Cut(name[len(prefix):], "_more_and_more_")
		return name[:keep-len(counter)-1] + "_" + counter
	}
	return g.Name(prefix)
}

func tablePath(name string) string { return "/tables/" + url.PathEscape(name) }

func makeCreateTable(g *Gen) (Step, bool) {
	m := g.Model
	if len(m.userTables()) >= g.MaxTables {
		return Step{}, false
	}
	name := g.tableName()
	var cols []*Column
	var bodies []any
	for i, n := 0, g.Rand.Intn(5); i < n; i++ {
		c := g.newColumn()
		cols = append(cols, c)
		bodies = append(bodies, c.body(g))
	}
	if bodies == nil {
		bodies = []any{}
	}
	body := map[string]any{"name": name, "columns": bodies}
	desc := ""
	if g.chance(0.2) {
		desc = "table " + name
		body["description"] = desc
	}
	// Now and then a relation created with the table, possibly to itself.
	var rel *Relation
	if g.chance(0.25) {
		targets := []string{name}
		for _, t := range m.userTables() {
			targets = append(targets, t.Name)
		}
		draft := &Table{Name: name, Columns: cols}
		kind, target := pick(g, []string{"many_to_one", "one_to_many", "one_to_one", "many_to_many"}), pick(g, targets)
		rel = g.relation(kind, draft, target)
		rb := rel.body()
		delete(rb, "table")
		body["relations"] = []any{rb}
	}
	return Step{Method: "POST", Path: "/tables", Body: body, Apply: func(m *Model, reply Reply) error {
		if m.Table(name) != nil {
			return fmt.Errorf("table %s exists already", name)
		}
		t := &Table{Name: name, Description: desc}
		for _, c := range cols {
			t.Columns = append(t.Columns, c.clone())
		}
		m.Tables = append(m.Tables, t)
		m.Dropped = slices.DeleteFunc(m.Dropped, func(n string) bool { return n == name })
		if rel == nil {
			return nil
		}
		rels, _ := reply.Get("data.table.relations").([]any)
		for _, x := range rels {
			if r, ok := x.(map[string]any); ok && r["name"] == rel.Name && r["table"] == name {
				return m.addRelation(rel, Reply{"relation": r})
			}
		}
		return fmt.Errorf("the answer lists no relation %q: %v", rel.Name, reply.Get("data.table"))
	}}, true
}

func makeRenameTable(g *Gen) (Step, bool) {
	tables := g.Model.Tables // a junction too: its relation follows
	if len(tables) == 0 {
		return Step{}, false
	}
	t := pick(g, tables)
	old, name := t.Name, g.tableName()
	body := map[string]any{"name": name}
	desc, describe := "", g.chance(0.2)
	if describe { // a rename and a description at once: two migrations
		desc = "renamed from " + old
		body["description"] = desc
	}
	return Step{Method: "PATCH", Path: tablePath(old), Body: body, Apply: func(m *Model, _ Reply) error {
		t := m.Table(old)
		if t == nil {
			return fmt.Errorf("no table %s in the model", old)
		}
		t.Name = name
		if describe {
			t.Description = desc
		}
		for _, r := range m.Relations {
			if r.Table == old {
				r.Table = name
			}
			if r.Target == old {
				r.Target = name
			}
			if r.Junction == old {
				r.Junction = name
			}
		}
		m.Dropped = slices.DeleteFunc(m.Dropped, func(n string) bool { return n == name })
		return nil
	}}, true
}

func makeDescribeTable(g *Gen) (Step, bool) {
	if len(g.Model.Tables) == 0 {
		return Step{}, false
	}
	t := pick(g, g.Model.Tables)
	name, desc := t.Name, pick(g, []string{"", "what it holds", "l'état — ünïcødé"})
	return Step{Method: "PATCH", Path: tablePath(name), Body: map[string]any{"description": desc}, Apply: func(m *Model, _ Reply) error {
		t := m.Table(name)
		if t == nil {
			return fmt.Errorf("no table %s in the model", name)
		}
		t.Description = desc
		return nil
	}}, true
}

func makeDropTable(g *Gen) (Step, bool) {
	tables := g.Model.userTables()
	if len(tables) <= g.MinTables {
		return Step{}, false
	}
	name := pick(g, tables).Name
	return Step{Method: "DELETE", Path: tablePath(name), Apply: func(m *Model, _ Reply) error {
		if m.Table(name) == nil {
			return fmt.Errorf("no table %s in the model", name)
		}
		for _, r := range slices.Clone(m.Relations) {
			if r.Table == name || r.Target == name {
				m.dropRelation(r)
			}
		}
		m.removeTable(name)
		m.Dropped = append(m.Dropped, name)
		return nil
	}}, true
}

func makeAddColumn(g *Gen) (Step, bool) {
	if len(g.Model.Tables) == 0 {
		return Step{}, false
	}
	t := pick(g, g.Model.Tables)
	if t.Junction && !g.chance(0.2) {
		t = pick(g, g.Model.Tables)
	}
	name, c := t.Name, g.newColumn()
	return Step{Method: "POST", Path: tablePath(name) + "/columns", Body: c.body(g), Apply: func(m *Model, _ Reply) error {
		t := m.Table(name)
		if t == nil {
			return fmt.Errorf("no table %s in the model", name)
		}
		t.Columns = append(t.Columns, c.clone())
		return nil
	}}, true
}

func makeAlterColumn(g *Gen) (Step, bool) {
	cols := g.Model.editableColumns()
	if len(cols) == 0 {
		return Step{}, false
	}
	tc := pick(g, cols)
	t := g.Model.Table(tc[0])
	c := t.Column(tc[1])
	n, patch, ok := g.alteration(t, c)
	if !ok {
		return Step{}, false
	}
	// A rename sent with the alteration: two migrations, confirmed together when the
	// alteration narrows the column.
	if g.chance(0.1) {
		n.Name = g.columnName()
		patch["name"] = n.Name
	}
	return Step{Method: "PATCH", Path: tablePath(t.Name) + "/columns/" + url.PathEscape(c.Name), Body: patch, Apply: func(m *Model, _ Reply) error {
		t := m.Table(tc[0])
		if t == nil || t.Column(tc[1]) == nil {
			return fmt.Errorf("no column %s.%s in the model", tc[0], tc[1])
		}
		i := slices.IndexFunc(t.Columns, func(x *Column) bool { return x.Name == tc[1] })
		t.Columns[i] = n.clone()
		t.renameInIndexes(tc[1], n.Name)
		return nil
	}}, true
}

func (t *Table) renameInIndexes(old, name string) {
	for _, ix := range t.Indexes {
		for i, c := range ix.Columns {
			if c == old {
				ix.Columns[i] = name
			}
		}
	}
}

func makeRenameColumn(g *Gen) (Step, bool) {
	cols := g.Model.editableColumns()
	if len(cols) == 0 {
		return Step{}, false
	}
	tc := pick(g, cols)
	name := g.columnName()
	return Step{Method: "PATCH", Path: tablePath(tc[0]) + "/columns/" + url.PathEscape(tc[1]), Body: map[string]any{"name": name}, Apply: func(m *Model, _ Reply) error {
		t := m.Table(tc[0])
		if t == nil || t.Column(tc[1]) == nil {
			return fmt.Errorf("no column %s.%s in the model", tc[0], tc[1])
		}
		t.Column(tc[1]).Name = name
		t.renameInIndexes(tc[1], name)
		return nil
	}}, true
}

func makeDropColumn(g *Gen) (Step, bool) {
	cols := g.Model.editableColumns()
	if len(cols) == 0 {
		return Step{}, false
	}
	tc := pick(g, cols)
	return Step{Method: "DELETE", Path: tablePath(tc[0]) + "/columns/" + url.PathEscape(tc[1]), Apply: func(m *Model, _ Reply) error {
		t := m.Table(tc[0])
		if t == nil || t.Column(tc[1]) == nil {
			return fmt.Errorf("no column %s.%s in the model", tc[0], tc[1])
		}
		t.removeColumn(tc[1])
		return nil
	}}, true
}

var onDelete = []string{"", "set_null", "cascade", "restrict", "no_action"}

// fieldTaken reports whether table t has a column or relation field called name.
func (m *Model) fieldTaken(t *Table, name string) bool {
	if t.Column(name) != nil || slices.Contains(systemColumns, name) {
		return true
	}
	for _, r := range m.Relations {
		if (r.Table == t.Name && r.Name == name) || (r.Target == t.Name && r.Inverse == name) {
			return true
		}
	}
	return false
}

// relation drafts a relation of kind from t to target (t may be a table about to be
// created, not yet in the model).
func (g *Gen) relation(kind string, t *Table, target string) *Relation {
	m := g.Model
	r := &Relation{Table: t.Name, Name: g.Name(pick(g, []string{"owner", "parent", "link", "tags", "buddy"})), Type: kind, Target: target}
	tt := m.Table(target)
	if target == t.Name {
		tt = t
	}
	switch {
	case kind == "one_to_many":
		// Now and then the server names the key column <table>_id, where that is free.
		def := t.Name + "_id"
		if !g.chance(0.3) || len(def) > schema.MaxIdentifierLen || m.fieldTaken(tt, def) || (target == t.Name && def == r.Name) {
			r.Inverse = g.Name("back")
		}
	case g.chance(0.5):
		r.Inverse = g.Name("back") // an alias on the target
	}
	if kind == "many_to_many" {
		j := t.Name + "_" + r.Name
		if g.chance(0.2) || (len(j) <= schema.MaxIdentifierLen && m.Table(j) != nil) {
			r.Junction = g.Name("junction")
		}
	}
	return r
}

// body renders a relation as the API takes it.
func (r *Relation) body() map[string]any {
	b := map[string]any{"table": r.Table, "name": r.Name, "type": r.Type, "target": r.Target}
	if r.Inverse != "" {
		b["inverse"] = r.Inverse
	}
	if r.Junction != "" {
		b["junction"] = r.Junction
	}
	return b
}

func relationMaker(kind string) func(g *Gen) (Step, bool) {
	return func(g *Gen) (Step, bool) {
		tables := g.Model.userTables()
		if len(tables) == 0 {
			return Step{}, false
		}
		t := pick(g, tables)
		target := pick(g, tables).Name
		if g.chance(0.15) {
			target = t.Name
		}
		r := g.relation(kind, t, target)
		body := r.body()
		if od := pick(g, onDelete); od != "" {
			body["on_delete"] = od
		}
		return Step{Method: "POST", Path: "/relations", Body: body, Apply: func(m *Model, reply Reply) error {
			return m.addRelation(r, Reply{"relation": reply.Get("data.relation")})
		}}, true
	}
}

// addRelation records a relation the server made: its id, the names it chose, and the
// key column or junction table it owns.
func (m *Model) addRelation(draft *Relation, reply Reply) error {
	r := *draft
	r.ID = reply.Text("relation.id")
	if r.ID == "" {
		return fmt.Errorf("the answer has no relation id: %v", reply)
	}
	r.Inverse, r.Junction = reply.Text("relation.inverse"), reply.Text("relation.junction")
	key := func(name string) *Column { return &Column{Name: name, Type: "uuid", Nullable: true, Key: true} }
	switch r.Type {
	case "many_to_one", "one_to_one":
		t := m.Table(r.Table)
		if t == nil {
			return fmt.Errorf("no table %s in the model", r.Table)
		}
		t.Columns = append(t.Columns, key(r.Name))
	case "one_to_many":
		t := m.Table(r.Target)
		if t == nil {
			return fmt.Errorf("no table %s in the model", r.Target)
		}
		t.Columns = append(t.Columns, key(r.Inverse))
	case "many_to_many":
		if r.Junction == "" {
			return fmt.Errorf("the answer names no junction table: %v", reply)
		}
		// The server's own naming (shortened when a table name is long).
		src, dst := schema.JunctionColumns(&schema.Relation{Table: r.Table, Target: r.Target})
		a, b := key(src), key(dst)
		a.Nullable, b.Nullable = false, false
		m.Tables = append(m.Tables, &Table{Name: r.Junction, Junction: true, Columns: []*Column{a, b}})
	}
	m.Relations = append(m.Relations, &r)
	return nil
}

func makeDropRelation(g *Gen) (Step, bool) {
	if len(g.Model.Relations) == 0 {
		return Step{}, false
	}
	id := pick(g, g.Model.Relations).ID
	return Step{Method: "DELETE", Path: "/relations/" + url.PathEscape(id), Apply: func(m *Model, _ Reply) error {
		for _, r := range m.Relations {
			if r.ID == id {
				m.dropRelation(r)
				return nil
			}
		}
		return fmt.Errorf("no relation %s in the model", id)
	}}, true
}

func makeAddIndex(g *Gen) (Step, bool) {
	if len(g.Model.Tables) == 0 {
		return Step{}, false
	}
	t := pick(g, g.Model.Tables)
	var cand []string
	for _, c := range t.Columns {
		if indexable(c.Type) {
			cand = append(cand, c.Name)
		}
	}
	if g.chance(0.3) {
		cand = append(cand, pick(g, systemColumns))
	}
	if len(cand) == 0 {
		return Step{}, false
	}
	n := 1 + g.Rand.Intn(min(3, len(cand)))
	var cols []string
	for _, i := range g.Rand.Perm(len(cand))[:n] {
		cols = append(cols, cand[i])
	}
	unique := g.chance(0.3)
	body := map[string]any{"columns": cols}
	if unique {
		body["unique"] = true
	}
	if g.chance(0.5) || g.Model.indexNameTaken(schema.DefaultIndexName(t.Name, cols)) {
		body["name"] = g.Name("ix")
	}
	name := t.Name
	return Step{Method: "POST", Path: tablePath(name) + "/indexes", Body: body, Apply: func(m *Model, reply Reply) error {
		ixName := reply.Text("data.index.name")
		if ixName == "" {
			return fmt.Errorf("the answer names no index: %v", reply)
		}
		t := m.Table(name)
		if t == nil {
			return fmt.Errorf("no table %s in the model", name)
		}
		t.Indexes = append(t.Indexes, &Index{Name: ixName, Columns: slices.Clone(cols), Unique: unique})
		return nil
	}}, true
}

func makeDropIndex(g *Gen) (Step, bool) {
	type ref struct{ table, index string }
	var all []ref
	for _, t := range g.Model.Tables {
		for _, ix := range t.Indexes {
			all = append(all, ref{t.Name, ix.Name})
		}
	}
	if len(all) == 0 {
		return Step{}, false
	}
	x := pick(g, all)
	return Step{Method: "DELETE", Path: tablePath(x.table) + "/indexes/" + url.PathEscape(x.index), Apply: func(m *Model, _ Reply) error {
		t := m.Table(x.table)
		if t == nil {
			return fmt.Errorf("no table %s in the model", x.table)
		}
		t.Indexes = slices.DeleteFunc(t.Indexes, func(ix *Index) bool { return ix.Name == x.index })
		return nil
	}}, true
}

// Summary counts the steps of each kind, for logs.
func Summary(steps []Step) string {
	count := map[string]int{}
	var kinds []string
	for _, s := range steps {
		if count[s.Kind] == 0 {
			kinds = append(kinds, s.Kind)
		}
		count[s.Kind]++
	}
	slices.Sort(kinds)
	var b strings.Builder
	for i, k := range kinds {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%d", k, count[k])
	}
	return b.String()
}
