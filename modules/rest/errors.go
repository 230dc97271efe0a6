package rest

import (
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
)

// ErrorHandler is Fiber's error handler: every error leaves through here. Unknown errors
// become 500 INTERNAL without their text, which may hold SQL or paths.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var e *apierr.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &e):
		case errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge:
			// 413, as for files: a client must not retry the same body.
			e = BodyTooLarge()
		case errors.As(err, &fe):
			code := "INVALID_PAYLOAD"
			switch fe.Code {
			case fiber.StatusNotFound, fiber.StatusMethodNotAllowed:
				code = "ROUTE_NOT_FOUND"
			case fiber.StatusTooManyRequests:
				code = "REQUESTS_EXCEEDED"
			}
			if fe.Code >= 500 {
				code = "INTERNAL"
			}
			e = apierr.New(fe.Code, code, "%s", fe.Message)
		default:
			log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err)
			e = apierr.New(fiber.StatusInternalServerError, "INTERNAL", "an internal error occurred")
		}
		if e.Status == fiber.StatusServiceUnavailable && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
			c.Set(fiber.HeaderRetryAfter, "1") // a 503 always says when to come back
		}
		return c.Status(e.Status).JSON(apierr.Body(e))
	}
}

// BodyTooLarge refuses a request body over the server's limit: 413, as for files, so a
// client does not retry the same body.
func BodyTooLarge() *apierr.Error {
	return apierr.New(fiber.StatusRequestEntityTooLarge, "CONTENT_TOO_LARGE", "the request body is larger than the limit of this server (STRATA_BODY_LIMIT)").With("field", "body")
}
