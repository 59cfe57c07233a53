package rbac

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrUserNotFound is what Directory.User wraps for a user that does not
// exist (deleted).
var ErrUserNotFound = errors.New("rbac: user not found")

// ErrUnresolved is wrapped by resolution failures: the user has no Entra
// object id that adfscim can find.
var ErrUnresolved = errors.New("rbac: principal not resolvable")

// Lookup finds a user's object id by userName in an outside directory
// (graph.Client, in Microsoft Graph). It returns an error wrapping
// ErrUnresolved when that directory has no such user; any other error (the
// directory unreachable, or refusing the service) is not the user's.
type Lookup interface {
	Lookup(ctx context.Context, userName string) (string, error)
}

// Resolver finds a user's Entra object id: the externalId when it is a GUID,
// else the configured extension attribute when it is a GUID, else (when a
// Lookup is configured) a lookup by userName.
type Resolver struct {
	// Attribute is the full name of the extension attribute holding the
	// object id; empty to skip.
	Attribute string
	// Lookup, when non-nil, is asked last.
	Lookup Lookup
}

// Resolve returns the lower-case object id of u, or an error wrapping
// ErrUnresolved saying why not.
func (r Resolver) Resolve(ctx context.Context, u User) (string, error) {
	if IsGUID(u.ExternalID) {
		return strings.ToLower(u.ExternalID), nil
	}
	if r.Attribute != "" {
		if v := u.Attributes[r.Attribute]; IsGUID(v) {
			return strings.ToLower(v), nil
		}
	}
	if r.Lookup == nil {
		return "", fmt.Errorf("%w: externalId %q is not an object id and no other source is configured", ErrUnresolved, u.ExternalID)
	}
	return r.Lookup.Lookup(ctx, u.UserName)
}
