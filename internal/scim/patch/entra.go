package patch

import (
	"encoding/json"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// Entra ID's attribute mapping AppRoleAssignmentsComplex sends a user's app
// roles on PATCH (without the aadOptscim062020 flag) as
//
//	{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"…\",\"value\":\"…\",\"displayName\":\"…\"}"}]}
//
// where each element's value is a JSON object in a string: the app role
// assignment's id, the app role's value and its display name
// (learn.microsoft.com, "Customize user provisioning attribute-mappings").
// entraRoles turns such elements into the RFC 7643 shape {"value": value,
// "display": displayName}, so that adds and removes by value meet the
// values stored from POST, which Entra sends as plain objects.
func entraRoles(p *filter.Path, val any) any {
	if p == nil || p.Filter != nil || p.Sub != "" || !strings.EqualFold(p.Name, "roles") ||
		(p.URN != "" && !strings.EqualFold(p.URN, scim.SchemaUser)) {
		return val
	}
	list, ok := val.([]any)
	if !ok {
		return val
	}
	out := make([]any, len(list))
	for i, el := range list {
		out[i] = el
		obj, ok := el.(map[string]any)
		if !ok {
			continue
		}
		s, ok := obj["value"].(string)
		if !ok || !strings.HasPrefix(strings.TrimSpace(s), "{") {
			continue
		}
		var inner struct {
			Value       string `json:"value"`
			DisplayName string `json:"displayName"`
		}
		if json.Unmarshal([]byte(s), &inner) != nil || inner.Value == "" {
			continue // not Entra's shape: left for validation to judge
		}
		dec := map[string]any{"value": inner.Value}
		if inner.DisplayName != "" {
			dec["display"] = inner.DisplayName
		}
		for k, v := range obj {
			if !strings.EqualFold(k, "value") {
				dec[k] = v
			}
		}
		out[i] = dec
	}
	return out
}
