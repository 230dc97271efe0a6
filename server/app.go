package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"strata/data"
	"strata/modules/access"
	"strata/modules/activity"
	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/bus"
	"strata/modules/controlplane"
	"strata/modules/database"
	"strata/modules/files"
	"strata/modules/functions"
	"strata/modules/graphql"
	"strata/modules/grpcdoor"
	"strata/modules/identity"
	"strata/modules/mail"
	"strata/modules/migration"
	"strata/modules/oidc"
	"strata/modules/outbox"
	"strata/modules/packages"
	"strata/modules/query"
	"strata/modules/realtime"
	"strata/modules/records"
	"strata/modules/rest"
	"strata/modules/settings"
	"strata/modules/template"
	"strata/modules/tenant"
	"strata/modules/webhooks"
	"strata/schema"
)

// App is one wired Strata node.
type App struct {
	Fiber    *fiber.App
	Control  *database.DB
	Tenants  *tenant.Registry
	Realtime *realtime.Hub
	// Records is the one record path; its hooks are where server-side code plugs in.
	Records *records.Service
	// Files stores tenants' files.
	Files *files.Service
	// Functions runs tenants' endpoints, hooks and schedules.
	Functions *functions.Service
	Bus       bus.Bus
	// GeneratedAdminPassword is set when this start created the first platform admin
	// without STRATA_ADMIN_PASSWORD: the password made for it, to be shown once.
	GeneratedAdminPassword string
	cfg                    Config
	log                    *slog.Logger
	purges                 *files.Purges
	fleet                  *controlplane.Service
	auth                   *auth.Service
	migration              *migration.Service
	core                   *core
	// metrics is /metrics, for ServeMetrics; metricsSrv is its server once started.
	metrics    http.Handler
	metricsSrv atomic.Pointer[http.Server]
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// processID names this process among the nodes (who drives a fleet run).
func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), newID()[24:])
}

// core is what a node and the CLI share: the control database, the migration
// service and the tenant registry, with the control schema in place.
type core struct {
	functions *functions.Service
	fleet     *controlplane.Service
	control   *database.DB
	migration *migration.Service
	auth      *auth.Service
	tenants   *tenant.Registry
	settings  *settings.Service
	bus       bus.Bus
	purges    *files.Purges
	// template is the tenant template (STRATA_TEMPLATE_DIR), or nil.
	template *template.Service
	// packages is the package schema workflow's registry (strata schema scan).
	packages *packages.Service
	// mail is the queue of the auth flows' mails.
	mail *mail.Queue
	// webhooks keeps tenants' webhooks; its control index is a control migration.
	webhooks *webhooks.Service
	// deliveries delivers after hooks and webhooks from the tenants' outboxes.
	deliveries *outbox.Deliverer
}

