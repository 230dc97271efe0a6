// Package rest mounts Strata's HTTP API on Fiber: the platform routes (auth, tenants)
// and each tenant's schema, migration and items routes. Handlers are thin: resolve the
// tenant and table, call one service, write JSON. Errors are translated into the
// contract's codes in Translate and rendered by apierr.
package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"strata/modules/access"
	"strata/modules/activity"
	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/bus"
	"strata/modules/controlplane"
	"strata/modules/database"
	"strata/modules/files"
	"strata/modules/formats"
	"strata/modules/functions"
	"strata/modules/graphql"
	"strata/modules/identity"
	"strata/modules/mail"
	"strata/modules/migration"
	"strata/modules/oidc"
	"strata/modules/openapi"
	"strata/modules/packages"
	"strata/modules/query"
	"strata/modules/realtime"
	"strata/modules/records"
	"strata/modules/settings"
	"strata/modules/tenant"
	"strata/modules/webhooks"
	"strata/schema"
)

// Limits bound what one request may ask for.
type Limits struct {
	DefaultLimit int
	MaxLimit     int
	Query        query.Limits
	Import       ImportLimits
}

// API holds the services the handlers call.
type API struct {
	Auth     *auth.Service
	Access   *access.Store
	Throttle *auth.Throttle
	// NodeID is this node's id on the bus (what it publishes carries it as Origin).
	NodeID    string
	Tenants   *tenant.Registry
	Migration *migration.Service
	GraphQL   *graphql.Service
	Realtime  *realtime.Hub
	// Identity is the tenant's users, roles, permissions and API keys.
	Identity *identity.Service
	// Settings is the one reader of tenant settings.
	Settings *settings.Service
	// Records is the one path for reading and writing rows (items, GraphQL, realtime
	// reads, data migrations).
	Records *records.Service
	// Files stores files' bytes and rows; Purges removes deleted tenants' objects.
	Files  *files.Service
	Purges *files.Purges
	// Functions runs the tenant's endpoints, hooks, schedules and test runs.
	Functions *functions.Service
	// ControlPlane registers changesets and runs them across tenants.
	ControlPlane *controlplane.Service
	Bus          bus.Bus
	Limits       Limits
	CacheTTL     time.Duration // trust in the API's own caches (CORS origins) without word from Bus; default 1s
	Log          *slog.Logger
	Now          func() time.Time
	NewID        func() string
	docs         openapi.Cache

	// Packages is the package schema workflow (scan, approve).
	Packages *packages.Service
	// OIDC is sign-in through the tenant's OAuth2 / OpenID Connect providers.
	OIDC *oidc.Service
	// Webhooks keeps the tenant's webhooks (their deliveries come from the outbox).
	Webhooks *webhooks.Service
	// Mail words and queues the auth flows' mails.
	Mail *mail.Postman
	// Activity records writes and sign-ins.
	Activity *activity.Recorder
}

