package rbac

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The role names a binding may use, as infra/main.bicep and docs/deploy.md
// spell them. Display names ("Data Factory Contributor", "Data Factory
// Pipeline Operator") are accepted too, as is any case and spacing.
const (
	RoleDataFactoryContributor = "DataFactoryContributor"
	RoleReader                 = "Reader"
	RolePipelineOperator       = "PipelineOperator"
)

// DefaultOperatorRoleName is the name infra/main.bicep gives the custom
// operator role unless its operatorRoleName parameter says otherwise.
const DefaultOperatorRoleName = "Data Factory Pipeline Operator"

// Built-in role definition ids, by role name with spaces removed and lower
// case (see roleKey).
var builtinRoles = map[string]string{
	"datafactorycontributor": "673868aa-7521-48a0-acc6-0f60742d39f5",
	"reader":                 "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}

// The custom operator role, by roleKey of its alias and its display name.
var operatorRoleKeys = map[string]bool{"pipelineoperator": true, "datafactorypipelineoperator": true}

// roleHelp ends every unknown-role error: the names a binding may use.
const roleHelp = "use " + RoleDataFactoryContributor + ", " + RoleReader + ", " + RolePipelineOperator + ", or a role definition GUID or resource id"

func roleKey(name string) string {
	return strings.ToLower(strings.Join(strings.Fields(name), ""))
}

// armGUIDNamespace is the namespace of ARM's guid() template function.
var armGUIDNamespace = [16]byte{0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd, 0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30}

// ARMGUID computes what ARM's (and Bicep's) guid(args...) returns: a
// name-based UUID, version 5 (SHA-1), over the arguments joined with '-',
// in the namespace 11fb06fb-712d-4ddd-98c7-e71bbd588830.
func ARMGUID(args ...string) string {
	h := sha1.New()
	h.Write(armGUIDNamespace[:])
	h.Write([]byte(strings.Join(args, "-")))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// OperatorRoleGUID is the GUID infra/main.bicep gives the custom operator
// role when deployed into subscriptionID with the default role name:
// guid(subscription().id, 'adfscim', operatorRoleName).
func OperatorRoleGUID(subscriptionID string) string {
	return ARMGUID("/subscriptions/"+subscriptionID, "adfscim", DefaultOperatorRoleName)
}

// MappingOptions are what a mapping needs from the deployment to resolve
// role names.
type MappingOptions struct {
	// OperatorRoleID is the GUID of the custom operator role
	// (ADFSCIM_OPERATOR_ROLE_ID), which Bicep passes as it created it.
	//
	// Passing the GUID is the robust way: Bicep derives it from the
	// subscription the template is deployed into and from the
	// operatorRoleName parameter, neither of which the service can see (the
	// factories may live in other subscriptions). When it is empty (local
	// runs), PipelineOperator is derived with OperatorRoleGUID from the
	// subscription of the binding's factories, which matches a deployment
	// into that subscription with the default name.
	OperatorRoleID string
}

// Mode says how a binding turns group membership into assignments.
type Mode string

const (
	// ModeUser makes one assignment per active, resolvable member.
	ModeUser Mode = "user"
	// ModeGroup makes one assignment to the Entra group whose object id is the
	// SCIM group's externalId.
	ModeGroup Mode = "group"
)

// ErrMapping is wrapped by every mapping validation error.
var ErrMapping = errors.New("rbac: invalid mapping")

// MappingFile is the JSON shape of the mapping, as an operator writes it:
//
//	{
//	  "factories": {"analytics": "/subscriptions/…/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf1"},
//	  "bindings": [
//	    {"group": "Analysts", "role": "Data Factory Contributor", "factories": ["analytics"], "mode": "user"},
//	    {"groupExternalId": "…", "role": "/subscriptions/…/providers/Microsoft.Authorization/roleDefinitions/…",
//	     "factories": ["/subscriptions/…/factories/adf2"], "mode": "group"}
//	  ]
//	}
type MappingFile struct {
	// Factories maps an alias to a Data Factory ARM resource id.
	Factories map[string]string `json:"factories"`
	Bindings  []BindingFile     `json:"bindings"`
	// Grants lists the (factory, role) pairs an identity provider may grant
	// one person directly (see grants.go).
	Grants []GrantFile `json:"grants,omitempty"`
}

// BindingFile is one binding as written in the mapping file. Exactly one of
// Group and GroupExternalID names the SCIM group: Group matches a group's
// displayName (case-insensitively) or its externalId (the shape
// infra/main.bicep writes to ADFSCIM_MAPPING); GroupExternalID matches the
// externalId only.
type BindingFile struct {
	Group           string   `json:"group,omitempty"`
	GroupExternalID string   `json:"groupExternalId,omitempty"`
	Role            string   `json:"role"`
	Factories       []string `json:"factories"`
	Mode            Mode     `json:"mode,omitempty"`
	// Kind is "active" (the default) or "eligible"; MaxDuration (a Go
	// duration) bounds each grant: see kinds.go.
	Kind        BindingKind `json:"kind,omitempty"`
	MaxDuration string      `json:"maxDuration,omitempty"`
}

// Mapping is a validated mapping.
type Mapping struct {
	// Factories are the distinct factory resource ids, sorted, lower-cased.
	Factories []string
	Bindings  []Binding
	// Grants are the pairs that may be granted directly, by display name.
	Grants []Grant
	roles  map[string]bool  // role definition guids used
	grants map[string]Grant // by id
}

// Binding is one validated binding.
type Binding struct {
	Group           string   `json:"group,omitempty"`
	GroupExternalID string   `json:"groupExternalId,omitempty"`
	RoleID          string   `json:"roleId"` // role definition guid, lower case
	Factories       []string `json:"factories"`
	Mode            Mode     `json:"mode"`
	// Kind and MaxDuration say what a grant is: a standing assignment, a
	// time-bound one, or a PIM eligibility (see kinds.go).
	Kind        BindingKind   `json:"kind,omitempty"`
	MaxDuration time.Duration `json:"maxDuration,omitempty"`
}

// MatchesGroup reports whether g is the group this binding names.
// displayName is compared case-insensitively (as SCIM does), externalId
// exactly.
func (b Binding) MatchesGroup(g Group) bool {
	if b.GroupExternalID != "" {
		return g.ExternalID == b.GroupExternalID
	}
	return strings.EqualFold(g.DisplayName, b.Group) || (g.ExternalID != "" && g.ExternalID == b.Group)
}

// MappedRole reports whether role (a guid) appears in a binding.
func (m *Mapping) MappedRole(role string) bool { return m.roles[strings.ToLower(role)] }

// MappedFactory reports whether scope is one of the mapping's factories.
func (m *Mapping) MappedFactory(scope string) bool {
	s := normScope(scope)
	i := sort.SearchStrings(m.Factories, s)
	return i < len(m.Factories) && m.Factories[i] == s
}

var (
	factoryIDRe = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/resourceGroups/[-\w._()]{1,90}/providers/Microsoft\.DataFactory/factories/[-a-z0-9]{3,63}$`)
	guidRe      = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	roleIDRe    = regexp.MustCompile(`(?i)^(?:/subscriptions/[0-9a-f-]{36})?/providers/Microsoft\.Authorization/roleDefinitions/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
)

// IsGUID reports whether s is a GUID (the form of Entra object ids).
func IsGUID(s string) bool { return guidRe.MatchString(s) }

// LoadMapping reads a mapping from inline JSON when src starts with '{',
// else from the file named src. An empty src is the empty mapping (it grants
// nothing).
func LoadMapping(src string) (*Mapping, error) { return MappingOptions{}.Load(src) }

// Load is LoadMapping with o.
func (o MappingOptions) Load(src string) (*Mapping, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return &Mapping{roles: map[string]bool{}}, nil
	}
	var data []byte
	if strings.HasPrefix(src, "{") {
		data = []byte(src)
	} else {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read mapping: %w", err)
		}
		data = b
	}
	return o.Parse(data)
}

