// Package openapi generates OpenAPI 3.1 documents: one per tenant from its schema
// model (a schema per table, every items route with its query parameters, the error
// envelope, bearer auth), and one for the platform API. It renders; it does not serve
// or cache by itself beyond the small per-tenant Cache.
package openapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"strata/modules/query"
	"strata/schema"
)

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func param(name string) obj { return obj{"$ref": "#/components/parameters/" + name} }

// nullable widens a schema to accept null (3.1 style: a type list).
func nullable(s obj) obj {
	if t, ok := s["type"].(string); ok {
		s["type"] = []string{t, "null"}
		return s
	}
	return obj{"oneOf": []any{s, obj{"type": "null"}}}
}

// columnSchema is a column's value in JSON, as the API reads and writes it.
func columnSchema(c *schema.Column) obj {
	var s obj
	switch c.Type {
	case schema.TypeString, schema.TypePhone:
		s = obj{"type": "string", "maxLength": c.TextLength()}
	case schema.TypeText:
		s = obj{"type": "string"}
	case schema.TypeInteger:
		s = obj{"type": "integer", "format": "int32"}
	case schema.TypeBigint:
		s = obj{"type": "integer", "format": "int64"}
	case schema.TypeFloat, schema.TypePercent:
		s = obj{"type": "number", "format": "double"}
	case schema.TypeDecimal, schema.TypeCurrency:
		// Decimals travel as strings so no precision is lost.
		s = obj{"type": "string", "format": "decimal", "pattern": `^-?\d+(\.\d+)?$`}
	case schema.TypeBoolean:
		s = obj{"type": "boolean"}
	case schema.TypeDate:
		s = obj{"type": "string", "format": "date"}
	case schema.TypeDatetime:
		s = obj{"type": "string", "format": "date-time"}
	case schema.TypeTime:
		s = obj{"type": "string", "format": "time"}
	case schema.TypeUUID, schema.TypeFile:
		s = obj{"type": "string", "format": "uuid"}
	case schema.TypeJSON:
		s = obj{}
	case schema.TypeEnum:
		s = obj{"type": "string", "enum": c.Values}
	case schema.TypeMultiEnum:
		s = obj{"type": "array", "items": obj{"type": "string", "enum": c.Values}}
	case schema.TypeEmail:
		s = obj{"type": "string", "format": "email", "maxLength": c.TextLength()}
	case schema.TypeURL:
		s = obj{"type": "string", "format": "uri", "maxLength": c.TextLength()}
	default:
		s = obj{}
	}
	if c.Description != "" {
		s["description"] = c.Description
	}
	if len(c.Default) > 0 && c.Type != schema.TypeJSON {
		var v any
		if json.Unmarshal(c.Default, &v) == nil {
			s["default"] = v
		}
	}
	if c.Nullable && c.Type != schema.TypeJSON {
		s = nullable(s)
	}
	return s
}

// relationFields lists the relation fields of table t with their kind: a to-one field
// reads as a key or the related object, a to-many field as a list of them.
func relationFields(m *schema.Model, t *schema.Table) map[string]struct {
	target string
	many   bool
} {
	out := map[string]struct {
		target string
		many   bool
	}{}
	for _, r := range m.Relations {
		if r.Table == t.Name {
			out[r.Name] = struct {
				target string
				many   bool
			}{r.Target, r.Type == schema.OneToMany || r.Type == schema.ManyToMany}
		}
		if r.Target == t.Name && r.Inverse != "" {
			// The inverse of a many-to-one lists rows; of a one-to-many, it is a key.
			many := r.Type == schema.ManyToOne || r.Type == schema.ManyToMany
			out[r.Inverse] = struct {
				target string
				many   bool
			}{r.Table, many}
		}
	}
	return out
}

// tableSchemas returns the read schema of a table and its write (input) schema.
func tableSchemas(m *schema.Model, t *schema.Table) (read, input obj) {
	props, inProps := obj{}, obj{}
	var required, inRequired []string
	for i := range t.Columns {
		c := &t.Columns[i]
		props[c.Name] = columnSchema(c)
		required = append(required, c.Name)
		if c.Name == "owner_id" || c.Name == "created_at" || c.Name == "updated_at" {
			continue
		}
		inProps[c.Name] = columnSchema(c)
		if !c.Nullable && len(c.Default) == 0 && c.Name != "id" {
			inRequired = append(inRequired, c.Name)
		}
	}
	for name, rf := range relationFields(m, t) {
		one := obj{"oneOf": []any{obj{"type": "string", "format": "uuid"}, ref(rf.target)}}
		if rf.many {
			props[name] = obj{"type": "array", "items": one, "description": "related rows of " + rf.target + ": keys, or objects when expanded with fields"}
			// Written as the full list of related keys: the row is linked with exactly
			// those (null: with none).
			key := obj{"type": "string", "format": "uuid"}
			inProps[name] = obj{"type": []any{"array", "null"}, "maxItems": query.MaxLinks,
				"items":       obj{"oneOf": []any{key, obj{"type": "object", "properties": obj{"id": key}, "required": []any{"id"}}}},
				"description": "the keys of the " + rf.target + " rows to link this row with; the others are unlinked"}
		} else {
			props[name] = nullable(one)
		}
	}
	read = obj{"type": "object", "properties": props}
	if t.Description != "" {
		read["description"] = t.Description
	}
	if t.Label != "" {
		read["title"] = t.Label
	}
	input = obj{"type": "object", "properties": inProps, "additionalProperties": false}
	if len(inRequired) > 0 {
		input["required"] = inRequired
	}
	return read, input
}

func jsonBody(s obj) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": s}}}
}

// jsonResponse is a response whose body is s itself, not wrapped in data.
func jsonResponse(description string, s obj) obj {
	return obj{"description": description, "content": obj{"application/json": obj{"schema": s}}}
}

func okData(s obj, withMeta bool) obj {
	props := obj{"data": s}
	if withMeta {
		props["meta"] = obj{"type": "object", "properties": obj{"total_count": obj{"type": "integer"}, "filter_count": obj{"type": "integer"}}}
	}
	return obj{"description": "OK", "content": obj{"application/json": obj{"schema": obj{"type": "object", "properties": props}}}}
}

func errorResponses(r obj, codes ...string) obj {
	for _, c := range codes {
		r[c] = obj{"$ref": "#/components/responses/Error"}
	}
	return r
}

func op(id, summary string, params []any, body obj, responses obj) obj {
	o := obj{"operationId": id, "summary": summary, "responses": errorResponses(responses, "400", "401", "403", "404")}
	if params != nil {
		o["parameters"] = params
	}
	if body != nil {
		o["requestBody"] = body
	}
	return o
}

