package main

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

// validOpenAPI checks a document against the OpenAPI 3.1 schema with a real validator.
func validOpenAPI(t *testing.T, raw []byte) {
	t.Helper()
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("parse OpenAPI document: %v", err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			t.Errorf("OpenAPI: %v", e)
			for _, f := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", f.FieldPath, f.Reason)
			}
		}
		t.FailNow()
	}
}

func getRaw(t *testing.T, n *node, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", n.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

func TestOpenAPIDocuments(t *testing.T) {
	t.Parallel()
	// The validator must be able to fail: a 3.1 document without info is invalid.
	if doc, err := libopenapi.NewDocument([]byte(`{"openapi":"3.1.0","paths":{"/x":{"get":{"responses":"nope"}}}}`)); err == nil {
		if ok, _ := schema_validation.ValidateOpenAPIDocument(doc); ok {
			t.Fatal("the OpenAPI validator accepts an invalid document")
		}
	}
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	validOpenAPI(t, getRaw(t, n, "/api/openapi.json"))

	queryFixture(t, n)
	raw := getRaw(t, n, "/api/t/acme/openapi.json")
	validOpenAPI(t, raw)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas         map[string]map[string]any `json:"schemas"`
			SecuritySchemes map[string]any            `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Components.SecuritySchemes["bearerAuth"] == nil || doc.Components.Schemas["Error"] == nil {
		t.Fatalf("document header: openapi %q, security %v", doc.OpenAPI, doc.Components.SecuritySchemes)
	}
	tables := n.mustCall(200, "GET", "/api/t/acme/tables", nil).fieldNames("data")
	for table := range tables {
		if strings.HasPrefix(table, "strata_") { // identities: served by /users, /roles, …
			continue
		}
		if doc.Components.Schemas[table] == nil {
			t.Errorf("no schema for table %s", table)
		}
		list, one := doc.Paths["/items/"+table], doc.Paths["/items/"+table+"/{id}"]
		for _, m := range []string{"get", "post"} {
			if list[m] == nil {
				t.Errorf("no %s /items/%s", m, table)
			}
		}
		if one["get"] == nil {
			t.Errorf("no get /items/%s/{id}", table)
		}
	}
	for _, m := range []string{"patch", "delete"} {
		if doc.Paths["/items/posts"][m] == nil || doc.Paths["/items/posts/{id}"][m] == nil {
			t.Errorf("no %s on posts items", m)
		}
	}
	props, _ := doc.Components.Schemas["posts"]["properties"].(map[string]any)
	for _, f := range []string{"title", "views", "author", "comments", "tags", "id", "created_at"} {
		if props[f] == nil {
			t.Errorf("posts schema lacks %s", f)
		}
	}
	for _, p := range []string{"/tables", "/tables/{table}", "/tables/{table}/columns", "/tables/{table}/columns/{column}", "/relations", "/migrations", "/migrations/{id}",
		"/auth/login", "/auth/refresh", "/auth/logout", "/users/register", "/users/me", "/users", "/users/{id}", "/roles", "/roles/{id}",
		"/permissions", "/permissions/{id}", "/api-keys", "/api-keys/{id}", "/settings"} {
		if doc.Paths[p] == nil {
			t.Errorf("no path %s", p)
		}
	}
	// A schema change gives a new document; an endpoint function is a path of it.
	n.mustCall(200, "POST", "/api/t/acme/tables", map[string]any{"name": "events", "columns": []any{map[string]any{"name": "at", "type": "datetime"}}})
	n.mustCall(200, "POST", "/api/t/acme/functions", map[string]any{"name": "order", "kind": "endpoint", "method": "GET", "path": "orders/:id",
		"source": "export default async (ctx) => ctx.request.params.id"})
	raw2 := getRaw(t, n, "/api/t/acme/openapi.json")
	validOpenAPI(t, raw2)
	var doc2 struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths map[string]any `json:"paths"`
	}
	_ = json.Unmarshal(raw2, &doc2)
	if fn, _ := doc2.Paths["/fn/orders/{id}"].(map[string]any); fn["get"] == nil || fn["post"] != nil {
		t.Errorf("the endpoint function's path: %v", doc2.Paths["/fn/orders/{id}"])
	}
	if doc2.Paths["/items/events"] == nil || doc2.Info.Version == doc.Info.Version {
		t.Fatalf("document did not change with the schema: version %s → %s", doc.Info.Version, doc2.Info.Version)
	}
	if again := getRaw(t, n, "/api/t/acme/openapi.json"); string(again) != string(raw2) {
		t.Errorf("the document is not stable for one schema version")
	}
}

// TestOpenAPICoversEveryRoute: every route the server answers under /api is in the
// platform document or, under /api/t/{tenant}, in the tenant's, with its method; the
// YAML forms are the same documents.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+t.TempDir()+"/control.db", nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	docs := map[string]map[string]map[string]any{}
	for name, path := range map[string]string{"platform": "/api/openapi.json", "tenant": "/api/t/acme/openapi.json"} {
		var doc struct {
			Paths map[string]map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(getRaw(t, n, path), &doc); err != nil {
			t.Fatal(err)
		}
		// Path parameters are compared by position, not by name.
		norm := map[string]map[string]any{}
		for p, ops := range doc.Paths {
			norm[paramsRe.ReplaceAllString(p, "{}")] = ops
		}
		docs[name] = norm
	}
	// Outside the API: probes, metrics and the UI.
	outside := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true, "/": true, "/ui/*": true, "/strata.d.ts": true}
	checked := 0
	for _, r := range n.app.Fiber.GetRoutes(true) {
		if r.Method == "HEAD" || outside[r.Path] {
			continue
		}
		doc, path := "platform", strings.TrimPrefix(r.Path, "/api")
		if rest, ok := strings.CutPrefix(r.Path, "/api/t/:tenant"); ok {
			doc, path = "tenant", rest
		}
		if path == r.Path {
			t.Errorf("%s %s: a route outside /api that no document covers", r.Method, r.Path)
			continue
		}
		key := routeParamRe.ReplaceAllString(path, "{}")
		if key == "/items/{}" || key == "/items/{}/{}" || key == "/fn/*" {
			continue // per table and per endpoint function: TestOpenAPIDocuments checks /items/posts and /fn/…
		}
		checked++
		if docs[doc][key][strings.ToLower(r.Method)] == nil {
			t.Errorf("%s %s is not in the %s OpenAPI document", r.Method, r.Path, doc)
		}
	}
	if checked < 40 {
		t.Fatalf("only %d routes checked: the route list is not what it seems", checked)
	}
	for _, path := range []string{"/api/openapi", "/api/t/acme/openapi"} {
		var fromJSON, fromYAML any
		_ = json.Unmarshal(getRaw(t, n, path+".json"), &fromJSON)
		if err := yaml.Unmarshal(getRaw(t, n, path+".yaml"), &fromYAML); err != nil {
			t.Fatalf("%s.yaml: %v", path, err)
		}
		if !reflect.DeepEqual(fromJSON, normalizeYAML(fromYAML)) {
			t.Errorf("%s.yaml is not the JSON document", path)
		}
	}
}

var (
	paramsRe     = regexp.MustCompile(`\{[^}]+\}`)
	routeParamRe = regexp.MustCompile(`:[A-Za-z_]+`)
)

// normalizeYAML turns YAML's decoded numbers into JSON's float64, so the two compare.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeYAML(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeYAML(e)
		}
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return v
}