// Mount registers every route on app.
func (a *API) Mount(app *fiber.App) {
	a.followBus()
	app.Use(securityHeaders)
	api := app.Group("/api")
	api.Post("/auth/login", a.platformLogin)
	api.Post("/auth/refresh", a.refresh)
	api.Post("/auth/logout", a.logout)
	platformDoc, _ := json.Marshal(openapi.Platform())
	api.Get("/openapi.json", func(c *fiber.Ctx) error { return c.Type("json").Send(platformDoc) })
	platformYAML, _ := openapi.YAML(platformDoc)
	api.Get("/openapi.yaml", func(c *fiber.Ctx) error { return c.Type("yaml").Send(platformYAML) })

	admin := a.requirePlatformAdmin()
	api.Get("/tenants", admin, a.listTenants)
	api.Post("/tenants", admin, a.createTenant)
	api.Get("/tenants/:slug", admin, a.getTenant)
	api.Delete("/tenants/:slug", admin, a.deleteTenant)
	api.Post("/tenants/:slug/sandboxes", admin, a.createSandbox)
	api.Post("/tenants/:slug/replay", admin, a.replayInto)
	api.Post("/users/me/tfa/generate", admin, a.tfaGenerate(a.platformTFA))
	api.Post("/users/me/tfa/enable", admin, a.tfaEnable(a.platformTFA))
	api.Post("/users/me/tfa/disable", admin, a.tfaDisable(a.platformTFA))
	api.Get("/api-keys", admin, a.listPlatformKeys)
	api.Post("/api-keys", admin, a.createPlatformKey)
	api.Delete("/api-keys/:id", admin, uuidParam, a.deletePlatformKey)
	a.mountControlPlane(api, admin)

	t := api.Group("/t/:tenant")
	t.Get("/server/health", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"data": fiber.Map{"status": "ok"}}) })
	t.Use(a.resolveTenant, a.cors, a.resolveCaller)
	t.Post("/auth/login", a.tenantLogin)
	t.Post("/auth/refresh", a.tenantRefresh)
	t.Post("/auth/logout", a.tenantLogout)
	t.Post("/users/register", a.register)
	t.Post("/users/register/verify-email", a.verifyEmail)
	t.Post("/auth/password/request", a.passwordRequest)
	t.Post("/auth/password/reset", a.passwordReset)
	t.Post("/users/invite/accept", a.inviteAccept)
	t.Get("/users/me", a.me)
	t.Get("/users/me/sessions", a.mySessions)
	t.Delete("/users/me/sessions/:sid", a.endMySession)
	t.Post("/users/me/tfa/generate", a.tfaGenerate(a.tenantTFA))
	t.Post("/users/me/tfa/enable", a.tfaEnable(a.tenantTFA))
	t.Post("/users/me/tfa/disable", a.tfaDisable(a.tenantTFA))

	adm := a.requireAdmin
	t.Get("/users", adm, a.listUsers)
	t.Post("/users/invite", adm, a.invite)
	t.Post("/users", adm, a.createUser)
	t.Get("/users/:id", adm, uuidParam, a.getUser)
	t.Patch("/users/:id", adm, uuidParam, a.patchUser)
	t.Delete("/users/:id", adm, uuidParam, a.deleteUser)
	t.Get("/users/:id/sessions", adm, uuidParam, a.userSessions)
	t.Delete("/users/:id/sessions/:sid", adm, uuidParam, a.endUserSession)
	t.Get("/roles", adm, a.listRoles)
	t.Post("/roles", adm, a.createRole)
	t.Patch("/roles/:id", adm, uuidParam, a.patchRole)
	t.Delete("/roles/:id", adm, uuidParam, a.deleteRole)
	t.Get("/permissions/me", a.myPermissions)
	t.Get("/permissions", adm, a.listPermissions)
	t.Post("/permissions", adm, a.createPermission)
	t.Patch("/permissions/:id", adm, uuidParam, a.patchPermission)
	t.Delete("/permissions/:id", adm, uuidParam, a.deletePermission)
	t.Get("/api-keys", adm, a.listAPIKeys)
	t.Post("/api-keys", adm, a.createAPIKey)
	t.Delete("/api-keys/:id", adm, uuidParam, a.deleteAPIKey)
	t.Get("/settings", adm, a.getSettings)
	t.Patch("/settings", adm, a.patchSettings)
	a.mountProviders(t, adm)
	a.mountWebhooks(t, adm)
	t.Get("/settings/mail", adm, a.mailLog)
	t.Post("/settings/mail/test", adm, a.mailTest)

	t.Get("/openapi.json", adm, a.tenantDoc)
	t.Get("/openapi.yaml", adm, a.tenantDoc)
	t.Get("/websocket", a.websocket)
	t.Get("/graphql/sdl", a.graphqlSDL)
	t.Get("/graphql", a.graphqlHandler)
	t.Post("/graphql", a.graphqlHandler)
	t.Get("/tables", a.listTables)
	t.Post("/tables", adm, a.createTable)
	t.Get("/tables/:table", a.getTable)
	t.Patch("/tables/:table", adm, a.patchTable)
	t.Delete("/tables/:table", adm, a.dropTable)
	t.Post("/tables/:table/columns", adm, a.addColumn)
	t.Patch("/tables/:table/columns/:column", adm, a.patchColumn)
	t.Delete("/tables/:table/columns/:column", adm, a.dropColumn)
	t.Get("/tables/:table/indexes", adm, a.listIndexes)
	t.Post("/tables/:table/indexes", adm, a.addIndex)
	t.Delete("/tables/:table/indexes/:name", adm, a.dropIndex)
	t.Get("/relations", adm, a.listRelations)
	t.Post("/relations", adm, a.addRelation)
	t.Delete("/relations/:id", adm, uuidParam, a.dropRelation)
	t.Get("/utils/export/:table", a.exportItems)
	// Imports read their body as it streams in, once: not retried on a schema change.
	t.Post("/utils/import/:table", a.importItems)
	t.Get("/activity", a.listActivity)
	t.Get("/revisions", adm, a.listRevisions)
	t.Post("/revisions/:id/restore", uuidParam, a.restoreRevision)
	t.Get("/trash", adm, a.listTrash)
	t.Delete("/trash/:id", adm, uuidParam, a.purgeTrash)
	t.Get("/migrations", adm, a.listMigrations)
	t.Get("/migrations/export", adm, a.exportMigrations)
	t.Get("/migrations/:id", adm, uuidParam, a.getMigration)
	t.Post("/migrations", adm, a.customMigration)
	t.Post("/migrations/:id/approve", adm, uuidParam, a.approveMigration)
	t.Post("/migrations/:id/reject", adm, uuidParam, a.rejectMigration)
	t.Post("/migrations/:id/retry", adm, uuidParam, a.retryMigration)
	t.Post("/migrations/:id/rollback", adm, uuidParam, a.rollbackMigration)
	t.Post("/migrations/:id/resolve", adm, uuidParam, a.resolveMigration)
	t.Get("/schema/drift", adm, a.drift)
	t.Get("/schema/snapshot", adm, a.getSnapshot)
	t.Post("/schema/apply", adm, a.applySnapshot)
	a.mountPackages(t, adm)
	// Files: their rows are read through the item handlers; writes store bytes too.
	// Uploads read their body as it streams in, once: they are not retried on a schema
	// change as other requests are.
	filesTable, folders := systemRoute(files.Table), systemRoute(files.Folders)
	t.Post("/files", a.uploadFiles)
	t.Post("/files/import", a.importFile)
	t.Options("/files/tus", a.tusOptions)
	t.Post("/files/tus", a.tusCreate)
	t.Head("/files/tus/:id", a.tusHead)
	t.Patch("/files/tus/:id", a.tusPatch)
	t.Delete("/files/tus/:id", a.tusDelete)
	t.Get("/files", filesTable, a.onNewModel(a.listItems))
	t.Patch("/files", a.onNewModel(a.patchFiles))
	t.Delete("/files", a.onNewModel(a.deleteFiles))
	t.Get("/files/:id", uuidParam, filesTable, a.onNewModel(a.getItem))
	t.Patch("/files/:id", uuidParam, a.patchFile)
	t.Delete("/files/:id", uuidParam, a.onNewModel(a.deleteFile))
	t.Get("/assets/:id", a.onNewModel(a.asset))
	t.Get("/folders", folders, a.onNewModel(a.listItems))
	t.Post("/folders", folders, a.onNewModel(a.createItems))
	t.Patch("/folders", folders, a.onNewModel(a.patchItems))
	t.Delete("/folders", folders, a.onNewModel(a.deleteItems))
	t.Get("/folders/:id", uuidParam, folders, a.onNewModel(a.getItem))
	t.Patch("/folders/:id", uuidParam, folders, a.onNewModel(a.patchItem))
	t.Delete("/folders/:id", uuidParam, folders, a.onNewModel(a.deleteItem))
	// Functions: definitions are schema (each write a migration of type function).
	t.Get("/functions", adm, a.listFunctions)
	t.Post("/functions", adm, a.createFunction)
	t.Get("/functions/secrets", adm, a.listSecrets)
	t.Put("/functions/secrets/:name", adm, a.putSecret)
	t.Delete("/functions/secrets/:name", adm, a.deleteSecret)
	t.Get("/functions/:id", adm, uuidParam, a.getFunction)
	t.Patch("/functions/:id", adm, uuidParam, a.patchFunction)
	t.Delete("/functions/:id", adm, uuidParam, a.deleteFunction)
	t.Post("/functions/:id/run", adm, uuidParam, a.runFunction)
	t.Get("/functions/:id/runs", adm, uuidParam, a.listRuns)
	// Endpoint functions; not retried on a schema race: a function runs once.
	for _, method := range []string{fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete} {
		t.Add(method, "/fn/*", a.endpoint)
	}
	t.Get("/items/:table", a.onNewModel(a.listItems))
	t.Get("/items/:table/:id", uuidParam, a.onNewModel(a.getItem))
	t.Post("/items/:table", a.onNewModel(a.createItems))
	t.Patch("/items/:table", a.onNewModel(a.patchItems))
	t.Delete("/items/:table", a.onNewModel(a.deleteItems))
	t.Patch("/items/:table/:id", uuidParam, a.onNewModel(a.patchItem))
	t.Delete("/items/:table/:id", uuidParam, a.onNewModel(a.deleteItem))
}