// openCore opens the control database and wires the modules that work on tenants.
func openCore(ctx context.Context, cfg Config, log *slog.Logger) (*core, error) {
	limit := database.NewLimiter(cfg.MaxDBConnections)
	control, err := database.Open(ctx, cfg.DatabaseURL, database.Pool{MaxOpen: cfg.ControlPoolMax, MaxIdle: 5, MaxIdleTime: 5 * time.Minute, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("control database: %w", err)
	}
	snapshot, err := tenant.LoadSnapshot(data.Snapshot)
	if err != nil {
		control.Close()
		return nil, err
	}
	// Settings have one reader, so the migration service holds changes for approval by
	// the same policy, cached the same way, as every surface shows.
	settingsSvc := &settings.Service{TTL: cfg.CacheTTL, Sealer: settings.NewSealer(cfg.JWTSecret)}
	approval := func(ctx context.Context, tgt migration.Target) (string, error) {
		if tgt.Store == nil {
			return "", nil
		}
		st, err := settingsSvc.Get(ctx, tgt.TenantID, tgt.Store)
		return st.RequireApproval, err
	}
	mig := migration.NewService(migration.Config{Secret: cfg.JWTSecret, ConfirmTTL: cfg.ConfirmTTL, CustomSQLTimeout: cfg.CustomSQLTimeout,
		NewID: newID, Log: log, StepDelay: cfg.TestStepDelay, Approval: approval})
	authSvc := auth.NewService(control, auth.Config{Secret: cfg.JWTSecret, AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, ReuseInterval: cfg.RefreshReuse, SessionTTL: cfg.CacheTTL, NewID: newID})
	// The CLI has the bus too: a migration it runs reaches the running nodes' caches.
	clusterBus, err := openBus(ctx, cfg, log)
	if err != nil {
		control.Close()
		return nil, err
	}
	tpl, err := loadTemplate(cfg, mig, log)
	if err != nil {
		control.Close()
		return nil, err
	}
	tenants := tenant.NewRegistry(tenant.Config{Template: newTenantFromTemplate(tpl),
		Control: control, DataDir: cfg.DataDir, Migration: mig, Snapshot: snapshot, NewID: newID, Now: time.Now, Log: log,
		ModelTTL: cfg.CacheTTL, TenantTTL: cfg.CacheTTL, Bus: clusterBus, Secret: cfg.JWTSecret, Limit: limit, Placement: cfg.TenantPlacement,
		IdleTimeout: cfg.TenantIdleTimeout, MaxModels: cfg.ModelCacheSize, TrashRetention: cfg.TrashRetention, MaxHolds: cfg.TransfersPerTenant,
		// Keep as many idle connections as may be open: reconnecting under load costs more
		// than the query; idle ones are closed after MaxIdleTime.
		Pool: database.Pool{MaxOpen: cfg.TenantPoolMax, MaxIdle: cfg.TenantPoolMax, MaxIdleTime: min(5*time.Minute, cfg.TenantIdleTimeout)},
	})
	co := &core{control: control, migration: mig, auth: authSvc, tenants: tenants, settings: settingsSvc, bus: clusterBus, template: tpl,
		purges:    &files.Purges{Control: control, Log: log},
		functions: &functions.Service{Control: control, Settings: settingsSvc, CacheTTL: cfg.CacheTTL, Log: log, Now: time.Now, NewID: newID},
		fleet:     &controlplane.Service{Control: control, Tenants: tenants, Migration: mig, NodeID: processID(), TakeoverAfter: cfg.FleetTakeoverAfter, Translate: rest.Translate, Log: log, Now: time.Now, NewID: newID},
		packages:  &packages.Service{Control: control, Migration: mig, Now: time.Now, NewID: newID},
		mail:      &mail.Queue{Control: control, Sender: &mail.Sender{Private: cfg.SMTPPrivate}, Log: log, Now: time.Now, NewID: newID},
		webhooks:  &webhooks.Service{Control: control, Settings: settingsSvc, Sealer: settingsSvc.Sealer, Private: cfg.WebhooksPrivate, CacheTTL: cfg.CacheTTL, Log: log, Now: time.Now, NewID: newID}}
	// Where after hooks and schedules are, for the sweeps that find them: kept by every
	// migration, the CLI's included.
	mig.Notify(migration.NotifierFuncs{OnCommit: func(c migration.Commit) { co.functions.ModelChanged(context.Background(), c.TenantID, c.Model) }})
	// The control database's own tables are versioned steps run under a cluster-wide
	// lock: nodes booting together on an empty database take turns.
	if err := database.MigrateControl(ctx, control, []database.ControlStep{
		{Version: 1, Name: "platform admins and sessions", Up: authSvc.EnsureSchema},
		{Version: 2, Name: "tenant registry", Up: tenants.EnsureSchema},
		{Version: 3, Name: "tenant placement", Up: tenants.AddPlacement},
		{Version: 4, Name: "sessions by family", Up: authSvc.IndexSessionFamilies},
		{Version: 5, Name: "tenant account version", Up: tenants.AddAccountVersion},
		{Version: 6, Name: "tenant system version", Up: tenants.AddSystemVersion},
		{Version: 7, Name: "tenant sandbox source", Up: tenants.AddSandboxOf},
		{Version: 8, Name: "storage purges of deleted tenants", Up: co.purges.EnsureSchema},
		{Version: 9, Name: "function hooks and schedules index", Up: co.functions.EnsureSchema},
		{Version: 10, Name: "tenant tags", Up: tenants.AddTags},
		{Version: 11, Name: "changesets and fleet runs", Up: co.fleet.EnsureSchema},
		{Version: 12, Name: "platform API keys", Up: authSvc.EnsurePlatformKeys},
		{Version: 13, Name: "package entities", Up: co.packages.EnsureSchema},
		{Version: 14, Name: "mail queue", Up: co.mail.EnsureSchema},
		{Version: 15, Name: "platform admins' two-factor", Up: authSvc.AddAdminFactors},
		{Version: 16, Name: "webhooks index", Up: co.webhooks.EnsureSchema},
		{Version: 17, Name: "shared tenant models", Up: tenants.AddSharedModels},
	}); err != nil {
		co.close()
		return nil, err
	}
	return co, nil
}

func (c *core) close() {
	c.tenants.Close()
	_ = c.bus.Close()
	c.control.Close()
}

// NewApp opens the control database, prepares it and wires every module.
func NewApp(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	co, err := openCore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	control, mig, authSvc, tenants := co.control, co.migration, co.auth, co.tenants
	// No tenant is visited at boot: each is readied (interrupted migrations settled,
	// missing system tables created) by its first request on this node.
	generated, err := authSvc.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		co.close()
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_http_requests_total", Help: "HTTP requests by method and status."}, []string{"method", "status"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_http_request_duration_seconds", Help: "HTTP request latency.", Buckets: prometheus.DefBuckets}, []string{"method"})
	migrations := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_migrations_total", Help: "Schema migrations by outcome."}, []string{"status"})
	reg.MustRegister(requests, latency, migrations,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_tenant_pools_open", Help: "Tenant connection pools this node holds open."},
			func() float64 { return float64(tenants.Stats().Pools) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_tenant_models_cached", Help: "Tenant schema models this node holds in its cache."},
			func() float64 { return float64(tenants.Stats().Models) }))

	app := fiber.New(fiber.Config{
		AppName:               "strata",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		// fasthttp reuses request buffers: without this, a string read from a request
		// (a header, a path parameter) changes under whoever kept it — a cache key, say.
		// Copying costs a little; serving one caller's token or tenant to another would
		// cost everything.
		Immutable: true,
		// Bodies larger than BodyLimit are streamed rather than refused, so that uploads
		// are never held in memory; boundBody refuses them on every other route.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		// Responses are maps built per row; goccy/go-json encodes them about twice as
		// fast as encoding/json, with the same output.
		JSONEncoder: gojson.Marshal,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return rest.ErrorHandler(log)(c, rest.Translate(err))
		},
	})
	app.Use(recover.New())
	app.Use(boundBody(cfg.BodyLimit))
	app.Use(func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		status := c.Response().StatusCode()
		if err != nil {
			// The error handler has not run yet; count what it will answer.
			status = statusOf(rest.Translate(err))
		}
		requests.WithLabelValues(c.Method(), strconv.Itoa(status)).Inc()
		latency.WithLabelValues(c.Method()).Observe(time.Since(start).Seconds())
		return err
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := control.PingContext(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "reason": "control database unreachable"})
		}
		return c.JSON(fiber.Map{"status": "ok"})
	})
	metrics := mountMetrics(app, reg, cfg, log)
	gqlSvc := graphql.NewService(graphql.Limits{MaxDepth: cfg.GraphQLMaxDepth, MaxAliases: cfg.GraphQLMaxAliases,
		MaxComplexity: cfg.GraphQLMaxComplexity, MaxBatch: cfg.GraphQLMaxBatch, DefaultLimit: cfg.DefaultLimit, MaxLimit: cfg.MaxLimit,
		MaxNesting: cfg.GraphQLMaxNesting, MaxFields: cfg.GraphQLMaxFields, MaxSameName: cfg.GraphQLMaxSameName,
		MaxArguments: cfg.GraphQLMaxArguments, MaxValues: cfg.GraphQLMaxValues},
		cfg.GraphQLCacheFields)
	eventBus := co.bus
	hub := realtime.NewHub(eventBus, realtime.Limits{MaxConnections: cfg.WSMaxConnections, MaxSubscriptions: cfg.WSMaxSubscriptions,
		SendQueue: cfg.WSSendQueue, MessagesPerSec: cfg.WSMessagesPerSec, MaxMessageBytes: int64(cfg.WSMaxMessageBytes),
		Heartbeat: cfg.WSHeartbeat, InitRows: cfg.DefaultLimit, AuthMode: cfg.WSAuth, AuthTimeout: cfg.WSAuthTimeout, FrameGap: cfg.WSFrameGap}, log)
	// Step 8, wired once: what the migration service did goes to the schema caches
	// (which tell the other nodes the new version), to every node's realtime admins over
	// the bus, and to the metrics.
	fns := co.functions
	mig.Notify(
		migration.NotifierFuncs{OnCommit: tenants.Committed},
		realtime.MigrationNotifier{Bus: eventBus, Log: log},
		migration.NotifierFuncs{
			OnCommit:  func(migration.Commit) { migrations.WithLabelValues("executed").Inc() },
			OnFailure: func(string, *migration.Migration) { migrations.WithLabelValues("failed").Inc() },
		})
	var nodeID string
	if n, ok := eventBus.(*bus.Node); ok {
		nodeID = n.ID
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_bus_rejected_messages_total",
			Help: "Cluster bus payloads dropped as not sealed with the cluster key (forged, replayed, too old, or from a node with another key)."},
			func() float64 { return float64(n.Rejected()) }))
	}
	api := &rest.API{NodeID: nodeID, Auth: authSvc, Access: &access.Store{TTL: cfg.CacheTTL}, Tenants: tenants, GraphQL: gqlSvc, Realtime: hub, Bus: eventBus, CacheTTL: cfg.CacheTTL,
		Throttle: &auth.Throttle{MaxPerAccount: cfg.LoginMaxFailures, MaxPerAddress: cfg.LoginMaxFailures * 5, Window: cfg.LoginWindow}, Migration: mig, Log: log, Now: time.Now, NewID: newID,
		Limits: rest.Limits{DefaultLimit: cfg.DefaultLimit, MaxLimit: cfg.MaxLimit, Query: query.Limits{
			DefaultLimit: cfg.DefaultLimit, MaxLimit: cfg.MaxLimit, MaxFilterDepth: cfg.MaxFilterDepth, MaxFilterNodes: cfg.MaxFilterNodes,
			MaxRelationDepth: cfg.MaxRelationDepth,
		}.WithDefaults(), Import: rest.ImportLimits{MaxBytes: cfg.ImportMaxBytes, MaxRows: cfg.ImportMaxRows,
			MaxFields: cfg.ImportMaxFields, MaxRowBytes: cfg.ImportMaxRowBytes}}}
	api.Settings = co.settings
	api.Records = &records.Service{Limits: api.Limits.Query, MaxBatch: cfg.MaxLimit, Now: time.Now,
		Publisher: realtime.BusPublisher{Bus: eventBus, Log: log}}
	if co.template != nil {
		co.template.Records = api.Records // the data files write as /items does, hooks included
	}
	api.Identity = &identity.Service{Records: api.Records, Access: api.Access, Limits: api.Limits.Query, Now: time.Now, NewID: newID}
	api.Mail = &mail.Postman{Queue: co.mail, Sender: co.mail.Sender, Settings: co.settings, Platform: cfg.SMTP, PublicURL: cfg.PublicURL}
	co.mail.ServerFor = func(ctx context.Context, tenantID string) (mail.Server, error) {
		t, err := tenants.ByID(ctx, tenantID)
		if err != nil {
			return mail.Server{}, err
		}
		if t == nil {
			return mail.Server{}, mail.ErrTenantGone
		}
		db, err := tenants.DB(ctx, t)
		if err != nil {
			return mail.Server{}, err
		}
		return api.Mail.TenantServer(ctx, t.ID, db)
	}
	locations, err := openStorage(cfg)
	if err != nil {
		return nil, err
	}
	api.Files = &files.Service{Records: api.Records, Locations: locations, Settings: co.settings, MaxUpload: cfg.FilesMaxUpload,
		Quota: cfg.FilesQuota, MaxPixels: cfg.AssetsMaxPixels, MaxTransforms: cfg.AssetsMaxConcurrent, ImportPrivate: cfg.FilesImportPrivate, CacheTTL: cfg.CacheTTL, Now: time.Now, NewID: newID, Log: log}
	// The folder tree stays whole whichever surface writes files and folders.
	api.Records.Hooks.BeforeOn = map[string][]func(context.Context, schema.Querier, *records.Write) error{
		files.Table: {api.Files.KeepFolders}, files.Folders: {api.Files.KeepFolders}}
	// Every write of rows, whichever surface makes it, is in the activity log and keeps
	// revisions, inside its own transaction.
	api.Activity = &activity.Recorder{Records: api.Records, Now: time.Now, NewID: newID}
	api.Records.Hooks.Trail = api.Activity
	co.purges.Files = api.Files
	api.Purges = co.purges
	fns.Pool = &functions.Pool{Max: cfg.FunctionsWorkers}
	fns.Records, fns.Files, fns.Access, fns.Translate, fns.NodeID = api.Records, api.Files, api.Access, rest.Translate, nodeID
	fns.Tenants = tenantScopes{tenants}
	fns.Limits = functions.Limits{Concurrent: cfg.FunctionsConcurrent}
	fns.FetchPrivate = cfg.FunctionsFetchPrivate
	// After hooks and webhooks are delivered from one outbox per tenant.
	deliveries := &outbox.Deliverer{Tenants: tenantScopes{tenants}, Log: log, Now: time.Now, NewID: newID}
	co.deliveries = deliveries
	deliveries.Register(functions.OutboxKind, fns.OutboxTarget())
	fns.Outbox = deliveries
	co.webhooks.Outbox = deliveries
	co.webhooks.Start()
	api.Webhooks = co.webhooks
	api.Records.Hooks.Tenant = records.JoinedHooks{fns, co.webhooks}
	api.Functions = fns
	api.ControlPlane = co.fleet
	api.Packages = co.packages
	api.OIDC = &oidc.Service{Identity: api.Identity, Auth: authSvc, Settings: co.settings, Sealer: co.settings.Sealer, Private: cfg.OIDCPrivate, Now: time.Now, NewID: newID}
	if cfg.PublicURLSet {
		api.OIDC.PublicURL = cfg.PublicURL
	}
	api.Mount(app)
	mountUI(app)
	app.Use(func(c *fiber.Ctx) error { return apierr.NotFound("no route %s %s", c.Method(), c.Path()) })

	a := &App{purges: co.purges, fleet: co.fleet, auth: authSvc, migration: mig, Functions: fns, Fiber: app, Control: control, Tenants: tenants, Realtime: hub, Records: api.Records, Files: api.Files, Bus: eventBus, GeneratedAdminPassword: generated, cfg: cfg, log: log, metrics: metrics, core: co}
	// Every tenant is brought up to date with the template before the node serves, as
	// Enfyra's boot does; a tenant that fails is logged and served as it is.
	a.ApplyTemplate(ctx)
	return a, nil
}

