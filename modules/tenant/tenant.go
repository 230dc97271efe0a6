// Package tenant owns the tenant registry in the control database, the placement of
// each tenant's own database (schema, database or file), the bounded pool per tenant,
// and the per-tenant model cache keyed by schema version. Creating a tenant creates its
// system tables through the migration module's one path.
package tenant

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"strata/modules/apierr"
	"strata/modules/bus"
	"strata/modules/database"
	"strata/modules/meta"
	"strata/modules/migration"
	"strata/schema"
	"strata/seeds"
)

// Tenant is one registry row.
type Tenant struct {
	ID        string    `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Dialect   string    `json:"dialect"`
	CreatedAt time.Time `json:"created_at"`
	// SandboxOf is the slug of the tenant this one was made from as a sandbox.
	SandboxOf string `json:"sandbox_of,omitempty"`
	// Tags select tenants for fleet migrations (key=value, matched with AND).
	Tags map[string]string `json:"tags"`
	// databaseURL is the tenant's own server, if it has one; never serialised.
	databaseURL string
	// placement is where a PostgreSQL tenant lives on its server (database.PlaceSchema
	// or PlaceDatabase), fixed when it is created.
	placement string
	// accountVersion is the accountVersion its database account was last brought to.
	accountVersion int
	// systemVersion names the system snapshot its system tables were last found or
	// made complete for (Registry.systemVersion); empty when unknown.
	systemVersion string
}

// accountVersion is what a tenant's database account must have been brought up to
// (database.ProvisionAccount): 1 is the first version whose every statement runs as
// the tenant's account (tables owned by it, MySQL without EVENT); 2 is the first whose
// PostgreSQL account carries its schema state in its login (meta.TagState); 3 the first
// whose PostgreSQL password is held as a secret that is cheap to log in with
// (database.SetAccountSecret). A node brings an older tenant up to it when it first
// readies it, once.
const accountVersion = 3

// Config wires a Registry.
type Config struct {
	Control   *database.DB
	DataDir   string
	Migration *migration.Service
	Snapshot  []schema.Table
	Pool      database.Pool
	NewID     func() string
	Now       func() time.Time
	Log       *slog.Logger
	// ModelTTL is how long a cached model is trusted before its version is checked
	// again (default 1s); changes made on this node invalidate it at once, and those
	// of other nodes as soon as the Bus brings them.
	ModelTTL time.Duration
	// TenantTTL is how long a tenant found by slug is trusted (default 2s).
	TenantTTL time.Duration
	// Placement is where new PostgreSQL tenants go: database.PlaceSchema (default) or
	// PlaceDatabase (STRATA_TENANT_PLACEMENT).
	Placement string
	// Secret derives each tenant account's password and the migration lock keys, so
	// every node knows them and nothing is stored.
	Secret []byte
	// Limit is the node's connection cap, shared by every tenant pool; when it is full,
	// idle connections of the least recently used pools are closed.
	Limit *database.Limiter
	// IdleTimeout is how long a tenant nobody asked for keeps its pool and cached model
	// on this node (default 10 minutes); then both are let go, and its next request
	// opens them again.
	IdleTimeout time.Duration
	// MaxModels bounds the cached models (default 1000); past it the least recently
	// used leave first.
	MaxModels int
	// MaxHolds bounds the long transfers (imports and exports) one tenant runs at once
	// on this node (default 4): each holds its pool open, and an import a transaction
	// (on SQLite the write lock), for as long as its client sends or reads.
	MaxHolds int
	// TrashRetention is how long trashed tables and columns are kept; expired ones are
	// purged when their tenant is readied and hourly for the tenants a node has open
	// (PurgeExpired).
	TrashRetention time.Duration
	// Template, when set, makes a new tenant (not a sandbox, which gets its source's
	// history) from the tenant template, as the last step of provisioning: a tenant
	// the template cannot make is not created.
	Template func(ctx context.Context, t *Tenant, tgt migration.Target, db *database.DB) error
	// Bus, when set, tells the other nodes of this node's schema versions and of
	// tenants created and deleted, and this node of theirs. The TTLs then only bound
	// how long a lost message goes unnoticed.
	Bus bus.Bus
}

// Registry resolves tenants, their pools and their models.
type Registry struct {
	cfg    Config
	mu     sync.Mutex
	pools  map[string]*pool
	models map[string]*cachedModel
	byslug map[string]cachedTenant
	// gen counts what made cached answers stale (commits, bus messages). A read of the
	// database that began before such an event may predate it, so its answer is served
	// but not cached.
	gen         uint64
	unsubscribe func()
	stopSweep   func()
	// background counts the shared model cache's writes in flight (Close waits), and
	// sharedWrites holds a slot for each (storeShared).
	background   sync.WaitGroup
	sharedWrites chan struct{}
	// sharedFormat names how this build stores shared models (sharedFormat).
	sharedFormat string
	// systemVersion names this Strata's system snapshot (snapshotVersion).
	systemVersion string
}

// pool is a tenant's pool and when a request last asked for it. The first request of a
// tenant on this node opens it and readies the tenant (ready); requests that come
// meanwhile wait for opened, then read db and err.
type pool struct {
	t        *Tenant
	opened   chan struct{}
	db       *database.DB
	err      error
	created  []string // system tables readying created
	lastUsed time.Time
	// held counts the work that keeps the pool open however long it is idle (Hold).
	held int
}

type cachedModel struct {
	model   *schema.Model
	version int64
	checked time.Time
	used    time.Time
}

type cachedTenant struct {
	t       *Tenant
	fetched time.Time
}

// SlugRule says in words what SlugPattern accepts, for the people who typed a slug.
const SlugRule = "a slug is 2 to 63 characters: lowercase letters, digits and hyphens, starting with a letter (like acme or acme-staging-2)"

// SlugPattern is the contract's tenant slug.
var SlugPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

// NewRegistry returns a Registry and subscribes it to migration commits so its model
// cache never lags behind this node's own changes, and to the bus (when there is one)
// for the other nodes' changes.
func NewRegistry(cfg Config) *Registry {
	if cfg.ModelTTL == 0 {
		cfg.ModelTTL = time.Second
	}
	if cfg.TenantTTL == 0 {
		cfg.TenantTTL = 2 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxModels <= 0 {
		cfg.MaxModels = 1000
	}
	if cfg.MaxHolds <= 0 {
		cfg.MaxHolds = 4
	}
	r := &Registry{cfg: cfg, pools: map[string]*pool{}, models: map[string]*cachedModel{}, byslug: map[string]cachedTenant{},
		systemVersion: snapshotVersion(cfg.Snapshot), sharedFormat: sharedFormat(), sharedWrites: make(chan struct{}, maxSharedWrites)}
	if cfg.Limit != nil {
		cfg.Limit.SetShed(r.shedIdle)
	}
	r.stopSweep = r.sweepEvery(max(cfg.IdleTimeout/4, time.Second))
	if cfg.Bus != nil {
		r.unsubscribe = cfg.Bus.Subscribe(r.follow)
	}
	return r
}

// Committed caches the model a migration of this node produced and announces its
// version to the other nodes. The wiring tells it every commit (migration.Notifier).
func (r *Registry) Committed(c migration.Commit) {
	r.mu.Lock()
	r.gen++
	r.cacheModelLocked(c.TenantID, c.Model, c.Version)
	r.mu.Unlock()
	r.publish(bus.TopicSchema, c.TenantID, bus.SchemaChange{Version: c.Version})
}

// publish tells the other nodes (bus.Tell: the other nodes' TTLs bound how long they
// miss a lost message).
func (r *Registry) publish(topic, tenantID string, data any) {
	if r.cfg.Bus != nil {
		bus.Tell(r.cfg.Bus, r.cfg.Log, topic, tenantID, data)
	}
}

// follow applies another node's changes (and this node's own, which change nothing)
// to the caches. It runs on the bus's delivery goroutine, so it only drops entries:
// the next request reloads them.
func (r *Registry) follow(m bus.Message) {
	switch m.Topic {
	case bus.TopicSchema:
		var sc bus.SchemaChange
		if err := json.Unmarshal(m.Data, &sc); err != nil || m.Tenant == "" {
			r.cfg.Log.Warn("bus: bad schema message", "tenant_id", m.Tenant, "err", err)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.gen++
		// A version is a count, not a clock (rolling back several migrations can lower
		// it): any other version than the cached one means the cached model is stale.
		if cm := r.models[m.Tenant]; cm != nil && cm.version != sc.Version {
			delete(r.models, m.Tenant)
		}
	case bus.TopicInvalidate:
		var inv bus.Invalidation
		if err := json.Unmarshal(m.Data, &inv); err != nil {
			r.cfg.Log.Warn("bus: bad invalidation message", "tenant_id", m.Tenant, "err", err)
			return
		}
		if inv.What != bus.InvalidateTenant {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.gen++
		delete(r.byslug, inv.Slug)
		if inv.Deleted {
			delete(r.models, m.Tenant)
			r.forgetPoolLocked(m.Tenant)
		}
	case bus.TopicResync:
		r.mu.Lock()
		defer r.mu.Unlock()
		r.gen++
		clear(r.models)
		clear(r.byslug)
	}
}

// storeModel caches a model read from the database, unless something made caches
// stale since gen was taken: the read may predate it.
func (r *Registry) storeModel(tenantID string, m *schema.Model, version int64, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen != gen {
		return
	}
	r.cacheModelLocked(tenantID, m, version)
}

// cacheModelLocked caches a tenant's model; past MaxModels, the least recently used
// model leaves (its tenant reloads it when next asked: three queries).
func (r *Registry) cacheModelLocked(tenantID string, m *schema.Model, version int64) {
	now := time.Now()
	r.models[tenantID] = &cachedModel{model: m, version: version, checked: now, used: now}
	for len(r.models) > r.cfg.MaxModels {
		var oldest string
		var at time.Time
		for id, cm := range r.models {
			if oldest == "" || cm.used.Before(at) {
				oldest, at = id, cm.used
			}
		}
		delete(r.models, oldest)
	}
}

// AddPlacement records where each tenant lives on its server (control migration 3):
// tenants registered before it have none, which means a schema.
func (r *Registry) AddPlacement(ctx context.Context) error {
	str := r.cfg.Control.Dialect.ColumnType(&schema.Column{Type: schema.TypeString, Length: 16})
	if _, err := r.cfg.Control.ExecContext(ctx, "ALTER TABLE strata_tenants ADD COLUMN placement "+str+" NULL"); err != nil {
		return fmt.Errorf("add tenant placement: %w", err)
	}
	return nil
}

// AddAccountVersion records how far each tenant's database account was brought
// (control migration 5); tenants registered before it have none.
func (r *Registry) AddAccountVersion(ctx context.Context) error {
	if _, err := r.cfg.Control.ExecContext(ctx, "ALTER TABLE strata_tenants ADD COLUMN account_version INTEGER NULL"); err != nil {
		return fmt.Errorf("add tenant account version: %w", err)
	}
	return nil
}

// AddSystemVersion records which system snapshot each tenant's system tables are
// complete for (control migration 6), so readying a current tenant skips the check.
func (r *Registry) AddSystemVersion(ctx context.Context) error {
	str := r.cfg.Control.Dialect.ColumnType(&schema.Column{Type: schema.TypeString, Length: 64})
	if _, err := r.cfg.Control.ExecContext(ctx, "ALTER TABLE strata_tenants ADD COLUMN system_version "+str+" NULL"); err != nil {
		return fmt.Errorf("add tenant system version: %w", err)
	}
	return nil
}

// AddTags gives tenants tags, a JSON object, for fleet migrations to select them by
// (control migration 10).
func (r *Registry) AddTags(ctx context.Context) error {
	text := r.cfg.Control.Dialect.ColumnType(&schema.Column{Type: schema.TypeText})
	if _, err := r.cfg.Control.ExecContext(ctx, "ALTER TABLE strata_tenants ADD COLUMN tags "+text+" NULL"); err != nil {
		return fmt.Errorf("add tenant tags: %w", err)
	}
	return nil
}

// SetTags replaces a tenant's tags (t, which others may hold, is left as it was: Get
// reads the tenant again).
func (r *Registry) SetTags(ctx context.Context, t *Tenant, tags map[string]string) error {
	b, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("encode tags: %w", err)
	}
	c := r.cfg.Control
	if _, err := c.ExecContext(ctx, c.Dialect.Rebind("UPDATE strata_tenants SET tags = ? WHERE id = ?"), string(b), t.ID); err != nil {
		return fmt.Errorf("set tenant tags: %w", err)
	}
	r.mu.Lock()
	r.gen++
	delete(r.byslug, t.Slug)
	r.mu.Unlock()
	// Other nodes read the tags again too (they select tenants for fleet runs).
	r.publish(bus.TopicInvalidate, t.ID, bus.Invalidation{What: bus.InvalidateTenant, Slug: t.Slug})
	return nil
}

// AddSandboxOf records which tenant a sandbox was made from (control migration 7).
func (r *Registry) AddSandboxOf(ctx context.Context) error {
	str := r.cfg.Control.Dialect.ColumnType(&schema.Column{Type: schema.TypeString, Length: 63})
	if _, err := r.cfg.Control.ExecContext(ctx, "ALTER TABLE strata_tenants ADD COLUMN sandbox_of "+str+" NULL"); err != nil {
		return fmt.Errorf("add tenant sandbox source: %w", err)
	}
	return nil
}

// snapshotVersion names a system snapshot: a hash of its tables.
func snapshotVersion(tables []schema.Table) string {
	b, _ := json.Marshal(tables)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// EnsureSchema creates the registry table in the control database.
func (r *Registry) EnsureSchema(ctx context.Context) error {
	d := r.cfg.Control.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	q := "CREATE TABLE IF NOT EXISTS strata_tenants (id " + str(36) + " NOT NULL PRIMARY KEY, slug " + str(63) + " NOT NULL UNIQUE, name " + str(255) + " NOT NULL, dialect " + str(16) +
		" NOT NULL, database_url " + d.ColumnType(&schema.Column{Type: schema.TypeText}) + " NULL, status " + str(16) + " NOT NULL, created_at " + d.ColumnType(&schema.Column{Type: schema.TypeDatetime}) + " NOT NULL)"
	if _, err := r.cfg.Control.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create tenant registry: %w", err)
	}
	return nil
}

// storeURL is the URL of the tenant's own schema, database or file.
func (r *Registry) storeURL(t *Tenant) (string, error) {
	return database.PlacedTenantURL(r.baseURL(t), r.cfg.DataDir, t.Slug, t.placement)
}

// baseURL is the server a tenant's own database lives on.
func (r *Registry) baseURL(t *Tenant) string {
	if t.databaseURL != "" {
		return t.databaseURL
	}
	return r.cfg.Control.URL()
}

// Create registers a tenant, creates its database and its system tables.
func (r *Registry) Create(ctx context.Context, slug, name, databaseURL string) (*Tenant, error) {
	return r.create(ctx, slug, name, databaseURL, "")
}

// CreateSandbox creates a tenant recorded as a sandbox of source, whose schema the caller
// then replays from source's history up to upTo (0: all of it). A history that cannot
// be replayed (unsettled migrations) is refused before any tenant is made.
func (r *Registry) CreateSandbox(ctx context.Context, source migration.Target, upTo int64, slug, name, databaseURL string) (*Tenant, error) {
	if err := migration.CheckSource(ctx, source, upTo); err != nil {
		return nil, err
	}
	return r.create(ctx, slug, name, databaseURL, source.Slug)
}

// Open returns an active tenant by slug with its migration target (its pool open).
func (r *Registry) Open(ctx context.Context, slug string) (*Tenant, migration.Target, error) {
	t, err := r.Get(ctx, slug)
	if err != nil {
		return nil, migration.Target{}, err
	}
	db, err := r.DB(ctx, t)
	if err != nil {
		return nil, migration.Target{}, err
	}
	return t, r.Target(t, db), nil
}

func (r *Registry) create(ctx context.Context, slug, name, databaseURL, sandboxOf string) (*Tenant, error) {
	if !SlugPattern.MatchString(slug) {
		return nil, apierr.InvalidPayload("slug", "%s", SlugRule)
	}
	if name == "" {
		name = slug
	}
	if len(name) > 255 {
		return nil, apierr.InvalidPayload("name", "name is longer than 255 characters")
	}
	t := &Tenant{ID: r.cfg.NewID(), Slug: slug, Name: name, databaseURL: databaseURL, SandboxOf: sandboxOf, Tags: map[string]string{}, CreatedAt: r.cfg.Now().UTC(), placement: database.PlaceSchema}
	dialect, err := database.DialectOf(r.baseURL(t))
	if err != nil {
		return nil, apierr.InvalidPayload("database_url", "%v", err)
	}
	t.Dialect = dialect
	if dialect == "postgres" && r.cfg.Placement == database.PlaceDatabase {
		t.placement = database.PlaceDatabase
	}
	c := r.cfg.Control
	d := c.Dialect
	// Claim the slug first: the unique key makes two concurrent creates fail cleanly.
	// Provisioning makes the account at the current version (or the tenant is removed).
	// Its system tables are made from the current snapshot.
	t.accountVersion, t.systemVersion = accountVersion, r.systemVersion
	_, err = c.ExecContext(ctx, d.Rebind("INSERT INTO strata_tenants (id, slug, name, dialect, database_url, placement, account_version, system_version, sandbox_of, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		t.ID, t.Slug, t.Name, t.Dialect, database.NullText(databaseURL), t.placement, t.accountVersion, t.systemVersion, database.NullText(sandboxOf), "creating", d.TimeValue(t.CreatedAt))
	if err != nil {
		if existing, _ := r.lookup(ctx, slug); existing != nil {
			return nil, apierr.New(400, "RECORD_NOT_UNIQUE", "tenant %q already exists", slug).With("field", "slug")
		}
		return nil, fmt.Errorf("register tenant: %w", err)
	}
	if err := r.provision(ctx, t); err != nil {
		r.cfg.Log.Error("tenant provisioning failed; rolling back", "tenant", slug, "err", err)
		_ = r.dropStore(context.WithoutCancel(ctx), t)
		_, _ = c.ExecContext(context.WithoutCancel(ctx), d.Rebind("DELETE FROM strata_tenants WHERE id = ?"), t.ID)
		return nil, err
	}
	if _, err := c.ExecContext(ctx, d.Rebind("UPDATE strata_tenants SET status = 'active' WHERE id = ?"), t.ID); err != nil {
		return nil, fmt.Errorf("activate tenant: %w", err)
	}
	r.publish(bus.TopicInvalidate, t.ID, bus.Invalidation{What: bus.InvalidateTenant, Slug: t.Slug})
	return t, nil
}

func (r *Registry) provision(ctx context.Context, t *Tenant) error {
	url, err := r.storeURL(t)
	if err != nil {
		return err
	}
	admin, closeAdmin, err := r.server(ctx, t)
	if err != nil {
		return err
	}
	defer closeAdmin()
	if err := database.CreateTenantStore(ctx, admin, url); err != nil {
		return err
	}
	if err := database.ProvisionAccount(ctx, admin, url, r.password(url)); err != nil {
		return err
	}
	// A new store has nothing to ready: it is bootstrapped to the current snapshot.
	p, _, err := r.acquire(ctx, t, false)
	if err != nil {
		return err
	}
	db := p.db
	if err := r.cfg.Migration.Bootstrap(ctx, r.Target(t, db), r.cfg.Snapshot); err != nil {
		return err
	}
	if err := meta.TagState(ctx, db, db.Dialect); err != nil {
		return err
	}
	d := db.Dialect
	now := d.TimeValue(r.cfg.Now())
	_, err = db.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("settings")+" ("+d.Quote("id")+", "+d.Quote("project_name")+", "+d.Quote("allow_signup")+", "+d.Quote("require_approval")+", "+d.Quote("created_at")+", "+d.Quote("updated_at")+") VALUES (?, ?, ?, ?, ?, ?)"),
		r.cfg.NewID(), t.Name, d.BoolValue(false), "none", now, now)
	if err != nil {
		return fmt.Errorf("seed tenant settings: %w", err)
	}
	if err := r.seedRoles(ctx, db); err != nil {
		return err
	}
	if r.cfg.Template != nil && t.SandboxOf == "" {
		if err := r.cfg.Template(ctx, t, r.Target(t, db), db); err != nil {
			return fmt.Errorf("tenant template: %w", err)
		}
	}
	return nil
}

// seedRoles adds the built-in roles (seeds/roles.json) to a tenant.
func (r *Registry) seedRoles(ctx context.Context, db *database.DB) error {
	d := db.Dialect
	now := d.TimeValue(r.cfg.Now())
	var roles struct {
		Roles []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			IsAdmin     bool   `json:"is_admin"`
		} `json:"roles"`
	}
	if err := json.Unmarshal(seeds.Roles, &roles); err != nil {
		return fmt.Errorf("decode seed roles: %w", err)
	}
	for _, role := range roles.Roles {
		_, err := db.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("strata_roles")+" ("+d.Quote("id")+", "+d.Quote("name")+", "+d.Quote("description")+", "+d.Quote("is_admin")+", "+d.Quote("created_at")+", "+d.Quote("updated_at")+") VALUES (?, ?, ?, ?, ?, ?)"),
			r.cfg.NewID(), role.Name, role.Description, d.BoolValue(role.IsAdmin), now, now)
		if err != nil {
			return fmt.Errorf("seed role %s: %w", role.Name, err)
		}
	}
	return nil
}

// server returns a connection to the database server a tenant lives on.
func (r *Registry) server(ctx context.Context, t *Tenant) (*database.DB, func(), error) {
	if t.databaseURL == "" {
		return r.cfg.Control, func() {}, nil
	}
	db, err := database.Open(ctx, t.databaseURL, database.Pool{MaxOpen: 2})
	if err != nil {
		return nil, nil, apierr.InvalidPayload("database_url", "cannot connect: %v", err)
	}
	return db, func() { db.Close() }, nil
}

func (r *Registry) dropStore(ctx context.Context, t *Tenant) error {
	url, err := r.storeURL(t)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.forgetPoolLocked(t.ID)
	r.gen++
	delete(r.models, t.ID)
	delete(r.byslug, t.Slug)
	r.mu.Unlock()
	admin, closeAdmin, err := r.server(ctx, t)
	if err != nil {
		return err
	}
	defer closeAdmin()
	return database.DropTenantStore(ctx, admin, url)
}

// Delete removes a tenant and its database.
func (r *Registry) Delete(ctx context.Context, t *Tenant) error {
	d := r.cfg.Control.Dialect
	if _, err := r.cfg.Control.ExecContext(ctx, d.Rebind("UPDATE strata_tenants SET status = 'deleting' WHERE id = ?"), t.ID); err != nil {
		return fmt.Errorf("mark tenant deleting: %w", err)
	}
	if err := r.dropStore(ctx, t); err != nil {
		return err
	}
	if err := r.dropShared(ctx, t.ID); err != nil {
		return err
	}
	if _, err := r.cfg.Control.ExecContext(ctx, d.Rebind("DELETE FROM strata_tenants WHERE id = ?"), t.ID); err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	r.publish(bus.TopicInvalidate, t.ID, bus.Invalidation{What: bus.InvalidateTenant, Slug: t.Slug, Deleted: true})
	return nil
}

// List returns every active tenant.
func (r *Registry) List(ctx context.Context) ([]*Tenant, error) {
	return r.query(ctx, "SELECT id, slug, name, dialect, database_url, placement, account_version, system_version, created_at, sandbox_of, tags FROM strata_tenants WHERE status = 'active' ORDER BY slug")
}

// Get returns an active tenant by slug; the answer is cached for a moment, since it
// is asked on every request.
func (r *Registry) Get(ctx context.Context, slug string) (*Tenant, error) {
	r.mu.Lock()
	ct, ok := r.byslug[slug]
	gen := r.gen
	r.mu.Unlock()
	if ok && time.Since(ct.fetched) < r.cfg.TenantTTL {
		return ct.t, nil
	}
	t, err := r.lookup(ctx, slug)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, apierr.NotFound("tenant %q not found", slug)
	}
	r.mu.Lock()
	if r.gen == gen {
		// A key must own its bytes: the caller's string may point into a reused buffer.
		r.byslug[strings.Clone(slug)] = cachedTenant{t: t, fetched: time.Now()}
	}
	r.mu.Unlock()
	return t, nil
}

// ByID returns an active tenant by id (nil when there is none): work no request started
// (a function's after hook, a schedule) names its tenant so.
func (r *Registry) ByID(ctx context.Context, id string) (*Tenant, error) {
	ts, err := r.query(ctx, r.cfg.Control.Dialect.Rebind("SELECT id, slug, name, dialect, database_url, placement, account_version, system_version, created_at, sandbox_of, tags FROM strata_tenants WHERE status = 'active' AND id = ?"), id)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return ts[0], nil
}

func (r *Registry) lookup(ctx context.Context, slug string) (*Tenant, error) {
	if !SlugPattern.MatchString(slug) {
		return nil, nil
	}
	ts, err := r.query(ctx, r.cfg.Control.Dialect.Rebind("SELECT id, slug, name, dialect, database_url, placement, account_version, system_version, created_at, sandbox_of, tags FROM strata_tenants WHERE status = 'active' AND slug = ?"), slug)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return ts[0], nil
}

func (r *Registry) query(ctx context.Context, q string, args ...any) ([]*Tenant, error) {
	rows, err := r.cfg.Control.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	defer rows.Close()
	out := []*Tenant{}
	for rows.Next() {
		var t Tenant
		var dbURL, placement sql.NullString
		var version sql.NullInt64
		var system, sandboxOf, tags sql.NullString
		var created any
		if err := rows.Scan(&t.ID, &t.Slug, &t.Name, &t.Dialect, &dbURL, &placement, &version, &system, &created, &sandboxOf, &tags); err != nil {
			return nil, fmt.Errorf("scan tenant: %w", err)
		}
		t.Tags = map[string]string{}
		if tags.String != "" {
			if err := json.Unmarshal([]byte(tags.String), &t.Tags); err != nil {
				return nil, fmt.Errorf("tenant %s: tags: %w", t.Slug, err)
			}
		}
		t.databaseURL = dbURL.String
		t.accountVersion = int(version.Int64)
		t.systemVersion = system.String
		t.SandboxOf = sandboxOf.String
		// Tenants registered before placements were recorded live in schemas.
		t.placement = database.PlaceSchema
		if placement.String == database.PlaceDatabase {
			t.placement = database.PlaceDatabase
		}
		switch c := created.(type) {
		case time.Time:
			t.CreatedAt = c.UTC()
		case string:
			t.CreatedAt, _ = time.Parse(time.RFC3339Nano, c)
		case []byte:
			t.CreatedAt, _ = time.Parse(time.RFC3339Nano, string(c))
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// DB returns the tenant's pool, opening it on first use. The pool logs in as the
// tenant's own database account (database.AccountURL): every statement for the
// tenant, whoever sends it, runs as an account that can reach nothing else. The first
// use on this node also readies the tenant (ready): a node visits no tenant at boot.
func (r *Registry) DB(ctx context.Context, t *Tenant) (*database.DB, error) {
	p, _, err := r.acquire(ctx, t, true)
	if err != nil {
		return nil, err
	}
	return p.db, nil
}

// Hold keeps the tenant's pool open on this node until release is called, however long
// it holds no connection: work that outlasts the idle timeout and lets its connection go
// between steps (an import, a batch at a time) would otherwise find it closed. At most
// MaxHolds at once per tenant: the next is refused with 429.
func (r *Registry) Hold(ctx context.Context, t *Tenant) (release func(), err error) {
	p, _, err := r.acquire(ctx, t, true)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if p.held >= r.cfg.MaxHolds {
		r.mu.Unlock()
		return nil, apierr.New(http.StatusTooManyRequests, "REQUESTS_EXCEEDED",
			"this tenant already runs %d imports and exports on this node (STRATA_TRANSFERS_PER_TENANT); try again when one ends", r.cfg.MaxHolds)
	}
	p.held++
	r.mu.Unlock()
	return sync.OnceFunc(func() {
		r.mu.Lock()
		p.held--
		p.lastUsed = time.Now()
		r.mu.Unlock()
	}), nil
}

// acquire returns the tenant's pool, opening (and, with readying, readying) it when
// this node has none; fresh says this call opened it. Concurrent first requests of a
// tenant wait for the one that opens it.
func (r *Registry) acquire(ctx context.Context, t *Tenant, readying bool) (p *pool, fresh bool, err error) {
	r.mu.Lock()
	p = r.pools[t.ID]
	if p == nil {
		p = &pool{t: t, opened: make(chan struct{}), lastUsed: time.Now()}
		r.pools[t.ID] = p
		r.mu.Unlock()
		db, created, err := r.open(ctx, t, readying)
		r.mu.Lock()
		p.db, p.created, p.err = db, created, err
		if err != nil && r.pools[t.ID] == p {
			delete(r.pools, t.ID) // the next request tries again
		}
		close(p.opened)
		fresh = true
	}
	p.lastUsed = time.Now()
	r.mu.Unlock()
	select {
	case <-p.opened:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	if p.err != nil {
		return nil, false, p.err
	}
	return p, fresh, nil
}

// open opens a tenant's pool and, with readying, readies the tenant.
func (r *Registry) open(ctx context.Context, t *Tenant, readying bool) (*database.DB, []string, error) {
	url, err := r.storeURL(t)
	if err != nil {
		return nil, nil, err
	}
	// The shared model is read while the tenant's connection is made (see shared.go),
	// unless this node still holds the model.
	var shared <-chan sharedEntry
	r.mu.Lock()
	_, cached := r.models[t.ID]
	// Taken before the login, which may carry the schema state: a model read for that
	// state is not cached if the schema changed since.
	gen := r.gen
	r.mu.Unlock()
	if readying && !cached {
		shared = r.fetchShared(ctx, t.ID)
	}
	db, err := r.openAccount(ctx, url)
	if err != nil {
		// A tenant made by an older Strata may have no account yet, or one with an old
		// password (a new secret): provision it and try once more.
		if perr := r.ensureAccount(ctx, t, url); perr != nil {
			return nil, nil, fmt.Errorf("open tenant %s: %w (provisioning its account: %v)", t.Slug, err, perr)
		}
		if db, err = r.openAccount(ctx, url); err != nil {
			return nil, nil, fmt.Errorf("open tenant %s: %w", t.Slug, err)
		}
	}
	if !readying {
		return db, nil, nil
	}
	created, err := r.ready(ctx, t, db, gen, shared)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("ready tenant %s: %w", t.Slug, err)
	}
	return db, created, nil
}

// ready brings a tenant up to what this Strata expects before its first request on
// this node: its database account (once, recorded in the registry), the migrations a
// crashed node left running settled, and the system tables it lacks created; then its
// model is loaded, from the shared cache when that holds the tenant's schema now
// (shared, when not nil, yields the entry). gen is the cache generation taken before db
// logged in. An up-to-date tenant costs one short query, or on PostgreSQL none: its
// login carries the schema state (meta.TagState).
func (r *Registry) ready(ctx context.Context, t *Tenant, db *database.DB, gen uint64, shared <-chan sharedEntry) ([]string, error) {
	if t.accountVersion < accountVersion {
		url, err := r.storeURL(t)
		if err != nil {
			return nil, err
		}
		switch {
		case t.accountVersion < 1:
			// An older Strata made tables as the control account, and granted MySQL
			// accounts EVENT.
			if err := r.ensureAccount(ctx, t, url); err != nil {
				return nil, fmt.Errorf("tenant account: %w", err)
			}
		case t.accountVersion < 3 && t.Dialect == "postgres":
			// Only PostgreSQL accounts hold a secret: elsewhere reaching the tenant's
			// server as the control account would be a connection for nothing.
			if err := r.onAccount(ctx, t, url, database.SetAccountSecret); err != nil {
				return nil, fmt.Errorf("tenant account: %w", err)
			}
		}
		if t.accountVersion < 2 {
			if err := meta.TagState(ctx, db, db.Dialect); err != nil {
				return nil, err
			}
		}
		c := r.cfg.Control
		if _, err := c.ExecContext(ctx, c.Dialect.Rebind("UPDATE strata_tenants SET account_version = ? WHERE id = ?"), accountVersion, t.ID); err != nil {
			return nil, fmt.Errorf("record tenant account version: %w", err)
		}
		t.accountVersion = accountVersion
	}
	// The login's tag, or else one statement, tells whether a migration was
	// interrupted and which schema version the model must be: on a connection just
	// opened each statement costs.
	state, tagged := meta.StateFromTag(db.LoginTag())
	if !tagged || state.Running > 0 {
		var err error
		if state, err = meta.ReadState(ctx, db, db.Dialect); err != nil {
			return nil, err
		}
	}
	v := state.Version
	if state.Running > 0 {
		if _, err := r.cfg.Migration.Recover(ctx, r.Target(t, db)); err != nil {
			return nil, fmt.Errorf("recover interrupted migrations: %w", err)
		}
		v = -1 // settling changed the history: read the version again
	}
	created, err := r.upgradeSystem(ctx, t, db, false)
	if err != nil {
		return created, err
	}
	if len(created) > 0 {
		v = -1
	}
	// The model is loaded now in any case: the request that readies the tenant needs it.
	// Expired trash is purged beside that request, not in its way.
	if v < 0 {
		gen = r.generation()
		shared = nil // the history changed since it was read: the state no longer names it
	}
	var m *schema.Model
	miss := false
	stamp := r.sharedFormat + " " + state.Stamp()
	if shared != nil {
		if m, miss = r.sharedModel(ctx, t, shared, stamp); m != nil {
			r.storeModel(t.ID, m, v, gen)
		}
	}
	if m == nil {
		if m, _, err = r.modelAt(ctx, t, db, v, gen); err != nil {
			return created, err
		}
		if miss {
			// Read after the state: the model may be newer than the stamp, never older.
			r.storeShared(t, stamp, m)
		}
	}
	if cutoff := r.cfg.Now().Add(-r.cfg.TrashRetention); len(expired(m, cutoff)) > 0 {
		go r.purgeExpired(context.WithoutCancel(ctx), t, db, cutoff)
	}
	return created, nil
}

func (r *Registry) openAccount(ctx context.Context, url string) (*database.DB, error) {
	login, err := database.AccountURL(url, r.password(url))
	if err != nil {
		return nil, err
	}
	cfg := r.cfg.Pool
	cfg.Limit = r.cfg.Limit
	return database.Open(ctx, login, cfg)
}

// ensureAccount provisions a tenant's database account through the control account.
func (r *Registry) ensureAccount(ctx context.Context, t *Tenant, url string) error {
	return r.onAccount(ctx, t, url, database.ProvisionAccount)
}

// onAccount runs step (database.ProvisionAccount, database.SetAccountSecret) on a
// tenant's database account, through the control account on the tenant's server.
func (r *Registry) onAccount(ctx context.Context, t *Tenant, url string, step func(ctx context.Context, admin *database.DB, tenantURL, password string) error) error {
	admin, closeAdmin, err := r.server(ctx, t)
	if err != nil {
		return err
	}
	defer closeAdmin()
	return step(ctx, admin, url, r.password(url))
}

// password derives a tenant account's password from the secret and the store's
// name, the way earlier Strata versions did for custom SQL.
func (r *Registry) password(tenantURL string) string {
	return r.derive("strata tenant role password\x00" + database.StoreName(tenantURL))[:32]
}

func (r *Registry) derive(what string) string {
	mac := hmac.New(sha256.New, r.cfg.Secret)
	mac.Write([]byte(what))
	return hex.EncodeToString(mac.Sum(nil))
}

// sweepEvery lets go of idle tenants every interval until the returned function is
// called.
func (r *Registry) sweepEvery(interval time.Duration) func() {
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				r.mu.Lock()
				r.sweepLocked()
				r.mu.Unlock()
			}
		}
	}()
	return sync.OnceFunc(func() { close(stop) })
}

// sweepLocked lets go of the tenants nobody asked for in IdleTimeout: their pools
// (once they hold no connection in use) and their cached models and slugs. What
// stays of such a tenant on this node is nothing.
func (r *Registry) sweepLocked() {
	cutoff := time.Now().Add(-r.cfg.IdleTimeout)
	for id, p := range r.pools {
		if !p.ready() || !p.lastUsed.Before(cutoff) || p.held > 0 || p.db.Stats().InUse > 0 {
			continue
		}
		p.db.Close()
		delete(r.pools, id)
		delete(r.models, id)
	}
	for id, cm := range r.models {
		if cm.used.Before(cutoff) {
			delete(r.models, id)
		}
	}
	for slug, ct := range r.byslug {
		if ct.fetched.Before(cutoff) {
			delete(r.byslug, slug)
		}
	}
}

// Stats is what a node holds of its tenants at one moment.
type Stats struct {
	Pools  int // tenant pools open (or opening)
	Models int // tenant models cached
}

// Stats counts the pools and models this node holds.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Pools: len(r.pools), Models: len(r.models)}
}

// ready reports whether the pool has been opened successfully.
func (p *pool) ready() bool {
	select {
	case <-p.opened:
		return p.err == nil
	default:
		return false
	}
}

// forgetPoolLocked closes and forgets a tenant's pool, if this node has one open.
func (r *Registry) forgetPoolLocked(tenantID string) {
	if p := r.pools[tenantID]; p != nil && p.ready() {
		p.db.Close()
		delete(r.pools, tenantID)
	}
}

// shedIdle closes the idle connections of the least recently used pool that has any,
// so a full connection cap makes room for a tenant in need. It reports whether it
// found one. One pool at a time: each connection closed ends a server process, and
// ends beside a login slow it down (database.Limiter).
func (r *Registry) shedIdle() bool {
	r.mu.Lock()
	var lru *pool
	for _, p := range r.pools {
		if p.ready() && (lru == nil || p.lastUsed.Before(lru.lastUsed)) && p.db.Stats().Idle > 0 {
			lru = p
		}
	}
	r.mu.Unlock()
	if lru == nil {
		return false
	}
	r.closeIdle(lru)
	return true
}

// Target is the migration target of a tenant.
func (r *Registry) Target(t *Tenant, db *database.DB) migration.Target {
	// The lock key is secret: advisory locks are shared by every account on the server,
	// and a tenant that could name another's key could hold its migrations up.
	return migration.Target{TenantID: t.ID, Slug: t.Slug, DB: db.DB, Dialect: db.Dialect, LockKey: "strata_migrate_" + r.derive("strata migration lock\x00" + t.ID)[:32], Store: db}
}

// Model returns the tenant's schema model from the cache, checking the schema version
// at most once per ModelTTL.
func (r *Registry) Model(ctx context.Context, t *Tenant, db *database.DB) (*schema.Model, error) {
	m, _, err := r.ModelVersion(ctx, t, db)
	return m, err
}

// ModelVersion is Model with the schema version it belongs to.
func (r *Registry) ModelVersion(ctx context.Context, t *Tenant, db *database.DB) (*schema.Model, int64, error) {
	return r.modelVersion(ctx, t, db, false)
}

// FreshModelVersion is ModelVersion with the version checked now, whatever the TTL:
// for a caller that has reason to think another node just changed the schema.
func (r *Registry) FreshModelVersion(ctx context.Context, t *Tenant, db *database.DB) (*schema.Model, int64, error) {
	return r.modelVersion(ctx, t, db, true)
}

func (r *Registry) modelVersion(ctx context.Context, t *Tenant, db *database.DB, fresh bool) (*schema.Model, int64, error) {
	r.mu.Lock()
	cm := r.models[t.ID]
	if cm != nil {
		cm.used = time.Now()
	}
	r.mu.Unlock()
	if cm != nil && !fresh && time.Since(cm.checked) < r.cfg.ModelTTL {
		return cm.model, cm.version, nil
	}
	return r.modelAt(ctx, t, db, -1, r.generation())
}

// generation is the cache generation a model read from now on may be stored under.
func (r *Registry) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// modelAt returns the tenant's model for schema version v (read now when v is -1);
// gen is the cache generation taken before v was read.
func (r *Registry) modelAt(ctx context.Context, t *Tenant, db *database.DB, v int64, gen uint64) (*schema.Model, int64, error) {
	r.mu.Lock()
	cm := r.models[t.ID]
	r.mu.Unlock()
	if v < 0 {
		var err error
		if v, err = meta.Version(ctx, db, db.Dialect); err != nil {
			return nil, 0, err
		}
	}
	if cm != nil && cm.version == v {
		r.storeModel(t.ID, cm.model, v, gen)
		return cm.model, v, nil
	}
	// The version was read before the model: if a migration commits in between, the
	// model is newer than v, never older; and that commit changes gen, so it is not
	// cached under v.
	m, err := meta.Load(ctx, db, db.Dialect)
	if err != nil {
		return nil, 0, err
	}
	r.storeModel(t.ID, m, v, gen)
	return m, v, nil
}

// Close stops following the bus and closes every tenant pool.
func (r *Registry) Close() {
	if r.unsubscribe != nil {
		r.unsubscribe()
	}
	r.stopSweep()
	r.background.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.pools {
		r.forgetPoolLocked(id)
	}
}

// LoadSnapshot decodes data/snapshot.json.
func LoadSnapshot(b []byte) ([]schema.Table, error) {
	var snap struct {
		Tables []schema.Table `json:"tables"`
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if len(snap.Tables) == 0 || snap.Tables[0].Name != "custom_migrations" {
		return nil, errors.New("snapshot must start with custom_migrations")
	}
	return snap.Tables, nil
}

// idle closes the idle connections of a tenant's pool after work done for every
// tenant (system upgrades): a node should hold connections for the tenants its
// requests use, not for all it visited.
func (r *Registry) idle(t *Tenant) {
	r.mu.Lock()
	p := r.pools[t.ID]
	r.mu.Unlock()
	if p != nil && p.ready() {
		r.closeIdle(p)
	}
}

// closeIdle closes a pool's idle connections now, by dropping its idle allowance and
// restoring it; the pool keeps working and opens new ones when next used.
func (r *Registry) closeIdle(p *pool) {
	p.db.SetMaxIdleConns(0)
	p.db.SetMaxIdleConns(max(r.cfg.Pool.MaxIdle, 1))
}

// PurgeExpired drops the trashed tables and columns older than retention of every
// tenant this node has open (a tenant is also purged when a node readies it). Each
// purge is a recorded migration like any other.
func (r *Registry) PurgeExpired(ctx context.Context, retention time.Duration) {
	cutoff := r.cfg.Now().Add(-retention)
	r.EachOpen(func(t *Tenant, db *database.DB) { r.purgeExpired(ctx, t, db, cutoff) })
}

// EachOpen calls fn for each tenant whose pool this node has open and ready: upkeep
// (purges) visits only those, so a node opens no tenant for its own chores.
func (r *Registry) EachOpen(fn func(t *Tenant, db *database.DB)) {
	r.mu.Lock()
	var open []*pool
	for _, p := range r.pools {
		if p.ready() {
			open = append(open, p)
		}
	}
	r.mu.Unlock()
	for _, p := range open {
		fn(p.t, p.db)
	}
}

// expired lists the trashed items of m trashed before cutoff.
func expired(m *schema.Model, cutoff time.Time) []schema.Trashed {
	var out []schema.Trashed
	for _, tr := range schema.PurgeOrder(m.Trash) {
		if at, err := time.Parse(time.RFC3339Nano, tr.TrashedAt); err == nil && at.Before(cutoff) {
			out = append(out, tr)
		}
	}
	return out
}

func (r *Registry) purgeExpired(ctx context.Context, t *Tenant, db *database.DB, cutoff time.Time) {
	m, err := r.Model(ctx, t, db)
	if err != nil {
		r.cfg.Log.Error("trash purge: load model", "tenant", t.Slug, "err", err)
		return
	}
	for _, tr := range expired(m, cutoff) {
		_, err = r.cfg.Migration.Apply(ctx, r.Target(t, db), migration.Request{
			Change: schema.Change{Type: schema.Purge, TrashID: tr.ID}, Unattended: true, CreatedBy: "system",
			Name: "purge expired trash " + tr.TrashName,
		})
		if err != nil {
			r.cfg.Log.Error("trash purge failed", "tenant", t.Slug, "trash", tr.TrashName, "err", err)
		}
	}
}

// upgradeSystem creates the system tables a tenant lacks, unless (without force) the
// registry records them complete for this Strata's snapshot, and records that they are.
func (r *Registry) upgradeSystem(ctx context.Context, t *Tenant, db *database.DB, force bool) ([]string, error) {
	if !force && t.systemVersion == r.systemVersion {
		return nil, nil
	}
	created, err := r.cfg.Migration.UpgradeSystem(ctx, r.Target(t, db), r.cfg.Snapshot)
	if err != nil {
		return created, err
	}
	if len(created) > 0 {
		r.cfg.Log.Info("system tables upgraded", "tenant", t.Slug, "created", created)
	}
	if slices.Contains(created, "strata_roles") {
		if err := r.seedRoles(ctx, db); err != nil {
			return created, err
		}
	}
	c := r.cfg.Control
	if _, err := c.ExecContext(ctx, c.Dialect.Rebind("UPDATE strata_tenants SET system_version = ? WHERE id = ?"), r.systemVersion, t.ID); err != nil {
		return created, fmt.Errorf("record tenant system version: %w", err)
	}
	t.systemVersion = r.systemVersion
	return created, nil
}

// UpgradeResult is one tenant's system upgrade: the system tables it got, or why it
// failed.
type UpgradeResult struct {
	Slug    string   `json:"slug"`
	Created []string `json:"created"`
	Err     error    `json:"-"`
}

// upgradesPerServer bounds the tenants upgraded at once on one database server, so an
// upgrade of many tenants does not swamp any of them.
const upgradesPerServer = 4

// UpgradeSystem brings every tenant's system tables up to the current snapshot, a few
// tenants at a time on each database server. One tenant's failure is logged and does
// not stop the others; an up-to-date tenant costs one query. report, when set, hears
// about each tenant as it is done (from several goroutines, one at a time). It returns
// the per-tenant errors by slug.
func (r *Registry) UpgradeSystem(ctx context.Context, report func(UpgradeResult)) map[string]error {
	var mu sync.Mutex
	return r.EachTenant(ctx, func(ctx context.Context, t *Tenant) error {
		created, err := r.UpgradeTenant(ctx, t)
		if err != nil {
			r.cfg.Log.Error("system upgrade failed", "tenant", t.Slug, "err", err)
		}
		if report != nil {
			mu.Lock()
			defer mu.Unlock()
			report(UpgradeResult{Slug: t.Slug, Created: created, Err: err})
		}
		return err
	})
}

// EachTenant does work for every tenant, a few tenants at a time on each database
// server, each tenant's pool closed again after (a pass over thousands of tenants keeps
// none open). One tenant's failure does not stop the others; work runs on several
// goroutines at once. It returns the per-tenant errors by slug ("" for the listing).
func (r *Registry) EachTenant(ctx context.Context, work func(ctx context.Context, t *Tenant) error) map[string]error {
	ts, err := r.List(ctx)
	if err != nil {
		return map[string]error{"": err}
	}
	byServer := map[string][]*Tenant{}
	for _, t := range ts {
		byServer[r.baseURL(t)] = append(byServer[r.baseURL(t)], t)
	}
	var mu sync.Mutex
	failed := map[string]error{}
	var wg sync.WaitGroup
	for _, group := range byServer {
		queue := make(chan *Tenant, len(group))
		for _, t := range group {
			queue <- t
		}
		close(queue)
		for range min(upgradesPerServer, len(group)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := range queue {
					err := work(ctx, t)
					r.idle(t)
					if err != nil {
						mu.Lock()
						failed[t.Slug] = err
						mu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	return failed
}

// UpgradeTenant readies one tenant (ready) and checks its system tables whatever the
// registry records (`strata migrate system`), returning those it lacked.
func (r *Registry) UpgradeTenant(ctx context.Context, t *Tenant) ([]string, error) {
	p, fresh, err := r.acquire(ctx, t, true)
	if err != nil {
		return nil, err
	}
	if fresh && len(p.created) > 0 {
		return p.created, nil
	}
	return r.upgradeSystem(ctx, t, p.db, true)
}
