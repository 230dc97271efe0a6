package rest

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/modules/functions"
	"strata/modules/identity"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// functionInput is a function as a client writes it; nil fields keep their value on
// PATCH (and take the defaults on POST).
type functionInput struct {
	Name      *string `json:"name"`
	Kind      *string `json:"kind"`
	Source    *string `json:"source"`
	Enabled   *bool   `json:"enabled"`
	TimeoutMs *int    `json:"timeout_ms"`
	MemoryMB  *int    `json:"memory_mb"`
	RunAs     *string `json:"run_as"`
	Method    *string `json:"method"`
	Path      *string `json:"path"`
	Table     *string `json:"table"`
	Event     *string `json:"event"`
	Phase     *string `json:"phase"`
	Priority  *int    `json:"priority"`
	Cron      *string `json:"cron"`
}

func (in functionInput) onto(f *schema.Function) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&f.Name, in.Name)
	set(&f.Kind, in.Kind)
	set(&f.Source, in.Source)
	set(&f.RunAs, in.RunAs)
	set(&f.Method, in.Method)
	set(&f.Path, in.Path)
	set(&f.Table, in.Table)
	set(&f.Event, in.Event)
	set(&f.Phase, in.Phase)
	set(&f.Cron, in.Cron)
	if in.Enabled != nil {
		f.Enabled = *in.Enabled
	}
	if in.TimeoutMs != nil {
		f.TimeoutMs = *in.TimeoutMs
	}
	if in.MemoryMB != nil {
		f.MemoryMB = *in.MemoryMB
	}
	if in.Priority != nil {
		f.Priority = *in.Priority
	}
}

// functionView is a function as the API shows it: everything but the transpiled code.
func functionView(f *schema.Function) fiber.Map {
	if f == nil {
		return nil
	}
	v := fiber.Map{"id": f.ID, "name": f.Name, "kind": f.Kind, "source": f.Source, "checksum": f.Checksum, "enabled": f.Enabled,
		"timeout_ms": f.TimeoutMs, "memory_mb": f.MemoryMB, "run_as": f.RunAs}
	switch f.Kind {
	case "endpoint":
		v["method"], v["path"] = f.Method, f.Path
	case "hook":
		v["table"], v["event"], v["phase"], v["priority"] = f.Table, f.Event, f.Phase, f.Priority
	case "schedule":
		v["cron"] = f.Cron
	}
	return v
}

func (a *API) listFunctions(c *fiber.Ctx) error {
	m, err := a.model(c)
	if err != nil {
		return err
	}
	out := make([]fiber.Map, 0, len(m.Functions))
	for i := range m.Functions {
		out = append(out, functionView(&m.Functions[i]))
	}
	return c.JSON(fiber.Map{"data": out})
}

// function finds the :id function in the request's model, with the request's scope.
func (a *API) function(c *fiber.Ctx) (*records.Scope, *schema.Function, error) {
	sc, err := a.scope(c)
	if err != nil {
		return nil, nil, err
	}
	f := sc.Model.Function(c.Params("id"))
	if f == nil {
		return nil, nil, apierr.NotFound("function %q not found", c.Params("id"))
	}
	return sc, f, nil
}

func (a *API) getFunction(c *fiber.Ctx) error {
	_, f, err := a.function(c)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": functionView(f)})
}

func (a *API) createFunction(c *fiber.Ctx) error {
	var in functionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	f := schema.Function{Enabled: true}
	in.onto(&f)
	if err := a.checkFunction(c, &f); err != nil {
		return err
	}
	res, err := a.apply(c, schema.Change{Type: schema.CreateFunction, Function: &f})
	if err != nil {
		return err
	}
	a.logExecuted(c, res, "create", "function_definition", res.Change.Function.ID)
	return respond(c, res, "function", functionView(res.Change.Function))
}

func (a *API) patchFunction(c *fiber.Ctx) error {
	var in functionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	_, old, err := a.function(c)
	if err != nil {
		return err
	}
	f := *old
	in.onto(&f)
	if err := a.checkFunction(c, &f); err != nil {
		return err
	}
	res, err := a.apply(c, schema.Change{Type: schema.AlterFunction, Function: &f})
	if err != nil {
		return err
	}
	a.logExecuted(c, res, "update", "function_definition", f.ID)
	return respond(c, res, "function", functionView(res.Change.Function))
}

func (a *API) deleteFunction(c *fiber.Ctx) error {
	if _, _, err := a.function(c); err != nil {
		return err
	}
	res, err := a.apply(c, schema.Change{Type: schema.DropFunction, Function: &schema.Function{ID: c.Params("id")}})
	if err != nil {
		return err
	}
	a.logExecuted(c, res, "delete", "function_definition", c.Params("id"))
	return respond(c, res, "", nil)
}

