// Package controlplane runs migrations across the fleet: it registers changesets in the
// control database, selects tenants and changesets by name and tags, and runs the
// changesets on each tenant through the one migration path, as runs that are recorded,
// can be paused, resumed and cancelled, and survive the node that started them. HTTP
// and gRPC are two doors to this service.
package controlplane

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strata/modules/apierr"
	"strata/modules/changeset"
	"strata/modules/database"
	"strata/modules/migration"
	"strata/modules/tenant"
	"strata/schema"
)

// Service is the control plane of one node.
type Service struct {
	Control   *database.DB
	Tenants   *tenant.Registry
	Migration *migration.Service
	NodeID    string
	// TakeoverAfter is how long a run's node may be silent before another takes the
	// run over (30s); a node says it drives a run every sixth of it.
	TakeoverAfter time.Duration
	// Translate maps service errors onto the contract's (a result's error message).
	Translate func(error) error
	Log       *slog.Logger
	Now       func() time.Time
	NewID     func() string

	mu   sync.Mutex
	runs map[string]*runner // runs this node is driving
}

// Registered is a changeset as the control database holds it.
type Registered struct {
	*changeset.Changeset
	RegisteredAt time.Time `json:"registered_at"`
	RegisteredBy string    `json:"registered_by,omitempty"`
}

// EnsureSchema creates the control tables of the control plane (a control migration).
func (s *Service) EnsureSchema(ctx context.Context) error {
	d := s.Control.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	text := d.ColumnType(&schema.Column{Type: schema.TypeText})
	ts := d.ColumnType(&schema.Column{Type: schema.TypeDatetime})
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS strata_changesets (name " + str(128) + " NOT NULL PRIMARY KEY, checksum " + str(64) + " NOT NULL, body " + text +
			" NOT NULL, registered_by " + str(64) + " NULL, registered_at " + ts + " NOT NULL)",
		"CREATE TABLE IF NOT EXISTS strata_migrate_runs (id " + str(36) + " NOT NULL PRIMARY KEY, status " + str(16) + " NOT NULL, request " + text +
			" NOT NULL, created_by " + str(64) + " NULL, node " + str(64) + " NULL, heartbeat " + ts + " NULL, error " + text + " NULL, created_at " + ts +
			" NOT NULL, updated_at " + ts + " NOT NULL, finished_at " + ts + " NULL)",
		"CREATE TABLE IF NOT EXISTS strata_migrate_results (run_id " + str(36) + " NOT NULL, position INTEGER NOT NULL, tenant " + str(63) +
			" NOT NULL, changeset " + str(128) + " NOT NULL, status " + str(24) + " NOT NULL, error " + text + " NULL, migration_ids " + text +
			" NULL, updated_at " + ts + " NOT NULL, PRIMARY KEY (run_id, position))",
	} {
		if _, err := s.Control.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create the control plane's tables: %w", err)
		}
	}
	return nil
}

// Register records a changeset. The same name with the same checksum is the one already
// registered (created is false); with another checksum it is a 409 naming both.
func (s *Service) Register(ctx context.Context, cs *changeset.Changeset, by string) (reg *Registered, created bool, err error) {
	if have, err := s.Get(ctx, cs.Name); err == nil {
		if have.Checksum != cs.Checksum {
			return nil, false, apierr.New(409, "CHECKSUM_MISMATCH", "changeset %s is registered with checksum %s; this file's is %s: a changeset is never changed once registered, add a new one",
				cs.Name, have.Checksum, cs.Checksum).With("registered_checksum", have.Checksum).With("checksum", cs.Checksum)
		}
		return have, false, nil
	} else if !isNotFound(err) {
		return nil, false, err
	}
	body, err := json.Marshal(cs)
	if err != nil {
		return nil, false, fmt.Errorf("encode changeset: %w", err)
	}
	d := s.Control.Dialect
	now := s.Now().UTC()
	_, err = s.Control.ExecContext(ctx, d.Rebind("INSERT INTO strata_changesets (name, checksum, body, registered_by, registered_at) VALUES (?, ?, ?, ?, ?)"),
		cs.Name, cs.Checksum, string(body), database.NullText(by), d.TimeValue(now))
	if err != nil {
		// Two registrations of one name at once: the loser reads the winner's.
		if have, gerr := s.Get(ctx, cs.Name); gerr == nil {
			if have.Checksum != cs.Checksum {
				return nil, false, apierr.New(409, "CHECKSUM_MISMATCH", "changeset %s is registered with checksum %s; this file's is %s", cs.Name, have.Checksum, cs.Checksum)
			}
			return have, false, nil
		}
		return nil, false, fmt.Errorf("register changeset %s: %w", cs.Name, err)
	}
	return &Registered{Changeset: cs, RegisteredAt: now, RegisteredBy: by}, true, nil
}

func isNotFound(err error) bool {
	var ae *apierr.Error
	return errors.As(err, &ae) && ae.Status == 404
}

// Get reads one registered changeset.
func (s *Service) Get(ctx context.Context, name string) (*Registered, error) {
	list, err := s.list(ctx, "WHERE name = ?", name)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, apierr.NotFound("changeset %q not found", name)
	}
	return list[0], nil
}

// List reads every registered changeset, by name.
func (s *Service) List(ctx context.Context) ([]*Registered, error) {
	return s.list(ctx, "")
}

func (s *Service) list(ctx context.Context, where string, args ...any) ([]*Registered, error) {
	d := s.Control.Dialect
	rows, err := s.Control.QueryContext(ctx, d.Rebind("SELECT body, registered_by, registered_at FROM strata_changesets "+where+" ORDER BY name"), args...)
	if err != nil {
		return nil, fmt.Errorf("read changesets: %w", err)
	}
	defer rows.Close()
	out := []*Registered{}
	for rows.Next() {
		var body string
		var by sql.NullString
		var at any
		if err := rows.Scan(&body, &by, &at); err != nil {
			return nil, fmt.Errorf("read changesets: %w", err)
		}
		var cs changeset.Changeset
		if err := json.Unmarshal([]byte(body), &cs); err != nil {
			return nil, fmt.Errorf("changeset body: %w", err)
		}
		r := &Registered{Changeset: &cs, RegisteredBy: by.String}
		if t := database.Time(at); t != nil {
			r.RegisteredAt = *t
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TagTenant replaces a tenant's tags ({key: value}).
func (s *Service) TagTenant(ctx context.Context, slug string, tags map[string]string) (*tenant.Tenant, error) {
	if len(tags) > changeset.MaxTags {
		return nil, apierr.InvalidPayload("tags", "at most %d tags", changeset.MaxTags)
	}
	for k, v := range tags {
		if _, _, err := changeset.ParseTag(k + "=" + v); err != nil {
			return nil, apierr.InvalidPayload("tags."+k, "%v", err)
		}
	}
	t, err := s.Tenants.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	if err := s.Tenants.SetTags(ctx, t, tags); err != nil {
		return nil, err
	}
	return s.Tenants.Get(ctx, slug)
}
