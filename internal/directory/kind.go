package directory

import (
	"errors"
	"fmt"

	"github.com/adfscim/adfscim/internal/scim"
)

// Kind names a resource type the directory stores: User or Group. Anything
// else is refused with ErrUnknownKind, never taken for a user.
type Kind string

// The kinds of resources.
const (
	User  Kind = "User"
	Group Kind = "Group"
)

// Action names what a write did to a resource.
type Action string

// The actions of a Change.
const (
	ActionCreate  Action = "create"
	ActionReplace Action = "replace"
	ActionPatch   Action = "patch"
	ActionDelete  Action = "delete"
)

// ErrUnknownKind is returned for a resource kind the directory does not
// store: a caller's mistake, not a client's.
var ErrUnknownKind = errors.New("directory: unknown resource kind")

// kindOf returns where resources of typ live and their resource type.
func (s *Service) kindOf(typ Kind) (kind, *scim.ResourceType, error) {
	switch typ {
	case User:
		return userKind, s.users, nil
	case Group:
		return groupKind, s.groups, nil
	}
	return kind{}, nil, fmt.Errorf("%w %q", ErrUnknownKind, string(typ))
}