// decode reads a JSON body strictly: unknown fields are an error, never ignored.
func decode(c *fiber.Ctx, v any) error {
	body, err := schemaBody(c)
	if err != nil {
		return err
	}
	return formats.Decode(body, v)
}

// schemaBody is the request's body without Enfyra's legacy schemaConfirm phrase, which
// confirmPhrase then finds.
func schemaBody(c *fiber.Ctx) ([]byte, error) {
	body, phrase, err := legacyPhraseIn(c.Body())
	if err != nil {
		return nil, err
	}
	if phrase != "" {
		c.Locals(bodyPhraseKey, phrase)
	}
	return body, nil
}

// bodyPhraseKey keeps, for confirmPhrase, Enfyra's legacy schemaConfirm phrase a
// schema write's body carried.
const bodyPhraseKey = "strata.bodySchemaConfirm"

// legacyPhraseIn takes Enfyra's legacy schemaConfirm (or schema_confirm) phrase out of
// a JSON object body, returning the body without it; other bodies are left as they are.
func legacyPhraseIn(body []byte) ([]byte, string, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || (!bytes.Contains(body, []byte(`"schemaConfirm"`)) && !bytes.Contains(body, []byte(`"schema_confirm"`))) {
		return body, "", nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return body, "", nil // the strict decoder says what is wrong with it
	}
	var phrase string
	for _, key := range []string{"schemaConfirm", "schema_confirm"} {
		raw, ok := fields[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, &phrase); err != nil {
			return nil, "", apierr.InvalidPayload(key, "%s must be a string", key)
		}
		delete(fields, key)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, "", fmt.Errorf("body without its phrase: %w", err)
	}
	return out, phrase, nil
}

