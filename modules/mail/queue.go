package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strata/modules/database"
	"strata/schema"
)

// Queue keeps messages in the control database until they are delivered: a send that
// fails is tried again later, and a node that stops leaves its messages to the next
// pass of any node. Rows are claimed with a lease, so two nodes never send one twice
// (a node that dies mid-send may, once the lease lapses: mail is at least once).
type Queue struct {
	Control *database.DB
	Sender  *Sender
	// ServerFor finds the mail server of a tenant (its own, or the platform's);
	// ErrTenantGone drops the tenant's messages.
	ServerFor func(ctx context.Context, tenantID string) (Server, error)
	Log       *slog.Logger
	Now       func() time.Time
	NewID     func() string
	// Interval is how often the queue is swept for due retries (default 15 s).
	Interval time.Duration
	// Keep is how long delivered and failed messages stay listed (default 30 days).
	Keep time.Duration

	once sync.Once
	kick chan struct{}
}

// ErrTenantGone is ServerFor's answer for a tenant that no longer exists.
var ErrTenantGone = errors.New("the tenant no longer exists")

// Retry schedule: after each failed attempt, wait this long; after the last, give up.
var retryAfter = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 6 * time.Hour}

// Bounds of one sweep and of a delivery's lease.
const (
	sweepBatch = 50
	lease      = 2 * SendTimeout
)

// Message statuses.
const (
	StatusQueued = "queued"
	StatusSent   = "sent"
	StatusFailed = "failed"
)

// EnsureSchema creates the queue (a control step).
func (q *Queue) EnsureSchema(ctx context.Context) error {
	d := q.Control.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	text := d.ColumnType(&schema.Column{Type: schema.TypeText})
	ts := d.ColumnType(&schema.Column{Type: schema.TypeDatetime})
	for _, stmt := range []string{
		"CREATE TABLE IF NOT EXISTS strata_mail_queue (id " + str(36) + " NOT NULL PRIMARY KEY, tenant_id " + str(36) + " NOT NULL, recipient " + str(320) +
			" NOT NULL, subject " + text + " NOT NULL, html " + text + ", body " + text + ", status " + str(16) + " NOT NULL, attempts INTEGER NOT NULL, next_attempt_at " +
			ts + " NOT NULL, locked_until " + ts + ", last_error " + text + ", created_at " + ts + " NOT NULL, sent_at " + ts + ")",
		"CREATE INDEX strata_mail_queue_due ON strata_mail_queue (status, next_attempt_at)",
		"CREATE INDEX strata_mail_queue_tenant ON strata_mail_queue (tenant_id, created_at)",
	} {
		if _, err := q.Control.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create the mail queue: %w", err)
		}
	}
	return nil
}

func (q *Queue) kicker() chan struct{} {
	q.once.Do(func() { q.kick = make(chan struct{}, 1) })
	return q.kick
}

// Enqueue keeps msg for the tenant and wakes the sender.
func (q *Queue) Enqueue(ctx context.Context, tenantID string, msg Message) error {
	d := q.Control.Dialect
	now := d.TimeValue(q.Now().UTC())
	_, err := q.Control.ExecContext(ctx, d.Rebind("INSERT INTO strata_mail_queue (id, tenant_id, recipient, subject, html, body, status, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"),
		q.NewID(), tenantID, msg.To, msg.Subject, msg.HTML, msg.Text, StatusQueued, now, now)
	if err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	select {
	case q.kicker() <- struct{}{}:
	default:
	}
	return nil
}

// Loop delivers due messages when woken and every Interval, until ctx ends.
func (q *Queue) Loop(ctx context.Context) {
	every := q.Interval
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var pruned time.Time
	for {
		if time.Since(pruned) > time.Hour {
			q.prune(ctx)
			pruned = time.Now()
		}
		q.Sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.kicker():
		}
	}
}

// prune forgets delivered and failed messages older than Keep.
func (q *Queue) prune(ctx context.Context) {
	keep := q.Keep
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	d := q.Control.Dialect
	if _, err := q.Control.ExecContext(ctx, d.Rebind("DELETE FROM strata_mail_queue WHERE status <> ? AND created_at < ?"), StatusQueued, d.TimeValue(q.Now().UTC().Add(-keep))); err != nil {
		q.Log.Warn("mail: prune the queue", "err", err)
	}
}

type queued struct {
	id, tenant string
	attempts   int
	msg        Message
}

// Sweep delivers the messages that are due, a batch at a time.
func (q *Queue) Sweep(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := q.due(ctx)
		if err != nil {
			q.Log.Warn("mail: read the queue", "err", err)
			return
		}
		for _, m := range batch {
			q.deliver(ctx, m)
		}
		if len(batch) < sweepBatch {
			return
		}
	}
}

