package rest

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/frontend"
	"strata/modules/apierr"
	"strata/modules/graphql"
	"strata/modules/query"
	"strata/schema"
)

// gqlSchema is the tenant's GraphQL schema at the request's model version, as the
// caller sees it: introspection and the SDL show only what they may read and do.
func (a *API) gqlSchema(c *fiber.Ctx) (*graphql.Schema, *schema.Model, error) {
	m, err := a.model(c)
	if err != nil {
		return nil, nil, err
	}
	tc := tenantOf(c)
	s, err := a.GraphQL.Schema(tc.t.ID, tc.version, m, gqlPerms(c))
	return s, m, err
}

// gqlFull returns the tenant's whole GraphQL schema, for operations that name what the
// caller does not see (graphql.Options.Full); nil when the caller sees everything.
func (a *API) gqlFull(c *fiber.Ctx, version int64, m *schema.Model) func() (*graphql.Schema, error) {
	if gqlPerms(c) == nil {
		return nil
	}
	return func() (*graphql.Schema, error) { return a.GraphQL.Schema(tenantOf(c).t.ID, version, m, nil) }
}

// gqlPerms is the caller's policy for the schema; nil (everything) for admins. A nil
// *Policy in the interface would not read as "everything".
func gqlPerms(c *fiber.Ctx) query.Permissions {
	if p := perms(c); p != nil {
		return p
	}
	return nil
}

// introspection reads the tenant's graphql_introspection setting.
func (a *API) introspection(c *fiber.Ctx) func() (bool, error) {
	return func() (bool, error) {
		tc := tenantOf(c)
		st, err := a.Settings.Get(c.UserContext(), tc.t.ID, tc.db)
		return st.GraphQLIntrospection, err
	}
}

// graphqlRequest reads the operations of a GraphQL-over-HTTP request: from the query
// string (GET), or a JSON body with one operation or a batch of them, or an
// application/graphql body.
func (a *API) graphqlRequest(c *fiber.Ctx) ([]graphql.Request, bool, error) {
	if c.Method() == fiber.MethodGet {
		r := graphql.Request{Query: c.Query("query"), OperationName: c.Query("operationName")}
		if v := c.Query("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &r.Variables); err != nil {
				return nil, false, apierr.InvalidQuery("variables", "variables must be a JSON object")
			}
		}
		return []graphql.Request{r}, false, nil
	}
	body := bytes.TrimSpace(c.Body())
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), "application/graphql") && !strings.HasPrefix(c.Get(fiber.HeaderContentType), "application/graphql-response") {
		return []graphql.Request{{Query: string(body)}}, false, nil
	}
	if len(body) > 0 && body[0] == '[' {
		var batch []graphql.Request
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, false, apierr.InvalidPayload("body", "expected a GraphQL request or a list of them: %v", err)
		}
		if len(batch) == 0 || len(batch) > a.GraphQL.Limits().MaxBatch {
			return nil, false, apierr.InvalidPayload("body", "a batch holds 1 to %d operations", a.GraphQL.Limits().MaxBatch)
		}
		return batch, true, nil
	}
	var r graphql.Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, false, apierr.InvalidPayload("body", "expected a GraphQL request {query, variables, operationName}: %v", err)
	}
	return []graphql.Request{r}, false, nil
}

// graphqlHandler serves GraphQL over HTTP: POST for queries and mutations, GET for
// queries; a browser asking for HTML gets the explorer page. The answer is
// application/graphql-response+json when accepted (request errors are then 400, as
// GraphQL-over-HTTP says), else application/json with 200.
func (a *API) graphqlHandler(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet && c.Query("query") == "" && strings.Contains(c.Get(fiber.HeaderAccept), "text/html") {
		return c.Type("html").Send(frontend.GraphQLExplorer)
	}
	reqs, batch, err := a.graphqlRequest(c)
	if err != nil {
		return err
	}
	sch, m, err := a.gqlSchema(c)
	if err != nil {
		return err
	}
	backend := &graphql.RecordsBackend{Records: a.Records, Scope: a.scopeAt(c, m), MaxBatch: a.Limits.MaxLimit, Translate: Translate}
	opts := graphql.Options{
		Full:          a.gqlFull(c, tenantOf(c).version, m),
		Introspection: a.introspection(c),
		QueryOnly:     c.Method() == fiber.MethodGet,
		Internal: func(err error) {
			a.Log.Error("graphql: internal error", "tenant", tenantOf(c).t.Slug, "err", err)
		},
	}
	results := make([]*graphql.Result, len(reqs))
	refused := false
	for i, r := range reqs {
		results[i] = a.GraphQL.Execute(c.UserContext(), sch, r, backend, opts)
		refused = refused || results[i].RequestError
		if results[i].Mutation && opts.QueryOnly {
			return apierr.New(fiber.StatusMethodNotAllowed, "INVALID_QUERY", "mutations need POST").With("allow", "POST")
		}
	}
	if refused {
		// A field the schema lacks may be one another node has just added: this node
		// notices schema changes within a second, but the next request must see them.
		// Refused operations ran nothing, so they can run again on the newer schema.
		tc := tenantOf(c)
		if fm, v, err := a.Tenants.FreshModelVersion(c.UserContext(), tc.t, tc.db); err == nil && v != tc.version {
			tc.version = v
			if sch, err = a.GraphQL.Schema(tc.t.ID, v, fm, gqlPerms(c)); err != nil {
				return err
			}
			opts.Full = a.gqlFull(c, v, fm)
			backend.Scope = a.scopeAt(c, fm)
			for i, r := range reqs {
				if results[i].RequestError {
					results[i] = a.GraphQL.Execute(c.UserContext(), sch, r, backend, opts)
				}
			}
		}
	}
	allFailed := true
	for _, r := range results {
		allFailed = allFailed && r.RequestError
	}
	status := fiber.StatusOK
	if strings.Contains(c.Get(fiber.HeaderAccept), "application/graphql-response+json") {
		c.Set(fiber.HeaderContentType, "application/graphql-response+json; charset=utf-8")
		if allFailed {
			status = fiber.StatusBadRequest
		}
	} else {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	}
	var raw []byte
	if batch {
		raw = append(raw, '[')
	}
	for i, r := range results {
		if i > 0 {
			raw = append(raw, ',')
		}
		if raw, err = r.AppendJSON(raw); err != nil {
			return err
		}
	}
	if batch {
		raw = append(raw, ']')
	}
	return c.Status(status).Send(raw)
}

// graphqlSDL answers the tenant's schema in SDL.
func (a *API) graphqlSDL(c *fiber.Ctx) error {
	if on, err := a.introspection(c)(); err != nil {
		return err
	} else if !on {
		return apierr.Forbidden("introspection is turned off for this tenant")
	}
	sch, _, err := a.gqlSchema(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	return c.SendString(sch.SDL())
}