// Translate maps service errors onto the contract's error codes.
func Translate(err error) error {
	var (
		fe  *schema.FieldError
		nf  *schema.NotFoundError
		cr  *migration.ConfirmRequiredError
		mf  *migration.FailedError
		se  *migration.StateError
		de  *migration.DivergedError
		dep *migration.DependentsError
		ue  *schema.UndescribableError
		ve  *query.ValueError
		qe  *query.Error
		ce  *query.ConstraintError
		api *apierr.Error
		ent *records.EntryError
	)
	switch {
	case errors.As(err, &ent):
		// A refused entry of a batch: its cause, named after the entry.
		e, ok := Translate(ent.Err).(*apierr.Error)
		if !ok || e.Status >= 500 {
			return e
		}
		named := *e
		named.Message = ent.At + ": " + e.Message
		named.Details = maps.Clone(e.Details)
		return named.With("entry", ent.At)
	case errors.As(err, &api):
		return api
	case errors.Is(err, database.ErrTooManyConnections):
		// Every connection the node may hold is busy: a moment later one will not be.
		return apierr.New(fiber.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the server is busy; send the request again").With("retryable", true)
	case errors.As(err, &fe):
		return apierr.InvalidPayload(fe.Field, "%s", fe.Error())
	case errors.As(err, &nf):
		return apierr.NotFound("%s", nf.Error())
	case errors.As(err, &cr):
		return apierr.New(fiber.StatusUnprocessableEntity, "SCHEMA_CONFIRM_REQUIRED", "%s", cr.Error()).
			With("requiredConfirmHash", cr.Hash).With("confirmToken", cr.Token).With("confirmTtlMs", cr.TTL.Milliseconds()).
			With("removedColumns", cr.Removal.RemovedColumns).With("removedRelationsCount", cr.Removal.RemovedRelations).
			With("droppedTables", cr.Removal.DroppedTables).With("narrowedColumns", nonNil(cr.Removal.Narrowing)).
			WithDetailsBeside()
	case errors.As(err, &de):
		return apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "%s", de.Message).With("target_seq", de.TargetSeq).With("source_seq", de.SourceSeq)
	case errors.As(err, &ue):
		return apierr.InvalidPayload("up_sql", "%s", ue.Error()).With("problems", ue.Problems)
	case errors.As(err, &dep):
		return apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "%s", dep.Error()).With("dependents", dep.Dependents)
	case errors.As(err, &se):
		return apierr.New(fiber.StatusConflict, "INVALID_PAYLOAD", "%s", se.Message)
	case errors.As(err, &mf):
		return apierr.New(fiber.StatusConflict, "MIGRATION_FAILED", "%s", mf.Error()).
			With("migration", fiber.Map{"id": mf.Migration.ID, "seq": mf.Migration.Seq, "status": mf.Migration.Status, "error": mf.Migration.Error})
	case errors.As(err, &qe) && qe.Forbidden:
		return apierr.Forbidden("%s", qe.Message).With("parameter", qe.Param).With("path", qe.Path)
	case errors.As(err, &qe):
		return apierr.InvalidQuery(qe.Param, "%s", qe.Error()).With("path", qe.Path)
	case errors.As(err, &ve):
		return apierr.InvalidPayload(ve.Field, "%s", ve.Error())
	case errors.As(err, &ce):
		code := ce.Code
		if code == "INVALID_FOREIGN_KEY" {
			code = "INVALID_PAYLOAD"
		}
		return apierr.New(fiber.StatusBadRequest, code, "%s", ce.Message).With("field", ce.Field)
	}
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// tenantCtx is what resolveTenant leaves for the handlers.
type tenantCtx struct {
	t       *tenant.Tenant
	db      *database.DB
	version int64 // schema version of the model the request uses
	// origin is where the request came from, for the activity log (nil: not a request).
	origin *records.Origin
}