// itemPaths are the items routes of one table.
func itemPaths(t *schema.Table) (list, one obj) {
	name := t.Name
	readParams := []any{param("fields"), param("deep")}
	listParams := []any{param("fields"), param("filter"), param("search"), param("sort"), param("limit"), param("offset"), param("page"),
		param("meta"), param("aggregate"), param("groupBy"), param("deep")}
	idParam := obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string", "format": "uuid"}}
	noContent := obj{"204": obj{"description": "Deleted"}}
	list = obj{
		"get": op("list_"+name, "List "+name, listParams, nil, obj{"200": okData(obj{"type": "array", "items": ref(name)}, true)}),
		"post": op("create_"+name, "Create one "+name+" row or many", readParams,
			jsonBody(obj{"oneOf": []any{ref(name + "_input"), obj{"type": "array", "items": ref(name + "_input")}}}),
			obj{"200": okData(obj{"oneOf": []any{ref(name), obj{"type": "array", "items": ref(name)}}}, false)}),
		"patch": op("update_"+name+"_many", "Update many "+name+" rows", readParams,
			jsonBody(obj{"type": "object", "required": []string{"keys", "data"}, "properties": obj{
				"keys": obj{"type": "array", "items": obj{"type": "string", "format": "uuid"}}, "data": ref(name + "_input")}}),
			obj{"200": okData(obj{"type": "array", "items": ref(name)}, false)}),
		"delete": op("delete_"+name+"_many", "Delete many "+name+" rows", nil,
			jsonBody(obj{"type": "object", "required": []string{"keys"}, "properties": obj{"keys": obj{"type": "array", "items": obj{"type": "string", "format": "uuid"}}}}),
			noContent),
	}
	one = obj{
		"parameters": []any{idParam},
		"get":        op("get_"+name, "Read one "+name+" row", readParams, nil, obj{"200": okData(ref(name), false)}),
		"patch":      op("update_"+name, "Update one "+name+" row", readParams, jsonBody(ref(name+"_input")), obj{"200": okData(ref(name), false)}),
		"delete":     op("delete_"+name, "Delete one "+name+" row", nil, nil, noContent),
	}
	return list, one
}

