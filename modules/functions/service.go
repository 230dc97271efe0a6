package functions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/cache"
	"strata/modules/database"
	"strata/modules/files"
	"strata/modules/functions/sandbox"
	"strata/modules/outbox"
	"strata/modules/query"
	"strata/modules/records"
	"strata/modules/settings"
	"strata/schema"
)

// Limits bound what functions may take; zero values take the defaults.
type Limits struct {
	Concurrent int // runs of one tenant at once on a node (8)
	Output     int // bytes of a run's JSON result (1 MiB)
	Logs       int // bytes of log lines kept per run (16 KiB)
	Stack      int // JavaScript call depth (1000)
	HookDepth  int // hooks fired by hooks' writes (3)
	FetchBytes int // bytes of a fetched body (5 MiB)
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Concurrent, 8)
	def(&l.Output, 1<<20)
	def(&l.Logs, 16<<10)
	def(&l.Stack, 1000)
	def(&l.HookDepth, 3)
	def(&l.FetchBytes, 5<<20)
	return l
}

// Service runs a tenant's functions and records their runs.
type Service struct {
	Pool     *Pool
	Records  *records.Service
	Files    *files.Service // ctx.files; nil: none
	Access   *access.Store
	Settings *settings.Service
	// Translate maps service errors onto the contract's (what a refused ctx.items call
	// tells the function).
	Translate func(error) error
	Limits    Limits
	// Control is the control database (the index of tenants with after hooks and
	// schedules, the schedule claims); Tenants opens tenants for that work.
	Control *database.DB
	Tenants Tenants
	// Outbox delivers after hooks (OutboxTarget is registered with it), shared with
	// webhooks.
	Outbox *outbox.Deliverer
	NodeID string
	// FetchPrivate lets ctx.fetch reach private addresses (tests against a local server).
	FetchPrivate bool
	CacheTTL     time.Duration
	Log          *slog.Logger
	Now          func() time.Time
	NewID        func() string

	once    sync.Once
	limits  Limits
	mu      sync.Mutex
	running map[string]chan struct{}
	secrets cache.TTL[map[string]string]
	rec     *recorder
	hookIx  indexes
	indexed map[string][2]int // tenant → after hooks, schedules last written to the index
}

func (s *Service) init() {
	s.once.Do(func() {
		s.limits = s.Limits.withDefaults()
		s.running = map[string]chan struct{}{}
		s.indexed = map[string][2]int{}
		s.secrets.TTL, s.secrets.Max = s.CacheTTL, 10000
		s.rec = newRecorder(s)
	})
}

// Trigger is why a function runs and what it is given.
type Trigger struct {
	Kind     string // endpoint, hook, schedule, manual
	Request  any
	Event    any
	Input    json.RawMessage
	Attempt  int
	OutboxID string
}

// Run is a finished run.
type Run struct {
	ID       string
	Outcome  *sandbox.Outcome
	Duration time.Duration
}

// Run runs f for sc's tenant. sc.Caller is whoever caused the run (nil for schedules
// and after hooks without one); f.RunAs decides whose rights ctx.items has. A refused
// start (too many runs, no worker) is an error; everything the function does is in
// the outcome.
func (s *Service) Run(ctx context.Context, sc *records.Scope, f *schema.Function, tr Trigger) (*Run, error) {
	s.init()
	nested := Depth(ctx) > 0
	if !nested {
		// A burst waits its turn, within the function's own time; past that it is told.
		sem := s.semaphore(sc.TenantID)
		if !acquire(ctx, sem, time.Duration(f.TimeoutMs)*time.Millisecond) {
			return nil, apierr.New(429, "REQUESTS_EXCEEDED", "at most %d functions of this tenant run at once on a node, and none finished in time", s.limits.Concurrent)
		}
		defer func() { <-sem }()
	}
	runSc, err := s.runScope(ctx, sc, f)
	if err != nil {
		return nil, err
	}
	env, err := s.secretValues(ctx, sc)
	if err != nil {
		return nil, err
	}
	in := sandbox.Input{Trigger: tr.Kind, Env: env, Input: tr.Input, Request: tr.Request, Event: tr.Event,
		Tenant: map[string]string{"id": sc.TenantID, "slug": sc.Slug}}
	if c := sc.Caller; c != nil && c.UserID != "" {
		in.User = map[string]any{"id": c.UserID, "role": database.NullText(c.RoleID)}
	}
	input, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("function input: %w", err)
	}
	start := s.now()
	out, err := s.Pool.Run(ctx, Job{Scope: sc.TenantID, Key: f.Checksum, Code: f.Code, Input: input, Calls: s.calls(runSc, f, start), Limits: sandbox.Limits{
		TimeoutMs: f.TimeoutMs, MemoryMB: f.MemoryMB, Output: s.limits.Output, Logs: s.limits.Logs, Stack: s.limits.Stack, StartedAt: start.UnixMilli()}})
	if err != nil {
		return nil, err
	}
	run := &Run{ID: s.NewID(), Outcome: out, Duration: s.now().Sub(start)}
	s.rec.add(sc, f, tr, run, start)
	return run, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// semaphore is a tenant's slots for runs on this node.