// q runs statements on user tables tagged with the schema version (see query.Tagged).
func (tc *tenantCtx) q(inner schema.Querier) schema.Querier {
	if inner == nil {
		inner = tc.db
	}
	return query.NewTagged(inner, tc.version)
}

func (a *API) resolveTenant(c *fiber.Ctx) error {
	t, err := a.Tenants.Get(c.UserContext(), c.Params("tenant"))
	if err != nil {
		return err
	}
	db, err := a.Tenants.DB(c.UserContext(), t)
	if err != nil {
		return err
	}
	c.Locals("tenant", &tenantCtx{t: t, db: db, origin: &records.Origin{IP: c.IP(), UserAgent: database.Clip(c.Get(fiber.HeaderUserAgent), 255)}})
	return c.Next()
}

func tenantOf(c *fiber.Ctx) *tenantCtx { return c.Locals("tenant").(*tenantCtx) }

// model returns the tenant's cached schema model (and notes its version).
func (a *API) model(c *fiber.Ctx) (*schema.Model, error) {
	tc := tenantOf(c)
	m, v, err := a.Tenants.ModelVersion(c.UserContext(), tc.t, tc.db)
	tc.version = v
	return m, err
}

// scope is the request's records scope: its tenant, the model at the request's schema
// version, and the caller.
func (a *API) scope(c *fiber.Ctx) (*records.Scope, error) {
	m, err := a.model(c)
	if err != nil {
		return nil, err
	}
	return a.scopeAt(c, m), nil
}

