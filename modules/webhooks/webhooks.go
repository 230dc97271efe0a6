// Package webhooks posts a tenant's writes to URLs its admins choose. A webhook names
// tables and events; each write that matches queues one delivery in the tenant's
// outbox, in the write's own transaction (the outbox after hooks use), and the outbox
// posts it, signed with the webhook's secret, retrying what fails.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/apierr"
	"strata/modules/cache"
	"strata/modules/database"
	"strata/modules/outbox"
	"strata/modules/records"
	"strata/modules/settings"
	"strata/schema"
)

// Table holds each tenant's webhooks.
const Table = "strata_webhooks"

// OutboxKind is the outbox's name for webhook deliveries.
const OutboxKind = "webhook"

// Bounds of what an admin configures.
const (
	MaxWebhooks    = 50
	MaxTables      = 100
	MaxHeaders     = 20
	MaxHeaderValue = 1024
	MaxURL         = 2048
	MinSecret      = 16
	MaxSecret      = 256
)

// Events a webhook may ask for.
var Events = []string{"create", "update", "delete"}

// Webhook is one configured webhook as admins read it: the secret never leaves.
type Webhook struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	URL       string            `json:"url"`
	Tables    []string          `json:"tables"`
	Events    []string          `json:"events"`
	Headers   map[string]string `json:"headers"`
	SecretSet bool              `json:"secret_set"`
	Enabled   bool              `json:"enabled"`
	CreatedAt *time.Time        `json:"created_at"`
	UpdatedAt *time.Time        `json:"updated_at"`
	secret    string            // sealed
}

// Input is what an admin writes; nil fields stay as they are.
type Input struct {
	Name    *string            `json:"name"`
	URL     *string            `json:"url"`
	Tables  *[]string          `json:"tables"`
	Events  *[]string          `json:"events"`
	Headers *map[string]string `json:"headers"`
	Secret  *string            `json:"secret"`
	Enabled *bool              `json:"enabled"`
}

// Sealer keeps secrets unreadable at rest (settings.Sealer).
type Sealer interface {
	Seal(plain string) (string, error)
	Open(sealed string) (string, error)
}

// Service keeps webhooks and delivers them.
type Service struct {
	Settings *settings.Service
	Sealer   Sealer
	// Outbox queues and delivers; the service registers itself as its webhook target.
	Outbox *outbox.Deliverer
	// Control holds the index of tenants with webhooks, for the sweep.
	Control *database.DB
	// Private lets a webhook reach a private or loopback address that webhook_hosts
	// names itself (not through a wildcard): STRATA_WEBHOOKS_PRIVATE, for the node's
	// operator to allow; without it, private addresses are refused.
	Private bool
	// Timeout bounds one delivery (default 10s).
	Timeout  time.Duration
	CacheTTL time.Duration
	Log      *slog.Logger
	Now      func() time.Time
	NewID    func() string

	once    sync.Once
	lists   cache.TTL[[]Webhook]
	clients [2]*http.Client // public only, private allowed
}

func (s *Service) init() {
	s.once.Do(func() {
		if s.Timeout <= 0 {
			s.Timeout = 10 * time.Second
		}
		s.lists.TTL, s.lists.Max = s.CacheTTL, 10000
		s.clients = [2]*http.Client{newClient(false, s.Timeout), newClient(true, s.Timeout)}
		s.Outbox.Register(OutboxKind, target{s})
	})
}

// Start registers the service with the outbox: call it once wired.
func (s *Service) Start() { s.init() }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Watchable reports whether a table's writes may be posted: user tables, files and
// folders. Strata's other tables hold secrets (password hashes, key hashes) that a
// payload would carry.
func Watchable(t *schema.Table) bool {
	return !t.System || t.Name == schema.FilesTable || t.Name == schema.FoldersTable
}

// Invalidate forgets what this node read of a tenant's webhooks.
func (s *Service) Invalidate(tenantID string) {
	s.init()
	s.lists.Drop(tenantID)
}

// InvalidateAll forgets every tenant's (after the bus lost messages).
func (s *Service) InvalidateAll() {
	s.init()
	s.lists.DropAll()
}