// ParseMapping decodes and validates a mapping. Every problem found is
// reported, joined, each wrapping ErrMapping.
func ParseMapping(data []byte) (*Mapping, error) { return MappingOptions{}.Parse(data) }

// Parse is ParseMapping with o.
func (o MappingOptions) Parse(data []byte) (*Mapping, error) {
	var f MappingFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMapping, err)
	}
	return f.ValidateWith(o)
}

// Validate checks the file and resolves aliases and role names.
func (f MappingFile) Validate() (*Mapping, error) { return f.ValidateWith(MappingOptions{}) }

// ValidateWith is Validate with o.
func (f MappingFile) ValidateWith(o MappingOptions) (*Mapping, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrMapping}, a...)...))
	}
	aliases := map[string]string{}
	for alias, id := range f.Factories {
		if !factoryIDRe.MatchString(id) {
			bad("factory %q: %q is not a Data Factory resource id (/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.DataFactory/factories/<name>)", alias, id)
			continue
		}
		aliases[alias] = strings.ToLower(id)
	}
	m := &Mapping{roles: map[string]bool{}}
	factories := map[string]bool{}
	seen := map[string]int{}
	for i, bf := range f.Bindings {
		where := fmt.Sprintf("binding %d", i+1)
		b := Binding{Group: strings.TrimSpace(bf.Group), GroupExternalID: strings.TrimSpace(bf.GroupExternalID), Mode: bf.Mode}
		switch {
		case b.Group == "" && b.GroupExternalID == "":
			bad("%s: empty group reference (set group or groupExternalId)", where)
		case b.Group != "" && b.GroupExternalID != "":
			bad("%s: set only one of group and groupExternalId", where)
		}
		if b.Mode == "" {
			b.Mode = ModeUser
		}
		if b.Mode != ModeUser && b.Mode != ModeGroup {
			bad("%s: unknown mode %q (user or group)", where, bf.Mode)
		}
		if len(bf.Factories) == 0 {
			bad("%s: no factories", where)
		}
		var ids []string
		for _, ref := range bf.Factories {
			id, ok := aliases[ref]
			if !ok {
				if factoryIDRe.MatchString(ref) {
					id = strings.ToLower(ref)
				} else if _, known := f.Factories[ref]; !known {
					bad("%s: factory %q is neither an alias nor a Data Factory resource id", where, ref)
					continue
				} else {
					continue // alias with a bad id, already reported
				}
			}
			ids = append(ids, id)
		}
		role, err := o.resolveRole(bf.Role, ids)
		if err != nil {
			bad("%s: %v", where, err)
		}
		b.RoleID = role
		if err := b.setKind(bf); err != nil {
			bad("%s: %v", where, err)
		}
		for _, id := range ids {
			groupKey := "n:" + strings.ToLower(b.Group)
			if b.GroupExternalID != "" {
				groupKey = "x:" + b.GroupExternalID
			}
			k := groupKey + "|" + role + "|" + id + "|" + b.Kind.class()
			if prev, dup := seen[k]; dup {
				bad("%s: duplicate binding (same group, role and factory %s as binding %d)", where, id, prev)
				continue
			}
			seen[k] = i + 1
			b.Factories = append(b.Factories, id)
			factories[id] = true
		}
		if role != "" {
			m.roles[role] = true
		}
		m.Bindings = append(m.Bindings, b)
	}
	f.validateGrants(o, m, factories, bad)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for id := range factories {
		m.Factories = append(m.Factories, id)
	}
	sort.Strings(m.Factories)
	return m, nil
}

