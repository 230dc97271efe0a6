package formats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/modules/records"
)

// dataMigration is data-migration.json, in Enfyra's shape:
//
//	{"_deletedTables": ["logs"],
//	 "_deletedRecords": [{"table": "posts", "filter": {"slug": {"_eq": "old"}}}],
//	 "posts": [{"_unique": {"slug": {"_eq": "hello"}}, "title": "Hello"}]}
//
// Rows are upserted by their _unique filter (inserted when it matches none, updated
// when it matches one); _deletedRecords deletes the rows a filter matches;
// _deletedTables empties tables of their rows (Enfyra's meaning: the tables stay; a
// snapshot-migration's tablesToDrop drops tables). Applied as Enfyra applies them:
// _deletedTables, then _deletedRecords, then the tables in the file's order.
type DataMigration struct {
	DeletedTables  []string         `json:"_deletedTables,omitempty"`
	DeletedRecords []DeletedRecords `json:"_deletedRecords,omitempty"`
	Tables         []DataTable      `json:"tables,omitempty"`
}

type DeletedRecords struct {
	Table  string         `json:"table"`
	Filter map[string]any `json:"filter"`
}

type DataTable struct {
	Name    string       `json:"name"`
	Records []DataRecord `json:"records"`
}

type DataRecord struct {
	Unique map[string]any `json:"_unique"` // a filter that finds the row
	Fields map[string]any `json:"fields"`
}

// parseDataMigration reads a data-migration.json body and checks its shape; at most
// limit records, deletions and emptied tables. Tables keep the file's order, so rows that others refer to
// can come first.
func ParseDataMigration(body []byte, limit int) (*DataMigration, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apierr.InvalidPayload("body", "a JSON body is required")
	}
	bad := func(field, format string, args ...any) error {
		return apierr.InvalidPayload(field, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad("body", "a data-migration file is a JSON object of table names and their records")
	}
	dm := &DataMigration{}
	seen := map[string]bool{}
	count := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("body", "invalid JSON body: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, bad(key, "appears twice")
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad("body", "invalid JSON body: %v", err)
		}
		switch {
		case key == "_deletedTables":
			if err := strictJSON(raw, &dm.DeletedTables); err != nil {
				return nil, bad(key, "must be a list of table names")
			}
			count += len(dm.DeletedTables)
		case key == "_deletedRecords":
			if err := strictJSON(raw, &dm.DeletedRecords); err != nil {
				return nil, bad(key, `must be a list of {"table": …, "filter": {…}}: %v`, err)
			}
			for i, dr := range dm.DeletedRecords {
				if dr.Table == "" || len(dr.Filter) == 0 {
					return nil, bad(fmt.Sprintf("_deletedRecords[%d]", i), "table and a non-empty filter are required")
				}
			}
			count += len(dm.DeletedRecords)
		case strings.HasPrefix(key, "_"):
			return nil, bad(key, "unknown directive (want _deletedTables or _deletedRecords)")
		default:
			dt, err := parseDataTable(key, raw)
			if err != nil {
				return nil, err
			}
			dm.Tables = append(dm.Tables, *dt)
			count += len(dt.Records)
		}
		if count > limit {
			return nil, bad("body", "at most %d records, deletions and emptied tables per file", limit)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad("body", "invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("body", "the body must be a single JSON object")
	}
	return dm, nil
}

// parseDataTable reads one table's records: a list of objects, or one object.
func parseDataTable(name string, raw json.RawMessage) (*DataTable, error) {
	var list []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		list = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, apierr.InvalidPayload(name, "%s: must be a list of records", name)
	}
	dt := &DataTable{Name: name}
	for i, r := range list {
		at := fmt.Sprintf("%s[%d]", name, i)
		var fields map[string]any
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil || fields == nil {
			return nil, apierr.InvalidPayload(at, "%s: a record is a JSON object", at)
		}
		rec := DataRecord{Fields: fields}
		switch u := fields["_unique"].(type) {
		case map[string]any:
			if len(u) == 0 {
				return nil, apierr.InvalidPayload(at+"._unique", "%s._unique: an empty filter matches every row", at)
			}
			rec.Unique = u
		case []any:
			// The short form: the names of the record's fields that identify it.
			var and []any
			for j, f := range u {
				name, _ := f.(string)
				v, ok := fields[name]
				if !ok {
					return nil, apierr.InvalidPayload(fmt.Sprintf("%s._unique[%d]", at, j), "%s._unique[%d]: the record has no field %v", at, j, f)
				}
				and = append(and, map[string]any{name: map[string]any{"_eq": v}})
			}
			if len(and) == 0 {
				return nil, apierr.InvalidPayload(at+"._unique", "%s._unique: name at least one field", at)
			}
			rec.Unique = map[string]any{"_and": and}
		case nil:
			id, ok := fields["id"]
			if !ok {
				return nil, apierr.InvalidPayload(at+"._unique", `%s._unique is required: a filter such as {"slug":{"_eq":"hello"}}, or the list of fields that identify the row`, at)
			}
			rec.Unique = map[string]any{"id": map[string]any{"_eq": id}}
		default:
			return nil, apierr.InvalidPayload(at+"._unique", "%s._unique must be a filter object or a list of field names", at)
		}
		delete(fields, "_unique")
		for k := range fields {
			if strings.HasPrefix(k, "_") {
				return nil, apierr.InvalidPayload(at+"."+k, "%s.%s: unknown directive", at, k)
			}
		}
		dt.Records = append(dt.Records, rec)
	}
	return dt, nil
}