// checkFunction completes a definition (defaults, transpiled code) and checks the role
// it runs as is one of the tenant's.
func (a *API) checkFunction(c *fiber.Ctx, f *schema.Function) error {
	if err := functions.Prepare(f); err != nil {
		return err
	}
	if f.RunAs != "caller" && schema.IsUUID(f.RunAs) && !identity.RoleExists(c.UserContext(), tenantOf(c).identity(nil), f.RunAs) {
		return apierr.InvalidPayload("run_as", "no role %q", f.RunAs)
	}
	return nil
}

// runFunction is the test button: the function runs now with the input given, as the
// admin who asked, and its outcome is the answer whatever it is.
func (a *API) runFunction(c *fiber.Ctx) error {
	sc, f, err := a.function(c)
	if err != nil {
		return err
	}
	var body struct {
		Input  json.RawMessage   `json:"input"`
		Params map[string]string `json:"params"` // an endpoint's path parameters
		Query  map[string]string `json:"query"`
	}
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decode(c, &body); err != nil {
			return err
		}
	}
	tr := functions.Trigger{Kind: "manual", Input: body.Input}
	switch f.Kind {
	case "endpoint":
		if body.Params == nil {
			body.Params = map[string]string{}
		}
		if body.Query == nil {
			body.Query = map[string]string{}
		}
		tr.Request = map[string]any{"method": f.Method, "path": f.Path, "params": body.Params, "query": body.Query, "headers": map[string]string{}, "body": body.Input}
	case "hook":
		tr.Event = map[string]any{"table": f.Table, "event": f.Event, "keys": []string{}, "payload": body.Input, "previous": nil}
	}
	run, err := a.Functions.Run(c.UserContext(), sc, f, tr)
	if err != nil {
		return err
	}
	out := run.Outcome
	data := fiber.Map{"id": run.ID, "status": out.Status, "output": out.Output, "logs": out.Logs, "duration_ms": run.Duration.Milliseconds(), "error": nil}
	if out.Response != nil {
		data["output"] = out.Response
	}
	if out.Logs == nil {
		data["logs"] = []any{}
	}
	if out.Error != "" {
		data["error"] = out.Error
	}
	return c.JSON(fiber.Map{"data": data})
}

// listRuns is a function's run log, in the query language.
func (a *API) listRuns(c *fiber.Ctx) error {
	sc, f, err := a.function(c)
	if err != nil {
		return err
	}
	t := sc.Model.Table(functions.RunsTable)
	if t == nil {
		return apierr.NotFound("no run log yet")
	}
	p := params(c)
	if len(p["sort"]) == 0 {
		p["sort"] = []string{"-started_at"}
	}
	q, err := a.Records.Resolver(sc).Parse(t, p)
	if err != nil {
		return err
	}
	q.Filter = query.And(q.Filter, &query.Cond{Kind: query.CondLeaf, Column: t.Column("function_id"), Op: "_eq", Value: f.ID})
	res, err := a.Records.Runner(sc).Run(c.UserContext(), q)
	if err != nil {
		return err
	}
	return listing(c, res)
}

// listSecrets names the tenant's secrets; their values are never returned.
func (a *API) listSecrets(c *fiber.Ctx) error {
	tc := tenantOf(c)
	d := tc.db.Dialect
	qi := d.Quote
	rows, err := tc.db.QueryContext(c.UserContext(), "SELECT "+qi("name")+", "+qi("created_at")+", "+qi("updated_at")+" FROM "+qi(functions.SecretsTable)+" ORDER BY "+qi("name"))
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []fiber.Map{}
	for rows.Next() {
		var name, created, updated any
		if err := rows.Scan(&name, &created, &updated); err != nil {
			return err
		}
		out = append(out, fiber.Map{"name": database.Text(name), "created_at": database.Time(created), "updated_at": database.Time(updated)})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": out})
}

// MaxSecrets bounds a tenant's secrets; MaxSecretValue one value.
const (
	MaxSecrets     = 100
	MaxSecretValue = 8 << 10
)

func (a *API) putSecret(c *fiber.Ctx) error {
	name := c.Params("name")
	if err := schema.ValidateIdentifier("name", strings.ToLower(name)); err != nil || len(name) > 64 {
		return apierr.InvalidPayload("name", "a secret's name is letters, digits and _, starting with a letter, at most 64")
	}
	var body struct {
		Value *string `json:"value"`
	}
	if err := decode(c, &body); err != nil {
		return err
	}
	if body.Value == nil || len(*body.Value) > MaxSecretValue {
		return apierr.InvalidPayload("value", "value is a string of at most %d bytes", MaxSecretValue)
	}
	tc := tenantOf(c)
	d := tc.db.Dialect
	qi := d.Quote
	ctx := c.UserContext()
	now := d.TimeValue(time.Now().UTC())
	tx, err := tc.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	res, err := tx.ExecContext(ctx, d.Rebind("UPDATE "+qi(functions.SecretsTable)+" SET "+qi("value")+" = ?, "+qi("updated_at")+" = ? WHERE "+qi("name")+" = ?"), *body.Value, now, name)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if n, _ := res.RowsAffected(); n == 0 {
		var count any
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+qi(functions.SecretsTable)).Scan(&count); err != nil {
			return err
		}
		if database.Int64(count) >= MaxSecrets {
			return apierr.InvalidPayload("name", "at most %d secrets", MaxSecrets)
		}
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO "+qi(functions.SecretsTable)+" ("+qi("id")+", "+qi("name")+", "+qi("value")+", "+qi("created_at")+", "+qi("updated_at")+") VALUES (?, ?, ?, ?, ?)"),
			a.NewID(), name, *body.Value, now, now); err != nil {
			return err
		}
		status = fiber.StatusCreated
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.Functions.InvalidateSecrets(tc.t.ID)
	action := "update"
	if status == fiber.StatusCreated {
		action = "create"
	}
	a.logChange(c, action, functions.SecretsTable, name)
	return c.Status(status).JSON(fiber.Map{"data": fiber.Map{"name": name}})
}

