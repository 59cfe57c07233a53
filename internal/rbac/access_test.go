package rbac_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/directory"
	. "github.com/adfscim/adfscim/internal/rbac"
)

// TestAccessRefs pins the one decision of which writes reach the queue.
func TestAccessRefs(t *testing.T) {
	const attr = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
	const ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	tests := []struct {
		name string
		attr string // Resolver.Attribute
		ch   directory.Change
		want []Ref
	}{
		{"new user: in no group yet", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionCreate, Changed: []string{"active", "userName"}}, nil},
		{"user deactivated", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{"active"}}, []Ref{UserRef("u")}},
		{"user renamed", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionReplace, Changed: []string{"userName"}}, []Ref{UserRef("u")}},
		{"user externalId", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{"externalId"}}, []Ref{UserRef("u")}},
		{"user's display name", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{"displayName", "emails"}}, nil},
		{"user rewritten unchanged", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionReplace}, nil},
		{"user deleted", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionDelete, UsersAffected: []string{"u"}}, []Ref{UserRef("u")}},
		{"new group with a member", "", directory.Change{Type: directory.Group, ID: "g", Action: directory.ActionCreate, Changed: []string{"displayName", "members"}, UsersAffected: []string{"u"}}, []Ref{GroupRef("g"), UserRef("u")}},
		{"group renamed", "", directory.Change{Type: directory.Group, ID: "g", Action: directory.ActionPatch, Changed: []string{"displayName"}}, []Ref{GroupRef("g")}},
		{"group members changed", "", directory.Change{Type: directory.Group, ID: "g", Action: directory.ActionPatch, Changed: []string{"members"}, UsersAffected: []string{"u", "v"}}, []Ref{UserRef("u"), UserRef("v")}},
		{"group's other attribute", "", directory.Change{Type: directory.Group, ID: "g", Action: directory.ActionReplace, Changed: []string{"urn:example:costCentre"}}, nil},
		{"user's object id attribute", attr, directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{ext}}, []Ref{UserRef("u")}},
		{"user's object id attribute, sent in other case", attr, directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{strings.ToLower(ext)}}, []Ref{UserRef("u")}},
		{"user's extension, no attribute configured", "", directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{ext}}, nil},
		{"user's other extension", attr, directory.Change{Type: directory.User, ID: "u", Action: directory.ActionPatch, Changed: []string{"urn:example:costCentre"}}, nil},
		{"new user with the attribute", attr, directory.Change{Type: directory.User, ID: "u", Action: directory.ActionCreate, Changed: []string{ext, "userName"}}, nil},
		{"group deleted", "", directory.Change{Type: directory.Group, ID: "g", Action: directory.ActionDelete, UsersAffected: []string{"u"}}, []Ref{GroupRef("g"), UserRef("u")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ReconcilerWith(Options{Resolver: Resolver{Attribute: tc.attr}})
			if got := r.AccessRefs(&tc.ch); !slices.Equal(got, tc.want) {
				t.Errorf("AccessRefs = %v, want %v", got, tc.want)
			}
		})
	}
}
