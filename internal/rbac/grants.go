package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/internal/directory"
)

// This file holds direct grants: (factory, role) pairs the mapping allows an
// identity provider to grant one person through the User's core
// "entitlements" or "roles" attribute (Okta Identity Governance
// entitlements, Entra app role assignments), a second source of desired
// assignments next to group bindings.

// GrantFile declares in the mapping which roles may be granted directly on
// which factories: every role on every factory listed.
//
//	"grants": [{"factories": ["analytics"], "roles": ["Data Factory Contributor", "Reader"]}]
type GrantFile struct {
	Factories []string `json:"factories"`
	Roles     []string `json:"roles"`
}

// Grant is one (factory, role) pair a person may be granted directly.
type Grant struct {
	// ID is stable across restarts and instances: a UUIDv5 of the factory
	// resource id and the role definition guid (GrantID).
	ID string `json:"id"`
	// Factory is the factory's resource id, lower case.
	Factory string `json:"factory"`
	// RoleID is the role definition guid, lower case.
	RoleID string `json:"roleId"`
	// DisplayName is what a person reads: "adf-prod: Data Factory Contributor".
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
}

// grantNamespace is the UUIDv5 namespace of grant ids. Never change it:
// identity providers store the ids they were given.
var grantNamespace = uuid.MustParse("0b6e8f3c-2f6a-5c1d-9e47-7a3d2c1b0e5f")

// GrantID is the id of the grant of role (a role definition guid) on the
// factory with resource id factory.
func GrantID(factory, role string) string {
	return uuid.NewSHA1(grantNamespace, []byte(normScope(factory)+"|"+strings.ToLower(role))).String()
}

// roleDisplayNames name the roles a mapping may spell by name.
var roleDisplayNames = map[string]string{
	"673868aa-7521-48a0-acc6-0f60742d39f5": "Data Factory Contributor",
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
}

// roleDisplay names a resolved role for people: the built-in role's name,
// the operator role's, else what the mapping wrote.
func roleDisplay(written, guid string) string {
	if n, ok := roleDisplayNames[guid]; ok {
		return n
	}
	if operatorRoleKeys[roleKey(written)] {
		return DefaultOperatorRoleName
	}
	return strings.TrimSpace(written)
}

// factoryName is the last segment of a resource id, as written.
func factoryName(id string) string {
	id = strings.TrimSuffix(id, "/")
	return id[strings.LastIndex(id, "/")+1:]
}

// validateGrants resolves the mapping file's grants into m, reporting each
// problem through bad; factories collects the factory ids they use.
func (f MappingFile) validateGrants(o MappingOptions, m *Mapping, factories map[string]bool, bad func(string, ...any)) {
	m.grants = map[string]Grant{}
	for i, gf := range f.Grants {
		where := fmt.Sprintf("grant %d", i+1)
		if len(gf.Factories) == 0 {
			bad("%s: no factories", where)
		}
		if len(gf.Roles) == 0 {
			bad("%s: no roles", where)
		}
		var ids, names []string
		for _, ref := range gf.Factories {
			written, ok := f.Factories[ref]
			switch {
			case ok && factoryIDRe.MatchString(written):
			case ok:
				continue // alias with a bad id, already reported
			case factoryIDRe.MatchString(ref):
				written = ref
			default:
				bad("%s: factory %q is neither an alias nor a Data Factory resource id", where, ref)
				continue
			}
			ids, names = append(ids, strings.ToLower(written)), append(names, factoryName(written))
		}
		for _, r := range gf.Roles {
			role, err := o.resolveRole(r, ids)
			if err != nil {
				bad("%s: %v", where, err)
				continue
			}
			if role == "" {
				continue
			}
			for j, id := range ids {
				g := Grant{ID: GrantID(id, role), Factory: id, RoleID: role,
					DisplayName: names[j] + ": " + roleDisplay(r, role)}
				g.Description = roleDisplay(r, role) + " on the Data Factory " + names[j] + " (" + id + "), granted to one person directly"
				if _, dup := m.grants[g.ID]; dup {
					bad("%s: %s is granted twice", where, g.DisplayName)
					continue
				}
				m.grants[g.ID] = g
				m.Grants = append(m.Grants, g)
				m.roles[role] = true
				factories[id] = true
			}
		}
	}
	sort.Slice(m.Grants, func(i, j int) bool {
		if m.Grants[i].DisplayName != m.Grants[j].DisplayName {
			return m.Grants[i].DisplayName < m.Grants[j].DisplayName
		}
		return m.Grants[i].ID < m.Grants[j].ID
	})
}