// filePaths adds the files routes: their reads and bulk edits are the item routes';
// creating and replacing upload bytes, and /assets serves them.
func filePaths(paths obj, t *schema.Table) {
	list, one := itemPaths(t)
	form := obj{"required": true, "content": obj{"multipart/form-data": obj{"schema": obj{"type": "object",
		"description": "Form fields of the file first (title, description, folder, tags, …), then the file part; several files in one request each take the fields sent before them.",
		"properties":  obj{"file": obj{"type": "string", "format": "binary"}}, "additionalProperties": true}}}}
	fileOrFiles := okData(obj{"oneOf": []any{ref(t.Name), obj{"type": "array", "items": ref(t.Name)}}}, false)
	list["post"] = op("upload_files", "Upload one file or several (multipart/form-data)", []any{param("fields")}, form, obj{"200": fileOrFiles,
		"413": obj{"description": "The file is larger than the upload limit (CONTENT_TOO_LARGE)"},
		"415": obj{"description": "The file's type is not allowed (UNSUPPORTED_MEDIA_TYPE)"},
		"507": obj{"description": "The tenant's storage quota would be exceeded (QUOTA_EXCEEDED)"}})
	patch := one["patch"].(obj)
	patch["summary"] = "Edit a file's metadata (JSON), or replace its bytes (multipart/form-data)"
	patch["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(t.Name + "_input")},
		"multipart/form-data": form["content"].(obj)["multipart/form-data"]}}
	paths["/files"], paths["/files/{id}"] = list, one
	paths["/files/import"] = obj{"post": op("import_file", "Fetch a file from a URL on one of the hosts the setting files_import_hosts allows", []any{param("fields")},
		jsonBody(obj{"type": "object", "required": []string{"url"}, "properties": obj{"url": obj{"type": "string", "format": "uri"}, "data": ref(t.Name + "_input")}}),
		obj{"200": okData(ref(t.Name), false), "403": obj{"description": "The host is not allowed"}, "502": obj{"description": "The URL could not be fetched"}})}
	hdr := func(name, desc string) obj {
		return obj{"name": name, "in": "header", "required": true, "description": desc, "schema": obj{"type": "string"}}
	}
	tusVersion := hdr("Tus-Resumable", "1.0.0")
	paths["/files/tus"] = obj{
		"options": op("tus_options", "The tus protocol this server speaks (1.0.0; creation, termination)", nil, nil, obj{"204": obj{"description": "Tus-Version, Tus-Extension, Tus-Max-Size"}}),
		"post": op("tus_create", "Start a resumable upload (tus creation): Upload-Length, and Upload-Metadata with filename and the file's fields", []any{tusVersion,
			hdr("Upload-Length", "The upload's size in bytes"), obj{"name": "Upload-Metadata", "in": "header", "schema": obj{"type": "string"}}}, nil,
			obj{"201": obj{"description": "Created; Location is the upload's URL"}, "413": obj{"description": "Larger than the upload limit"}, "507": obj{"description": "Over the quota"}})}
	paths["/files/tus/{id}"] = obj{"parameters": []any{obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string", "format": "uuid"}}},
		"head": op("tus_offset", "How far a resumable upload is: Upload-Offset, Upload-Length, and Strata-File-Id once complete", []any{tusVersion}, nil, obj{"200": obj{"description": "The upload's state"}}),
		"patch": op("tus_chunk", "Send the next chunk from Upload-Offset; the last one makes the file (Strata-File-Id)", []any{tusVersion, hdr("Upload-Offset", "Where the chunk starts")},
			obj{"required": true, "content": obj{"application/offset+octet-stream": obj{"schema": obj{"type": "string", "format": "binary"}}}},
			obj{"204": obj{"description": "Stored; Upload-Offset is the new offset"}, "409": obj{"description": "The upload is at another offset"}}),
		"delete": op("tus_terminate", "Abandon a resumable upload", []any{tusVersion}, nil, obj{"204": obj{"description": "Removed"}})}
	q := func(name, desc string, s obj) obj {
		return obj{"name": name, "in": "query", "description": desc, "schema": s}
	}
	paths["/assets/{id}"] = obj{"parameters": []any{obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string", "format": "uuid"}}},
		"get": op("get_asset", "A file's bytes, with ETag, Last-Modified and byte ranges; the read rule of strata_files decides", []any{
			q("download", "Serve as an attachment", obj{"type": "boolean"}),
			obj{"name": "Range", "in": "header", "schema": obj{"type": "string"}, "description": "One byte range: bytes=0-99, bytes=100-, bytes=-100"}}, nil,
			obj{"200": obj{"description": "The bytes", "content": obj{"*/*": obj{"schema": obj{"type": "string", "format": "binary"}}}},
				"206": obj{"description": "The requested range", "content": obj{"*/*": obj{"schema": obj{"type": "string", "format": "binary"}}}},
				"304": obj{"description": "Not modified (If-None-Match, If-Modified-Since)"},
				"416": obj{"description": "The range is outside the file"}})}
}

// functionPaths are the routes that manage functions, and each endpoint function's own.
func functionPaths(paths obj, m *schema.Model) {
	fn := obj{"type": "object", "properties": obj{"id": obj{"type": "string", "format": "uuid"}, "name": obj{"type": "string"},
		"kind": obj{"type": "string", "enum": []string{"endpoint", "hook", "schedule"}}, "source": obj{"type": "string"}, "checksum": obj{"type": "string"},
		"enabled": obj{"type": "boolean"}, "timeout_ms": obj{"type": "integer"}, "memory_mb": obj{"type": "integer"}, "run_as": obj{"type": "string"},
		"method": obj{"type": "string"}, "path": obj{"type": "string"}, "table": obj{"type": "string"}, "event": obj{"type": "string"},
		"phase": obj{"type": "string"}, "priority": obj{"type": "integer"}, "cron": obj{"type": "string"}}}
	written := okData(obj{"type": "object", "properties": obj{"function": fn, "migration": obj{"type": "object"}}}, false)
	invalid := obj{"description": "The source does not compile (FUNCTION_INVALID, with line and column)"}
	id := obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string", "format": "uuid"}}
	paths["/functions"] = obj{
		"get":  op("list_functions", "The tenant's functions", nil, nil, obj{"200": okData(obj{"type": "array", "items": fn}, false)}),
		"post": op("create_function", "Create a function (a migration of type function)", nil, jsonBody(fn), obj{"200": written, "422": invalid})}
	paths["/functions/{id}"] = obj{"parameters": []any{id},
		"get":    op("get_function", "One function", nil, nil, obj{"200": okData(fn, false)}),
		"patch":  op("update_function", "Change a function (a migration of type function)", nil, jsonBody(fn), obj{"200": written}),
		"delete": op("delete_function", "Remove a function (a migration of type function)", nil, nil, obj{"200": written})}
	paths["/functions/{id}/run"] = obj{"parameters": []any{id},
		"post": op("run_function", "Run a function now with an input; answers its outcome whatever it is", nil,
			jsonBody(obj{"type": "object", "properties": obj{"input": obj{}}}), obj{"200": okData(obj{"type": "object", "properties": obj{
				"status": obj{"type": "string"}, "output": obj{}, "logs": obj{"type": "array"}, "duration_ms": obj{"type": "integer"}, "error": obj{"type": []string{"string", "null"}}}}, false)})}
	paths["/functions/{id}/runs"] = obj{"parameters": []any{id},
		"get": op("list_function_runs", "A function's runs, newest first (the query language applies)", []any{param("fields"), param("filter"), param("sort"), param("limit"), param("page")}, nil,
			obj{"200": okData(obj{"type": "array", "items": obj{"type": "object"}}, true)})}
	secret := obj{"name": "name", "in": "path", "required": true, "schema": obj{"type": "string"}}
	paths["/functions/secrets"] = obj{"get": op("list_function_secrets", "The names of the tenant's secrets (values are never returned)", nil, nil,
		obj{"200": okData(obj{"type": "array", "items": obj{"type": "object", "properties": obj{"name": obj{"type": "string"}}}}, false)})}
	paths["/functions/secrets/{name}"] = obj{"parameters": []any{secret},
		"put": op("put_function_secret", "Set a secret for ctx.env", nil, jsonBody(obj{"type": "object", "required": []string{"value"}, "properties": obj{"value": obj{"type": "string"}}}),
			obj{"200": obj{"description": "Changed"}, "201": obj{"description": "Created"}}),
		"delete": op("delete_function_secret", "Remove a secret", nil, nil, obj{"204": obj{"description": "Removed"}})}
	methods := []string{"get", "post", "put", "patch", "delete"}
	for i := range m.Functions {
		f := &m.Functions[i]
		if f.Kind != "endpoint" || !f.Enabled {
			continue
		}
		segs := schema.SplitPath(f.Path)
		var params []any
		for j, seg := range segs {
			if name, ok := strings.CutPrefix(seg, ":"); ok {
				segs[j] = "{" + name + "}"
				params = append(params, obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string"}})
			}
		}
		key := "/fn/" + strings.Join(segs, "/")
		item, _ := paths[key].(obj)
		if item == nil {
			item = obj{}
			if params != nil {
				item["parameters"] = params
			}
		}
		for _, meth := range methods {
			if f.Method == "ANY" || strings.ToLower(f.Method) == meth {
				item[meth] = op("fn_"+f.Name+"_"+meth, "The endpoint function "+f.Name, nil, nil,
					obj{"200": obj{"description": "What the function returns, as {data}, or its own response"},
						"500": obj{"description": "The function failed (FUNCTION_FAILED)"}, "504": obj{"description": "The function ran out of time (FUNCTION_TIMEOUT)"}})
			}
		}
		paths[key] = item
	}
}

// queryParameters are the Directus-style query parameters of the items routes.
func queryParameters() obj {
	p := func(name, desc string, s obj) obj {
		return obj{"name": name, "in": "query", "required": false, "description": desc, "schema": s}
	}
	str := obj{"type": "string"}
	return obj{
		"fields":    p("fields", "Comma-separated fields; * for all columns; dotted paths follow relations (author.name, comments.*).", str),
		"filter":    p("filter", `A JSON filter, e.g. {"views":{"_gt":500}}; the bracket form filter[views][_gt]=500 works too.`, str),
		"search":    p("search", "Case-insensitive search across the text columns.", str),
		"sort":      p("sort", "Comma-separated fields; a leading - sorts descending; dotted paths follow many-to-one relations.", str),
		"limit":     p("limit", "Rows per page; -1 for all (up to the server's cap).", obj{"type": "integer", "minimum": -1}),
		"offset":    p("offset", "Rows to skip.", obj{"type": "integer", "minimum": 0}),
		"page":      p("page", "Page number (1-based), with limit.", obj{"type": "integer", "minimum": 1}),
		"meta":      p("meta", "total_count, filter_count or *.", str),
		"aggregate": p("aggregate", `JSON, e.g. {"count":"*","sum":["views"]}.`, str),
		"groupBy":   p("groupBy", "Comma-separated columns to group aggregates by.", str),
		"deep":      p("deep", `JSON options per expanded relation: {"comments":{"_limit":5,"_sort":"-id","_filter":{…}}}.`, str),
	}
}

func errorComponents() (schemaObj, response obj) {
	schemaObj = obj{"type": "object", "required": []string{"errors"}, "properties": obj{"errors": obj{"type": "array", "items": obj{
		"type": "object", "required": []string{"message", "extensions"}, "properties": obj{
			"message":    obj{"type": "string"},
			"extensions": obj{"type": "object", "required": []string{"code"}, "properties": obj{"code": obj{"type": "string"}}, "additionalProperties": true},
		}}},
		// Where Enfyra's clients read a confirm challenge (SCHEMA_CONFIRM_REQUIRED only).
		"code":    obj{"type": "string", "description": "The first error's code, beside a confirm challenge's details."},
		"details": obj{"type": "object", "description": "A confirm challenge's fields, as extensions carries them, where Enfyra's clients read them.", "additionalProperties": true},
	}}
	response = obj{"description": "Error", "content": obj{"application/json": obj{"schema": ref("Error")}}}
	return schemaObj, response
}

// schemaPaths are Strata's own schema, migration and trash routes of a tenant.
func schemaPaths() obj {
	anyObj := obj{"type": "object", "additionalProperties": true}
	body := jsonBody(anyObj)
	dry := obj{"name": "dry_run", "in": "query", "required": false, "description": "Plan the change and apply nothing.", "schema": obj{"type": "boolean"}}
	confirm := []any{dry,
		obj{"name": "X-Schema-Confirm-Hash", "in": "header", "required": false, "schema": obj{"type": "string"}},
		obj{"name": "X-Schema-Confirm-Token", "in": "header", "required": false, "schema": obj{"type": "string"}}}
	// A change of one table's definition also takes Enfyra's legacy phrase.
	phrased := append(append([]any{}, confirm...), obj{"name": "schemaConfirm", "in": "query", "required": false, "schema": obj{"type": "string"},
		"description": "Enfyra's legacy confirm phrase (APPLY SCHEMA CHANGES {table}, DELETE TABLE {table}), honoured in place of the hash and token only where the tenant setting legacy_schema_confirm is on."})
	ok := obj{"200": okData(anyObj, false)}
	withConfirm := func(o obj) obj {
		o["responses"].(obj)["422"] = obj{"$ref": "#/components/responses/Error"}
		o["responses"].(obj)["409"] = obj{"$ref": "#/components/responses/Error"}
		return o
	}
	path := func(name string) obj {
		return obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string"}}
	}
	public := func(o obj) obj { o["security"] = []any{}; return o }
	action := func(id, summary string, params []any) obj {
		return obj{"parameters": []any{path("id")}, "post": withConfirm(op(id, summary, params, nil, ok))}
	}
	return obj{
		"/tables": obj{"get": op("list_tables", "List tables (a non-admin sees only the tables and columns its role may use)", nil, nil, ok),
			"post": withConfirm(op("create_table", "Create a table", []any{dry}, body, ok))},
		"/tables/{table}": obj{"parameters": []any{path("table")},
			"get":    op("get_table", "Read a table", nil, nil, ok),
			"patch":  withConfirm(op("update_table", "Rename or describe a table", []any{dry}, body, ok)),
			"delete": withConfirm(op("drop_table", "Drop a table (soft; confirm-hash)", phrased, nil, ok))},
		"/tables/{table}/columns": obj{"parameters": []any{path("table")},
			"post": withConfirm(op("add_column", "Add a column", []any{dry}, body, ok))},
		"/tables/{table}/columns/{column}": obj{"parameters": []any{path("table"), path("column")},
			"patch":  withConfirm(op("alter_column", "Alter or rename a column", phrased, body, ok)),
			"delete": withConfirm(op("drop_column", "Drop a column (soft; confirm-hash)", phrased, nil, ok))},
		"/tables/{table}/indexes": obj{"parameters": []any{path("table")},
			"get":  op("list_indexes", "List indexes", nil, nil, ok),
			"post": withConfirm(op("add_index", "Add an index", []any{dry}, body, ok))},
		"/tables/{table}/indexes/{name}": obj{"parameters": []any{path("table"), path("name")},
			"delete": withConfirm(op("drop_index", "Drop an index", []any{dry}, nil, ok))},
		"/relations": obj{"get": op("list_relations", "List relations", nil, nil, ok),
			"post": withConfirm(op("add_relation", "Add a relation", []any{dry}, body, ok))},
		"/relations/{id}": obj{"parameters": []any{path("id")},
			"delete": withConfirm(op("drop_relation", "Drop a relation (confirm-hash)", phrased, nil, ok))},
		"/migrations": obj{"get": op("list_migrations", "Schema history, ordered by seq", []any{
			obj{"name": "status", "in": "query", "schema": obj{"type": "string"}}, obj{"name": "type", "in": "query", "schema": obj{"type": "string"}},
			param("limit"), param("page")}, nil, obj{"200": okData(obj{"type": "array", "items": anyObj}, true)}),
			"post": withConfirm(op("custom_migration", "Run custom SQL as a recorded migration", []any{dry}, jsonBody(obj{"type": "object", "required": []string{"up_sql"}, "properties": obj{
				"name": obj{"type": "string"}, "description": obj{"type": "string"}, "up_sql": obj{"type": "string"}, "down_sql": obj{"type": "string"}}}), ok))},
		"/migrations/{id}": obj{"parameters": []any{path("id")}, "get": op("get_migration", "Read a migration", nil, nil, ok)},
		"/migrations/export": obj{"get": op("export_migrations", "The history as an SQL script or a portable JSON bundle", []any{
			obj{"name": "format", "in": "query", "schema": obj{"type": "string", "enum": []string{"sql", "json"}}},
			obj{"name": "dialect", "in": "query", "description": "SQL for another database than the tenant's", "schema": obj{"type": "string", "enum": []string{"postgres", "mysql", "sqlite"}}}},
			nil, obj{"200": obj{"description": "SQL script (text/plain) or JSON bundle", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}, "application/json": obj{"schema": anyObj}}}})},
		"/migrations/{id}/approve": action("approve_migration", "Approve a migration held for approval", nil),
		"/migrations/{id}/reject":  action("reject_migration", "Reject a migration held for approval", nil),
		"/migrations/{id}/retry":   action("retry_migration", "Run a failed migration again", nil),
		"/migrations/{id}/rollback": action("rollback_migration", "Roll a migration back (409 lists later migrations that depend on it)", []any{dry,
			obj{"name": "cascade", "in": "query", "description": "Roll back the dependent migrations too, newest first", "schema": obj{"type": "boolean"}}}),
		"/migrations/{id}/resolve": action("resolve_migration", "Mark a failed or interrupted migration as executed or rolled back after fixing it by hand", nil),
		"/schema/snapshot":         obj{"get": op("get_snapshot", "The model as an Enfyra snapshot.json", nil, nil, obj{"200": jsonResponse("snapshot.json", anyObj)})},
		"/schema/apply": obj{"post": withConfirm(op("apply_schema", "Apply a schema file (snapshot, snapshot migration, data migration or entities YAML): plan, then execute", []any{dry,
			obj{"name": "format", "in": "query", "schema": obj{"type": "string", "enum": []string{"snapshot", "snapshot-migration", "data-migration", "entities"}}}},
			obj{"required": true, "content": obj{"application/json": obj{"schema": anyObj}, "application/yaml": obj{"schema": obj{"type": "string"}},
				"multipart/form-data": obj{"schema": obj{"type": "object", "additionalProperties": true}}}}, ok))},
		"/schema/drift": obj{"get": op("schema_drift", "Differences between the metadata and the live database", nil, nil, ok)},
		"/graphql": obj{"get": op("graphql_get", "GraphQL query in the query string", []any{obj{"name": "query", "in": "query", "schema": obj{"type": "string"}},
			obj{"name": "operationName", "in": "query", "schema": obj{"type": "string"}}, obj{"name": "variables", "in": "query", "schema": obj{"type": "string"}}}, nil, obj{"200": jsonResponse("GraphQL response", anyObj)}),
			"post": op("graphql", "GraphQL over HTTP", nil, jsonBody(obj{"type": "object", "required": []string{"query"}, "properties": obj{
				"query": obj{"type": "string"}, "operationName": obj{"type": "string"}, "variables": anyObj}}), obj{"200": jsonResponse("GraphQL response", anyObj)})},
		"/graphql/sdl": obj{"get": op("graphql_sdl", "The caller's GraphQL schema as SDL", nil, nil,
			obj{"200": obj{"description": "SDL", "content": obj{"text/plain": obj{"schema": obj{"type": "string"}}}}})},
		"/websocket": obj{"get": op("websocket", "Realtime: upgrade to a websocket speaking Directus's subscription protocol", []any{
			obj{"name": "access_token", "in": "query", "schema": obj{"type": "string"}}}, nil, obj{"101": obj{"description": "Switching protocols"}})},
		"/trash": obj{"get": op("list_trash", "Soft-dropped tables and columns", nil, nil, ok)},
		"/trash/{id}": obj{"parameters": []any{path("id")},
			"delete": withConfirm(op("purge_trash", "Purge a trashed table or column (confirm-hash)", confirm, nil, ok))},
		"/openapi.json": obj{"get": op("openapi", "This document", nil, nil, obj{"200": obj{"description": "OpenAPI 3.1 document"}})},
		"/openapi.yaml": obj{"get": op("openapi_yaml", "This document as YAML", nil, nil, obj{"200": obj{"description": "OpenAPI 3.1 document"}})},
		"/auth/login": obj{"post": public(op("login", "Sign in (tenant users)", nil, jsonBody(obj{"type": "object", "required": []string{"email", "password"},
			"properties": obj{"email": obj{"type": "string"}, "password": obj{"type": "string"}, "mode": obj{"type": "string"}}}), ok))},
		"/auth/refresh":      obj{"post": public(op("refresh", "Rotate a refresh token", nil, body, ok))},
		"/auth/logout":       obj{"post": public(op("logout", "Revoke a session", nil, body, obj{"204": obj{"description": "Logged out"}}))},
		"/users/register":    obj{"post": public(op("register", "Sign up, where the tenant allows it", nil, body, obj{"204": obj{"description": "Registered"}}))},
		"/users/me":          obj{"get": op("me", "The caller", nil, nil, ok)},
		"/users/me/sessions": obj{"get": op("my_sessions", "The signed-in user's sessions (id, created_at, last_used_at, expires_at, current)", nil, nil, ok)},
		"/users/me/sessions/{sid}": obj{"parameters": []any{path("sid")},
			"delete": op("end_my_session", "Sign one of the user's sessions out", nil, nil, obj{"204": obj{"description": "Ended"}})},
		"/users/me/tfa/generate": obj{"post": op("tfa_generate", "A new TOTP secret and its otpauth:// URL; nothing changes until enable", nil, nil, ok)},
		"/users/me/tfa/enable":   obj{"post": op("tfa_enable", "Turn two-factor sign-in on {secret, otp}; answers the recovery codes, once", nil, body, ok)},
		"/users/me/tfa/disable": obj{"post": op("tfa_disable", "Turn two-factor sign-in off {otp} (a current or a recovery code)", nil, body,
			obj{"204": obj{"description": "Off"}})},
		"/auth/password/request": obj{"post": public(op("password_request", "Mail a password reset link {email, reset_url?}; 204 whether or not the account exists", nil, body,
			obj{"204": obj{"description": "Accepted"}}))},
		"/auth/password/reset": obj{"post": public(op("password_reset", "Set a new password with a mailed token {token, password}; ends the user's sessions", nil, body,
			obj{"204": obj{"description": "Changed"}}))},
		"/users/invite": obj{"post": op("invite_user", "Invite a user by mail {email, role, invite_url?} (admins)", nil, body, obj{"204": obj{"description": "Invited"}})},
		"/users/invite/accept": obj{"post": public(op("accept_invite", "Accept an invitation {token, password}", nil, body,
			obj{"204": obj{"description": "Accepted"}}))},
		"/users/register/verify-email": obj{"post": public(op("verify_email", "Verify a signed-up user's email with the mailed token", []any{
			obj{"name": "token", "in": "query", "required": true, "schema": obj{"type": "string"}}}, nil, obj{"204": obj{"description": "Verified"}}))},
		"/settings/mail": obj{"get": op("mail_log", "The tenant's latest mails and what became of them, without bodies (admins)", nil, nil, ok)},
		"/settings/mail/test": obj{"post": op("mail_test", "Send a test mail now through the tenant's mail server {to} (admins)", nil, body,
			obj{"204": obj{"description": "Sent"}})},
		"/utils/export/{table}": obj{"parameters": []any{path("table")},
			"get": op("export_items", "The rows the caller may read, as the listing answers them, streamed as a download: format csv, json or yaml, with the query language (every row unless limit is given)",
				[]any{obj{"name": "format", "in": "query", "schema": obj{"type": "string", "enum": []string{"csv", "json", "yaml"}}}}, nil,
				obj{"200": obj{"description": "The export", "content": obj{"text/csv": obj{"schema": obj{"type": "string"}}, "application/json": obj{"schema": obj{"type": "array", "items": anyObj}},
					"application/yaml": obj{"schema": obj{"type": "string"}}}}})},
		"/utils/import/{table}": obj{"parameters": []any{path("table")},
			"post": op("import_items", "Write a CSV or JSON file's rows as creates of the caller, a batch at a time as the body streams in: the body (text/csv, application/json) or the multipart field file; all or nothing unless partial; Accept: text/event-stream answers progress events, then the result",
				[]any{obj{"name": "format", "in": "query", "schema": obj{"type": "string", "enum": []string{"csv", "json"}}},
					obj{"name": "partial", "in": "query", "schema": obj{"type": "boolean"}}},
				obj{"required": true, "content": obj{"text/csv": obj{"schema": obj{"type": "string"}}, "application/json": obj{"schema": obj{"type": "array", "items": anyObj}},
					"multipart/form-data": obj{"schema": obj{"type": "object", "properties": obj{"file": obj{"type": "string", "format": "binary"}}}}}},
				obj{"200": obj{"description": "{data: {imported}}, with partial also failed, errors [{row, field, code, message}] and errors_truncated; or the event stream",
					"content": obj{"application/json": obj{"schema": anyObj}, "text/event-stream": obj{"schema": obj{"type": "string"}}}},
					"413": obj{"description": "The body is over STRATA_IMPORT_MAX_BYTES"}})},
		"/activity":  obj{"get": op("list_activity", "The activity log {id, action, user, timestamp, ip, user_agent, collection, item, comment} with the query language: admins read all, other users their own", nil, nil, ok)},
		"/revisions": obj{"get": op("list_revisions", "Revisions {id, activity, collection, item, data, delta} with the query language (admins)", nil, nil, ok)},
		"/revisions/{id}/restore": obj{"parameters": []any{path("id")},
			"post": op("restore_revision", "Write a revision's values back to its row, as the caller (its update rule applies); answers the row", nil, nil, ok)},
		"/webhooks": obj{"get": op("list_webhooks", "The tenant's webhooks {id, name, url, tables, events, headers, secret_set, enabled} (admins)", nil, nil, ok),
			"post": op("create_webhook", "Add a webhook {name, url, tables, events, headers?, secret?, enabled?}; a secret made for it is answered once (admins)", nil, body, ok)},
		"/webhooks/{id}": obj{"parameters": []any{path("id")}, "get": op("get_webhook", "Read a webhook (admins)", nil, nil, ok),
			"patch": op("update_webhook", "Change a webhook (admins)", nil, body, ok), "delete": op("delete_webhook", "Remove a webhook (admins)", nil, nil, obj{"204": obj{"description": "Deleted"}})},
		"/webhooks/{id}/deliveries": obj{"parameters": []any{path("id")}, "get": op("webhook_deliveries", "A webhook's deliveries, newest first {id, event, collection, keys, status, attempts, response_code, error, next_at, created_at, settled_at} (admins)",
			[]any{obj{"name": "status", "in": "query", "schema": obj{"type": "string", "enum": []string{"pending", "delivered", "dead", "dropped"}}}}, nil, ok)},
		"/webhooks/{id}/deliveries/{delivery}/retry": obj{"parameters": []any{path("id"), path("delivery")},
			"post": op("redeliver", "Queue a dead delivery again (admins)", nil, nil, obj{"202": obj{"description": "Queued"}})},
		"/users/{id}/sessions": obj{"parameters": []any{path("id")}, "get": op("user_sessions", "A user's sessions (admins)", nil, nil, ok)},
		"/users/{id}/sessions/{sid}": obj{"parameters": []any{path("id"), path("sid")},
			"delete": op("end_user_session", "Sign one of a user's sessions out (admins)", nil, nil, obj{"204": obj{"description": "Ended"}})},
		"/users": obj{"get": op("list_users", "List users", nil, nil, ok), "post": op("create_user", "Create a user", nil, body, ok)},
		"/users/{id}": obj{"parameters": []any{path("id")}, "get": op("get_user", "Read a user", nil, nil, ok),
			"patch": op("update_user", "Update a user", nil, body, ok), "delete": op("delete_user", "Delete a user", nil, nil, obj{"204": obj{"description": "Deleted"}})},
		"/roles": obj{"get": op("list_roles", "List roles", nil, nil, ok), "post": op("create_role", "Create a role", nil, body, ok)},
		"/roles/{id}": obj{"parameters": []any{path("id")}, "patch": op("update_role", "Update a role", nil, body, ok),
			"delete": op("delete_role", "Delete a role", nil, nil, obj{"204": obj{"description": "Deleted"}})},
		"/permissions/me": obj{"get": op("my_permissions", "What the caller may do: per table and action, access none/partial/full, fields and presets", nil, nil, ok)},
		"/permissions":    obj{"get": op("list_permissions", "List permissions", nil, nil, ok), "post": op("create_permission", "Create a permission", nil, body, ok)},
		"/permissions/{id}": obj{"parameters": []any{path("id")}, "patch": op("update_permission", "Update a permission", nil, body, ok),
			"delete": op("delete_permission", "Delete a permission", nil, nil, obj{"204": obj{"description": "Deleted"}})},
		"/api-keys": obj{"get": op("list_api_keys", "List API keys", nil, nil, ok), "post": op("create_api_key", "Create an API key (its secret is shown once)", nil, body, ok)},
		"/api-keys/{id}": obj{"parameters": []any{path("id")},
			"delete": op("delete_api_key", "Delete an API key", nil, nil, obj{"204": obj{"description": "Deleted"}})},
		"/settings":      obj{"get": op("get_settings", "Tenant settings", nil, nil, ok), "patch": op("update_settings", "Change tenant settings", nil, body, ok)},
		"/server/health": obj{"get": obj{"operationId": "health", "summary": "Liveness", "security": []any{}, "responses": obj{"200": okData(anyObj, false)}}},
	}
}

