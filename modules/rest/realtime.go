package rest

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"strata/modules/access"
	"strata/modules/apierr"
	"strata/modules/files"
	"strata/modules/functions"
	"strata/modules/query"
	"strata/modules/realtime"
)

// rtScope is a websocket's caller in its tenant: every read goes through the query
// parser and permission engine REST uses, with the caller's current policy.
type rtScope struct {
	a       *API
	tc      *tenantCtx
	caller  *access.Caller
	expires time.Time
}

func (s *rtScope) TenantID() string    { return s.tc.t.ID }
func (s *rtScope) Expires() time.Time  { return s.expires }
func (s *rtScope) Authenticated() bool { return s.caller.Kind != "anonymous" }

// Subject is the user or platform admin; API keys have no session to revoke.
func (s *rtScope) Subject() string {
	if s.caller.Kind == "user" || s.caller.Kind == "platform" {
		return s.caller.UserID
	}
	return ""
}
func (s *rtScope) Key() string { return s.caller.Kind + ":" + s.caller.UserID + ":" + s.caller.RoleID }

// Unrestricted reports whether the caller reads every row of table.
func (s *rtScope) Unrestricted(ctx context.Context, table string) bool {
	if s.caller.Admin() {
		return true
	}
	pol, err := s.a.Access.Policy(ctx, s.tc.db, s.tc.t.ID, s.caller.RoleID)
	if err != nil {
		return false
	}
	r := pol.Rule(table, access.Read)
	return r != nil && len(r.Filter) == 0
}

// List reads as the caller, with the policy as it is now (permission changes apply to
// open sockets at their next event).
func (s *rtScope) List(ctx context.Context, table string, p query.Params) ([]map[string]any, error) {
	m, v, err := s.a.Tenants.ModelVersion(ctx, s.tc.t, s.tc.db)
	if err != nil {
		return nil, err
	}
	t := m.Table(table)
	if t == nil {
		return nil, apierr.NotFound("collection %q not found", table)
	}
	if strings.HasPrefix(t.Name, "strata_") && t.Name != files.Table && t.Name != files.Folders && t.Name != functions.RunsTable {
		// Files and folders are rows under permissions like any other, and function runs
		// (only admins have a rule for them); identities are not.
		return nil, apierr.Forbidden("%s cannot be subscribed to", t.Name)
	}
	caller := *s.caller
	if !caller.Admin() {
		if caller.Policy, err = s.a.Access.Policy(ctx, s.tc.db, s.tc.t.ID, s.caller.RoleID); err != nil {
			return nil, err
		}
	}
	res, err := s.a.Records.List(ctx, s.tc.scope(v, m, &caller), t, p)
	if err != nil {
		return nil, Translate(err)
	}
	return res.Data, nil
}

// websocket upgrades GET /api/t/{tenant}/websocket to the realtime protocol. The
// caller of the upgrade request (public, or ?access_token=) is the socket's until it
// authenticates otherwise.
func (a *API) websocket(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return apierr.New(fiber.StatusUpgradeRequired, "INVALID_PAYLOAD", "this route speaks websocket: send an upgrade request")
	}
	tc := tenantOf(c)
	if a.Realtime.Limits().AuthMode == "strict" && bearer(c) == "" {
		return apierr.Unauthorized("INVALID_CREDENTIALS", "this server takes websockets with credentials only: add ?access_token=")
	}
	caller, expires, err := a.callerFor(c.UserContext(), tc, bearer(c))
	if err != nil {
		return err
	}
	scope := &rtScope{a: a, tc: &tenantCtx{t: tc.t, db: tc.db}, caller: caller, expires: expires}
	authn := func(ctx context.Context, token string) (realtime.Scope, error) {
		caller, expires, err := a.callerFor(ctx, scope.tc, token)
		if err != nil {
			return nil, Translate(err)
		}
		return &rtScope{a: a, tc: scope.tc, caller: caller, expires: expires}, nil
	}
	return websocket.New(func(conn *websocket.Conn) {
		a.Realtime.Serve(conn.Conn, scope, authn)
	}, websocket.Config{HandshakeTimeout: 10 * time.Second})(c)
}
