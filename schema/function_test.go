package schema

import (
	"strings"
	"testing"
)

func fn(name, kind string, set func(f *Function)) *Function {
	f := &Function{Name: name, Kind: kind, Source: "export default async () => 1", Code: "x", Checksum: "c", Enabled: true, TimeoutMs: 5000, MemoryMB: 64, RunAs: "caller"}
	switch kind {
	case "endpoint":
		f.Method, f.Path = "GET", "things/:id"
	case "hook":
		f.Table, f.Event, f.Phase = "posts", "create", "before"
	case "schedule":
		f.Cron = "* * * * *"
	}
	if set != nil {
		set(f)
	}
	return f
}

// TestFunctionChanges: a function's definition is checked against the model it goes
// into, and each change has an inverse that gives the model before it back.
func TestFunctionChanges(t *testing.T) {
	gen := counterIDs()
	m := blogModel(t, gen)
	refused := []struct {
		name string
		f    *Function
		want string
	}{
		{"bad name", fn("Bad-Name", "endpoint", nil), "name"},
		{"no kind", fn("x", "cron", nil), "kind"},
		{"no source", fn("x", "endpoint", func(f *Function) { f.Source = " " }), "source"},
		{"not compiled", fn("x", "endpoint", func(f *Function) { f.Code = "" }), "compiled"},
		{"timeout", fn("x", "endpoint", func(f *Function) { f.TimeoutMs = 60001 }), "timeout_ms"},
		{"memory", fn("x", "endpoint", func(f *Function) { f.MemoryMB = 0 }), "memory_mb"},
		{"run_as", fn("x", "endpoint", func(f *Function) { f.RunAs = "admin" }), "run_as"},
		{"method", fn("x", "endpoint", func(f *Function) { f.Method = "TRACE" }), "method"},
		{"path", fn("x", "endpoint", func(f *Function) { f.Path = "../etc" }), "path"},
		{"hook on a missing table", fn("x", "hook", func(f *Function) { f.Table = "nope" }), "table"},
		{"hook on identities", fn("x", "hook", func(f *Function) { f.Table = "strata_users" }), "table"},
		{"event", fn("x", "hook", func(f *Function) { f.Event = "read" }), "event"},
		{"cron", fn("x", "schedule", func(f *Function) { f.Cron = "@daily" }), "cron"},
	}
	m2, _ := mustApply(t, m, Change{Type: CreateTable, System: true, Create: &Table{Name: "strata_users", Columns: []Column{{Name: "email", Type: TypeString}}}}, gen)
	for _, c := range refused {
		if _, _, err := Apply(m2, Change{Type: CreateFunction, Function: c.f}, gen); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %s", c.name, err, c.want)
		}
	}

	after, created := mustApply(t, m, Change{Type: CreateFunction, Function: fn("get_thing", "endpoint", nil)}, gen)
	id := created.Function.ID
	if id == "" || after.Function(id) == nil || len(m.Functions) != 0 {
		t.Fatalf("create: %+v (the model before must not change)", created.Function)
	}
	// The same pattern twice is refused; a fixed segment beside a parameter is not.
	if _, _, err := Apply(after, Change{Type: CreateFunction, Function: fn("again", "endpoint", func(f *Function) { f.Path = "things/:other"; f.Method = "ANY" })}, gen); err == nil {
		t.Error("a second endpoint on things/:id was accepted")
	}
	if _, _, err := Apply(after, Change{Type: CreateFunction, Function: fn("stats", "endpoint", func(f *Function) { f.Path = "things/stats" })}, gen); err != nil {
		t.Errorf("things/stats beside things/:id: %v", err)
	}
	if _, _, err := Apply(after, Change{Type: CreateFunction, Function: fn("get_thing", "schedule", nil)}, gen); err == nil {
		t.Error("a second function named get_thing was accepted")
	}
	changed := *after.Function(id)
	changed.Path, changed.TimeoutMs = "items/:id", 100
	altered, alter := mustApply(t, after, Change{Type: AlterFunction, Function: &changed}, gen)
	dropped, drop := mustApply(t, altered, Change{Type: DropFunction, Function: &Function{ID: id}}, gen)
	if len(dropped.Functions) != 0 || drop.Function.Path != "items/:id" {
		t.Fatalf("drop: %+v, the resolved change must carry the definition dropped", drop.Function)
	}
	for _, step := range []struct {
		before, after *Model
		c             Change
	}{{m, after, created}, {after, altered, alter}, {altered, dropped, drop}} {
		inv, err := Inverse(step.before, step.after, step.c)
		if err != nil {
			t.Fatalf("inverse of %s: %v", step.c.Type, err)
		}
		back := step.after
		for _, c := range inv {
			back, _ = mustApply(t, back, c, panicIDs)
		}
		if !SameLive(back, step.before) {
			t.Errorf("inverse of %s does not give the model back", step.c.Type)
		}
	}

	// A hook follows its table's rename.
	hooked, _ := mustApply(t, m, Change{Type: CreateFunction, Function: fn("on_post", "hook", nil)}, gen)
	renamed, _ := mustApply(t, hooked, Change{Type: RenameTable, Table: "posts", NewName: "articles"}, gen)
	if f := renamed.FunctionByName("on_post"); f.Table != "articles" {
		t.Errorf("after the rename the hook watches %q", f.Table)
	}
}
