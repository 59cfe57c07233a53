package scim

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// scimType values of RFC 7644 §3.12, and those of RFC 9865 for cursors.
const (
	ErrInvalidFilter = "invalidFilter"
	ErrTooMany       = "tooMany"
	ErrUniqueness    = "uniqueness"
	ErrMutability    = "mutability"
	ErrInvalidSyntax = "invalidSyntax"
	ErrInvalidPath   = "invalidPath"
	ErrNoTarget      = "noTarget"
	ErrInvalidValue  = "invalidValue"
	ErrInvalidVers   = "invalidVers"
	ErrSensitive     = "sensitive"
	ErrInvalidCursor = "invalidCursor"
	ErrExpiredCursor = "expiredCursor"
	ErrInvalidCount  = "invalidCount"
)

// Error is a SCIM protocol error (RFC 7644 §3.12). It is the one error type
// the HTTP layer turns into a response body; anything else becomes a 500.
type Error struct {
	Status   int    // HTTP status code
	ScimType string // optional scimType keyword
	Detail   string // human-readable explanation
	Err      error  // optional cause, never shown to clients
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %d %s: %s", e.Status, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %d: %s", e.Status, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Body is the JSON document of the error response.
func (e *Error) Body() ErrorBody {
	return ErrorBody{Schemas: []string{SchemaError}, Status: strconv.Itoa(e.Status), ScimType: e.ScimType, Detail: e.Detail}
}

// ErrorBody is the wire form of an Error.
type ErrorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// Errorf builds an Error with a formatted detail.
func Errorf(status int, scimType, format string, args ...any) *Error {
	return &Error{Status: status, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest builds a 400 with the given scimType.
func BadRequest(scimType, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, scimType, format, args...)
}

// NotFound builds a 404.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "", format, args...)
}

// Conflict builds a 409 uniqueness error.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, ErrUniqueness, format, args...)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var se *Error
	ok := errors.As(err, &se)
	return se, ok
}

// IsNotFound reports whether err is a SCIM 404.
func IsNotFound(err error) bool {
	se, ok := AsError(err)
	return ok && se.Status == http.StatusNotFound
}