// scopeAt is scope for a model already loaded for this request (nil: reads that need
// none, such as running a parsed query).
func (a *API) scopeAt(c *fiber.Ctx, m *schema.Model) *records.Scope {
	tc := tenantOf(c)
	return tc.scope(tc.version, m, callerOf(c))
}

// scope is the records scope of caller in this tenant, for model m at version.
func (tc *tenantCtx) scope(version int64, m *schema.Model, caller *access.Caller) *records.Scope {
	return &records.Scope{TenantID: tc.t.ID, Slug: tc.t.Slug, DB: tc.db, Version: version, Model: m, Caller: caller, Origin: tc.origin}
}

// identity is this tenant for the identity service, with model m (nil where the call
// reads no rows through the query engine).
func (tc *tenantCtx) identity(m *schema.Model) identity.Tenant {
	return identity.Tenant{ID: tc.t.ID, Slug: tc.t.Slug, DB: tc.db, Model: m}
}

func callerID(c *fiber.Ctx) string {
	if caller := callerOf(c); caller != nil {
		return caller.UserID
	}
	if cl := platformCaller(c); cl != nil {
		return cl.Subject
	}
	return ""
}

// apply sends one change down the migration module's one path (or plans it, for a
// dry run).
func (a *API) apply(c *fiber.Ctx, ch schema.Change) (*migration.Result, error) {
	results, err := a.applyRequest(c, []schema.Change{ch})
	if err != nil {
		return nil, err
	}
	return results[0], nil
}

// applyRequest sends the changes of one request down the one path together: all are
// planned, and confirmed when destructive, before the first runs.
func (a *API) applyRequest(c *fiber.Ctx, changes []schema.Change) ([]*migration.Result, error) {
	tc := tenantOf(c)
	phrase, err := a.confirmPhrase(c)
	if err != nil {
		return nil, err
	}
	reqs := make([]migration.Request, len(changes))
	for i, ch := range changes {
		reqs[i] = migration.Request{
			Change: ch, DryRun: c.QueryBool("dry_run"), CreatedBy: callerID(c),
			ConfirmHash: c.Get("X-Schema-Confirm-Hash"), ConfirmToken: c.Get("X-Schema-Confirm-Token"), ConfirmPhrase: phrase,
		}
	}
	return a.Migration.ApplyAll(c.UserContext(), a.Tenants.Target(tc.t, tc.db), reqs)
}

// confirmPhrase is Enfyra's legacy confirm phrase of the request, sent where Enfyra
// read it (?schemaConfirm=, or ?schema_confirm=), when the tenant's
// legacy_schema_confirm setting honours it; otherwise "", so the phrase is ignored as
// it always was. The setting is read only when a phrase came.
func (a *API) confirmPhrase(c *fiber.Ctx) (string, error) {
	phrase := c.Query("schemaConfirm", c.Query("schema_confirm"))
	inBody, _ := c.Locals(bodyPhraseKey).(string)
	if phrase == "" {
		phrase = inBody
	}
	if phrase == "" {
		return "", nil
	}
	tc := tenantOf(c)
	st, err := a.Settings.Get(c.UserContext(), tc.t.ID, tc.db)
	if err != nil {
		return "", err
	}
	if !st.LegacySchemaConfirm {
		if inBody != "" {
			// A body field cannot be ignored quietly, as a query parameter is: the client
			// meant it, and would not know why its change was not made.
			return "", apierr.InvalidPayload("schemaConfirm", "schemaConfirm, Enfyra's legacy phrase, is off for this tenant: an admin turns legacy_schema_confirm on in its settings")
		}
		return "", nil
	}
	return phrase, nil
}