func statusOf(err error) int {
	if e, ok := err.(*apierr.Error); ok {
		return e.Status
	}
	if e, ok := err.(*fiber.Error); ok {
		return e.Code
	}
	return fiber.StatusInternalServerError
}

// Close closes the node's sockets (going away), its bus and its pools.
func (a *App) Close() {
	a.closeMetrics()
	a.core.deliveries.Stop()
	a.fleet.Close()
	a.Functions.FlushRuns(context.Background())
	a.Functions.Pool.Close()
	a.Realtime.Close()
	_ = a.Bus.Close()
	a.Tenants.Close()
	a.Control.Close()
}

// tenantScopes opens tenants for functions' work no request started.
type tenantScopes struct{ r *tenant.Registry }

func (ts tenantScopes) Scope(ctx context.Context, tenantID string) (*records.Scope, error) {
	t, err := ts.r.ByID(ctx, tenantID)
	if err != nil || t == nil {
		return nil, err
	}
	db, err := ts.r.DB(ctx, t)
	if err != nil {
		return nil, err
	}
	m, v, err := ts.r.ModelVersion(ctx, t, db)
	if err != nil {
		return nil, err
	}
	return &records.Scope{TenantID: t.ID, Slug: t.Slug, DB: db, Version: v, Model: m}, nil
}

