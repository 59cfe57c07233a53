package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
)

// FromDirectory reads the SCIM state the reconciler needs from the
// directory service, including its reverse membership index (UserGroups):
// of groups and users, the attributes AccessRefs watches (access.go).
func FromDirectory(d *directory.Service) Directory { return scimDirectory{d} }

type scimDirectory struct{ d *directory.Service }

var (
	_ Directory    = scimDirectory{}
	_ UserGroups   = scimDirectory{}
	_ GrantHolders = scimDirectory{}
)

func (s scimDirectory) Groups(ctx context.Context, fn func(Group) error) error {
	return s.d.EachGroup(ctx, func(r *directory.Resource) error {
		attrs, err := r.Attrs()
		if err != nil {
			return err
		}
		name, _ := attrs[attrDisplayName].(string)
		ext, _ := attrs[attrExternalID].(string)
		return fn(Group{ID: r.ID, DisplayName: name, ExternalID: ext})
	})
}

func (s scimDirectory) Members(ctx context.Context, groupID string, fn func(userID string) error) error {
	err := s.d.EachMember(ctx, groupID, func(m scim.Member) error { return fn(m.Value) })
	if scim.IsNotFound(err) {
		return nil // a missing group has no members
	}
	return err
}

func (s scimDirectory) UserGroups(ctx context.Context, userID string, fn func(groupID string) error) error {
	r, err := s.d.Get(ctx, "User", userID, directory.GetOptions{WithRelations: true})
	if scim.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, gid := range r.Groups {
		if err := fn(gid); err != nil {
			return err
		}
	}
	return nil
}

func (s scimDirectory) User(ctx context.Context, id string) (User, error) {
	r, err := s.d.Get(ctx, "User", id, directory.GetOptions{})
	if scim.IsNotFound(err) {
		return User{}, fmt.Errorf("%w: %s", ErrUserNotFound, id)
	}
	if err != nil {
		return User{}, err
	}
	attrs, err := r.Attrs()
	if err != nil {
		return User{}, err
	}
	return userOf(id, attrs), nil
}

// GrantHolders calls fn for every user holding a direct grant.
func (s scimDirectory) GrantHolders(ctx context.Context, fn func(User) error) error {
	return s.d.EachUser(ctx, func(r *directory.Resource) error {
		attrs, err := r.Attrs()
		if err != nil {
			return err
		}
		if u := userOf(r.ID, attrs); len(u.Grants) > 0 {
			return fn(u)
		}
		return nil
	})
}

// userOf is what the reconciler reads of a user's stored attributes.
func userOf(id string, attrs map[string]any) User {
	u := User{ID: id, Attributes: map[string]string{}, Grants: UserGrants(attrs)}
	u.UserName, _ = attrs[attrUserName].(string)
	u.ExternalID, _ = attrs[attrExternalID].(string)
	// A user without "active" is active (RFC 7643 leaves it to the
	// provider; IdPs always send it).
	u.Active = true
	if a, ok := attrs[attrActive].(bool); ok {
		u.Active = a
	}
	// Extension attributes by full name, for Resolver.Attribute.
	for key, v := range attrs {
		obj, ok := v.(map[string]any)
		if !ok || !strings.HasPrefix(strings.ToLower(key), "urn:") {
			continue
		}
		for name, x := range obj {
			switch t := x.(type) {
			case string:
				u.Attributes[key+":"+name] = t
			case json.Number:
				u.Attributes[key+":"+name] = t.String()
			case map[string]any: // e.g. manager.value
				if s, ok := t["value"].(string); ok {
					u.Attributes[key+":"+name+".value"] = s
				}
			}
		}
	}
	return u
}
