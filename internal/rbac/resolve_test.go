package rbac_test

import (
	"context"
	"errors"
	"testing"

	. "github.com/adfscim/adfscim/internal/rbac"
)

// lookupFunc is a Lookup from a function.
type lookupFunc func(ctx context.Context, userName string) (string, error)

func (f lookupFunc) Lookup(ctx context.Context, userName string) (string, error) {
	return f(ctx, userName)
}

// TestResolver: the externalId, then the attribute, then the lookup, and
// the first object id found wins. (The Graph lookup itself is tested in
// package graph.)
func TestResolver(t *testing.T) {
	const attr = "urn:ietf:params:scim:schemas:extension:adfscim:2.0:User:objectId"
	var asked []string
	lookup := lookupFunc(func(_ context.Context, userName string) (string, error) {
		asked = append(asked, userName)
		if userName == "okta.user@example.com" {
			return pid(42), nil
		}
		return "", ErrUnresolved
	})
	withLookup := Resolver{Attribute: attr, Lookup: lookup}
	noLookup := Resolver{Attribute: attr}

	tests := []struct {
		name   string
		r      Resolver
		u      User
		want   string
		unres  bool
		looked bool
	}{
		{"externalId GUID", withLookup, User{ExternalID: "AAAAAAAA-0000-0000-0000-000000000001", UserName: "okta.user@example.com"}, "aaaaaaaa-0000-0000-0000-000000000001", false, false},
		{"extension attribute", withLookup, User{ExternalID: "00u1abcd", UserName: "okta.user@example.com", Attributes: map[string]string{attr: pid(7)}}, pid(7), false, false},
		{"attribute not a GUID, no lookup", noLookup, User{ExternalID: "00u1abcd", Attributes: map[string]string{attr: "nope"}}, "", true, false},
		{"lookup by userName", withLookup, User{ExternalID: "00u1abcd", UserName: "okta.user@example.com"}, pid(42), false, true},
		{"lookup finds nobody", withLookup, User{UserName: "ghost@example.com"}, "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			asked = nil
			got, err := tt.r.Resolve(context.Background(), tt.u)
			if (len(asked) > 0) != tt.looked {
				t.Errorf("lookup asked for %v; want asked: %v", asked, tt.looked)
			}
			if tt.unres {
				if !errors.Is(err, ErrUnresolved) {
					t.Fatalf("err = %v, want ErrUnresolved", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("principal = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