// List returns a tenant's webhooks by name, read through q (the write's transaction
// inside a write; nil: the tenant's pool).
func (s *Service) list(ctx context.Context, sc *records.Scope, q schema.Querier) ([]Webhook, error) {
	s.init()
	v, gen, ok := s.lists.Get(sc.TenantID)
	if ok {
		return v, nil
	}
	if sc.Model.Table(Table) == nil {
		return nil, nil // before the tenant's system upgrade
	}
	if q == nil {
		q = sc.DB
	}
	d := sc.DB.Dialect
	qi := d.Quote
	rows, err := q.QueryContext(ctx, "SELECT "+qi("id")+", "+qi("name")+", "+qi("url")+", "+qi("tables")+", "+qi("events")+", "+qi("headers")+", "+
		qi("secret")+", "+qi("enabled")+", "+qi("created_at")+", "+qi("updated_at")+" FROM "+qi(Table)+" ORDER BY "+qi("name"))
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	defer rows.Close()
	list := []Webhook{}
	for rows.Next() {
		var id, name, u, tables, events, headers, secret, enabled, created, updated any
		if err := rows.Scan(&id, &name, &u, &tables, &events, &headers, &secret, &enabled, &created, &updated); err != nil {
			return nil, fmt.Errorf("read webhooks: %w", err)
		}
		w := Webhook{ID: database.Text(id), Name: database.Text(name), URL: database.Text(u), Enabled: database.Bool(enabled),
			secret: database.Text(secret), CreatedAt: database.Time(created), UpdatedAt: database.Time(updated)}
		w.SecretSet = w.secret != ""
		for _, f := range []struct{ raw, out any }{{tables, &w.Tables}, {events, &w.Events}, {headers, &w.Headers}} {
			if err := json.Unmarshal([]byte(database.Text(f.raw)), f.out); err != nil {
				return nil, fmt.Errorf("read webhook %s: %w", w.Name, err)
			}
		}
		list = append(list, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	s.lists.Put(sc.TenantID, list, gen)
	return list, nil
}

// List returns a tenant's webhooks by name.
func (s *Service) List(ctx context.Context, sc *records.Scope) ([]Webhook, error) {
	return s.list(ctx, sc, nil)
}

// Get returns one webhook (404 when there is none).
func (s *Service) Get(ctx context.Context, sc *records.Scope, id string) (*Webhook, error) {
	list, err := s.list(ctx, sc, nil)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i], nil
		}
	}
	return nil, apierr.NotFound("no webhook %q", id)
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$`)
	headerRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
)

// reservedHeaders are set by the delivery itself.
var reservedHeaders = []string{"host", "content-length", "content-type", "transfer-encoding", "connection", "te", "trailer", "upgrade",
	"user-agent", "expect", "keep-alive", "proxy-authorization", "proxy-connection"}

// merge applies in to w, checking each field; a new secret is returned in plain.
func (s *Service) merge(ctx context.Context, sc *records.Scope, w *Webhook, in Input) error {
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if !nameRe.MatchString(n) {
			return apierr.InvalidPayload("name", "name is 1 to 64 letters, digits, spaces, '.', '_' and '-'")
		}
		w.Name = n
	}
	if in.URL != nil {
		u, err := url.Parse(*in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" || len(*in.URL) > MaxURL {
			return apierr.InvalidPayload("url", "url is an http or https URL without credentials or fragment, at most %d characters", MaxURL)
		}
		w.URL = u.String()
	}
	if in.Tables != nil {
		seen := []string{}
		for _, name := range *in.Tables {
			if name == "*" {
				if len(*in.Tables) > 1 {
					return apierr.InvalidPayload("tables", `"*" (every table) stands alone`)
				}
			} else if t := sc.Model.Table(name); t == nil || !Watchable(t) {
				return apierr.InvalidPayload("tables", "%q is not a table a webhook may watch: user tables, strata_files and strata_folders", name)
			}
			if !slices.Contains(seen, name) {
				seen = append(seen, name)
			}
		}
		if len(seen) > MaxTables {
			return apierr.InvalidPayload("tables", "at most %d tables", MaxTables)
		}
		w.Tables = seen
	}
	if in.Events != nil {
		seen := []string{}
		for _, e := range *in.Events {
			if !slices.Contains(Events, e) {
				return apierr.InvalidPayload("events", "events are create, update and delete")
			}
			if !slices.Contains(seen, e) {
				seen = append(seen, e)
			}
		}
		w.Events = seen
	}
	if in.Headers != nil {
		if len(*in.Headers) > MaxHeaders {
			return apierr.InvalidPayload("headers", "at most %d headers", MaxHeaders)
		}
		h := map[string]string{}
		for k, v := range *in.Headers {
			lk := strings.ToLower(k)
			if !headerRe.MatchString(k) || slices.Contains(reservedHeaders, lk) || strings.HasPrefix(lk, "x-strata-") {
				return apierr.InvalidPayload("headers", "%q is not a header a webhook may set", k)
			}
			if len(v) > MaxHeaderValue || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				return apierr.InvalidPayload("headers", "the value of %s is at most %d characters, on one line", k, MaxHeaderValue)
			}
			h[http.CanonicalHeaderKey(k)] = v
		}
		w.Headers = h
	}
	if in.Secret != nil {
		if n := len(*in.Secret); n < MinSecret || n > MaxSecret {
			return apierr.InvalidPayload("secret", "a secret is %d to %d characters", MinSecret, MaxSecret)
		}
		sealed, err := s.Sealer.Seal(*in.Secret)
		if err != nil {
			return fmt.Errorf("seal the webhook secret: %w", err)
		}
		w.secret, w.SecretSet = sealed, true
	}
	if in.Enabled != nil {
		w.Enabled = *in.Enabled
	}
	switch {
	case w.Name == "":
		return apierr.InvalidPayload("name", "name is required")
	case w.URL == "":
		return apierr.InvalidPayload("url", "url is required")
	case len(w.Tables) == 0:
		return apierr.InvalidPayload("tables", `tables lists the tables to watch ("*": every one)`)
	case len(w.Events) == 0:
		return apierr.InvalidPayload("events", "events lists create, update or delete")
	}
	return s.checkHost(ctx, sc, w.URL)
}

// checkHost refuses a URL whose host webhook_hosts does not allow.
func (s *Service) checkHost(ctx context.Context, sc *records.Scope, raw string) error {
	st, err := s.Settings.Get(ctx, sc.TenantID, sc.DB)
	if err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	if ok, _ := st.WebhookTarget(u.Hostname(), port(u)); !ok {
		return apierr.Forbidden("webhooks may not post to %s: the setting webhook_hosts lists the hosts that may", u.Host).With("field", "url")
	}
	return nil
}

// port is a URL's port, its scheme's when it names none.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// Create adds a webhook. Without a secret one is made; secret is it in plain, shown
// this once.
func (s *Service) Create(ctx context.Context, sc *records.Scope, in Input) (w *Webhook, secret string, err error) {
	w = &Webhook{Enabled: true, Headers: map[string]string{}}
	if in.Secret == nil {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		secret = hex.EncodeToString(b)
		in.Secret = &secret
	}
	if err := s.merge(ctx, sc, w, in); err != nil {
		return nil, "", err
	}
	list, err := s.List(ctx, sc)
	if err != nil {
		return nil, "", err
	}
	if len(list) >= MaxWebhooks {
		return nil, "", apierr.InvalidPayload("name", "a tenant has at most %d webhooks", MaxWebhooks)
	}
	if slices.ContainsFunc(list, func(o Webhook) bool { return o.Name == w.Name }) {
		return nil, "", apierr.New(400, "RECORD_NOT_UNIQUE", "a webhook named %q exists", w.Name).With("field", "name")
	}
	d := sc.DB.Dialect
	now := d.TimeValue(s.now())
	cols := columns(d, w)
	cols["id"], cols["created_at"], cols["updated_at"] = s.NewID(), now, now
	names, args := make([]string, 0, len(cols)), make([]any, 0, len(cols))
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		names, args = append(names, d.Quote(k)), append(args, cols[k])
	}
	q := "INSERT INTO " + d.Quote(Table) + " (" + strings.Join(names, ", ") + ") VALUES (" + schema.Placeholders(len(names)) + ")"
	if _, err := sc.DB.ExecContext(ctx, d.Rebind(q), args...); err != nil {
		if e := strings.ToLower(err.Error()); strings.Contains(e, "unique") || strings.Contains(e, "duplicate") {
			return nil, "", apierr.New(400, "RECORD_NOT_UNIQUE", "a webhook named %q exists", w.Name).With("field", "name")
		}
		return nil, "", fmt.Errorf("create webhook: %w", err)
	}
	got, err := s.changed(ctx, sc, cols["id"].(string))
	if in.Secret != nil && *in.Secret != secret {
		secret = "" // the admin's own: not echoed
	}
	return got, secret, err
}

// Update changes a webhook.
func (s *Service) Update(ctx context.Context, sc *records.Scope, id string, in Input) (*Webhook, error) {
	w, err := s.Get(ctx, sc, id)
	if err != nil {
		return nil, err
	}
	next := *w
	next.Headers = maps.Clone(w.Headers)
	if err := s.merge(ctx, sc, &next, in); err != nil {
		return nil, err
	}
	if next.Name != w.Name {
		list, err := s.List(ctx, sc)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(list, func(o Webhook) bool { return o.Name == next.Name }) {
			return nil, apierr.New(400, "RECORD_NOT_UNIQUE", "a webhook named %q exists", next.Name).With("field", "name")
		}
	}
	d := sc.DB.Dialect
	cols := columns(d, &next)
	cols["updated_at"] = d.TimeValue(s.now())
	sets, args := make([]string, 0, len(cols)), make([]any, 0, len(cols)+1)
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		sets, args = append(sets, d.Quote(k)+" = ?"), append(args, cols[k])
	}
	if _, err := sc.DB.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(Table)+" SET "+strings.Join(sets, ", ")+" WHERE "+d.Quote("id")+" = ?"), append(args, id)...); err != nil {
		return nil, fmt.Errorf("update webhook: %w", err)
	}
	return s.changed(ctx, sc, id)
}

// Delete removes a webhook. Its deliveries still waiting are dropped when their turn
// comes; the log of the others is kept until the outbox is purged.
func (s *Service) Delete(ctx context.Context, sc *records.Scope, id string) error {
	if _, err := s.Get(ctx, sc, id); err != nil {
		return err
	}
	d := sc.DB.Dialect
	if _, err := sc.DB.ExecContext(ctx, d.Rebind("DELETE FROM "+d.Quote(Table)+" WHERE "+d.Quote("id")+" = ?"), id); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	_, err := s.changed(ctx, sc, "")
	return err
}

// changed re-reads the tenant's webhooks after a write, keeps the sweep's index true
// and returns webhook id (nil for "").
func (s *Service) changed(ctx context.Context, sc *records.Scope, id string) (*Webhook, error) {
	s.Invalidate(sc.TenantID)
	list, err := s.List(ctx, sc)
	if err != nil {
		return nil, err
	}
	enabled := 0
	for _, w := range list {
		if w.Enabled {
			enabled++
		}
	}
	if err := s.index(ctx, sc.TenantID, enabled); err != nil {
		s.Log.Warn("webhooks: index the tenant", "tenant", sc.Slug, "err", err)
	}
	if id == "" {
		return nil, nil
	}
	return s.Get(ctx, sc, id)
}

// columns are the stored values of what an admin writes.
func columns(d schema.Dialect, w *Webhook) map[string]any {
	tables, _ := json.Marshal(w.Tables)
	events, _ := json.Marshal(w.Events)
	headers, _ := json.Marshal(w.Headers)
	return map[string]any{"name": w.Name, "url": w.URL, "tables": string(tables), "events": string(events), "headers": string(headers),
		"secret": w.secret, "enabled": d.BoolValue(w.Enabled)}
}
