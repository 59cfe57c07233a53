package rbac

import "fmt"

// APIError is a failure that ARM answered with an HTTP status: the ARM
// client wraps its errors in it so that the reconciler can tell throttling
// (429) or a refusal (403) from a network failure, and record the status,
// without knowing the SDK's error types.
type APIError struct {
	// Status is the HTTP status ARM answered.
	Status int
	// Code is ARM's error code ("RoleAssignmentExists", "TooManyRequests"),
	// when it gave one.
	Code string
	// Err is the client's error.
	Err error
}

func (e *APIError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("ARM answered %d %s", e.Status, e.Code)
	}
	return e.Err.Error()
}

func (e *APIError) Unwrap() error { return e.Err }