func (a *API) deleteSecret(c *fiber.Ctx) error {
	tc := tenantOf(c)
	d := tc.db.Dialect
	res, err := tc.db.ExecContext(c.UserContext(), d.Rebind("DELETE FROM "+d.Quote(functions.SecretsTable)+" WHERE "+d.Quote("name")+" = ?"), c.Params("name"))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apierr.NotFound("secret %q not found", c.Params("name"))
	}
	a.Functions.InvalidateSecrets(tc.t.ID)
	a.logChange(c, "delete", functions.SecretsTable, c.Params("name"))
	return c.SendStatus(fiber.StatusNoContent)
}

// droppedHeaders are not handed to an endpoint: the caller's credentials are ctx.user.
var droppedHeaders = map[string]bool{"authorization": true, "cookie": true}

// endpoint answers ANY /fn/* with the endpoint function that matches.
func (a *API) endpoint(c *fiber.Ctx) error {
	sc, err := a.scope(c)
	if err != nil {
		return err
	}
	path := c.Params("*")
	f, params := functions.MatchEndpoint(sc.Model, c.Method(), path)
	if f == nil {
		return apierr.NotFound("no function answers %s /fn/%s", c.Method(), path)
	}
	headers := map[string]string{}
	c.Request().Header.VisitAll(func(k, v []byte) {
		if name := strings.ToLower(string(k)); !droppedHeaders[name] {
			headers[name] = string(v)
		}
	})
	queryArgs := map[string]string{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) { queryArgs[string(k)] = string(v) })
	var body any
	if raw := bytes.TrimSpace(c.Body()); len(raw) > 0 {
		if strings.HasPrefix(c.Get("Content-Type"), "application/json") {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&body); err != nil {
				return apierr.InvalidPayload("body", "the body is not JSON: %v", err)
			}
		} else {
			body = string(c.Body())
		}
	}
	req := map[string]any{"method": c.Method(), "path": path, "params": params, "query": queryArgs, "headers": headers, "body": body}
	run, err := a.Functions.Run(c.UserContext(), sc, f, functions.Trigger{Kind: "endpoint", Request: req})
	if err != nil {
		return err
	}
	out := run.Outcome
	if err := functions.Refusal(f, out); err != nil {
		return err
	}
	if r := out.Response; r != nil {
		status := r.Status
		if status < 100 || status > 599 {
			return apierr.New(500, "FUNCTION_FAILED", "function %s answered status %d", f.Name, r.Status)
		}
		for k, v := range r.Headers {
			switch strings.ToLower(k) {
			case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer":
				continue
			}
			c.Set(k, v)
		}
		// An endpoint's answer comes from this origin, which other tenants' admins use:
		// whatever it is, a browser runs it as a unique origin, never as Strata.
		c.Set("Content-Security-Policy", "sandbox; default-src 'none'")
		c.Set("X-Content-Type-Options", "nosniff")
		c.Status(status)
		var s string
		if json.Unmarshal(r.Body, &s) == nil { // a string body goes out as it is
			if c.GetRespHeader("Content-Type") == "" {
				c.Set("Content-Type", "text/plain; charset=utf-8")
			}
			return c.SendString(s)
		}
		if string(r.Body) == "null" || len(r.Body) == 0 {
			return c.Send(nil)
		}
		if c.GetRespHeader("Content-Type") == "" {
			c.Set("Content-Type", "application/json")
		}
		return c.Send(r.Body)
	}
	c.Set("Content-Type", "application/json")
	output := out.Output
	if len(output) == 0 {
		output = json.RawMessage("null")
	}
	return c.Send(append(append([]byte(`{"data":`), output...), '}'))
}
