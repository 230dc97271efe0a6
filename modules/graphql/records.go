package graphql

import (
	"bytes"
	"context"
	"encoding/json"

	"strata/modules/apierr"
	"strata/modules/query"
	"strata/modules/records"
	"strata/schema"
)

// RecordsBackend runs a request's reads and writes through the records service, for
// the scope's caller: the same query parser, permission checks, write guards,
// transactions, hooks and publishing as REST.
type RecordsBackend struct {
	Records *records.Service
	Scope   *records.Scope
	// MaxBatch bounds the rows of one mutation.
	MaxBatch int
	// Translate maps service errors onto the contract's codes (the HTTP layer's).
	Translate func(error) error
}

func (b *RecordsBackend) table(name string) (*schema.Table, error) {
	t := b.Scope.Model.Table(name)
	if t == nil || !exposed(t) {
		return nil, apierr.NotFound("table %q not found", name)
	}
	return t, nil
}

func (b *RecordsBackend) List(ctx context.Context, table string, p query.Params) ([]map[string]any, error) {
	t, err := b.table(table)
	if err != nil {
		return nil, err
	}
	res, err := b.Records.List(ctx, b.Scope, t, p)
	if err != nil {
		return nil, b.Translate(err)
	}
	return res.Data, nil
}

// exact re-reads GraphQL's argument values the way REST reads a JSON body (numbers
// exact), so both write through the same value checks.
func exact(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, apierr.InvalidPayload("data", "cannot encode: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, apierr.InvalidPayload("data", "cannot decode: %v", err)
	}
	return out, nil
}

func (b *RecordsBackend) Create(ctx context.Context, table string, rows []map[string]any) ([]string, error) {
	t, err := b.table(table)
	if err != nil {
		return nil, err
	}
	if len(rows) > b.MaxBatch {
		return nil, apierr.InvalidPayload("data", "at most %d items per request", b.MaxBatch)
	}
	objects := make([]map[string]any, len(rows))
	for i, r := range rows {
		if objects[i], err = exact(r); err != nil {
			return nil, err
		}
	}
	ids, err := b.Records.Create(ctx, b.Scope, t, objects)
	return ids, b.Translate(err)
}

func (b *RecordsBackend) Update(ctx context.Context, table string, ids []string, data map[string]any) error {
	t, err := b.table(table)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > b.MaxBatch {
		return apierr.InvalidPayload("ids", "between 1 and %d ids", b.MaxBatch)
	}
	body, err := exact(data)
	if err != nil {
		return err
	}
	return b.Translate(b.Records.Update(ctx, b.Scope, t, []records.Change{{IDs: ids, Data: body}}, ids, len(ids) == 1))
}

func (b *RecordsBackend) Delete(ctx context.Context, table string, ids []string) error {
	t, err := b.table(table)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > b.MaxBatch {
		return apierr.InvalidPayload("ids", "between 1 and %d ids", b.MaxBatch)
	}
	for _, id := range ids {
		if !schema.IsUUID(id) {
			if len(ids) == 1 {
				return apierr.NotFound("item %q not found in %s", id, t.Name)
			}
			return apierr.InvalidPayload("ids", "%q is not a UUID", id)
		}
	}
	return b.Translate(b.Records.Delete(ctx, b.Scope, t, ids, len(ids) == 1))
}
