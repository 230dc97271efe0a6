// Package apierr is the one error type of the HTTP API and its rendering into the
// contract's envelope: {"errors":[{"message":…,"extensions":{"code":…,…}}]}.
// Errors are created close to their cause and rendered in one place (Handler).
package apierr

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gofiber/fiber/v2"
)

// Error is an API error with its HTTP status, contract code and details.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New makes an error.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// With adds a detail to the error's extensions.
func (e *Error) With(key string, v any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = v
	return e
}

// Common constructors.
func InvalidPayload(field, format string, args ...any) *Error {
	return New(fiber.StatusBadRequest, "INVALID_PAYLOAD", format, args...).With("field", field)
}

// InvalidQuery reports a bad query parameter.
func InvalidQuery(param, format string, args ...any) *Error {
	return New(fiber.StatusBadRequest, "INVALID_QUERY", format, args...).With("parameter", param)
}

// NotFound reports a missing route or record.
func NotFound(format string, args ...any) *Error {
	return New(fiber.StatusNotFound, "ROUTE_NOT_FOUND", format, args...)
}

// Forbidden reports a lack of permission.
func Forbidden(format string, args ...any) *Error {
	return New(fiber.StatusForbidden, "FORBIDDEN", format, args...)
}

// Unauthorized reports missing or bad credentials.
func Unauthorized(code, format string, args ...any) *Error {
	return New(fiber.StatusUnauthorized, code, format, args...)
}

// Body renders the envelope for one error.
func Body(e *Error) fiber.Map {
	ext := fiber.Map{"code": e.Code}
	for k, v := range e.Details {
		ext[k] = v
	}
	return fiber.Map{"errors": []fiber.Map{{"message": e.Message, "extensions": ext}}}
}

// Handler is Fiber's error handler: every error leaves through here. Unknown errors
// become 500 INTERNAL without their text, which may hold SQL or paths.
func Handler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var e *Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &e):
		case errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge:
			// 413, as for files: a client must not retry the same body.
			e = New(fiber.StatusRequestEntityTooLarge, "CONTENT_TOO_LARGE", "the request body is larger than the limit of this server (STRATA_BODY_LIMIT)").With("field", "body")
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
			e = New(fe.Code, code, "%s", fe.Message)
		default:
			log.Error("internal error", "method", c.Method(), "path", c.Path(), "err", err)
			e = New(fiber.StatusInternalServerError, "INTERNAL", "an internal error occurred")
		}
		if e.Status == fiber.StatusServiceUnavailable && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
			c.Set(fiber.HeaderRetryAfter, "1") // a 503 always says when to come back
		}
		return c.Status(e.Status).JSON(Body(e))
	}
}