// resolveRole turns a role name (see the Role constants), a role definition
// guid or a role definition resource id into the lower-case guid. factories
// are the binding's factory ids, whose subscription names the operator role
// when o does not.
func (o MappingOptions) resolveRole(r string, factories []string) (string, error) {
	r = strings.TrimSpace(r)
	key := roleKey(r)
	if id, ok := builtinRoles[key]; ok {
		return id, nil
	}
	if operatorRoleKeys[key] {
		if o.OperatorRoleID != "" {
			return strings.ToLower(o.OperatorRoleID), nil
		}
		subs := map[string]bool{}
		for _, f := range factories {
			subs[strings.ToLower(subscriptionOf(f))] = true
		}
		if len(subs) == 0 {
			return "", nil // no valid factory: reported already
		}
		if len(subs) > 1 {
			return "", fmt.Errorf("role %q: its factories are in %d subscriptions, so the custom role's GUID cannot be derived; set ADFSCIM_OPERATOR_ROLE_ID (the deployment's operatorRoleDefinitionId output)", r, len(subs))
		}
		for s := range subs {
			return OperatorRoleGUID(s), nil
		}
	}
	if IsGUID(r) {
		return strings.ToLower(r), nil
	}
	if m := roleIDRe.FindStringSubmatch(r); m != nil {
		return strings.ToLower(m[1]), nil
	}
	if r == "" {
		return "", errors.New("empty role (" + roleHelp + ")")
	}
	return "", fmt.Errorf("unknown role %q (%s)", r, roleHelp)
}

// roleGUID extracts the guid of a role definition resource id ("" if none).
func roleGUID(id string) string {
	if m := roleIDRe.FindStringSubmatch(id); m != nil {
		return strings.ToLower(m[1])
	}
	if IsGUID(id) {
		return strings.ToLower(id)
	}
	return ""
}

// subscriptionOf returns the subscription part of a resource id.
func subscriptionOf(resourceID string) string {
	parts := strings.Split(resourceID, "/")
	if len(parts) > 2 && strings.EqualFold(parts[1], "subscriptions") {
		return parts[2]
	}
	return ""
}

// roleDefinitionResourceID is the id ARM wants in a role assignment.
func roleDefinitionResourceID(scope, role string) string {
	return "/subscriptions/" + subscriptionOf(scope) + "/providers/Microsoft.Authorization/roleDefinitions/" + role
}
