package rest

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/identity"
)

// entitySources reads the files of an entities apply: the body, or each file of a
// multipart body.
func entitySources(c *fiber.Ctx, encoding string) ([]formats.EntitySource, error) {
	if encoding != bodyMultipart {
		return []formats.EntitySource{{Name: "body", Body: c.Body(), JSON: encoding == bodyJSON}}, nil
	}
	form, err := c.MultipartForm()
	if err != nil {
		return nil, apierr.InvalidPayload("body", "invalid multipart body: %v", err)
	}
	if len(form.Value) > 0 {
		return nil, apierr.InvalidPayload("body", "send entities files as file parts only")
	}
	var out []formats.EntitySource
	keys := make([]string, 0, len(form.File))
	for k := range form.File {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, fh := range form.File[k] {
			f, err := fh.Open()
			if err != nil {
				return nil, fmt.Errorf("open part %s: %w", fh.Filename, err)
			}
			body, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("read part %s: %w", fh.Filename, err)
			}
			name := fh.Filename
			if name == "" {
				name = k
			}
			isJSON := strings.EqualFold(path.Ext(name), ".json") || strings.Contains(fh.Header.Get(fiber.HeaderContentType), "json")
			out = append(out, formats.EntitySource{Name: name, Body: body, JSON: isJSON})
		}
	}
	if len(out) == 0 {
		return nil, apierr.InvalidPayload("body", "the multipart body holds no files")
	}
	return out, nil
}

// applyEntities applies entities files: merged and checked for conflicts, planned as
// the snapshot they describe, run by runPlan; permissions (acl) are set after the
// schema changes, as POST /tables does.
func (a *API) applyEntities(c *fiber.Ctx, sources []formats.EntitySource) error {
	defs, err := formats.ParseEntities(sources)
	if err != nil {
		return err
	}
	m, err := a.model(c)
	if err != nil {
		return err
	}
	want, origin := formats.EntitiesSnapshot(m, defs)
	steps, err := formats.PlanFrom(m, want, origin)
	if err != nil {
		return err
	}
	type grantSet struct {
		table  string
		raw    json.RawMessage
		grants []identity.Grant
	}
	var grants []grantSet
	summary := make([]fiber.Map, 0, len(defs))
	for _, d := range defs {
		s := fiber.Map{"name": d.Table.Name, "checksum": d.Checksum, "sources": d.Sources}
		if d.ACL != nil {
			raw := formats.MustJSON(d.ACL)
			g, err := a.parseACL(c, raw)
			if err != nil {
				if ae, ok := err.(*apierr.Error); ok {
					ae.Message = d.Sources[0] + ".acl: " + ae.Message
					return ae.With("field", d.Sources[0]+".acl")
				}
				return err
			}
			grants = append(grants, grantSet{d.Table.Name, raw, g})
			s["acl"] = d.ACL
		}
		summary = append(summary, s)
	}
	then := func() error {
		for _, g := range grants {
			if err := a.applyACL(c, g.table, g.raw, g.grants); err != nil {
				return err
			}
		}
		return nil
	}
	return a.runPlan(c, m, formatEntities, steps, fiber.Map{"entities": summary}, then)
}
