package functions

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	json "github.com/goccy/go-json"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/functions/sandbox"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// hookIndex is a model's enabled hooks by "table event phase", lowest priority first
// (then by name, so the order is the same on every node).
type hookIndex map[string][]*schema.Function

// indexes caches each model's hook index: models are immutable, and Wants is asked on
// every write.
type indexes struct {
	mu sync.Mutex
	m  map[*schema.Model]hookIndex
}

func (ix *indexes) of(m *schema.Model) hookIndex {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if h, ok := ix.m[m]; ok {
		return h
	}
	h := hookIndex{}
	for i := range m.Functions {
		f := &m.Functions[i]
		if f.Kind == "hook" && f.Enabled {
			k := f.Table + " " + f.Event + " " + f.Phase
			h[k] = append(h[k], f)
		}
	}
	for _, fns := range h {
		slices.SortStableFunc(fns, func(a, b *schema.Function) int {
			return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.Name, b.Name))
		})
	}
	if ix.m == nil || len(ix.m) >= 512 {
		ix.m = map[*schema.Model]hookIndex{} // start over rather than grow with old models
	}
	ix.m[m] = h
	return h
}

// hooked lists the hooks of a write's table, event and phase.
func (s *Service) hooked(m *schema.Model, table, event, phase string) []*schema.Function {
	if len(m.Functions) == 0 {
		return nil
	}
	return s.hookIx.of(m)[table+" "+event+" "+phase]
}

// Wants implements records.TenantHooks.
func (s *Service) Wants(sc *records.Scope, table, action string) (before, after bool) {
	if sc.Model == nil || len(sc.Model.Functions) == 0 {
		return false, false
	}
	return len(s.hooked(sc.Model, table, action, "before")) > 0, len(s.hooked(sc.Model, table, action, "after")) > 0
}

// Prepare implements records.TenantHooks: the before hooks of a write, in priority
// order, inside its transaction. Each sees the payload as the previous one left it;
// a refusal or failure refuses the write.
func (s *Service) Prepare(ctx context.Context, q schema.Querier, w *records.Write) error {
	s.init()
	fns := s.hooked(w.Scope.Model, w.Table.Name, w.Action, "before")
	if len(fns) == 0 {
		return nil
	}
	if Depth(ctx) >= s.limits.HookDepth {
		return apierr.New(500, "FUNCTION_FAILED", "hooks fired by hooks' writes go at most %d deep: the write to %s would fire %s again", s.limits.HookDepth, w.Table.Name, fns[0].Name)
	}
	hsc := *w.Scope
	hsc.Tx = q // the hook reads inside the write
	var previous []map[string]any
	if w.Action != "create" {
		var err error
		if previous, err = s.rows(ctx, &hsc, w.Table, w.IDs); err != nil {
			return err
		}
	}
	var payload map[string]any
	if len(w.Data) > 0 {
		payload = w.Data[0]
	}
	for _, f := range fns {
		event := map[string]any{"table": w.Table.Name, "event": w.Action, "keys": w.IDs, "payload": payload, "previous": previous}
		run, err := s.Run(ctx, &hsc, f, Trigger{Kind: "hook", Event: event})
		if err != nil {
			return err
		}
		if err := Refusal(f, run.Outcome); err != nil {
			return err
		}
		if payload != nil && len(run.Outcome.Payload) > 0 {
			var next map[string]any
			dec := json.NewDecoder(bytes.NewReader(run.Outcome.Payload))
			dec.UseNumber()
			if err := dec.Decode(&next); err != nil || next == nil {
				return apierr.New(500, "FUNCTION_FAILED", "hook %s: ctx.event.payload must stay an object", f.Name)
			}
			clear(payload)
			maps.Copy(payload, next)
		}
	}
	return nil
}

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,63}$`)

// Refusal is a failed run as the contract answers it (nil for a success): a thrown
// error is a 500 FUNCTION_FAILED from an endpoint and a 400 FUNCTION_REJECTED from a
// before hook; ctx.reject chooses its own status and code.
func Refusal(f *schema.Function, out *sandbox.Outcome) error {
	msg := out.Error
	switch out.Status {
	case "success":
		return nil
	case "rejected":
		st, code := out.Reject.Status, out.Reject.Code
		if st < 400 || st > 599 {
			st = 400
		}
		if !codePattern.MatchString(code) {
			code = "FUNCTION_REJECTED"
		}
		return apierr.New(st, code, "%s", out.Reject.Message)
	case "timeout":
		return apierr.New(504, "FUNCTION_TIMEOUT", "function %s: %s", f.Name, msg)
	case "error":
		if f.Kind == "hook" {
			return apierr.New(400, "FUNCTION_REJECTED", "%s", msg)
		}
	}
	return apierr.New(500, "FUNCTION_FAILED", "function %s: %s", f.Name, msg)
}

// rows reads rows as they are, every column, whoever the caller: a hook's previous.
func (s *Service) rows(ctx context.Context, sc *records.Scope, t *schema.Table, ids []string) ([]map[string]any, error) {
	admin := *sc
	admin.Caller = nil
	return s.Records.Read(ctx, &admin, t, query.Params{}, ids)
}

// Written implements records.TenantHooks: each after hook of the write gets an outbox
// entry in the write's transaction, so it is delivered if and only if the write
// commits, even when this node stops first.
func (s *Service) Written(ctx context.Context, q schema.Querier, w *records.Write) error {
	s.init()
	fns := s.hooked(w.Scope.Model, w.Table.Name, w.Action, "after")
	if len(fns) == 0 {
		return nil
	}
	// Who wrote, so a hook that runs as its caller has their rights when delivered. A
	// platform admin has no role in the tenant: "admin" says so.
	var user any
	if c := w.Scope.Caller; c != nil && c.UserID != "" {
		user = map[string]any{"id": c.UserID, "role": database.NullText(c.RoleID), "kind": c.Kind, "admin": c.Admin() && c.RoleID == ""}
	}
	var events []any
	switch {
	case w.Action == "create":
		for i, id := range w.IDs {
			var payload map[string]any
			if i < len(w.Data) {
				payload = w.Data[i]
			}
			events = append(events, map[string]any{"table": w.Table.Name, "event": w.Action, "keys": []string{id}, "payload": payload, "previous": nil, "user": user})
		}
	default:
		events = append(events, map[string]any{"table": w.Table.Name, "event": w.Action, "keys": w.IDs, "payload": w.Payload(), "previous": nil, "user": user})
	}
	for _, f := range fns {
		if err := s.Outbox.Enqueue(ctx, q, w.Scope, OutboxKind, f.ID, events...); err != nil {
			return fmt.Errorf("after hook %s: %w", f.Name, err)
		}
	}
	return nil
}

// Committed implements records.TenantHooks: the write's after hooks, if it has any,
// are due now.
func (s *Service) Committed(_ context.Context, w *records.Write) {
	s.init()
	if len(s.hooked(w.Scope.Model, w.Table.Name, w.Action, "after")) > 0 {
		s.Outbox.Kick(w.Scope.TenantID, w.Scope)
	}
}