// strictJSON decodes refusing unknown fields and keeping numbers exact.
func strictJSON(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	return dec.Decode(v)
}

// uniquePresets are the values a _unique filter pins with _eq, at its top or under
// _and: a row inserted because the filter matched none gets them, so that the same file
// applied again finds it.
func uniquePresets(f map[string]any, out map[string]any) {
	for k, v := range f {
		switch spec := v.(type) {
		case []any:
			if k == "_and" {
				for _, sub := range spec {
					if m, ok := sub.(map[string]any); ok {
						uniquePresets(m, out)
					}
				}
			}
		case map[string]any:
			if eq, ok := spec["_eq"]; ok && len(spec) == 1 && !strings.HasPrefix(k, "_") {
				out[k] = eq
			}
		}
	}
}

// Batch is the file as record operations, in the order Enfyra applies them.
func (dm *DataMigration) Batch() records.Batch {
	var b records.Batch
	for i, name := range dm.DeletedTables {
		b.Empty = append(b.Empty, records.Entry{At: fmt.Sprintf("_deletedTables[%d]", i), Table: name})
	}
	for i, dr := range dm.DeletedRecords {
		b.Deletes = append(b.Deletes, records.Entry{At: fmt.Sprintf("_deletedRecords[%d]", i), Table: dr.Table, Filter: dr.Filter})
	}
	for _, tbl := range dm.Tables {
		for i, rec := range tbl.Records {
			presets := map[string]any{}
			uniquePresets(rec.Unique, presets)
			b.Upserts = append(b.Upserts, records.Upsert{
				Entry:  records.Entry{At: fmt.Sprintf("%s[%d]", tbl.Name, i), Table: tbl.Name, Filter: rec.Unique},
				Fields: rec.Fields, Presets: presets,
			})
		}
	}
	return b
}

// ParseDefaultData reads Enfyra's default-data.json, the rows a new tenant starts with:
// tables and their records (a list, or one record), without directives. It is read as a
// data migration whose records are found by their own plain values (strings, numbers,
// booleans), so applying it again finds the rows it made instead of doubling them.
func ParseDefaultData(body []byte, limit int) (*DataMigration, error) {
	names, raws, err := orderedObject(body)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, name := range names {
		if strings.HasPrefix(name, "_") {
			return nil, apierr.InvalidPayload(name, "%s: default data has tables only (directives belong in data-migration.json)", name)
		}
		var list []map[string]any
		raw := bytes.TrimSpace(raws[i])
		if len(raw) > 0 && raw[0] == '{' {
			raw = append(append([]byte("["), raw...), ']')
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&list); err != nil {
			return nil, apierr.InvalidPayload(name, "%s: must be a record or a list of records", name)
		}
		for j, rec := range list {
			if _, ok := rec["_unique"]; ok {
				continue
			}
			if _, ok := rec["id"]; ok {
				continue
			}
			var keys []any
			for k, v := range rec {
				switch v.(type) {
				case string, json.Number, bool:
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				return nil, apierr.InvalidPayload(fmt.Sprintf("%s[%d]", name, j), "%s[%d]: a default record needs a plain value (text, number, boolean) to be found by", name, j)
			}
			slices.SortFunc(keys, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
			rec["_unique"] = keys
		}
		if i > 0 {
			buf.WriteString(",")
		}
		key, _ := json.Marshal(name)
		val, _ := json.Marshal(list)
		buf.Write(key)
		buf.WriteString(":")
		buf.Write(val)
	}
	buf.WriteString("}")
	return ParseDataMigration(buf.Bytes(), limit)
}
