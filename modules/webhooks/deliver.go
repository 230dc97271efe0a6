package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"strata/modules/database"
	"strata/modules/files"
	"strata/modules/outbox"
	"strata/modules/records"
	"strata/schema"
)

// Attempts is how many times a delivery is tried before it is dead: 10 s after the
// first, then twice as long each time (about 21 minutes in all).
const Attempts = 8

// maxAnswer is how much of a target's answer is read (and thrown away).
const maxAnswer = 64 << 10

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body under the
// webhook's secret.
const SignatureHeader = "X-Strata-Signature"

// Sign is the signature header's value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// newClient posts deliveries: public addresses only unless private, no redirects (a
// redirect is the target's answer, not somewhere else to post), at most timeout.
func newClient(private bool, timeout time.Duration) *http.Client {
	transport := &http.Transport{DialContext: files.OutboundDialer(private).DialContext, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second, Proxy: nil}
	return &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Wants implements records.TenantHooks: a write's rows are posted after it commits
// when an enabled webhook of the tenant watches its table and event. It reads only the
// cache: it is asked inside writes, where a read from the tenant's pool could wait for a
// connection the waiting writes hold (on SQLite, the one write lock too). When the list
// is not cached it answers yes, and Written reads the list inside the write.
func (s *Service) Wants(sc *records.Scope, table, action string) (before, after bool) {
	if sc.Model == nil {
		return false, false // Strata's own writes of its tables: none is watchable
	}
	t := sc.Model.Table(table)
	if t == nil || !Watchable(t) || sc.Model.Table(Table) == nil {
		return false, false
	}
	s.init()
	list, _, fresh := s.lists.Get(sc.TenantID)
	if !fresh {
		return false, true
	}
	return false, len(matching(list, t, action)) > 0
}

// matching are the enabled webhooks watching writes of action to t.
func matching(list []Webhook, t *schema.Table, action string) []*Webhook {
	var out []*Webhook
	for i := range list {
		w := &list[i]
		if w.Enabled && slices.Contains(w.Events, action) && Watchable(t) && (slices.Contains(w.Tables, t.Name) || slices.Contains(w.Tables, "*")) {
			out = append(out, w)
		}
	}
	return out
}

// Prepare implements records.TenantHooks: webhooks change no write.
func (s *Service) Prepare(context.Context, schema.Querier, *records.Write) error { return nil }

// Written implements records.TenantHooks: one delivery per matching webhook, queued in
// the write's transaction, so it is posted if and only if the write commits.
func (s *Service) Written(ctx context.Context, q schema.Querier, w *records.Write) error {
	list, err := s.list(ctx, w.Scope, q)
	if err != nil {
		return err
	}
	hooks := matching(list, w.Table, w.Action)
	if len(hooks) == 0 || len(w.IDs) == 0 {
		return nil
	}
	var user any
	if c := w.Scope.Caller; c != nil && c.UserID != "" {
		user = c.UserID
	}
	event := map[string]any{"event": w.Action, "collection": w.Table.Name, "keys": w.IDs, "payload": w.Payload(), "user": user,
		"timestamp": s.now().Format(time.RFC3339Nano)}
	for _, h := range hooks {
		if err := s.Outbox.Enqueue(ctx, q, w.Scope, OutboxKind, h.ID, event); err != nil {
			return fmt.Errorf("webhook %s: %w", h.Name, err)
		}
	}
	return nil
}

// Committed implements records.TenantHooks: the write's deliveries are due now.
func (s *Service) Committed(_ context.Context, w *records.Write) {
	s.Outbox.Kick(w.Scope.TenantID, w.Scope)
}

// target posts deliveries (outbox.Target).
type target struct{ s *Service }

func (target) Policy() outbox.Policy {
	return outbox.Policy{Attempts: Attempts, First: 10 * time.Second, Exhausted: "dead"}
}

func (t target) Lease(*records.Scope, string) time.Duration { return 2*t.s.Timeout + 5*time.Second }

// Deliver posts one delivery: a 2xx is delivered; a 5xx, a 429 or a failure to reach
// the target is tried again later; any other answer, or a target no longer allowed, is
// dead at once.
func (t target) Deliver(ctx context.Context, sc *records.Scope, e outbox.Entry) outbox.Result {
	s := t.s
	list, err := s.list(ctx, sc, nil)
	if err != nil {
		return outbox.Result{Status: outbox.Retry, Error: err.Error()}
	}
	i := slices.IndexFunc(list, func(w Webhook) bool { return w.ID == e.TargetID })
	if i < 0 {
		return outbox.Result{Status: outbox.Dropped, Error: "the webhook was removed before delivery"}
	}
	w := list[i]
	if !w.Enabled {
		return outbox.Result{Status: outbox.Dropped, Error: "the webhook was disabled before delivery"}
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return outbox.Result{Status: "dead", Error: "the webhook's url cannot be read"}
	}
	st, err := s.Settings.Get(ctx, sc.TenantID, sc.DB)
	if err != nil {
		return outbox.Result{Status: outbox.Retry, Error: err.Error()}
	}
	allowed, named := st.WebhookTarget(u.Hostname(), port(u))
	if !allowed {
		return outbox.Result{Status: "dead", Error: "the setting webhook_hosts no longer lists " + u.Host}
	}
	secret, err := s.Sealer.Open(w.secret)
	if err != nil {
		return outbox.Result{Status: "dead", Error: "the webhook's secret cannot be opened: set it again"}
	}
	// The body says which delivery it is, so a target that sees it twice (at least
	// once) can tell.
	var ev map[string]any
	if err := json.Unmarshal(e.Event, &ev); err != nil {
		return outbox.Result{Status: "dead", Error: "the event could not be read: " + err.Error()}
	}
	ev["delivery"], ev["webhook"] = e.ID, w.Name
	body, err := json.Marshal(ev)
	if err != nil {
		return outbox.Result{Status: "dead", Error: "the event could not be encoded: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return outbox.Result{Status: "dead", Error: err.Error()}
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Strata-Webhook")
	req.Header.Set("X-Strata-Event", database.Text(ev["event"]))
	req.Header.Set("X-Strata-Delivery", e.ID)
	req.Header.Set("X-Strata-Attempt", strconv.Itoa(e.Attempt))
	req.Header.Set(SignatureHeader, Sign(secret, body))
	client := s.clients[0]
	if s.Private && named {
		client = s.clients[1]
	}
	resp, err := client.Do(req)
	if err != nil {
		if files.IsPrivateAddress(err) {
			return outbox.Result{Status: "dead", Error: u.Hostname() + " resolves to an address inside this network, which webhooks may not reach"}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return outbox.Result{Status: outbox.Retry, Error: "post: " + err.Error()}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return outbox.Result{Status: outbox.Delivered, Code: code}
	case code == http.StatusTooManyRequests || code >= 500:
		return outbox.Result{Status: outbox.Retry, Code: code, Error: "the target answered " + resp.Status}
	case code >= 300 && code < 400:
		return outbox.Result{Status: "dead", Code: code, Error: "the target answered " + resp.Status + ": redirects are not followed"}
	default:
		return outbox.Result{Status: "dead", Code: code, Error: "the target answered " + resp.Status}
	}
}

// Delivery is one entry of a webhook's delivery log.
type Delivery struct {
	ID           string     `json:"id"`
	Event        string     `json:"event"`
	Collection   string     `json:"collection"`
	Keys         []string   `json:"keys"`
	Status       string     `json:"status"`
	Attempts     int64      `json:"attempts"`
	ResponseCode *int64     `json:"response_code"`
	Error        *string    `json:"error"`
	NextAt       *time.Time `json:"next_at"`
	CreatedAt    *time.Time `json:"created_at"`
	SettledAt    *time.Time `json:"settled_at"`
}

// MaxDeliveries bounds one page of the log.
const MaxDeliveries = 500

// Deliveries is a page of a webhook's delivery log, newest first; status "" is every
// one.
func (s *Service) Deliveries(ctx context.Context, sc *records.Scope, id, status string, limit, offset int) ([]Delivery, error) {
	if _, err := s.Get(ctx, sc, id); err != nil {
		return nil, err
	}
	d := sc.DB.Dialect
	qi := d.Quote
	where, args := qi("target_kind")+" = ? AND "+qi("function_id")+" = ?", []any{OutboxKind, id}
	if status != "" {
		where, args = where+" AND "+qi("status")+" = ?", append(args, status)
	}
	rows, err := sc.DB.QueryContext(ctx, d.Rebind("SELECT "+qi("id")+", "+qi("event")+", "+qi("status")+", "+qi("attempts")+", "+qi("response_code")+", "+
		qi("last_error")+", "+qi("next_at")+", "+qi("created_at")+", "+qi("delivered_at")+" FROM "+qi(outbox.Table)+" WHERE "+where+
		" ORDER BY "+qi("created_at")+" DESC, "+qi("id")+" DESC LIMIT "+strconv.Itoa(limit)+" OFFSET "+strconv.Itoa(offset)), args...)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var did, ev, st, attempts, code, lastErr, next, created, settled any
		if err := rows.Scan(&did, &ev, &st, &attempts, &code, &lastErr, &next, &created, &settled); err != nil {
			return nil, fmt.Errorf("read deliveries: %w", err)
		}
		dl := Delivery{ID: database.Text(did), Status: database.Text(st), Attempts: database.Int64(attempts), CreatedAt: database.Time(created),
			SettledAt: database.Time(settled), Keys: []string{}}
		if dl.Status == outbox.Pending {
			dl.NextAt = database.Time(next)
		}
		if code != nil {
			c := database.Int64(code)
			dl.ResponseCode = &c
		}
		if lastErr != nil {
			m := database.Text(lastErr)
			dl.Error = &m
		}
		var e struct {
			Event      string   `json:"event"`
			Collection string   `json:"collection"`
			Keys       []string `json:"keys"`
		}
		if json.Unmarshal([]byte(database.Text(ev)), &e) == nil {
			dl.Event, dl.Collection = e.Event, e.Collection
			if e.Keys != nil {
				dl.Keys = e.Keys
			}
		}
		out = append(out, dl)
	}
	return out, rows.Err()
}

// Redeliver puts a dead delivery of a webhook back in the outbox, with its attempts
// counted again from none. false: there is no such dead delivery.
func (s *Service) Redeliver(ctx context.Context, sc *records.Scope, id, delivery string) (bool, error) {
	if _, err := s.Get(ctx, sc, id); err != nil {
		return false, err
	}
	d := sc.DB.Dialect
	qi := d.Quote
	now := d.TimeValue(s.now())
	res, err := sc.DB.ExecContext(ctx, d.Rebind("UPDATE "+qi(outbox.Table)+" SET "+qi("status")+" = 'pending', "+qi("attempts")+" = 0, "+qi("next_at")+" = ?, "+
		qi("claimed_until")+" = NULL, "+qi("delivered_at")+" = NULL, "+qi("updated_at")+" = ? WHERE "+qi("id")+" = ? AND "+qi("target_kind")+" = ? AND "+
		qi("function_id")+" = ? AND "+qi("status")+" = 'dead'"), now, now, delivery, OutboxKind, id)
	if err != nil {
		return false, fmt.Errorf("redeliver: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 1 {
		s.Outbox.Kick(sc.TenantID, sc)
	}
	return n == 1, nil
}

// EnsureSchema creates the control index of tenants with enabled webhooks (a control
// migration), so the sweep finds their outboxes without opening every tenant.
func (s *Service) EnsureSchema(ctx context.Context) error {
	d := s.Control.Dialect
	_, err := s.Control.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS strata_webhook_tenants (tenant_id "+d.ColumnType(&schema.Column{Type: schema.TypeString, Length: 36})+
		" NOT NULL PRIMARY KEY, webhooks INTEGER NOT NULL, updated_at "+d.ColumnType(&schema.Column{Type: schema.TypeDatetime})+" NOT NULL)")
	if err != nil {
		return fmt.Errorf("create the webhook index: %w", err)
	}
	return nil
}

// index records how many enabled webhooks a tenant has.
func (s *Service) index(ctx context.Context, tenantID string, n int) error {
	d := s.Control.Dialect
	tx, err := s.Control.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after commit
	if _, err := tx.ExecContext(ctx, d.Rebind("DELETE FROM strata_webhook_tenants WHERE tenant_id = ?"), tenantID); err != nil {
		return err
	}
	if n > 0 {
		if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO strata_webhook_tenants (tenant_id, webhooks, updated_at) VALUES (?, ?, ?)"),
			tenantID, n, d.TimeValue(s.now())); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Sweep passes over the outbox of every tenant with webhooks: deliveries put back for
// later, and what a stopped node claimed, are posted so.
func (s *Service) Sweep(ctx context.Context) {
	s.init()
	ids, err := database.Texts(ctx, s.Control, "SELECT tenant_id FROM strata_webhook_tenants WHERE webhooks > 0")
	if err != nil {
		s.Log.Warn("webhooks: list tenants with webhooks", "err", err)
		return
	}
	for _, id := range ids {
		s.Outbox.Kick(id, nil)
	}
}

// Loop sweeps every 30 seconds until ctx ends.
func (s *Service) Loop(ctx context.Context) {
	s.Sweep(ctx)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep(ctx)
		}
	}
}
