package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"strata/modules/apierr"
	"strata/modules/changeset"
	"strata/modules/controlplane"
	"strata/modules/formats"
	"strata/modules/migration"
	"strata/modules/tenant"
	"strata/schema"
)

// door is what the tenant, changeset and schema commands ask of Strata. localDoor
// works on the databases directly; remoteDoor asks a running server over its HTTP API
// (--server or STRATA_SERVER, with STRATA_TOKEN). Both give the same answers, so each
// command is written once.
type door interface {
	Tenants(ctx context.Context) ([]*tenant.Tenant, error)
	CreateTenant(ctx context.Context, slug, name, databaseURL string) (*tenant.Tenant, error)
	TagTenant(ctx context.Context, slug string, tags map[string]string) (*tenant.Tenant, error)
	DeleteTenant(ctx context.Context, slug string) error
	Register(ctx context.Context, cs *changeset.Changeset) error
	// Plan is a dry run of a fleet run: what each tenant holds and what would run.
	Plan(ctx context.Context, req controlplane.Request) ([]controlplane.Result, error)
	Start(ctx context.Context, req controlplane.Request) (*controlplane.Run, error)
	Follow(ctx context.Context, id string, progress func(controlplane.Result) error) (*controlplane.Run, error)
	// Snapshot is a tenant's schema as GET /schema/snapshot answers it.
	Snapshot(ctx context.Context, slug string) (formats.Snapshot, error)
	// Apply gives a tenant the schema want, as POST /schema/apply does: with dry, the
	// planned changes; otherwise the migrations it recorded. confirm is asked what the
	// changes remove before they run.
	Apply(ctx context.Context, slug string, want formats.Snapshot, dry bool, confirm func(removes string) bool) (*applied, error)
	// Executed lists a tenant's executed migrations in seq order.
	Executed(ctx context.Context, slug string) ([]*migration.Migration, error)
	// RollBack rolls one migration back with what depends on it, confirmed (the
	// command asked first), and returns the migrations rolled back.
	RollBack(ctx context.Context, slug, id string) ([]*migration.Migration, error)
}

// applied is the answer of door.Apply (POST /schema/apply's): with a dry run, the
// changes it would record.
type applied struct {
	Planned    []controlplane.PlannedMigration `json:"changes,omitempty"`
	Migrations []*migration.Migration          `json:"migrations,omitempty"`
}

// localDoor works on the databases directly.
type localDoor struct{ co *core }

func (l localDoor) Tenants(ctx context.Context) ([]*tenant.Tenant, error) {
	return l.co.tenants.List(ctx)
}

func (l localDoor) CreateTenant(ctx context.Context, slug, name, databaseURL string) (*tenant.Tenant, error) {
	return l.co.tenants.Create(ctx, slug, name, databaseURL)
}

func (l localDoor) TagTenant(ctx context.Context, slug string, tags map[string]string) (*tenant.Tenant, error) {
	return l.co.fleet.TagTenant(ctx, slug, tags)
}

func (l localDoor) DeleteTenant(ctx context.Context, slug string) error {
	t, err := l.co.tenants.Get(ctx, slug)
	if err != nil {
		return err
	}
	if err := l.co.tenants.Delete(ctx, t); err != nil {
		return err
	}
	// Its files go in the background of the next server node (recorded first).
	if err := l.co.purges.Enqueue(ctx, t.ID); err != nil {
		return fmt.Errorf("record the deleted tenant's storage purge: %w", err)
	}
	return nil
}

func (l localDoor) Register(ctx context.Context, cs *changeset.Changeset) error {
	_, _, err := l.co.fleet.Register(ctx, cs, operator())
	return err
}

func (l localDoor) Plan(ctx context.Context, req controlplane.Request) ([]controlplane.Result, error) {
	return l.co.fleet.Plan(ctx, req)
}

func (l localDoor) Start(ctx context.Context, req controlplane.Request) (*controlplane.Run, error) {
	return l.co.fleet.Start(ctx, req, operator())
}

func (l localDoor) Follow(ctx context.Context, id string, progress func(controlplane.Result) error) (*controlplane.Run, error) {
	return l.co.fleet.Follow(ctx, id, 100*time.Millisecond, progress)
}

func (l localDoor) Snapshot(ctx context.Context, slug string) (formats.Snapshot, error) {
	_, m, err := l.co.model(ctx, slug, false)
	if err != nil {
		return formats.Snapshot{}, err
	}
	return formats.Take(m), nil
}

// model is a tenant's target and its model read now; settle prepares the tenant for a
// change first (core.settled).
func (co *core) model(ctx context.Context, slug string, settle bool) (migration.Target, *schema.Model, error) {
	open := co.tenants.Open
	if settle {
		open = co.settled
	}
	t, tgt, err := open(ctx, slug)
	if err != nil {
		return tgt, nil, err
	}
	m, _, err := co.tenants.FreshModelVersion(ctx, t, tgt.Store)
	return tgt, m, err
}

