package main

import (
	"io/fs"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"

	"strata/frontend"
)

// mountUI serves the browser UI embedded in the binary: index.html at /, its built
// files under /ui/ (their names carry a content hash, so they may be cached for good),
// and the types of a function's ctx at a fixed address, /strata.d.ts.
func mountUI(app *fiber.App) {
	app.Get("/strata.d.ts", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
		return c.Send(frontend.FunctionTypes)
	})
	index, _ := frontend.Dist.ReadFile("dist/index.html")
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Type("html").Send(index)
	})
	app.Get("/ui/*", func(c *fiber.Ctx) error {
		name := path.Clean("dist/ui/" + c.Params("*"))
		b, err := fs.ReadFile(frontend.Dist, name)
		if err != nil || path.Dir(name) != "dist/ui" {
			return fiber.ErrNotFound
		}
		if path.Ext(name) == ".ts" { // the system's MIME table may call it anything
			c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
		} else if t := mime.TypeByExtension(path.Ext(name)); t != "" {
			c.Set(fiber.HeaderContentType, t)
		}
		c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		return c.Send(b)
	})
}