// Grant returns the grant with the given id (case-insensitive).
func (m *Mapping) Grant(id string) (Grant, bool) {
	g, ok := m.grants[strings.ToLower(strings.TrimSpace(id))]
	return g, ok
}

// GrantAttributes are the core User attributes that carry direct grants:
// Okta sends "entitlements" (and "roles" for role resource types), Entra
// sends app role assignments as "roles".
var GrantAttributes = []string{"entitlements", "roles"}

// CheckGrants validates and canonicalises the direct grants a user's
// attributes carry, as stored after a create, replace or patch: every value
// of "entitlements" and "roles" must name a grant of the mapping, by its id
// (the Entra app role value adfscim approles prints is the id too). Entra's
// PATCH sends an app role assignment as a JSON string holding id, value and
// displayName; it is decoded. Each value is stored as {"value": id,
// "display": name, "type": t}, once. It returns a description of the
// first unknown value (the caller answers 400 invalidValue). A value old
// already held is kept as it is even when unknown (a grant the mapping
// dropped since), so that it never blocks an unrelated change.
func (m *Mapping) CheckGrants(old, attrs map[string]any) error {
	for _, attr := range GrantAttributes {
		raw, ok := attrs[attr]
		if !ok {
			continue
		}
		held := map[string]bool{}
		oldList, _ := old[attr].([]any)
		for _, item := range oldList {
			obj, _ := item.(map[string]any)
			if v, _ := obj["value"].(string); v != "" {
				held[v] = true
			}
		}
		list, _ := raw.([]any)
		out := make([]any, 0, len(list))
		seen := map[string]bool{}
		for _, item := range list {
			obj, _ := item.(map[string]any)
			v, _ := obj["value"].(string)
			g, ok := m.grantOf(v)
			if !ok && held[v] && !seen[v] {
				seen[v] = true
				out = append(out, item)
				continue
			}
			if !ok {
				return fmt.Errorf("%s value %q is not a factory role this service grants directly (GET /Entitlements lists them)", attr, v)
			}
			if seen[g.ID] {
				continue
			}
			seen[g.ID] = true
			canon := map[string]any{"value": g.ID, "display": g.DisplayName}
			if attr == "entitlements" {
				canon["type"] = EntitlementType
			} else if t, ok := obj["type"].(string); ok && t != "" {
				canon["type"] = t // Entra's WindowsAzureActiveDirectoryRole
			}
			out = append(out, canon)
		}
		if len(out) == 0 {
			delete(attrs, attr)
			continue
		}
		attrs[attr] = out
	}
	return nil
}

// EntitlementType is the "type" of adfscim's entitlements: the name of the
// resource type /ResourceTypes advertises for them.
const EntitlementType = "Entitlement"

// grantOf finds the grant a value names: its id, or Entra's JSON string
// {"id": …, "value": id, "displayName": …}.
func (m *Mapping) grantOf(v string) (Grant, bool) {
	v = strings.TrimSpace(v)
	if g, ok := m.Grant(v); ok {
		return g, true
	}
	if !strings.HasPrefix(v, "{") {
		return Grant{}, false
	}
	var inner struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	}
	if json.Unmarshal([]byte(v), &inner) != nil {
		return Grant{}, false
	}
	if g, ok := m.Grant(inner.Value); ok {
		return g, true
	}
	return m.Grant(inner.ID)
}

// UserGrants returns the grant ids a user's stored attributes carry, in
// "entitlements" and "roles", each once, sorted.
func UserGrants(attrs map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, attr := range GrantAttributes {
		list, _ := attrs[attr].([]any)
		for _, item := range list {
			obj, _ := item.(map[string]any)
			if v, _ := obj["value"].(string); v != "" && !seen[strings.ToLower(v)] {
				seen[strings.ToLower(v)] = true
				out = append(out, strings.ToLower(v))
			}
		}
	}
	sort.Strings(out)
	return out
}