// Tenant renders the OpenAPI document of one tenant's generated API.
func Tenant(slug, name string, version int64, m *schema.Model) obj {
	schemas, paths := obj{}, schemaPaths()
	packagePaths(paths)
	providerPaths(paths)
	errSchema, errResponse := errorComponents()
	schemas["Error"] = errSchema
	for i := range m.Tables {
		t := &m.Tables[i]
		if strings.HasPrefix(t.Name, "strata_") {
			continue // identities are served by their own routes
		}
		read, input := tableSchemas(m, t)
		schemas[t.Name] = read
		schemas[t.Name+"_input"] = input
		list, one := itemPaths(t)
		if t.System {
			// Metadata tables read like items; their writes are schema changes.
			delete(list, "patch")
			delete(list, "delete")
		}
		paths["/items/"+t.Name] = list
		paths["/items/"+t.Name+"/{id}"] = one
	}
	for _, name := range []string{"strata_files", "strata_folders"} {
		if t := m.Table(name); t != nil {
			read, input := tableSchemas(m, t)
			schemas[name], schemas[name+"_input"] = read, input
		}
	}
	if m.Table("strata_folders") != nil {
		list, one := itemPaths(m.Table("strata_folders"))
		paths["/folders"], paths["/folders/{id}"] = list, one
	}
	if m.Table("strata_files") != nil {
		filePaths(paths, m.Table("strata_files"))
	}
	functionPaths(paths, m)
	params := queryParameters()
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": name + " API", "version": versionString(version),
			"description": "Generated by Strata from the tenant's schema (schema version " + versionString(version) + ")."},
		"servers":  []any{obj{"url": "/api/t/" + slug}},
		"security": []any{obj{"bearerAuth": []any{}}},
		"paths":    paths,
		"components": obj{
			"schemas":         schemas,
			"parameters":      params,
			"responses":       obj{"Error": errResponse},
			"securitySchemes": obj{"bearerAuth": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
	}
}

