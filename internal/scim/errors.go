package scim

import (
	"errors"
	"fmt"
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

// Code says what kind of failure an Error is, in the protocol's own terms
// (RFC 7644 §3.12 lists them with their HTTP statuses). The packages below
// the HTTP layer speak only of codes; handlers alone turns a code into a
// status, so that the directory, the audit trail and rbac need no net/http.
type Code uint8

// Codes of Error. The zero Code is CodeInternal.
const (
	CodeInternal         Code = iota // a fault of the service, never the client's
	CodeInvalid                      // the request breaks the protocol or a schema rule (scimType says how)
	CodeUnauthorized                 // no valid credentials
	CodeForbidden                    // credentials without the right to do this
	CodeNotFound                     // no such resource or endpoint
	CodeMethodNotAllowed             // the endpoint does not serve the method
	CodeNotAcceptable                // the client accepts no representation offered
	CodeConflict                     // a uniqueness rule, or a write that cannot win its race
	CodePrecondition                 // the resource is not at the version the client named
	CodeTooLarge                     // the request body is too large
	CodeUnsupportedMedia             // the request body is of a type not served
	CodeTooManyRequests              // the client must slow down
	CodeNotImplemented               // a protocol feature the service does not offer
	CodeUnavailable                  // a dependency is down; retry later
)

var codeNames = [...]string{
	CodeInternal: "internal", CodeInvalid: "invalid", CodeUnauthorized: "unauthorized", CodeForbidden: "forbidden",
	CodeNotFound: "not found", CodeMethodNotAllowed: "method not allowed", CodeNotAcceptable: "not acceptable",
	CodeConflict: "conflict", CodePrecondition: "precondition failed", CodeTooLarge: "too large",
	CodeUnsupportedMedia: "unsupported media type", CodeTooManyRequests: "too many requests",
	CodeNotImplemented: "not implemented", CodeUnavailable: "unavailable",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "code " + strconv.Itoa(int(c))
}

// Error is a SCIM protocol error (RFC 7644 §3.12). It is the one error type
// the HTTP layer turns into a response body; anything else becomes a 500.
type Error struct {
	Code     Code   // what kind of failure (the HTTP layer maps it to a status)
	ScimType string // optional scimType keyword
	Detail   string // human-readable explanation
	Err      error  // optional cause, never shown to clients
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return fmt.Sprintf("scim %s %s: %s", e.Code, e.ScimType, e.Detail)
	}
	return fmt.Sprintf("scim %s: %s", e.Code, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrorBody is the wire form of an Error.
type ErrorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// Errorf builds an Error with a formatted detail.
func Errorf(code Code, scimType, format string, args ...any) *Error {
	return &Error{Code: code, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest builds a CodeInvalid error (400) with the given scimType.
func BadRequest(scimType, format string, args ...any) *Error {
	return Errorf(CodeInvalid, scimType, format, args...)
}

// NotFound builds a CodeNotFound error (404).
func NotFound(format string, args ...any) *Error {
	return Errorf(CodeNotFound, "", format, args...)
}

// Conflict builds a CodeConflict uniqueness error (409).
func Conflict(format string, args ...any) *Error {
	return Errorf(CodeConflict, ErrUniqueness, format, args...)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var se *Error
	ok := errors.As(err, &se)
	return se, ok
}

// IsNotFound reports whether err is a CodeNotFound Error.
func IsNotFound(err error) bool {
	se, ok := AsError(err)
	return ok && se.Code == CodeNotFound
}
