package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"

	json "github.com/goccy/go-json"

	"strata/modules/apierr"
	"strata/modules/files"
	"strata/modules/records"
	"strata/schema"
)

// MaxFileRead bounds the bytes ctx.files.text/base64 hand a function, and
// MaxFileWrite those ctx.files.upload takes (the run's output limit bounds both too).
const (
	MaxFileRead  = 4 << 20
	MaxFileWrite = 8 << 20
)

type filesCall struct {
	Op       string          `json:"op"`
	ID       string          `json:"id"`
	Query    map[string]any  `json:"query"`
	Filename string          `json:"filename"`
	Content  string          `json:"content"`
	Encoding string          `json:"encoding"`
	Fields   json.RawMessage `json:"fields"`
}

// files is ctx.files: the tenant's files through the files service, as the run's
// scope, so the strata_files rules decide as they do for any caller.
func (s *Service) files(ctx context.Context, sc *records.Scope, raw json.RawMessage) (any, error) {
	if s.Files == nil {
		return nil, apierr.NotFound("files are not served by this node")
	}
	var c filesCall
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, apierr.InvalidPayload("files", "%v", err)
	}
	switch c.Op {
	case "readMany", "readOne":
		return s.itemsOp(ctx, sc, itemsCall{Table: schema.FilesTable, Op: c.Op, ID: c.ID, Query: c.Query})
	case "text", "base64":
		if sc.Tx != nil {
			return nil, apierr.InvalidPayload("files", "a before hook cannot read files' bytes: do it from an after hook")
		}
		if !schema.IsUUID(c.ID) {
			return nil, apierr.NotFound("file %q not found", c.ID)
		}
		a, err := s.Files.Asset(ctx, sc, c.ID, files.Transform{}, "")
		if err != nil {
			return nil, err
		}
		if a.Size > MaxFileRead {
			return nil, apierr.InvalidPayload("id", "the file is %d bytes; functions read files of at most %d", a.Size, MaxFileRead)
		}
		body, err := s.Files.Open(ctx, a, 0, a.Size)
		if err != nil {
			return nil, err
		}
		defer body.Close()
		b, err := io.ReadAll(io.LimitReader(body, MaxFileRead+1))
		if err != nil {
			return nil, fmt.Errorf("read file %s: %w", c.ID, err)
		}
		if c.Op == "base64" {
			return base64.StdEncoding.EncodeToString(b), nil
		}
		return string(b), nil
	case "upload":
		if sc.Tx != nil {
			return nil, apierr.InvalidPayload("files", "a before hook cannot store files: do it from an after hook")
		}
		data := []byte(c.Content)
		if c.Encoding == "base64" {
			var err error
			if data, err = base64.StdEncoding.DecodeString(c.Content); err != nil {
				return nil, apierr.InvalidPayload("content", "not base64: %v", err)
			}
		}
		if len(data) > MaxFileWrite {
			return nil, apierr.InvalidPayload("content", "functions store files of at most %d bytes", MaxFileWrite)
		}
		fields := map[string]any{}
		if len(c.Fields) > 0 {
			dec := json.NewDecoder(bytes.NewReader(c.Fields))
			dec.UseNumber()
			if err := dec.Decode(&fields); err != nil || fields == nil {
				return nil, apierr.InvalidPayload("fields", "expected an object")
			}
		}
		id, err := s.Files.Create(ctx, sc, files.Upload{Fields: fields, Filename: c.Filename, Body: bytes.NewReader(data)})
		if err != nil {
			return nil, err
		}
		row, err := s.itemsOp(ctx, sc, itemsCall{Table: schema.FilesTable, Op: "readOne", ID: id})
		if err != nil {
			return map[string]any{"id": id}, nil // stored, but not readable as this scope
		}
		return row, nil
	case "deleteOne":
		if sc.Tx != nil {
			return nil, apierr.InvalidPayload("files", "a before hook cannot delete files: do it from an after hook")
		}
		return nil, s.Files.Delete(ctx, sc, []string{c.ID}, true)
	}
	return nil, apierr.InvalidPayload("op", "no operation %q", c.Op)
}
