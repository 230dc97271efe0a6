// Package apierr is the one error type of the HTTP API and its rendering into the
// contract's envelope: {"errors":[{"message":…,"extensions":{"code":…,…}}]}.
// Errors are created close to their cause and rendered in one place (Handler).
package apierr

import (
	"fmt"
	"net/http"
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
	return New(http.StatusBadRequest, "INVALID_PAYLOAD", format, args...).With("field", field)
}

// InvalidQuery reports a bad query parameter.
func InvalidQuery(param, format string, args ...any) *Error {
	return New(http.StatusBadRequest, "INVALID_QUERY", format, args...).With("parameter", param)
}

// NotFound reports a missing route or record.
func NotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, "ROUTE_NOT_FOUND", format, args...)
}

// Forbidden reports a lack of permission.
func Forbidden(format string, args ...any) *Error {
	return New(http.StatusForbidden, "FORBIDDEN", format, args...)
}

// Unauthorized reports missing or bad credentials.
func Unauthorized(code, format string, args ...any) *Error {
	return New(http.StatusUnauthorized, code, format, args...)
}

// Body renders the envelope for one error.
func Body(e *Error) map[string]any {
	ext := map[string]any{"code": e.Code}
	for k, v := range e.Details {
		ext[k] = v
	}
	return map[string]any{"errors": []map[string]any{{"message": e.Message, "extensions": ext}}}
}
