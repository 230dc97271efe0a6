package openapi

// packagePaths adds the package schema workflow's routes (tenant admins): status,
// scan, the pending queue, approval and a package's SQL.
func packagePaths(paths obj) {
	anyObj := obj{"type": "object", "additionalProperties": true}
	str := obj{"type": "string"}
	list := func(items obj) obj { return obj{"type": "array", "items": items} }
	queued := obj{"type": "object", "properties": obj{"id": str, "seq": obj{"type": "integer"}, "name": str, "type": str, "status": str,
		"entity": str, "packages": list(str), "description": str, "up_sql": str, "changeset": str, "created_by": str, "created_at": str}}
	entity := obj{"type": "object", "properties": obj{"package_id": str, "entity": str, "version": str, "checksum": str, "source": str,
		"scanned_at": str, "acl_applied_at": str, "table_checksum": str,
		"state": obj{"type": "string", "enum": []string{"applied", "pending", "differs"}},
		"acl":   obj{"type": "string", "enum": []string{"none", "pending", "applied"}}}}
	scanBody := jsonBody(obj{"type": "object", "required": []string{"packages"}, "properties": obj{"packages": list(obj{
		"type": "object", "required": []string{"package_id", "metadata", "files"}, "properties": obj{
			"package_id": str,
			"metadata": obj{"type": "object", "additionalProperties": true,
				"description": `The package's seed/metadata.json: {"packageId", "schema": {"entities": [...], "path": "schema/entities.yaml"}}.`},
			"files": obj{"type": "object", "additionalProperties": str, "description": "The schema file metadata.json names, by its path relative to seed/, and its content."},
		}})}})
	scanned := obj{"type": "object", "properties": obj{
		"packages":       list(anyObj),
		"changeset":      str,
		"queued":         list(queued),
		"already_queued": obj{"type": "boolean"},
		"superseded":     list(str)}}
	conflict := func(o obj) obj {
		o["responses"].(obj)["409"] = obj{"$ref": "#/components/responses/Error"}
		return o
	}
	paths["/packages"] = obj{"get": op("package_status", "The tenant's packages, their entities (version, checksum) and whether each is applied, pending or differs", nil, nil,
		obj{"200": okData(obj{"type": "object", "properties": obj{"pending": obj{"type": "integer"}, "packages": list(obj{"type": "object",
			"properties": obj{"package_id": str, "entities": list(entity)}})}}, false)})}
	paths["/packages/scan"] = obj{"post": conflict(op("scan_packages",
		"Record packages' entities and queue what the schema lacks for approval (202); 409 when two packages define an entity differently, whenever the other was scanned",
		nil, scanBody, obj{"200": okData(scanned, false), "202": okData(scanned, false)}))}
	paths["/packages/pending"] = obj{"get": op("pending_packages", "The migrations package scans queued that wait for approval", nil, nil, obj{"200": okData(list(queued), false)})}
	paths["/packages/approve"] = obj{"post": conflict(op("approve_packages", "Run pending package migrations (all, or by id or seq) in order, then give the entities their acl", nil,
		jsonBody(obj{"type": "object", "properties": obj{"all": obj{"type": "boolean"}, "ids": list(str)}}),
		obj{"200": okData(obj{"type": "object", "properties": obj{"migrations": list(anyObj), "acl": list(str)}}, false)}))}
	paths["/packages/{id}/preview"] = obj{"parameters": []any{obj{"name": "id", "in": "path", "required": true, "description": "The package id", "schema": str}},
		"get": op("preview_package", "The SQL a scanned package's entities would run on the tenant now", []any{
			obj{"name": "dialect", "in": "query", "description": "SQL for another database than the tenant's", "schema": obj{"type": "string", "enum": []string{"postgres", "mysql", "sqlite"}}}},
			nil, obj{"200": okData(obj{"type": "object", "properties": obj{"package_id": str, "dialect": str, "sql": str, "changes": list(anyObj)}}, false)})}
}
