package schema

import (
	"regexp"
	"slices"
	"strings"
)

// Function is tenant code the server runs: an endpoint, a hook on a table's writes, or
// a schedule. It is part of the model, so the migration history carries a tenant's
// functions with its tables: an export, a rollback or a replay into a sandbox moves
// them too. The model checks the definition's shape; what the source means (it
// transpiles, the cron expression parses) is checked by the functions module before
// the change is made, and Code is what it transpiled to.
type Function struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Kind      string `json:"kind"` // endpoint, hook, schedule
	Source    string `json:"source"`
	Code      string `json:"code"`
	Checksum  string `json:"checksum"` // sha256 of Source
	Enabled   bool   `json:"enabled"`
	TimeoutMs int    `json:"timeout_ms"`
	MemoryMB  int    `json:"memory_mb"`
	RunAs     string `json:"run_as"` // "caller" or a role id
	Method    string `json:"method,omitempty"`
	Path      string `json:"path,omitempty"`
	Table     string `json:"table,omitempty"`
	Event     string `json:"event,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Priority  int    `json:"priority,omitempty"`
	Cron      string `json:"cron,omitempty"`
}

// Function kinds, hook events and phases, endpoint methods.
var (
	FunctionKinds   = []string{"endpoint", "hook", "schedule"}
	HookEvents      = []string{"create", "update", "delete"}
	HookPhases      = []string{"before", "after"}
	EndpointMethods = []string{"GET", "POST", "PATCH", "PUT", "DELETE", "ANY"}
)

// Limits of a function's definition.
const (
	MaxFunctionSource  = 256 << 10
	MaxFunctionTimeout = 60000
	MaxFunctionMemory  = 512
	MaxFunctions       = 500
)

// HookTables are the system tables a hook may watch besides user tables: files and
// folders, whose rows are the tenant's own.
var HookTables = []string{FilesTable, FoldersTable}

var functionName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

var pathSegment = regexp.MustCompile(`^(:[a-z][a-z0-9_]*|[a-z0-9][a-z0-9_.-]*)$`)

// Function returns the function with the given id, or nil.
func (m *Model) Function(id string) *Function {
	for i := range m.Functions {
		if m.Functions[i].ID == id {
			return &m.Functions[i]
		}
	}
	return nil
}

// FunctionByName returns the named function, or nil.
func (m *Model) FunctionByName(name string) *Function {
	for i := range m.Functions {
		if m.Functions[i].Name == name {
			return &m.Functions[i]
		}
	}
	return nil
}

// SplitPath splits an endpoint path into its segments.
func SplitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func applyFunction(m *Model, c *Change, gen IDGen) error {
	switch c.Type {
	case CreateFunction:
		if c.Function == nil {
			return fieldErr("function", "is required")
		}
		if len(m.Functions) >= MaxFunctions {
			return fieldErr("function", "at most %d functions", MaxFunctions)
		}
		if c.Function.ID == "" {
			c.Function.ID = gen()
		}
		if m.Function(c.Function.ID) != nil {
			return fieldErr("id", "function %q exists", c.Function.ID)
		}
		if err := checkFunction(m, c.Function); err != nil {
			return err
		}
		m.Functions = append(m.Functions, *c.Function)
	case AlterFunction:
		if c.Function == nil {
			return fieldErr("function", "is required")
		}
		old := m.Function(c.Function.ID)
		if old == nil {
			return &NotFoundError{What: "function", Name: c.Function.ID}
		}
		if err := checkFunction(m, c.Function); err != nil {
			return err
		}
		*old = *c.Function
	case DropFunction:
		if c.Function == nil {
			return fieldErr("function", "is required")
		}
		i := slices.IndexFunc(m.Functions, func(f Function) bool { return f.ID == c.Function.ID })
		if i < 0 {
			return &NotFoundError{What: "function", Name: c.Function.ID}
		}
		// The resolved change carries the whole definition, for the history and undo.
		dropped := m.Functions[i]
		c.Function = &dropped
		m.Functions = slices.Delete(m.Functions, i, i+1)
	}
	slices.SortStableFunc(m.Functions, func(a, b Function) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

// checkFunction checks f's shape against the model it goes into.
func checkFunction(m *Model, f *Function) error {
	// A function's name is never SQL: any lower-case identifier will do, keywords too.
	if !functionName.MatchString(f.Name) {
		return fieldErr("name", "lower-case letters, digits and _, starting with a letter, at most 64")
	}
	if other := m.FunctionByName(f.Name); other != nil && other.ID != f.ID {
		return fieldErr("name", "a function %q exists", f.Name)
	}
	if !slices.Contains(FunctionKinds, f.Kind) {
		return fieldErr("kind", "must be one of %s", strings.Join(FunctionKinds, ", "))
	}
	switch {
	case strings.TrimSpace(f.Source) == "":
		return fieldErr("source", "is required")
	case len(f.Source) > MaxFunctionSource:
		return fieldErr("source", "at most %d bytes", MaxFunctionSource)
	case f.Code == "" || f.Checksum == "":
		return fieldErr("source", "was not compiled")
	case f.TimeoutMs < 1 || f.TimeoutMs > MaxFunctionTimeout:
		return fieldErr("timeout_ms", "between 1 and %d", MaxFunctionTimeout)
	case f.MemoryMB < 1 || f.MemoryMB > MaxFunctionMemory:
		return fieldErr("memory_mb", "between 1 and %d", MaxFunctionMemory)
	case f.RunAs != "caller" && !IsUUID(f.RunAs):
		return fieldErr("run_as", `"caller" or a role id`)
	}
	switch f.Kind {
	case "endpoint":
		if !slices.Contains(EndpointMethods, f.Method) {
			return fieldErr("method", "must be one of %s", strings.Join(EndpointMethods, ", "))
		}
		segs := SplitPath(f.Path)
		if len(segs) == 0 || len(segs) > 8 || len(f.Path) > 255 {
			return fieldErr("path", "between 1 and 8 segments, at most 255 characters")
		}
		for _, s := range segs {
			if !pathSegment.MatchString(s) {
				return fieldErr("path", "segment %q: lower-case letters, digits, _ . - or a :parameter", s)
			}
		}
		for _, o := range m.Functions {
			if o.ID != f.ID && o.Kind == "endpoint" && samePath(SplitPath(o.Path), segs) && (o.Method == f.Method || o.Method == "ANY" || f.Method == "ANY") {
				return fieldErr("path", "function %q answers %s %s already", o.Name, o.Method, o.Path)
			}
		}
	case "hook":
		t := m.Table(f.Table)
		if t == nil || (t.System && !slices.Contains(HookTables, t.Name)) {
			return fieldErr("table", "no table %q a hook may watch", f.Table)
		}
		if !slices.Contains(HookEvents, f.Event) {
			return fieldErr("event", "must be one of %s", strings.Join(HookEvents, ", "))
		}
		if !slices.Contains(HookPhases, f.Phase) {
			return fieldErr("phase", "must be one of %s", strings.Join(HookPhases, ", "))
		}
	case "schedule":
		if len(strings.Fields(f.Cron)) != 5 {
			return fieldErr("cron", "five fields: minute hour day month weekday")
		}
	}
	return nil
}

// samePath reports whether two endpoint paths are the same pattern (parameters match
// whatever their names). orders/:id and orders/stats are different: a request is
// matched by its fixed segments first.
func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		pa, pb := strings.HasPrefix(a[i], ":"), strings.HasPrefix(b[i], ":")
		if pa != pb || (!pa && a[i] != b[i]) {
			return false
		}
	}
	return true
}