func (s *Service) semaphore(tenantID string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	sem := s.running[tenantID]
	if sem == nil {
		sem = make(chan struct{}, s.limits.Concurrent)
		s.running[tenantID] = sem
	}
	return sem
}

// acquire takes a slot, waiting at most wait.
func acquire(ctx context.Context, sem chan struct{}, wait time.Duration) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// runScope is the scope ctx.items uses: the caller's, or the role run_as names, or,
// with no caller to act for, the tenant's admin rights.
func (s *Service) runScope(ctx context.Context, sc *records.Scope, f *schema.Function) (*records.Scope, error) {
	out := *sc
	switch {
	case f.RunAs != "caller":
		p, err := s.Access.PolicyIn(ctx, querier(sc), sc.DB.Dialect, sc.TenantID, f.RunAs)
		if err != nil {
			return nil, fmt.Errorf("function %s runs as role %s: %w", f.Name, f.RunAs, err)
		}
		out.Caller = &access.Caller{Kind: "function", RoleID: f.RunAs, Policy: p}
		if sc.Caller != nil {
			out.Caller.UserID = sc.Caller.UserID
		}
	case sc.Caller == nil:
		out.Caller = &access.Caller{Kind: "function", Policy: &access.Policy{Admin: true}}
	}
	return &out, nil
}

// calls answers a run's requests: rows through the records service as the run's
// scope, and fetches to the hosts the tenant allows.
func (s *Service) calls(sc *records.Scope, f *schema.Function, start time.Time) Calls {
	deadline := start.Add(time.Duration(f.TimeoutMs) * time.Millisecond)
	return func(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var out any
		var err error
		switch name {
		case "items":
			out, err = s.items(ctx, sc, args)
		case "fetch":
			out, err = s.fetch(ctx, sc, args)
		case "files":
			out, err = s.files(ctx, sc, args)
		default:
			err = apierr.InvalidPayload("call", "no call %q", name)
		}
		if err != nil {
			if s.Translate != nil {
				err = s.Translate(err)
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) {
				s.Log.Warn("function call failed", "tenant", sc.Slug, "function", f.Name, "call", name, "err", err)
				return nil, apierr.New(500, "INTERNAL", "the call failed inside the server")
			}
			return nil, ae
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("encode %s answer: %w", name, err)
		}
		return b, nil
	}
}

type itemsCall struct {
	Table string          `json:"table"`
	Op    string          `json:"op"`
	ID    string          `json:"id"`
	Query map[string]any  `json:"query"`
	Data  json.RawMessage `json:"data"`
}

// items is ctx.items(table).op(…): the REST query language and the permission engine,
// as the run's scope; hooks fire on its writes as on any other.
func (s *Service) items(ctx context.Context, sc *records.Scope, raw json.RawMessage) (any, error) {
	var c itemsCall
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, apierr.InvalidPayload("items", "%v", err)
	}
	return s.itemsOp(ctx, sc, c)
}

// itemsOp is one ctx.items operation.
func (s *Service) itemsOp(ctx context.Context, sc *records.Scope, c itemsCall) (any, error) {
	t := sc.Model.Table(c.Table)
	write := c.Op == "createOne" || c.Op == "updateOne" || c.Op == "deleteOne"
	if t == nil || (t.System && !(t.Name == schema.FoldersTable || (t.Name == schema.FilesTable && !write))) {
		return nil, apierr.NotFound("no table %q for ctx.items", c.Table)
	}
	if write && sc.Tx != nil {
		return nil, apierr.InvalidPayload("items", "a before hook cannot write rows: change ctx.event.payload, or write from an after hook")
	}
	p, err := queryParams(c.Query)
	if err != nil {
		return nil, err
	}
	one := func(id string) (any, error) {
		rows, err := s.Records.Read(ctx, sc, t, p, []string{id})
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			if write {
				return map[string]any{"id": id}, nil // written, but not readable by this scope
			}
			return nil, apierr.NotFound("item %q not found in %s", id, t.Name)
		}
		return rows[0], nil
	}
	data := func() (map[string]any, error) {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(c.Data))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil || m == nil {
			return nil, apierr.InvalidPayload("data", "expected an object")
		}
		return m, nil
	}
	switch c.Op {
	case "readMany":
		res, err := s.Records.List(ctx, sc, t, p)
		if err != nil {
			return nil, err
		}
		return res.Data, nil
	case "readOne":
		if !schema.IsUUID(c.ID) {
			return nil, apierr.NotFound("item %q not found in %s", c.ID, t.Name)
		}
		return one(c.ID)
	case "createOne":
		m, err := data()
		if err != nil {
			return nil, err
		}
		ids, err := s.Records.Create(ctx, sc, t, []map[string]any{m})
		if err != nil {
			return nil, err
		}
		return one(ids[0])
	case "updateOne":
		m, err := data()
		if err != nil {
			return nil, err
		}
		if err := s.Records.Update(ctx, sc, t, []records.Change{{IDs: []string{c.ID}, Data: m}}, []string{c.ID}, true); err != nil {
			return nil, err
		}
		return one(c.ID)
	case "deleteOne":
		return nil, s.Records.Delete(ctx, sc, t, []string{c.ID}, true)
	}
	return nil, apierr.InvalidPayload("op", "no operation %q", c.Op)
}