// RunFunctions runs schedules each minute and sweeps the after-hook outboxes, until
// ctx ends.
func (a *App) RunFunctions(ctx context.Context) { a.Functions.Loop(ctx) }

// ServeGRPC serves the control plane's gRPC door on ln until ctx ends.
func (a *App) ServeGRPC(ctx context.Context, ln net.Listener) error {
	srv := grpcdoor.New(&grpcdoor.Server{Fleet: a.fleet, Tenants: a.Tenants, Migration: a.migration}, a.auth, rest.Translate, a.log)
	return grpcdoor.Serve(ctx, srv, ln)
}

// PurgeTenantRecords deletes, in each tenant this node has open, the activity log and
// revisions older than the tenant's activity_retention, settled deliveries older than
// its functions_runs_retention, and mailed tokens a day past their use or expiry.
func (a *App) PurgeTenantRecords(ctx context.Context) {
	a.Tenants.EachOpen(func(t *tenant.Tenant, db *database.DB) {
		if err := identity.PurgeTokens(ctx, db, time.Now()); err != nil {
			a.log.Warn("token purge", "tenant", t.Slug, "err", err)
		}
		st, err := a.core.settings.Get(ctx, t.ID, db)
		if err != nil {
			return
		}
		// The delivery log of after hooks and webhooks is kept as long as function runs.
		days := st.FunctionsRunsRetention
		if days <= 0 {
			days = 7
		}
		if err := outbox.Purge(ctx, db, db.Dialect, time.Now().AddDate(0, 0, -days)); err != nil {
			a.log.Warn("outbox purge", "tenant", t.Slug, "err", err)
		}
		if st.ActivityRetention == 0 {
			return
		}
		if err := activity.Purge(ctx, db, time.Now().AddDate(0, 0, -st.ActivityRetention)); err != nil {
			a.log.Warn("activity purge", "tenant", t.Slug, "err", err)
		}
	})
}

// RunWebhooks sweeps the outboxes of tenants with webhooks, for deliveries put back
// for later, until ctx ends.
func (a *App) RunWebhooks(ctx context.Context) { a.core.webhooks.Loop(ctx) }

// RunMail delivers the auth flows' queued mails, retrying failures, until ctx ends.
func (a *App) RunMail(ctx context.Context) { a.core.mail.Loop(ctx) }

// RunFleet takes over fleet runs whose node stopped, now and then regularly, until ctx
// ends.
func (a *App) RunFleet(ctx context.Context) { a.fleet.Loop(ctx) }

// PurgeStorage deletes the objects of deleted tenants now and then every hour, until
// ctx ends (resuming any purge a node left unfinished).
func (a *App) PurgeStorage(ctx context.Context) { a.purges.Loop(ctx) }

// PurgeTrashEvery purges the expired trash of the tenants this node has open, every
// interval until ctx ends.
func (a *App) PurgeTrashEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a.Tenants.PurgeExpired(ctx, a.cfg.TrashRetention)
		a.PurgeTenantRecords(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