// GrantChanges says which grants a write gave and took away: the display
// names (else ids) of the grants in after and not before, and the reverse.
func (m *Mapping) GrantChanges(before, after map[string]any) (granted, revoked []string) {
	old, cur := map[string]bool{}, map[string]bool{}
	for _, id := range UserGrants(before) {
		old[id] = true
	}
	for _, id := range UserGrants(after) {
		cur[id] = true
		if !old[id] {
			granted = append(granted, m.grantName(id))
		}
	}
	for id := range old {
		if !cur[id] {
			revoked = append(revoked, m.grantName(id))
		}
	}
	sort.Strings(revoked)
	return granted, revoked
}

func (m *Mapping) grantName(id string) string {
	if g, ok := m.Grant(id); ok {
		return g.DisplayName + " [" + g.ID + "]"
	}
	return id
}

// directGrants are the assignments the users' direct grants want: one per
// active, resolved user and grant the mapping still allows. A grant the
// mapping no longer lists grants nothing (its assignment is removed).
func directGrants(m *Mapping, st State) []Assignment {
	var out []Assignment
	for uid, u := range st.Users {
		if !u.Active || len(u.Grants) == 0 {
			continue
		}
		p, ok := st.Principals[uid]
		if !ok {
			continue
		}
		for _, id := range u.Grants {
			g, ok := m.Grant(id)
			if !ok {
				continue
			}
			a := desiredAssignment(g.Factory, p, PrincipalUser, g.RoleID, uid)
			a.Description = "Granted by adfscim from a direct grant (" + Marker + ")"
			a.Reason = "direct grant " + g.DisplayName
			out = append(out, a)
		}
	}
	sortAssignments(out)
	return out
}

// grantHolders adds to want the users holding direct grants, for a full
// plan (users nil) over a mapping that allows any.
func (r *Reconciler) grantHolders(ctx context.Context, users, want map[string]bool) error {
	if users != nil || len(r.opts.Mapping.Grants) == 0 {
		return nil
	}
	gh, ok := r.opts.Directory.(GrantHolders)
	if !ok {
		return errors.New("rbac: the mapping allows direct grants but the directory cannot list their holders")
	}
	err := gh.GrantHolders(ctx, func(u User) error {
		want[u.ID] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("rbac: read direct grants: %w", err)
	}
	return nil
}

// CheckUser is directory.Options.CheckUser for a mapping: when the mapping
// declares direct grants, a user's entitlements and roles must name them
// (CheckGrants), and the write's notes say which were granted and revoked.
// Without declared grants both attributes are stored as sent: they grant
// nothing.
func (m *Mapping) CheckUser(old, new map[string]any) ([]directory.Note, error) {
	if len(m.Grants) == 0 {
		return nil, nil
	}
	if err := m.CheckGrants(old, new); err != nil {
		return nil, err
	}
	var notes []directory.Note
	for _, attr := range GrantAttributes {
		granted, revoked := m.GrantChanges(map[string]any{attr: old[attr]}, map[string]any{attr: new[attr]})
		for _, g := range granted {
			notes = append(notes, directory.Note{Op: "grant", Path: attr, Value: g})
		}
		for _, g := range revoked {
			notes = append(notes, directory.Note{Op: "revoke", Path: attr, Value: g})
		}
	}
	return notes, nil
}

// AppRole is one app role of an Entra application's manifest (Microsoft
// Graph's appRole resource type).
type AppRole struct {
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	Description        string   `json:"description"`
	DisplayName        string   `json:"displayName"`
	ID                 string   `json:"id"`
	IsEnabled          bool     `json:"isEnabled"`
	Value              string   `json:"value"`
}

// AppRoles are the app roles of the grants, for the Entra application
// whose provisioning maps AppRoleAssignmentsComplex to roles: one per
// grant, its id and value the grant's id (a GUID: unique, stable, and
// within the characters Entra allows in a value), assignable to users and
// groups. Entra sends the value in roles, which CheckGrants accepts.
func (m *Mapping) AppRoles() []AppRole {
	out := make([]AppRole, 0, len(m.Grants))
	for _, g := range m.Grants {
		out = append(out, AppRole{AllowedMemberTypes: []string{"User"}, Description: g.Description,
			DisplayName: g.DisplayName, ID: g.ID, IsEnabled: true, Value: g.ID})
	}
	return out
}
