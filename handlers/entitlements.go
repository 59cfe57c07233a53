package handlers

import (
	"net/http"
	"strings"

	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
	"github.com/adfscim/adfscim/internal/tokens"
)

// This file serves /Entitlements: the (factory, role) pairs the mapping
// allows an identity provider to grant one person directly, in the shape
// Okta Identity Governance discovers (schema
// urn:okta:scim:schemas:core:1.0:Entitlement), read-only, with RFC 7644
// index paging and filters.

// entitlementDoc is one grant as a SCIM resource.
func entitlementDoc(g rbac.Grant, base string) map[string]any {
	role := g.DisplayName[strings.Index(g.DisplayName, ": ")+2:]
	return map[string]any{
		"schemas":     []any{scim.SchemaOktaEntitlement, scim.SchemaEntitlementFactory},
		"id":          g.ID,
		"type":        rbac.EntitlementType,
		"displayName": g.DisplayName,
		"description": g.Description,
		scim.SchemaEntitlementFactory: map[string]any{
			"factory": g.Factory, "factoryName": g.Factory[strings.LastIndex(g.Factory, "/")+1:],
			"roleId": g.RoleID, "role": role,
		},
		"meta": map[string]any{"resourceType": rbac.EntitlementType, "location": base + "/Entitlements/" + g.ID},
	}
}

// entitlements answers GET /Entitlements and GET /Entitlements/{id}.
func (s *Server) entitlements(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	if !s.requireScope(w, r, tokens.ScimRead) {
		return
	}
	base := s.baseURL(r)
	if id != "" {
		for _, g := range s.opts.Entitlements {
			if strings.EqualFold(g.ID, id) {
				writeJSON(w, r, http.StatusOK, entitlementDoc(g, base))
				return
			}
		}
		writeError(w, r, scim.NotFound("entitlement %q not found", id))
		return
	}
	p, err := listParamsFromQuery(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rt := scim.NewEntitlementResourceType()
	var expr *filter.Expr
	if strings.TrimSpace(p.filter) != "" {
		if expr, err = filter.Compile(p.filter, rt); err != nil {
			writeError(w, r, err)
			return
		}
	}
	var all []any
	for _, g := range s.opts.Entitlements {
		doc := entitlementDoc(g, base)
		if expr == nil || expr.Match(doc, rt) {
			all = append(all, doc)
		}
	}
	// RFC 7644 §3.4.2.4: startIndex below 1 is 1; a negative count is 0.
	start := max(p.startIndex, 1)
	count := s.opts.MaxPageSize
	if p.countSet {
		count = min(max(p.count, 0), s.opts.MaxPageSize)
	}
	page := []any{}
	if start <= len(all) {
		page = all[start-1 : min(len(all), start-1+count)]
	}
	writeJSON(w, r, http.StatusOK, listDoc{
		Schemas: []string{scim.SchemaListResponse}, TotalResults: len(all),
		ItemsPerPage: len(page), StartIndex: start, Resources: page,
	})
}