// queryParams turns a query object ({filter: {…}, fields: ["a"], limit: 5}) into the
// query string's parameters: objects as JSON, lists joined by commas.
func queryParams(q map[string]any) (query.Params, error) {
	p := query.Params{}
	for k, v := range q {
		switch x := v.(type) {
		case nil:
		case string:
			p[k] = []string{x}
		case float64, bool:
			p[k] = []string{fmt.Sprint(x)}
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, apierr.InvalidQuery(k, "%s: a list of strings", k)
				}
				parts = append(parts, s)
			}
			p[k] = []string{strings.Join(parts, ",")}
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, apierr.InvalidQuery(k, "%v", err)
			}
			p[k] = []string{string(b)}
		}
	}
	return p, nil
}

type fetchCall struct {
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
}

// fetch is ctx.fetch: only to the hosts functions_fetch_hosts names, only to public
// addresses, within the run's time, a bounded body.
func (s *Service) fetch(ctx context.Context, sc *records.Scope, raw json.RawMessage) (any, error) {
	var c fetchCall
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, apierr.InvalidPayload("fetch", "%v", err)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, apierr.InvalidPayload("url", "%q is not an http(s) URL", c.URL)
	}
	st, err := s.Settings.GetIn(ctx, sc.TenantID, querier(sc), sc.DB.Dialect)
	if err != nil {
		return nil, err
	}
	if !st.AllowsFetchFrom(u.Hostname()) {
		return nil, apierr.Forbidden("functions may not fetch from %s: the setting functions_fetch_hosts lists the hosts they may", u.Hostname())
	}
	method := strings.ToUpper(c.Method)
	if !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, method) {
		return nil, apierr.InvalidPayload("method", "no method %q", c.Method)
	}
	var body io.Reader
	if c.Body != nil {
		body = strings.NewReader(*c.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, apierr.InvalidPayload("url", "%v", err)
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	remaining := time.Until(deadlineOf(ctx))
	client := files.OutboundClient(s.FetchPrivate, remaining, st.AllowsFetchFrom)
	resp, err := client.Do(req)
	if err != nil {
		return nil, apierr.New(502, "FETCH_FAILED", "fetch %s: %s", u.Host, fetchReason(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.limits.FetchBytes)+1))
	if err != nil {
		return nil, apierr.New(502, "FETCH_FAILED", "fetch %s: %s", u.Host, fetchReason(err))
	}
	if len(b) > s.limits.FetchBytes {
		return nil, apierr.New(502, "FETCH_FAILED", "fetch %s: the body is over %d bytes", u.Host, s.limits.FetchBytes)
	}
	headers := map[string]string{}
	for k, v := range resp.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return map[string]any{"status": resp.StatusCode, "url": resp.Request.URL.String(), "headers": headers, "body": string(b)}, nil
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(10 * time.Second)
}

// fetchReason says why a fetch failed without the resolver's or dialer's internals.
func fetchReason(err error) string {
	switch {
	case strings.Contains(err.Error(), "private to this network"):
		return "the address is private to this network"
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Client.Timeout"):
		return "it ran out of time"
	case strings.Contains(err.Error(), "not an allowed host"):
		return "redirected to a host that is not allowed"
	}
	return "the connection failed"
}

// querier is where a run reads what is not rows (settings, secrets, policies).
func querier(sc *records.Scope) schema.Querier { return sc.Reader() }

// secretValues are the tenant's secrets, for ctx.env.
func (s *Service) secretValues(ctx context.Context, sc *records.Scope) (map[string]string, error) {
	v, gen, ok := s.secrets.Get(sc.TenantID)
	if ok {
		return v, nil
	}
	d := sc.DB.Dialect
	rows, err := querier(sc).QueryContext(ctx, "SELECT "+d.Quote("name")+", "+d.Quote("value")+" FROM "+d.Quote(SecretsTable))
	if err != nil {
		return nil, fmt.Errorf("read function secrets: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, value any
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("read function secrets: %w", err)
		}
		out[database.Text(name)] = database.Text(value)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read function secrets: %w", err)
	}
	s.secrets.Put(sc.TenantID, out, gen)
	return out, nil
}

// InvalidateSecrets forgets what this node read of a tenant's secrets.
func (s *Service) InvalidateSecrets(tenantID string) {
	s.init()
	s.secrets.Drop(tenantID)
}

// System tables of functions.
const (
	RunsTable    = "strata_function_runs"
	SecretsTable = "strata_function_secrets"
	OutboxTable  = outbox.Table
)