// migrationView is a migration as a schema write answers it.
func migrationView(res *migration.Result, dry bool) fiber.Map {
	m := res.Migration
	v := fiber.Map{"id": m.ID, "seq": m.Seq, "type": m.Type, "name": m.Name, "status": m.Status, "up_sql": m.UpSQL,
		"down_sql": m.DownSQL, "error": m.Error, "destructive": m.Destructive, "change": m.Change, "duration_ms": m.DurationMs}
	if dry {
		v["status"] = "planned"
		v["dry_run"] = true
		v["removal"] = res.Removal
	}
	return v
}

// respond writes a schema write's answer: the changed object and its migration. A change
// held for approval answers 202 with its pending migration, and the object as it is.
func respond(c *fiber.Ctx, res *migration.Result, key string, value any) error {
	data := fiber.Map{"migration": migrationView(res, c.QueryBool("dry_run"))}
	if res.Migration.Status == migration.StatusPending && !c.QueryBool("dry_run") {
		c.Status(fiber.StatusAccepted)
		return c.JSON(fiber.Map{"data": data})
	}
	if key != "" {
		data[key] = value
	}
	if c.QueryBool("dry_run") {
		data["dry_run"] = true
	}
	return c.JSON(fiber.Map{"data": data})
}

// tenantDoc serves the tenant's OpenAPI document, rendered once per schema version.
func (a *API) tenantDoc(c *fiber.Ctx) error {
	tc := tenantOf(c)
	m, v, err := a.Tenants.ModelVersion(c.UserContext(), tc.t, tc.db)
	if err != nil {
		return err
	}
	if strings.HasSuffix(c.Path(), ".yaml") {
		y, err := a.docs.GetYAML(tc.t.ID, tc.t.Slug, tc.t.Name, v, m)
		if err != nil {
			return err
		}
		return c.Type("yaml").Send(y)
	}
	body, err := a.docs.Get(tc.t.ID, tc.t.Slug, tc.t.Name, v, m)
	if err != nil {
		return err
	}
	return c.Type("json").Send(body)
}

func errNotFound(what, name string) error {
	return apierr.NotFound("%s", fmt.Sprintf("%s %q not found", what, name))
}

// uuidParam answers 404 for an :id that is not a UUID, as every key Strata makes is:
// PostgreSQL would refuse to compare it with a uuid column, and a bad key names nothing.
func uuidParam(c *fiber.Ctx) error {
	if _, err := uuid.Parse(c.Params("id")); err != nil {
		return apierr.NotFound("no record with id %q", c.Params("id"))
	}
	return c.Next()
}

// awaitNewModel waits, briefly, for the schema version to move past the one the
// request used: on MySQL a migration's DDL commits a moment before its metadata.
func (a *API) awaitNewModel(c *fiber.Ctx, tc *tenantCtx) bool {
	used := tc.version
	for range 10 {
		if _, v, err := a.Tenants.FreshModelVersion(c.UserContext(), tc.t, tc.db); err != nil {
			return false
		} else if v != used {
			return true
		}
		select {
		case <-c.UserContext().Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

// onNewModel runs h again when it failed because its table changed shape while
// it ran (a migration renamed or dropped a column between the model's read and the
// statement): the statement failed whole, in its own transaction, so running it on the
// new model is safe. It tries twice at most; when the model does not move on, or the
// tries keep meeting new changes, the caller is told to retry (503 with Retry-After),
// never a 500.
func (a *API) onNewModel(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := h(c)
		for try := 0; try < 2 && database.IsSchemaRace(err) && a.awaitNewModel(c, tenantOf(c)); try++ {
			c.Response().ResetBody()
			err = h(c)
		}
		if !database.IsSchemaRace(err) {
			return err
		}
		a.Log.Info("request met a schema change; asked to retry", "tenant", tenantOf(c).t.Slug, "path", c.Path(), "err", err)
		// The error handler adds Retry-After to every 503.
		return apierr.New(fiber.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the table changed shape while this request ran; send it again").With("retryable", true)
	}
}
