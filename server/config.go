package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"strata/modules/bus"
	"strata/modules/mail"
	"strata/modules/settings"
	"strata/modules/storage"
)

// Config is every setting of a Strata node, read from the environment. Limits live here
// with their documented defaults.
type Config struct {
	HTTP             string        // STRATA_HTTP, default 127.0.0.1:8080
	DataDir          string        // STRATA_DATA_DIR, default ./strata_data
	DatabaseURL      string        // STRATA_DATABASE_URL, default sqlite://<data dir>/strata.db
	RedisURL         string        // STRATA_REDIS_URL: the cluster bus over Redis pub/sub (see openBus)
	TemplateDir      string        // STRATA_TEMPLATE_DIR: a tenant template, Enfyra's data folder (modules/template); unset: none
	AdminEmail       string        // STRATA_ADMIN_EMAIL, default admin@example.com
	AdminPassword    string        // STRATA_ADMIN_PASSWORD; generated and logged once when unset
	JWTSecret        []byte        // STRATA_JWT_SECRET; generated and kept in <data dir>/jwt_secret when unset
	BusKey           []byte        // STRATA_BUS_KEY (≥ 32 chars, same on every node) signs cluster bus messages; default derived from the JWT secret (bus.DeriveKey)
	TrashRetention   time.Duration // STRATA_TRASH_RETENTION, default 7d
	BodyLimit        int           // STRATA_BODY_LIMIT bytes, default 1 MiB
	DefaultLimit     int           // STRATA_DEFAULT_LIMIT rows per page, default 100
	MaxLimit         int           // STRATA_MAX_LIMIT rows per page, default 1000
	TenantPoolMax    int           // STRATA_TENANT_POOL_MAX connections per tenant, default 10
	MaxFilterDepth   int           // STRATA_MAX_FILTER_DEPTH nesting of a filter, default 10
	MaxFilterNodes   int           // STRATA_MAX_FILTER_CONDITIONS conditions in a filter, default 200
	MaxRelationDepth int           // STRATA_MAX_RELATION_DEPTH levels of relations in one query, default 4
	ControlPoolMax   int           // STRATA_CONTROL_POOL_MAX connections to the control database, default 20
	// MaxDBConnections caps the database connections of the whole node, control and
	// every tenant pool together (STRATA_MAX_DB_CONNECTIONS, default 50): idle
	// connections of the least recently used tenants are closed to make room. Keep
	// nodes × this below the server's max_connections.
	MaxDBConnections int
	// TenantPlacement is where new PostgreSQL tenants live (STRATA_TENANT_PLACEMENT):
	// schema (default; a schema in the control database) or database (a database of
	// their own, for operators who need each tenant's catalog to show only its own
	// objects).
	TenantPlacement string
	// CustomSQLTimeout bounds one run of a tenant's hand-written SQL
	// (STRATA_CUSTOM_SQL_TIMEOUT, default 30s); it is cancelled on the server after it.
	CustomSQLTimeout time.Duration
	// TenantIdleTimeout (STRATA_TENANT_IDLE_TIMEOUT, default 10m): a tenant with no
	// request for this long has its pool closed and its cached model dropped on the node.
	TenantIdleTimeout time.Duration
	// FleetTakeoverAfter (STRATA_FLEET_TAKEOVER_AFTER, default 30s): a fleet run whose
	// node has not said it drives it for this long is taken over by another node.
	FleetTakeoverAfter time.Duration
	// ModelCacheSize (STRATA_MODEL_CACHE_SIZE, default 1000) bounds the tenant models a
	// node caches; the least recently used leave first.
	ModelCacheSize int
	CacheTTL       time.Duration // STRATA_CACHE_TTL, default 1s: trust in cached tenants, models, policies, CORS origins without word from the bus
	ConfirmTTL     time.Duration // STRATA_CONFIRM_TTL, default 5m
	AccessTTL      time.Duration // STRATA_ACCESS_TTL, default 15m
	RefreshTTL     time.Duration // STRATA_REFRESH_TTL, default 7d
	RefreshReuse   time.Duration // STRATA_REFRESH_REUSE_INTERVAL, default 10s: a rotated refresh token reused this soon gets the same new pair (two tabs); later, revokes the session; 0s: never
	ShutdownGrace  time.Duration // STRATA_SHUTDOWN_GRACE, default 15s
	// ReadTimeout and WriteTimeout bound reading a request and writing an answer
	// (STRATA_READ_TIMEOUT, default 30s; STRATA_WRITE_TIMEOUT, default 60s); file
	// uploads are bounded by a minute without progress instead, downloads by a minute
	// plus their size at 64 KiB/s.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// StorageLocations names the storage locations files may go to
	// (STRATA_STORAGE_LOCATIONS, default local); the first is the default.
	StorageLocations []string
	// StorageLocalRoot is where the local location keeps files
	// (STRATA_STORAGE_LOCAL_ROOT, default <data dir>/files).
	StorageLocalRoot string
	// FilesMaxUpload bounds one uploaded file (STRATA_FILES_MAX_UPLOAD bytes, default
	// 2 GiB) and FilesQuota one tenant's files (STRATA_FILES_QUOTA bytes, default 0: no
	// quota); tenant settings may lower both.
	FilesMaxUpload int64
	FilesQuota     int64
	// Imports (POST /utils/import/{table}) stream their file, so their bounds are their
	// own: the body (STRATA_IMPORT_MAX_BYTES, default 1 GiB; other routes keep
	// STRATA_BODY_LIMIT), its rows (STRATA_IMPORT_MAX_ROWS, default 1 000 000), the
	// fields of a row (STRATA_IMPORT_MAX_FIELDS, default 1000) and the bytes of one row,
	// every cell included (STRATA_IMPORT_MAX_ROW_BYTES, default 1 MiB).
	ImportMaxBytes    int64
	ImportMaxRows     int
	ImportMaxFields   int
	ImportMaxRowBytes int64
	// TransfersPerTenant bounds the imports and exports one tenant runs at once on a
	// node (STRATA_TRANSFERS_PER_TENANT, default 4); the next answers 429.
	TransfersPerTenant int
	// AssetsMaxPixels bounds the images /assets transforms (STRATA_ASSETS_MAX_PIXELS,
	// width × height, default 24 000 000: about 100 MB decoded) and
	// AssetsMaxConcurrent the transformations a node runs at once
	// (STRATA_ASSETS_MAX_CONCURRENT, default the number of CPUs).
	AssetsMaxPixels     int64
	AssetsMaxConcurrent int
	// FilesImportPrivate lets POST /files/import fetch from private and loopback
	// addresses (STRATA_FILES_IMPORT_PRIVATE, default false: a tenant admin's allowed
	// host must not lead into the platform's network).
	FilesImportPrivate bool
	// OIDCPrivate lets sign-in providers be on private and loopback addresses, and
	// http:// (STRATA_OIDC_PRIVATE, default false: a tenant admin's provider must not
	// lead into the platform's network; for a provider on a development network).
	OIDCPrivate bool
	// WebhooksPrivate lets a webhook post to a private or loopback address that the
	// tenant's webhook_hosts names itself, not through a wildcard
	// (STRATA_WEBHOOKS_PRIVATE, default false: a tenant admin's webhook must not lead
	// into the platform's network).
	WebhooksPrivate bool
	// FunctionsWorkers bounds the worker processes running functions on a node
	// (STRATA_FUNCTIONS_WORKERS, default 2 × CPUs); FunctionsConcurrent the runs of one
	// tenant at once on a node (STRATA_FUNCTIONS_CONCURRENT, default 8).
	FunctionsWorkers    int
	FunctionsConcurrent int
	// FunctionsFetchPrivate lets ctx.fetch reach private and loopback addresses
	// (STRATA_FUNCTIONS_FETCH_PRIVATE, default false, as for imports).
	FunctionsFetchPrivate bool
	// SMTP is the platform's mail server (STRATA_SMTP_HOST, _PORT, _USERNAME, _PASSWORD,
	// _FROM, _SECURITY: starttls (default), tls or none), for tenants without their own.
	SMTP mail.Server
	// SMTPPrivate lets a tenant's own mail server be on a private or loopback address
	// (STRATA_SMTP_PRIVATE, default false, as for imports).
	SMTPPrivate bool
	// PublicURL is where users reach this node (STRATA_PUBLIC_URL, default
	// http://<STRATA_HTTP>): the base of the links mails carry. PublicURLSet says it was
	// given: only then is it also the base of provider sign-ins' callback URLs, which
	// otherwise follow the address a request came to.
	PublicURL    string
	PublicURLSet bool
	// S3 is the s3 location: STRATA_STORAGE_S3_BUCKET, _REGION, _ENDPOINT (an S3-compatible
	// store's URL; empty: AWS), _KEY, _SECRET, _FORCE_PATH_STYLE (true for most stores
	// that are not AWS) and _ROOT (a key prefix, to share a bucket).
	S3        storage.S3Config
	LogFormat string // STRATA_LOG_FORMAT: text or json, default text
	LogLevel  string // STRATA_LOG_LEVEL: debug, info, warn, error; default info
	// LoginMaxFailures failed sign-ins per account (five times as many per address)
	// within LoginWindow answer 429 (STRATA_LOGIN_MAX_FAILURES, default 10;
	// STRATA_LOGIN_WINDOW, default 15m).
	LoginMaxFailures int
	LoginWindow      time.Duration
	// PprofAddr, when set, serves Go's profiler there (STRATA_PPROF_ADDR, e.g.
	// 127.0.0.1:6060); keep it on a private address.
	PprofAddr string
	// MetricsToken, when set, is required as "Authorization: Bearer <token>" on
	// /metrics (STRATA_METRICS_TOKEN); MetricsAddr, when set, serves /metrics there
	// and not on STRATA_HTTP (STRATA_METRICS_ADDR, e.g. 127.0.0.1:9090). Both unset:
	// /metrics is open on the API's port, and the node logs a warning.
	MetricsToken, MetricsAddr string
	// GRPC (STRATA_GRPC, e.g. 127.0.0.1:9091) serves the control plane's gRPC door
	// there; unset, there is none.
	GRPC string
	// GraphQL limits: nesting depth (STRATA_GRAPHQL_MAX_DEPTH, default 12), aliases per
	// document (STRATA_GRAPHQL_MAX_ALIASES, 50), estimated row fields
	// (STRATA_GRAPHQL_MAX_COMPLEXITY, 250000), operations per batch
	// (STRATA_GRAPHQL_MAX_BATCH, 10), and the fields of all cached schemas together
	// (STRATA_GRAPHQL_CACHE_FIELDS, 250000 ≈ 75 MB; least recently used schemas go first).
	GraphQLMaxDepth, GraphQLMaxAliases, GraphQLMaxComplexity, GraphQLMaxBatch, GraphQLCacheFields int
	// What a GraphQL document may hold, checked before graphql-go parses and validates
	// it (decision 0018): nesting of brackets, selections and values
	// (STRATA_GRAPHQL_MAX_NESTING, 64), fields with fragments spread
	// (STRATA_GRAPHQL_MAX_FIELDS, 2000), fields answering with one name in one selection
	// (STRATA_GRAPHQL_MAX_SAME_NAME, 64), arguments of a field or variables of an
	// operation (STRATA_GRAPHQL_MAX_ARGUMENTS, 64), literal list items and object fields
	// in all (STRATA_GRAPHQL_MAX_VALUES, 256).
	GraphQLMaxNesting, GraphQLMaxFields, GraphQLMaxSameName, GraphQLMaxArguments, GraphQLMaxValues int
	// Websocket limits: sockets per node (STRATA_WS_MAX_CONNECTIONS, 10000),
	// subscriptions per socket (STRATA_WS_MAX_SUBSCRIPTIONS, 100), messages waiting for
	// a slow client before it is cut off (STRATA_WS_SEND_QUEUE, 256), messages a client
	// may send per second (STRATA_WS_MAX_MESSAGES_PER_SEC, 50), the largest frame a
	// client may send (STRATA_WS_MAX_MESSAGE_BYTES, 65536), and the ping interval
	// (STRATA_WS_HEARTBEAT, 30s; a socket silent for two intervals is closed).
	WSMaxConnections, WSMaxSubscriptions, WSSendQueue, WSMessagesPerSec, WSMaxMessageBytes int
	// WSAuth is what a websocket without credentials may do (STRATA_WS_AUTH): public
	// (the public role, default), handshake (authenticate with a message within
	// STRATA_WS_AUTH_TIMEOUT, 10s, or be closed) or strict (?access_token= required).
	WSAuth string
	// WSFrameGap is the least time between two messages to one websocket
	// (STRATA_WS_FRAME_GAP, 20ms; 0 sends each at once): rows that wait for their turn
	// merge into one event, so clients that take one message per read (Directus's SDK)
	// see every row of a burst.
	WSFrameGap    time.Duration
	WSAuthTimeout time.Duration
	WSHeartbeat   time.Duration
	// TestStepDelay pauses a migration after each step, so crash-recovery tests can kill
	// a node mid-migration (STRATA_TEST_STEP_DELAY). Never set it in production.
	TestStepDelay time.Duration
}