// Apply plans the steps formats.Plan finds, as POST /schema/apply does, and runs them
// in one batch (ApplyAll), which refuses them all when one is refused.
func (l localDoor) Apply(ctx context.Context, slug string, want formats.Snapshot, dry bool, confirm func(string) bool) (*applied, error) {
	tgt, m, err := l.co.model(ctx, slug, true)
	if err != nil {
		return nil, err
	}
	steps, err := formats.Plan(m, want)
	if err != nil {
		return nil, err
	}
	reqs := make([]migration.Request, len(steps))
	for i, st := range steps {
		reqs[i] = migration.Request{Change: st.Change, CreatedBy: operator(), Confirmed: true}
	}
	planned, err := l.co.migration.PlanOn(ctx, tgt, m, reqs)
	if err != nil {
		return nil, err
	}
	out := &applied{Planned: controlplane.PlannedOf(planned)}
	var removes []string
	for _, p := range out.Planned {
		if p.Destructive {
			removes = append(removes, p.Name)
		}
	}
	if dry || len(reqs) == 0 {
		return out, nil
	}
	if len(removes) > 0 && !confirm(strings.Join(removes, "; ")) {
		return nil, errNotConfirmed
	}
	results, err := l.co.migration.ApplyAll(ctx, tgt, reqs)
	return &applied{Migrations: migration.Migrations(results)}, err
}

func (l localDoor) Executed(ctx context.Context, slug string) ([]*migration.Migration, error) {
	_, tgt, err := l.co.settled(ctx, slug)
	if err != nil {
		return nil, err
	}
	list, _, err := migration.List(ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Status: migration.StatusExecuted, Limit: 1 << 30})
	out := make([]*migration.Migration, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out, err
}

func (l localDoor) RollBack(ctx context.Context, slug, id string) ([]*migration.Migration, error) {
	_, tgt, err := l.co.tenants.Open(ctx, slug)
	if err != nil {
		return nil, err
	}
	req := migration.RollbackRequest{ID: id, Cascade: true, CreatedBy: operator()}
	results, err := l.co.migration.Rollback(ctx, tgt, req)
	var cr *migration.ConfirmRequiredError
	if errors.As(err, &cr) {
		req.ConfirmHash, req.ConfirmToken = cr.Hash, cr.Token
		results, err = l.co.migration.Rollback(ctx, tgt, req)
	}
	return migration.Migrations(results), err
}

// errNotConfirmed is a removal the operator did not confirm: nothing was changed.
var errNotConfirmed = errors.New("not confirmed; nothing was changed (pass --yes to confirm)")

// remoteDoor asks a running server, as a platform admin: STRATA_TOKEN is a platform
// API key (spk_…) or a platform admin's access token.
type remoteDoor struct {
	base  string
	token string
	http  *http.Client
}

func newRemoteDoor(server, token string) (*remoteDoor, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--server %q: give the server's base URL, such as http://localhost:8080", server)
	}
	if token == "" {
		return nil, usagef("a server needs STRATA_TOKEN: a platform API key (POST /api/api-keys) or a platform admin's access token")
	}
	return &remoteDoor{base: u.String(), token: token, http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// request is a request to the platform API with the door's credentials; body, when
// not nil, is sent as JSON.
func (r *remoteDoor) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+"/api"+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	return req, nil
}

// call sends one request to the platform API and decodes its data into out. An answer
// in the contract's error envelope comes back as the *apierr.Error it describes, so the
// CLI reports it as it would its own.
func (r *remoteDoor) call(ctx context.Context, method, path string, body any, headers map[string]string, out any) error {
	req, err := r.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return remoteError(resp.StatusCode, raw)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: the answer is not JSON: %w", method, path, err)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// remoteError reads the contract's error envelope.
func remoteError(status int, raw []byte) error {
	var env struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &env) != nil || len(env.Errors) == 0 {
		return apierr.New(status, "INTERNAL", "the server answered %d: %.200s", status, raw)
	}
	var out *apierr.Error
	for _, e := range env.Errors {
		code, _ := e.Extensions["code"].(string)
		one := apierr.New(status, code, "%s", e.Message)
		for k, v := range e.Extensions {
			if k != "code" {
				one.With(k, v)
			}
		}
		if out == nil {
			out = one
		} else {
			out.More = append(out.More, one) // an import's other bad rows
		}
	}
	return out
}

// confirmed sends a request that may meet the confirm-hash challenge: asked, and when
// confirm agrees, sent again with the hash and token.
func (r *remoteDoor) confirmed(ctx context.Context, method, path string, body any, out any, confirm func(string) bool) error {
	err := r.call(ctx, method, path, body, nil, out)
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != "SCHEMA_CONFIRM_REQUIRED" {
		return err
	}
	var removes []string
	for _, k := range []string{"droppedTables", "removedColumns"} {
		if list, ok := ae.Details[k].([]any); ok {
			for _, v := range list {
				removes = append(removes, fmt.Sprint(v))
			}
		}
	}
	if n, ok := ae.Details["removedRelationsCount"].(float64); ok && n > 0 {
		removes = append(removes, fmt.Sprintf("%d relations", int(n)))
	}
	if !confirm(strings.Join(removes, ", ")) {
		return errNotConfirmed
	}
	hash, _ := ae.Details["requiredConfirmHash"].(string)
	token, _ := ae.Details["confirmToken"].(string)
	err = r.call(ctx, method, path, body, map[string]string{"X-Schema-Confirm-Hash": hash, "X-Schema-Confirm-Token": token}, out)
	return err
}

