package rest

import (
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/formats"
)

// The input formats of POST /schema/apply, named after the Enfyra files they follow.
const (
	formatSnapshot          = "snapshot"           // snapshot.json: the whole user schema
	formatSnapshotMigration = "snapshot-migration" // snapshot-migration.json: renames and removals
	formatDataMigration     = "data-migration"     // data-migration.json: rows upserted and deleted
	formatEntities          = "entities"           // entities files (YAML or JSON), one or several
	// formatEnfyra is Enfyra's own snapshot.json (a snapshot body in its shape is read
	// as one without being named).
	formatEnfyra = "enfyra"
)

// How a body is encoded, from its Content-Type.
const (
	bodyJSON      = "json"
	bodyYAML      = "yaml"
	bodyMultipart = "multipart"
)

// applyFormat works out the format of an apply and how its body is encoded: ?format=
// when given; otherwise a YAML or multipart body is entities files and anything else a
// snapshot. The formats that are JSON files refuse a YAML body rather than guess.
func applyFormat(c *fiber.Ctx) (format, encoding string, err error) {
	encoding = bodyJSON
	if mt, _, perr := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); perr == nil {
		switch mt {
		case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
			encoding = bodyYAML
		case "multipart/form-data":
			encoding = bodyMultipart
		}
	}
	format = c.Query("format")
	switch format {
	case "":
		format = formatSnapshot
		if encoding != bodyJSON {
			format = formatEntities
		}
	case formatSnapshot, formatEnfyra, formatSnapshotMigration, formatDataMigration, formatEntities:
	default:
		return "", "", apierr.InvalidQuery("format", "unknown format %q: want %s", format,
			strings.Join([]string{formatSnapshot, formatEnfyra, formatSnapshotMigration, formatDataMigration, formatEntities}, ", "))
	}
	if format != formatEntities && encoding != bodyJSON {
		return "", "", apierr.New(fiber.StatusUnsupportedMediaType, "INVALID_PAYLOAD", "a %s file is JSON: send it as application/json (YAML and multipart bodies are entities files)", format).With("field", "body")
	}
	return format, encoding, nil
}

// applySnapshot is POST /schema/apply: one file of any of the formats, planned against
// the tenant's model and applied through the one migration path (data through the
// items path); with dry_run=true, the plan and nothing applied.
func (a *API) applySnapshot(c *fiber.Ctx) error {
	format, encoding, err := applyFormat(c)
	if err != nil {
		return err
	}
	switch format {
	case formatSnapshot:
		if formats.IsEnfyraSnapshot(c.Body()) {
			return a.applyEnfyraSnapshot(c, c.Body())
		}
		return a.applySnapshotFile(c, c.Body())
	case formatEnfyra:
		return a.applyEnfyraSnapshot(c, c.Body())
	case formatSnapshotMigration:
		return a.applySnapshotMigration(c, c.Body())
	case formatDataMigration:
		return a.applyDataMigration(c, c.Body())
	}
	sources, err := entitySources(c, encoding)
	if err != nil {
		return err
	}
	return a.applyEntities(c, sources)
}