// due claims up to a batch of due messages for this node.
func (q *Queue) due(ctx context.Context) ([]queued, error) {
	d := q.Control.Dialect
	now := q.Now().UTC()
	rows, err := q.Control.QueryContext(ctx, d.Rebind("SELECT id, tenant_id, recipient, subject, html, body, attempts FROM strata_mail_queue WHERE status = ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until < ?) ORDER BY next_attempt_at LIMIT "+fmt.Sprint(sweepBatch)),
		StatusQueued, d.TimeValue(now), d.TimeValue(now))
	if err != nil {
		return nil, err
	}
	var found []queued
	for rows.Next() {
		var m queued
		var html, body sql.NullString
		if err := rows.Scan(&m.id, &m.tenant, &m.msg.To, &m.msg.Subject, &html, &body, &m.attempts); err != nil {
			rows.Close()
			return nil, err
		}
		m.msg.HTML, m.msg.Text = html.String, body.String
		found = append(found, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	claimed := found[:0]
	for _, m := range found {
		// The lease is taken only if no other node took it since the read.
		res, err := q.Control.ExecContext(ctx, d.Rebind("UPDATE strata_mail_queue SET locked_until = ? WHERE id = ? AND status = ? AND attempts = ? AND (locked_until IS NULL OR locked_until < ?)"),
			d.TimeValue(now.Add(lease)), m.id, StatusQueued, m.attempts, d.TimeValue(now))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			claimed = append(claimed, m)
		}
	}
	return claimed, nil
}

// deliver sends one claimed message and records the outcome: sent (its body, which
// holds a single-use link, is then dropped), queued again later, or failed for good.
func (q *Queue) deliver(ctx context.Context, m queued) {
	d := q.Control.Dialect
	srv, err := q.ServerFor(ctx, m.tenant)
	if err == nil {
		err = q.Sender.Send(ctx, srv, m.msg)
	}
	now := q.Now().UTC()
	if err == nil {
		_, err := q.Control.ExecContext(ctx, d.Rebind("UPDATE strata_mail_queue SET status = ?, attempts = ?, sent_at = ?, locked_until = NULL, last_error = NULL, html = NULL, body = NULL WHERE id = ?"),
			StatusSent, m.attempts+1, d.TimeValue(now), m.id)
		if err != nil {
			q.Log.Warn("mail: record a delivery", "id", m.id, "err", err)
		}
		return
	}
	attempt := m.attempts + 1
	status, next := StatusQueued, now
	if attempt > len(retryAfter) || errors.Is(err, ErrTenantGone) {
		status = StatusFailed
	} else {
		next = now.Add(retryAfter[attempt-1])
	}
	q.Log.Warn("mail: delivery failed", "tenant", m.tenant, "id", m.id, "attempt", attempt, "status", status, "err", err)
	reason := err.Error()
	if len(reason) > 2000 {
		reason = reason[:2000]
	}
	// A message given up on keeps no body either: its link must not outlive it.
	stmt := "UPDATE strata_mail_queue SET status = ?, attempts = ?, next_attempt_at = ?, locked_until = NULL, last_error = ? WHERE id = ?"
	if status == StatusFailed {
		stmt = "UPDATE strata_mail_queue SET status = ?, attempts = ?, next_attempt_at = ?, locked_until = NULL, last_error = ?, html = NULL, body = NULL WHERE id = ?"
	}
	if _, uerr := q.Control.ExecContext(ctx, d.Rebind(stmt), status, attempt, d.TimeValue(next), reason, m.id); uerr != nil {
		q.Log.Warn("mail: record a failed delivery", "id", m.id, "err", uerr)
	}
}

// Entry is one queued message as an admin sees it: never its body, which may hold a
// single-use link.
type Entry struct {
	ID          string     `json:"id"`
	Recipient   string     `json:"recipient"`
	Subject     string     `json:"subject"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   *string    `json:"last_error"`
	NextAttempt *time.Time `json:"next_attempt_at"`
	CreatedAt   *time.Time `json:"created_at"`
	SentAt      *time.Time `json:"sent_at"`
}

// List returns a tenant's latest messages, newest first (at most limit).
func (q *Queue) List(ctx context.Context, tenantID string, limit int) ([]Entry, error) {
	d := q.Control.Dialect
	rows, err := q.Control.QueryContext(ctx, d.Rebind("SELECT id, recipient, subject, status, attempts, last_error, next_attempt_at, created_at, sent_at FROM strata_mail_queue WHERE tenant_id = ? ORDER BY created_at DESC LIMIT "+fmt.Sprint(limit)), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var lastErr sql.NullString
		var next, created, sent any
		if err := rows.Scan(&e.ID, &e.Recipient, &e.Subject, &e.Status, &e.Attempts, &lastErr, &next, &created, &sent); err != nil {
			return nil, fmt.Errorf("list mail: %w", err)
		}
		if lastErr.Valid {
			e.LastError = &lastErr.String
		}
		if e.Status == StatusQueued {
			e.NextAttempt = database.Time(next)
		}
		e.CreatedAt, e.SentAt = database.Time(created), database.Time(sent)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DropTenant forgets a deleted tenant's messages.
func (q *Queue) DropTenant(ctx context.Context, tenantID string) error {
	d := q.Control.Dialect
	if _, err := q.Control.ExecContext(ctx, d.Rebind("DELETE FROM strata_mail_queue WHERE tenant_id = ?"), tenantID); err != nil {
		return fmt.Errorf("drop the tenant's mail: %w", err)
	}
	return nil
}