func (r *remoteDoor) Tenants(ctx context.Context) ([]*tenant.Tenant, error) {
	var out []*tenant.Tenant
	err := r.call(ctx, "GET", "/tenants", nil, nil, &out)
	return out, err
}

func (r *remoteDoor) CreateTenant(ctx context.Context, slug, name, databaseURL string) (*tenant.Tenant, error) {
	var out tenant.Tenant
	err := r.call(ctx, "POST", "/tenants", map[string]any{"slug": slug, "name": name, "database_url": databaseURL}, nil, &out)
	return &out, err
}

func (r *remoteDoor) TagTenant(ctx context.Context, slug string, tags map[string]string) (*tenant.Tenant, error) {
	var out tenant.Tenant
	err := r.call(ctx, "PATCH", "/tenants/"+url.PathEscape(slug), map[string]any{"tags": tags}, nil, &out)
	return &out, err
}

// DeleteTenant answers the challenge itself: the command asked for --yes first.
func (r *remoteDoor) DeleteTenant(ctx context.Context, slug string) error {
	return r.confirmed(ctx, "DELETE", "/tenants/"+url.PathEscape(slug), nil, nil, func(string) bool { return true })
}

func (r *remoteDoor) Register(ctx context.Context, cs *changeset.Changeset) error {
	file := *cs
	file.Checksum = "" // the server computes it
	err := r.call(ctx, "POST", "/changesets", &file, nil, nil)
	return err
}

func (r *remoteDoor) Plan(ctx context.Context, req controlplane.Request) ([]controlplane.Result, error) {
	req.DryRun = true
	var out struct {
		Results []controlplane.Result `json:"results"`
	}
	err := r.call(ctx, "POST", "/migrate", req, nil, &out)
	return out.Results, err
}

func (r *remoteDoor) Start(ctx context.Context, req controlplane.Request) (*controlplane.Run, error) {
	var out controlplane.Run
	err := r.call(ctx, "POST", "/migrate", req, nil, &out)
	return &out, err
}

// Follow reads the run's event stream: a progress event per result as it changes, then
// the run as it ended.
func (r *remoteDoor) Follow(ctx context.Context, id string, progress func(controlplane.Result) error) (*controlplane.Run, error) {
	req, err := r.request(ctx, "GET", "/migrate/runs/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req) // no timeout: a run takes as long as it takes
	if err != nil {
		return nil, fmt.Errorf("follow run %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, remoteError(resp.StatusCode, raw)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			switch event {
			case "progress":
				var res controlplane.Result
				if err := json.Unmarshal(data, &res); err != nil {
					return nil, fmt.Errorf("follow run %s: %w", id, err)
				}
				if err := progress(res); err != nil {
					return nil, err
				}
			case "result":
				var env struct {
					Data *controlplane.Run `json:"data"`
				}
				if err := json.Unmarshal(data, &env); err != nil || env.Data == nil {
					return nil, fmt.Errorf("follow run %s: the run's end could not be read", id)
				}
				return env.Data, nil
			case "error":
				return nil, remoteError(500, data)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("follow run %s: %w", id, err)
	}
	return nil, fmt.Errorf("follow run %s: the stream ended before the run", id)
}

func (r *remoteDoor) Snapshot(ctx context.Context, slug string) (formats.Snapshot, error) {
	var out formats.Snapshot
	err := r.call(ctx, "GET", "/t/"+url.PathEscape(slug)+"/schema/snapshot", nil, nil, &out)
	return out, err
}

func (r *remoteDoor) Apply(ctx context.Context, slug string, want formats.Snapshot, dry bool, confirm func(string) bool) (*applied, error) {
	path := "/t/" + url.PathEscape(slug) + "/schema/apply"
	if dry {
		path += "?dry_run=true"
	}
	var out applied
	err := r.confirmed(ctx, "POST", path, want, &out, confirm)
	return &out, err
}

func (r *remoteDoor) Executed(ctx context.Context, slug string) ([]*migration.Migration, error) {
	var out []*migration.Migration
	for page := 1; ; page++ {
		var batch []*migration.Migration
		if err := r.call(ctx, "GET", fmt.Sprintf("/t/%s/migrations?status=executed&limit=100&page=%d", url.PathEscape(slug), page), nil, nil, &batch); err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if len(batch) < 100 {
			return out, nil
		}
	}
}

func (r *remoteDoor) RollBack(ctx context.Context, slug, id string) ([]*migration.Migration, error) {
	var out struct {
		Migrations []*migration.Migration `json:"migrations"`
	}
	err := r.confirmed(ctx, "POST", "/t/"+url.PathEscape(slug)+"/migrations/"+url.PathEscape(id)+"/rollback?cascade=true", nil, &out, func(string) bool { return true })
	return out.Migrations, err
}