// loadMail reads the platform's mail server and the public URL links are built on.
func (c *Config) loadMail(get func(k, def string) string) error {
	c.SMTP = mail.Server{Host: get("STRATA_SMTP_HOST", ""), Username: get("STRATA_SMTP_USERNAME", ""), Password: get("STRATA_SMTP_PASSWORD", ""),
		From: get("STRATA_SMTP_FROM", ""), Security: get("STRATA_SMTP_SECURITY", "starttls")}
	if !slices.Contains(settings.SMTPSecurities, c.SMTP.Security) {
		return fmt.Errorf("STRATA_SMTP_SECURITY must be starttls, tls or none")
	}
	if p := get("STRATA_SMTP_PORT", ""); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return fmt.Errorf("STRATA_SMTP_PORT must be a port number")
		}
		c.SMTP.Port = port
	}
	if c.SMTP.From != "" {
		if _, err := netmail.ParseAddress(c.SMTP.From); err != nil {
			return fmt.Errorf("STRATA_SMTP_FROM must be an address: %w", err)
		}
	}
	c.PublicURLSet = get("STRATA_PUBLIC_URL", "") != ""
	c.PublicURL = strings.TrimSuffix(get("STRATA_PUBLIC_URL", "http://"+c.HTTP), "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("STRATA_PUBLIC_URL must be an http(s) URL, like https://strata.example.com")
	}
	return nil
}

