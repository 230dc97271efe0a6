// Package apierr is the one error type of the HTTP API and its rendering into the
// contract's envelope: {"errors":[{"message":…,"extensions":{"code":…,…}}]}.
// Errors are created close to their cause and rendered in one place (Handler).
package apierr

import (
	"fmt"
	"maps"
	"net/http"
)

// Error is an API error with its HTTP status, contract code and details.
type Error struct {
	Status  int
	Code    string
	Message string
	Details map[string]any
	// DetailsBeside also renders the code and details beside "errors", where Enfyra's
	// clients read a confirm challenge (docs/decisions/0026).
	DetailsBeside bool
	// More are further errors of the same answer (an import's other bad rows), rendered
	// after this one in "errors".
	More []*Error
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

// WithDetailsBeside marks the error to be rendered with its code and details beside
// "errors" too, where Enfyra's clients look for them.
func (e *Error) WithDetailsBeside() *Error {
	e.DetailsBeside = true
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

// Body renders the envelope for one error. An error marked DetailsBeside adds "code" and
// "details" (the extensions without the code) at the top: Directus clients read
// "errors", Enfyra's read "code" and "details", and each ignores the other's keys.
func Body(e *Error) map[string]any {
	list := make([]map[string]any, 0, 1+len(e.More))
	for _, x := range append([]*Error{e}, e.More...) {
		ext := map[string]any{"code": x.Code}
		maps.Copy(ext, x.Details)
		list = append(list, map[string]any{"message": x.Message, "extensions": ext})
	}
	body := map[string]any{"errors": list}
	if e.DetailsBeside {
		details := map[string]any{}
		maps.Copy(details, e.Details)
		body["code"], body["details"] = e.Code, details
	}
	return body
}
