package handlers

import (
	"net/http"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/tokens"
)

type supported struct {
	Supported bool `json:"supported"`
}

type filterSupport struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type bulkSupport struct {
	Supported      bool `json:"supported"`
	MaxOperations  int  `json:"maxOperations"`
	MaxPayloadSize int  `json:"maxPayloadSize"`
}

type paginationSupport struct {
	Cursor                  bool   `json:"cursor"`
	Index                   bool   `json:"index"`
	DefaultPaginationMethod string `json:"defaultPaginationMethod"`
	DefaultPageSize         int    `json:"defaultPageSize"`
	MaxPageSize             int    `json:"maxPageSize"`
}

type authScheme struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

type meta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location"`
}

type spConfig struct {
	Schemas               []string           `json:"schemas"`
	DocumentationURI      string             `json:"documentationUri,omitempty"`
	Patch                 supported          `json:"patch"`
	Bulk                  bulkSupport        `json:"bulk"`
	Filter                filterSupport      `json:"filter"`
	ChangePassword        supported          `json:"changePassword"`
	Sort                  supported          `json:"sort"`
	ETag                  supported          `json:"etag"`
	Pagination            *paginationSupport `json:"pagination,omitempty"`
	AuthenticationSchemes []authScheme       `json:"authenticationSchemes"`
	Meta                  meta               `json:"meta"`
}

type schemaExtension struct {
	Schema   string `json:"schema"`
	Required bool   `json:"required"`
}

type resourceTypeDoc struct {
	Schemas          []string          `json:"schemas"`
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Endpoint         string            `json:"endpoint"`
	Description      string            `json:"description"`
	Schema           string            `json:"schema"`
	SchemaExtensions []schemaExtension `json:"schemaExtensions"`
	Meta             meta              `json:"meta"`
}

type schemaDoc struct {
	Schemas []string `json:"schemas"`
	*scim.Schema
	Meta meta `json:"meta"`
}

type listDoc struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	ItemsPerPage int      `json:"itemsPerPage"`
	StartIndex   int      `json:"startIndex"`
	Resources    []any    `json:"Resources"`
}

func (s *Server) serviceProviderConfig(base string) spConfig {
	return spConfig{
		Schemas:        []string{scim.SchemaSPConfig},
		Patch:          supported{true},
		Bulk:           bulkSupport{Supported: false, MaxOperations: 0, MaxPayloadSize: MaxBodyBytes},
		Filter:         filterSupport{Supported: true, MaxResults: s.opts.MaxPageSize},
		ChangePassword: supported{false},
		Sort:           supported{true},
		ETag:           supported{true},
		Pagination: &paginationSupport{
			Cursor: true, Index: true, DefaultPaginationMethod: "index",
			DefaultPageSize: s.opts.MaxPageSize, MaxPageSize: s.opts.MaxPageSize,
		},
		AuthenticationSchemes: []authScheme{{
			Type: "oauthbearertoken", Name: "OAuth Bearer Token", Primary: true,
			Description: "A long-lived bearer token issued by adfscim (adfscim token create) and kept in Key Vault.",
		}},
		Meta: meta{ResourceType: "ServiceProviderConfig", Location: base + "/ServiceProviderConfig"},
	}
}

// servedTypes are the resource types served: users, groups, and the
// entitlements when the mapping allows direct grants.
func (s *Server) servedTypes() []*scim.ResourceType {
	out := []*scim.ResourceType{s.dir.UserType(), s.dir.GroupType()}
	if len(s.opts.Entitlements) > 0 {
		out = append(out, scim.NewEntitlementResourceType())
	}
	return out
}

func (s *Server) resourceTypes(base string) []resourceTypeDoc {
	var out []resourceTypeDoc
	for _, rt := range s.servedTypes() {
		d := resourceTypeDoc{
			Schemas: []string{scim.SchemaResourceType}, ID: rt.ID, Name: rt.Name, Endpoint: rt.Endpoint,
			Description: rt.Description, Schema: rt.Schema.ID, SchemaExtensions: []schemaExtension{},
			Meta: meta{ResourceType: "ResourceType", Location: base + "/ResourceTypes/" + rt.ID},
		}
		for _, e := range rt.Extensions {
			d.SchemaExtensions = append(d.SchemaExtensions, schemaExtension{Schema: e.Schema.ID, Required: e.Required})
		}
		out = append(out, d)
	}
	return out
}

func (s *Server) schemas(base string) []schemaDoc {
	var out []schemaDoc
	seen := map[string]bool{}
	for _, rt := range s.servedTypes() {
		all := []*scim.Schema{rt.Schema}
		for _, e := range rt.Extensions {
			all = append(all, e.Schema)
		}
		for _, sc := range all {
			if seen[sc.ID] {
				continue
			}
			seen[sc.ID] = true
			out = append(out, schemaDoc{Schemas: []string{scim.SchemaSchema}, Schema: sc,
				Meta: meta{ResourceType: "Schema", Location: base + "/Schemas/" + sc.ID}})
		}
	}
	return out
}

// discovery answers /ServiceProviderConfig, /ResourceTypes and /Schemas.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request, what, id string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	if !s.requireScope(w, r, tokens.ScimRead) {
		return
	}
	base := s.baseURL(r)
	var items []any
	switch strings.ToLower(what) {
	case "serviceproviderconfig":
		writeJSON(w, r, http.StatusOK, s.serviceProviderConfig(base))
		return
	case "resourcetypes":
		for _, d := range s.resourceTypes(base) {
			if id == "" || strings.EqualFold(id, d.ID) {
				items = append(items, d)
			}
		}
	case "schemas":
		for _, d := range s.schemas(base) {
			if id == "" || strings.EqualFold(id, d.ID) {
				items = append(items, d)
			}
		}
	}
	if id != "" {
		if len(items) == 0 {
			writeError(w, r, scim.NotFound("%s %q not found", what, id))
			return
		}
		writeJSON(w, r, http.StatusOK, items[0])
		return
	}
	writeJSON(w, r, http.StatusOK, listDoc{
		Schemas: []string{scim.SchemaListResponse}, TotalResults: len(items),
		ItemsPerPage: len(items), StartIndex: 1, Resources: items,
	})
}
