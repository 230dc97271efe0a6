package main

import (
	"fmt"
	"io"
	"regexp"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/rest"
	"strata/modules/storage"
)

// openStorage opens the configured storage locations.
func openStorage(cfg Config) (*storage.Locations, error) {
	locations := &storage.Locations{}
	for _, name := range cfg.StorageLocations {
		switch name {
		case "local":
			l, err := storage.NewLocal(cfg.StorageLocalRoot)
			if err != nil {
				return nil, err
			}
			locations.Add(name, l)
		case "s3":
			s3, err := storage.NewS3(cfg.S3)
			if err != nil {
				return nil, err
			}
			locations.Add(name, s3)
		default:
			return nil, fmt.Errorf("storage location %q is not known", name)
		}
	}
	return locations, nil
}

// uploadRoutes read their bodies as streams, bounded by the files' own limits.
var uploadRoutes = regexp.MustCompile(`^/api/t/[^/]+/files(/[0-9a-fA-F-]{36}|/tus/[0-9a-fA-F-]{36})?$`)

// importRoutes read their bodies as streams, bounded by the import's own limits; the
// handler reads the body to its end or closes the connection (its answer may stream
// while it still reads).
var importRoutes = regexp.MustCompile(`^/api/t/[^/]+/utils/import/[^/]+$`)

// boundBody holds every request but uploads to the body limit. The server streams
// bodies larger than the limit instead of refusing them (uploads need that); here a
// body that is streamed is read up to the limit, and refused past it with 413, before
// any handler sees it.
func boundBody(limit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := c.Request()
		if !req.IsBodyStream() {
			return c.Next()
		}
		if c.Method() == fiber.MethodPost && importRoutes.MatchString(c.Path()) {
			return c.Next()
		}
		if (c.Method() == fiber.MethodPost || c.Method() == fiber.MethodPatch) && uploadRoutes.MatchString(c.Path()) {
			err := c.Next()
			// An upload's handler may stop reading at the form's closing boundary, before
			// the end of a chunked body ("0\r\n\r\n"): what it left would be read as the
			// next request on this connection. Read what little is left; past that (an
			// upload refused early), close the connection instead.
			if stream := c.Context().RequestBodyStream(); req.IsBodyStream() && stream != nil {
				if n, rerr := io.Copy(io.Discard, io.LimitReader(stream, 64<<10)); rerr != nil || n >= 64<<10 {
					c.Context().SetConnectionClose()
				}
			}
			return err
		}
		// A body of a known length within the limit is already read whole: only one
		// past it, or of unknown length (chunked), is left to read here.
		n := req.Header.ContentLength()
		if n >= 0 && n <= limit {
			return c.Next()
		}
		if n > limit {
			c.Context().SetConnectionClose()
			return rest.BodyTooLarge()
		}
		body, err := io.ReadAll(io.LimitReader(c.Context().RequestBodyStream(), int64(limit)+1))
		if err != nil {
			c.Context().SetConnectionClose()
			return apierr.InvalidPayload("body", "could not read the request body: %v", err)
		}
		if len(body) > limit {
			c.Context().SetConnectionClose()
			return rest.BodyTooLarge()
		}
		req.SetBody(body)
		return c.Next()
	}
}