// LoadConfig reads the configuration from the environment (getenv), creating the data
// directory and a persisted JWT secret when needed.
func LoadConfig(getenv func(string) string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTP:            get("STRATA_HTTP", "127.0.0.1:8080"),
		DataDir:         get("STRATA_DATA_DIR", "./strata_data"),
		AdminEmail:      get("STRATA_ADMIN_EMAIL", "admin@example.com"),
		AdminPassword:   getenv("STRATA_ADMIN_PASSWORD"),
		LogFormat:       get("STRATA_LOG_FORMAT", "text"),
		LogLevel:        get("STRATA_LOG_LEVEL", "info"),
		WSAuth:          get("STRATA_WS_AUTH", "public"),
		PprofAddr:       getenv("STRATA_PPROF_ADDR"),
		MetricsToken:    strings.TrimSpace(getenv("STRATA_METRICS_TOKEN")),
		MetricsAddr:     strings.TrimSpace(getenv("STRATA_METRICS_ADDR")),
		GRPC:            strings.TrimSpace(getenv("STRATA_GRPC")),
		RedisURL:        strings.TrimSpace(getenv("STRATA_REDIS_URL")),
		TemplateDir:     strings.TrimSpace(getenv("STRATA_TEMPLATE_DIR")),
		TenantPlacement: get("STRATA_TENANT_PLACEMENT", "schema"),
	}
	var err error
	ints := []struct {
		key string
		def int
		dst *int
	}{
		{"STRATA_BODY_LIMIT", 1 << 20, &c.BodyLimit}, {"STRATA_DEFAULT_LIMIT", 100, &c.DefaultLimit},
		{"STRATA_MAX_LIMIT", 1000, &c.MaxLimit}, {"STRATA_TENANT_POOL_MAX", 10, &c.TenantPoolMax},
		{"STRATA_CONTROL_POOL_MAX", 20, &c.ControlPoolMax}, {"STRATA_MAX_DB_CONNECTIONS", 50, &c.MaxDBConnections}, {"STRATA_MAX_FILTER_DEPTH", 10, &c.MaxFilterDepth},
		{"STRATA_MAX_FILTER_CONDITIONS", 200, &c.MaxFilterNodes}, {"STRATA_MAX_RELATION_DEPTH", 4, &c.MaxRelationDepth},
		{"STRATA_LOGIN_MAX_FAILURES", 10, &c.LoginMaxFailures},
		{"STRATA_GRAPHQL_MAX_DEPTH", 12, &c.GraphQLMaxDepth}, {"STRATA_GRAPHQL_MAX_ALIASES", 50, &c.GraphQLMaxAliases},
		{"STRATA_GRAPHQL_MAX_COMPLEXITY", 250_000, &c.GraphQLMaxComplexity}, {"STRATA_GRAPHQL_MAX_BATCH", 10, &c.GraphQLMaxBatch},
		{"STRATA_GRAPHQL_CACHE_FIELDS", 250_000, &c.GraphQLCacheFields},
		{"STRATA_GRAPHQL_MAX_NESTING", 64, &c.GraphQLMaxNesting}, {"STRATA_GRAPHQL_MAX_FIELDS", 2000, &c.GraphQLMaxFields},
		{"STRATA_GRAPHQL_MAX_SAME_NAME", 64, &c.GraphQLMaxSameName}, {"STRATA_GRAPHQL_MAX_ARGUMENTS", 64, &c.GraphQLMaxArguments},
		{"STRATA_GRAPHQL_MAX_VALUES", 256, &c.GraphQLMaxValues},
		{"STRATA_WS_MAX_CONNECTIONS", 10000, &c.WSMaxConnections}, {"STRATA_WS_MAX_SUBSCRIPTIONS", 100, &c.WSMaxSubscriptions},
		{"STRATA_WS_SEND_QUEUE", 256, &c.WSSendQueue}, {"STRATA_WS_MAX_MESSAGES_PER_SEC", 50, &c.WSMessagesPerSec},
		{"STRATA_WS_MAX_MESSAGE_BYTES", 64 << 10, &c.WSMaxMessageBytes}, {"STRATA_MODEL_CACHE_SIZE", 1000, &c.ModelCacheSize},
		{"STRATA_ASSETS_MAX_CONCURRENT", runtime.NumCPU(), &c.AssetsMaxConcurrent},
		{"STRATA_FUNCTIONS_WORKERS", 2 * runtime.NumCPU(), &c.FunctionsWorkers}, {"STRATA_FUNCTIONS_CONCURRENT", 8, &c.FunctionsConcurrent},
		{"STRATA_IMPORT_MAX_ROWS", 1_000_000, &c.ImportMaxRows}, {"STRATA_IMPORT_MAX_FIELDS", 1000, &c.ImportMaxFields},
		{"STRATA_TRANSFERS_PER_TENANT", 4, &c.TransfersPerTenant},
	}
	for _, i := range ints {
		if *i.dst, err = strconv.Atoi(get(i.key, strconv.Itoa(i.def))); err != nil || *i.dst < 1 {
			return c, fmt.Errorf("%s must be a positive integer", i.key)
		}
	}
	durs := []struct {
		key string
		def string
		dst *time.Duration
	}{
		{"STRATA_TRASH_RETENTION", "7d", &c.TrashRetention}, {"STRATA_CONFIRM_TTL", "5m", &c.ConfirmTTL},
		{"STRATA_ACCESS_TTL", "15m", &c.AccessTTL}, {"STRATA_REFRESH_TTL", "7d", &c.RefreshTTL}, {"STRATA_REFRESH_REUSE_INTERVAL", "10s", &c.RefreshReuse}, {"STRATA_CACHE_TTL", "1s", &c.CacheTTL},
		{"STRATA_SHUTDOWN_GRACE", "15s", &c.ShutdownGrace}, {"STRATA_READ_TIMEOUT", "30s", &c.ReadTimeout}, {"STRATA_WRITE_TIMEOUT", "60s", &c.WriteTimeout}, {"STRATA_TEST_STEP_DELAY", "0s", &c.TestStepDelay},
		{"STRATA_LOGIN_WINDOW", "15m", &c.LoginWindow}, {"STRATA_WS_HEARTBEAT", "30s", &c.WSHeartbeat},
		{"STRATA_WS_AUTH_TIMEOUT", "10s", &c.WSAuthTimeout}, {"STRATA_CUSTOM_SQL_TIMEOUT", "30s", &c.CustomSQLTimeout},
		{"STRATA_TENANT_IDLE_TIMEOUT", "10m", &c.TenantIdleTimeout}, {"STRATA_WS_FRAME_GAP", "20ms", &c.WSFrameGap},
		{"STRATA_FLEET_TAKEOVER_AFTER", "30s", &c.FleetTakeoverAfter},
	}
	for _, n := range []struct {
		key string
		def int64
		dst *int64
	}{{"STRATA_FILES_MAX_UPLOAD", 2 << 30, &c.FilesMaxUpload}, {"STRATA_FILES_QUOTA", 0, &c.FilesQuota},
		{"STRATA_ASSETS_MAX_PIXELS", 24_000_000, &c.AssetsMaxPixels}} {
		if *n.dst, err = strconv.ParseInt(get(n.key, strconv.FormatInt(n.def, 10)), 10, 64); err != nil || *n.dst < 0 {
			return c, fmt.Errorf("%s must be a number of bytes", n.key)
		}
	}
	for _, n := range []struct {
		key string
		def int64
		dst *int64
	}{{"STRATA_IMPORT_MAX_BYTES", 1 << 30, &c.ImportMaxBytes}, {"STRATA_IMPORT_MAX_ROW_BYTES", 1 << 20, &c.ImportMaxRowBytes}} {
		if *n.dst, err = strconv.ParseInt(get(n.key, strconv.FormatInt(n.def, 10)), 10, 64); err != nil || *n.dst < 1 {
			return c, fmt.Errorf("%s must be a positive number of bytes", n.key)
		}
	}
	c.StorageLocations = nil
	for _, name := range strings.Split(get("STRATA_STORAGE_LOCATIONS", "local"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.StorageLocations = append(c.StorageLocations, name)
		}
	}
	for _, name := range c.StorageLocations {
		if name != "local" && name != "s3" {
			return c, fmt.Errorf("STRATA_STORAGE_LOCATIONS: unknown location %q (local and s3 are known)", name)
		}
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"STRATA_FILES_IMPORT_PRIVATE", &c.FilesImportPrivate}, {"STRATA_FUNCTIONS_FETCH_PRIVATE", &c.FunctionsFetchPrivate},
		{"STRATA_SMTP_PRIVATE", &c.SMTPPrivate}, {"STRATA_OIDC_PRIVATE", &c.OIDCPrivate},
		{"STRATA_WEBHOOKS_PRIVATE", &c.WebhooksPrivate}} {
		if v := getenv(b.key); v != "" {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return c, fmt.Errorf("%s must be true or false", b.key)
			}
		}
	}
	c.S3 = storage.S3Config{Bucket: getenv("STRATA_STORAGE_S3_BUCKET"), Region: get("STRATA_STORAGE_S3_REGION", "us-east-1"),
		Endpoint: getenv("STRATA_STORAGE_S3_ENDPOINT"), Key: getenv("STRATA_STORAGE_S3_KEY"), Secret: getenv("STRATA_STORAGE_S3_SECRET"),
		Root: getenv("STRATA_STORAGE_S3_ROOT")}
	if v := getenv("STRATA_STORAGE_S3_FORCE_PATH_STYLE"); v != "" {
		if c.S3.ForcePathStyle, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("STRATA_STORAGE_S3_FORCE_PATH_STYLE must be true or false")
		}
	}
	c.StorageLocalRoot = get("STRATA_STORAGE_LOCAL_ROOT", filepath.Join(c.DataDir, "files"))
	if err := c.loadMail(get); err != nil {
		return c, err
	}
	for _, d := range durs {
		if *d.dst, err = parseDuration(get(d.key, d.def)); err != nil {
			return c, fmt.Errorf("%s: %w", d.key, err)
		}
	}
	if c.WSFrameGap == 0 {
		c.WSFrameGap = -1 // off: the hub reads 0 as its default
	}
	if c.FleetTakeoverAfter < time.Second {
		return c, fmt.Errorf("STRATA_FLEET_TAKEOVER_AFTER must be at least 1s")
	}
	if c.TenantIdleTimeout < time.Second {
		return c, fmt.Errorf("STRATA_TENANT_IDLE_TIMEOUT must be at least 1s")
	}
	if c.CacheTTL <= 0 {
		return c, fmt.Errorf("STRATA_CACHE_TTL must be positive")
	}
	if c.TenantPlacement != "schema" && c.TenantPlacement != "database" {
		return c, fmt.Errorf("STRATA_TENANT_PLACEMENT must be schema or database")
	}
	if c.CustomSQLTimeout <= 0 {
		return c, fmt.Errorf("STRATA_CUSTOM_SQL_TIMEOUT must be positive")
	}
	if c.MaxDBConnections < c.ControlPoolMax+1 {
		return c, fmt.Errorf("STRATA_MAX_DB_CONNECTIONS (%d) must exceed STRATA_CONTROL_POOL_MAX (%d)", c.MaxDBConnections, c.ControlPoolMax)
	}
	switch c.WSAuth {
	case "public", "handshake", "strict":
	default:
		return c, fmt.Errorf("STRATA_WS_AUTH must be public, handshake or strict")
	}
	if c.DefaultLimit > c.MaxLimit {
		return c, fmt.Errorf("STRATA_DEFAULT_LIMIT (%d) exceeds STRATA_MAX_LIMIT (%d)", c.DefaultLimit, c.MaxLimit)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return c, fmt.Errorf("create data dir: %w", err)
	}
	c.DatabaseURL = get("STRATA_DATABASE_URL", "sqlite://"+filepath.Join(c.DataDir, "strata.db"))
	if s := getenv("STRATA_JWT_SECRET"); s != "" {
		if len(s) < 32 {
			return c, fmt.Errorf("STRATA_JWT_SECRET must be at least 32 characters")
		}
		c.JWTSecret = []byte(s)
	} else if c.JWTSecret, err = persistedSecret(filepath.Join(c.DataDir, "jwt_secret")); err != nil {
		return c, err
	}
	if k := getenv("STRATA_BUS_KEY"); k != "" {
		if len(k) < 32 {
			return c, fmt.Errorf("STRATA_BUS_KEY must be at least 32 characters")
		}
		c.BusKey = []byte(k)
	} else {
		c.BusKey = bus.DeriveKey(c.JWTSecret)
	}
	return c, nil
}

// parseDuration accepts Go durations plus a day suffix ("7d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// persistedSecret reads the node's JWT secret, generating it on first boot. A cluster
// must share one secret: set STRATA_JWT_SECRET on every node.
func persistedSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, fmt.Errorf("generate jwt secret: %w", err)
	}
	secret := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("persist jwt secret: %w", err)
	}
	return []byte(secret), nil
}