func versionString(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Platform renders the OpenAPI document of the platform API.
func Platform() obj {
	anyObj := obj{"type": "object", "additionalProperties": true}
	errSchema, errResponse := errorComponents()
	tokens := obj{"200": okData(obj{"type": "object", "properties": obj{"access_token": obj{"type": "string"}, "refresh_token": obj{"type": "string"},
		"expires": obj{"type": "integer", "description": "access token lifetime in ms"}}}, false)}
	public := func(o obj) obj { o["security"] = []any{}; return o }
	slug := obj{"name": "slug", "in": "path", "required": true, "schema": obj{"type": "string", "pattern": "^[a-z][a-z0-9-]{1,62}$"}}
	runID := obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string"}}
	strs := obj{"type": "array", "items": obj{"type": "string"}}
	changesetSchema := obj{"type": "object", "required": []string{"name"}, "properties": obj{
		"name": obj{"type": "string"}, "description": obj{"type": "string"}, "tags": strs, "depends_on": strs,
		"changes": obj{"type": "array", "items": obj{"type": "object", "required": []string{"op"}, "additionalProperties": true}},
		"up_sql":  obj{"type": "string"}, "down_sql": obj{"type": "string"}, "checksum": obj{"type": "string", "readOnly": true}}}
	resultSchema := obj{"type": "object", "properties": obj{"tenant": obj{"type": "string"}, "changeset": obj{"type": "string"},
		"status": obj{"type": "string", "enum": []string{"queued", "running", "applied", "skipped", "failed", "pending_approval", "not_run", "planned"}},
		"error":  obj{"type": []string{"string", "null"}}, "migration_ids": strs, "plan": obj{"type": "array", "items": anyObj}}}
	runSchema := obj{"type": "object", "properties": obj{"id": obj{"type": "string"},
		"status": obj{"type": "string", "enum": []string{"running", "paused", "completed", "failed", "cancelled"}}, "request": anyObj,
		"error": obj{"type": []string{"string", "null"}}, "created_at": obj{"type": "string", "format": "date-time"},
		"finished_at": obj{"type": []string{"string", "null"}, "format": "date-time"}, "results": obj{"type": "array", "items": resultSchema},
		"counts": obj{"type": "object", "additionalProperties": obj{"type": "integer"}}}}
	migrateRequest := obj{"type": "object", "properties": obj{"changesets": strs, "changeset_tags": strs, "tenants": strs, "tenant_tags": strs,
		"all_tenants": obj{"type": "boolean"}, "dry_run": obj{"type": "boolean"}, "concurrency": obj{"type": "integer", "minimum": 1, "maximum": 16},
		"canary": obj{"type": "integer", "minimum": 0}, "max_failures": obj{"type": "integer", "minimum": 0}, "no_deps": obj{"type": "boolean"}}}
	platformKey := obj{"type": "object", "properties": obj{"id": obj{"type": "string"}, "name": obj{"type": "string"}, "created_by": obj{"type": "string"},
		"created_at": obj{"type": "string", "format": "date-time"}, "token": obj{"type": "string", "description": "only in the answer that made the key"}}}
	return obj{
		"openapi":  "3.1.0",
		"info":     obj{"title": "Strata platform API", "version": "1"},
		"servers":  []any{obj{"url": "/api"}},
		"security": []any{obj{"bearerAuth": []any{}}},
		"paths": obj{
			"/auth/login": obj{"post": public(op("login", "Platform admin login", nil, jsonBody(obj{"type": "object", "required": []string{"email", "password"},
				"properties": obj{"email": obj{"type": "string"}, "password": obj{"type": "string"}}}), tokens))},
			"/auth/refresh": obj{"post": public(op("refresh", "Rotate a refresh token", nil, jsonBody(obj{"type": "object", "required": []string{"refresh_token"},
				"properties": obj{"refresh_token": obj{"type": "string"}}}), tokens))},
			"/auth/logout": obj{"post": public(op("logout", "Revoke a session", nil, jsonBody(obj{"type": "object", "required": []string{"refresh_token"},
				"properties": obj{"refresh_token": obj{"type": "string"}}}), obj{"204": obj{"description": "Logged out"}}))},
			"/tenants": obj{
				"get": op("list_tenants", "List tenants", nil, nil, obj{"200": okData(obj{"type": "array", "items": anyObj}, false)}),
				"post": op("create_tenant", "Create a tenant", nil, jsonBody(obj{"type": "object", "required": []string{"slug"}, "properties": obj{
					"slug": obj{"type": "string"}, "name": obj{"type": "string"}, "database_url": obj{"type": "string"}}}), obj{"201": okData(anyObj, false)})},
			"/tenants/{slug}": obj{"parameters": []any{slug},
				"get": op("get_tenant", "Read a tenant", nil, nil, obj{"200": okData(anyObj, false)}),
				"patch": op("tag_tenant", "Replace a tenant's tags (fleet runs select tenants by them)", nil, jsonBody(obj{"type": "object", "required": []string{"tags"},
					"properties": obj{"tags": obj{"type": "object", "additionalProperties": obj{"type": "string"}}}}), obj{"200": okData(anyObj, false)}),
				"delete": op("delete_tenant", "Delete a tenant (confirm-hash)", nil, nil, obj{"204": obj{"description": "Deleted"}, "422": obj{"$ref": "#/components/responses/Error"}})},
			"/tenants/{slug}/sandboxes": obj{"parameters": []any{slug},
				"post": op("create_sandbox", "A new tenant whose schema is this tenant's history replayed", nil, jsonBody(obj{"type": "object", "required": []string{"slug"}, "properties": obj{
					"slug": obj{"type": "string"}, "name": obj{"type": "string"}, "up_to": obj{"type": "integer", "description": "replay up to this seq"},
					"database_url": obj{"type": "string"}}}), obj{"201": okData(anyObj, false), "200": okData(anyObj, false)})},
			"/tenants/{slug}/replay": obj{"parameters": []any{slug},
				"post": op("replay", "Bring this tenant up to date with another's history (only the missing migrations)", nil, jsonBody(obj{"type": "object", "required": []string{"from"}, "properties": obj{
					"from": obj{"type": "string"}, "up_to": obj{"type": "integer"}}}), obj{"200": okData(anyObj, false)})},
			"/changesets": obj{
				"get": op("list_changesets", "List registered changesets", nil, nil, obj{"200": okData(obj{"type": "array", "items": changesetSchema}, false)}),
				"post": op("register_changeset", "Register a changeset (JSON or YAML); the same file again is 200, another under its name 409 CHECKSUM_MISMATCH", nil,
					jsonBody(changesetSchema), obj{"201": okData(changesetSchema, false), "200": okData(changesetSchema, false), "409": obj{"$ref": "#/components/responses/Error"}})},
			"/changesets/{name}": obj{"parameters": []any{obj{"name": "name", "in": "path", "required": true, "schema": obj{"type": "string"}}},
				"get": op("get_changeset", "Read a registered changeset", nil, nil, obj{"200": okData(changesetSchema, false)})},
			"/migrate": obj{"post": op("migrate", "Start a fleet run (202), or plan one (dry_run: 200)", nil, jsonBody(migrateRequest),
				obj{"202": okData(runSchema, false), "200": okData(obj{"type": "object", "properties": obj{"dry_run": obj{"type": "boolean"}, "results": obj{"type": "array", "items": resultSchema}}}, false),
					"400": obj{"$ref": "#/components/responses/Error"}})},
			"/migrate/runs": obj{"get": op("list_runs", "Fleet runs, newest first (without results)", nil, nil, obj{"200": okData(obj{"type": "array", "items": runSchema}, false)})},
			"/migrate/runs/{id}": obj{"parameters": []any{runID},
				"get": op("get_run", "A fleet run with its results; Accept: text/event-stream streams progress", nil, nil, obj{"200": okData(runSchema, false)})},
			"/migrate/runs/{id}/pause":  obj{"parameters": []any{runID}, "post": op("pause_run", "Pause a run: it takes no new tenant", nil, nil, obj{"200": okData(runSchema, false), "409": obj{"$ref": "#/components/responses/Error"}})},
			"/migrate/runs/{id}/resume": obj{"parameters": []any{runID}, "post": op("resume_run", "Resume a paused run", nil, nil, obj{"200": okData(runSchema, false), "409": obj{"$ref": "#/components/responses/Error"}})},
			"/migrate/runs/{id}/cancel": obj{"parameters": []any{runID}, "post": op("cancel_run", "Cancel a run: what it has not reached is not run", nil, nil, obj{"200": okData(runSchema, false), "409": obj{"$ref": "#/components/responses/Error"}})},
			"/api-keys": obj{
				"get": op("list_platform_keys", "List platform API keys (without their tokens)", nil, nil, obj{"200": okData(obj{"type": "array", "items": platformKey}, false)}),
				"post": op("create_platform_key", "Create a platform API key: a static token that acts as a platform admin over HTTP and gRPC (shown once)", nil,
					jsonBody(obj{"type": "object", "required": []string{"name"}, "properties": obj{"name": obj{"type": "string"}}}), obj{"201": okData(platformKey, false)})},
			"/api-keys/{id}": obj{"parameters": []any{obj{"name": "id", "in": "path", "required": true, "schema": obj{"type": "string", "format": "uuid"}}},
				"delete": op("delete_platform_key", "Delete a platform API key; it stops working at once", nil, nil, obj{"204": obj{"description": "Deleted"}, "404": obj{"$ref": "#/components/responses/Error"}})},
			"/users/me/tfa/generate": obj{"post": op("platform_tfa_generate", "A new TOTP secret and its otpauth:// URL for the signed-in platform admin; nothing changes until enable", nil, nil,
				obj{"200": okData(obj{"type": "object", "properties": obj{"secret": obj{"type": "string"}, "otpauth_url": obj{"type": "string"}}}, false)})},
			"/users/me/tfa/enable": obj{"post": op("platform_tfa_enable", "Turn the platform admin's two-factor sign-in on {secret, otp}; answers the recovery codes, once", nil, jsonBody(obj{"type": "object", "properties": obj{"secret": obj{"type": "string"}, "otp": obj{"type": "string"}}}),
				obj{"200": okData(obj{"type": "object", "properties": obj{"recovery_codes": obj{"type": "array", "items": obj{"type": "string"}}}}, false), "401": obj{"$ref": "#/components/responses/Error"}})},
			"/users/me/tfa/disable": obj{"post": op("platform_tfa_disable", "Turn the platform admin's two-factor sign-in off {otp} (a current or a recovery code)", nil, jsonBody(obj{"type": "object", "properties": obj{"secret": obj{"type": "string"}, "otp": obj{"type": "string"}}}),
				obj{"204": obj{"description": "Off"}, "401": obj{"$ref": "#/components/responses/Error"}})},
			"/openapi.json": obj{"get": public(op("platform_openapi", "This document", nil, nil, obj{"200": obj{"description": "OpenAPI 3.1 document"}}))},
			"/openapi.yaml": obj{"get": public(op("platform_openapi_yaml", "This document as YAML", nil, nil, obj{"200": obj{"description": "OpenAPI 3.1 document"}}))},
		},
		"components": obj{
			"schemas":         obj{"Error": errSchema},
			"responses":       obj{"Error": errResponse},
			"securitySchemes": obj{"bearerAuth": obj{"type": "http", "scheme": "bearer", "description": "a platform admin's access token (JWT) or a platform API key (spk_…)"}},
		},
	}
}

// Cache keeps each tenant's rendered document for the model it was made from; a new
// schema version brings a new model, and so a new document.
type Cache struct {
	mu   sync.Mutex
	docs map[string]cached
}

type cached struct {
	model *schema.Model
	body  []byte
	yaml  []byte // made on the first YAML request
}

// Get returns the tenant's document for model m, rendering it when m is new.
func (c *Cache) Get(tenantID, slug, name string, version int64, m *schema.Model) ([]byte, error) {
	c.mu.Lock()
	if c.docs == nil {
		c.docs = map[string]cached{}
	}
	if d, ok := c.docs[tenantID]; ok && d.model == m {
		c.mu.Unlock()
		return d.body, nil
	}
	c.mu.Unlock()
	body, err := json.Marshal(Tenant(slug, name, version, m))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.docs[tenantID] = cached{model: m, body: body}
	c.mu.Unlock()
	return body, nil
}

// GetYAML is Get as YAML, converted once per document rather than per request.
func (c *Cache) GetYAML(tenantID, slug, name string, version int64, m *schema.Model) ([]byte, error) {
	body, err := c.Get(tenantID, slug, name, version, m)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if d := c.docs[tenantID]; d.model == m && d.yaml != nil {
		c.mu.Unlock()
		return d.yaml, nil
	}
	c.mu.Unlock()
	y, err := YAML(body)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if d := c.docs[tenantID]; d.model == m {
		d.yaml = y
		c.docs[tenantID] = d
	}
	c.mu.Unlock()
	return y, nil
}

// YAML renders a JSON document as YAML, keys in the JSON's order.
func YAML(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("read OpenAPI JSON: %w", err)
	}
	clearStyle(&n)
	return yaml.Marshal(&n)
}

// clearStyle drops the flow style JSON text decodes with, so the YAML is block style.
func clearStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Style&yaml.DoubleQuotedStyle != 0 {
		n.Style &^= yaml.DoubleQuotedStyle // plain where YAML allows, quoted where it must
	}
	for _, c := range n.Content {
		clearStyle(c)
	}
}
