package scim

import "strings"

// Schema URNs used by adfscim.
const (
	SchemaUser           = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaEnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	SchemaGroup          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaListResponse   = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaError          = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaPatchOp        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaSearchRequest  = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	SchemaSPConfig       = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResourceType   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema         = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	// SchemaEntraGroup is the extra schema URN Microsoft Entra ID puts on groups.
	SchemaEntraGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// AttrType is a SCIM attribute data type (RFC 7643 §2.3).
type AttrType string

const (
	TypeString    AttrType = "string"
	TypeBoolean   AttrType = "boolean"
	TypeDecimal   AttrType = "decimal"
	TypeInteger   AttrType = "integer"
	TypeDateTime  AttrType = "dateTime"
	TypeBinary    AttrType = "binary"
	TypeReference AttrType = "reference"
	TypeComplex   AttrType = "complex"
)

// Mutability values (RFC 7643 §7).
const (
	ReadOnly  = "readOnly"
	ReadWrite = "readWrite"
	Immutable = "immutable"
	WriteOnly = "writeOnly"
)

// Returned values (RFC 7643 §7).
const (
	ReturnedAlways  = "always"
	ReturnedNever   = "never"
	ReturnedDefault = "default"
	ReturnedRequest = "request"
)

// Attribute describes one attribute of a schema.
type Attribute struct {
	Name            string       `json:"name"`
	Type            AttrType     `json:"type"`
	SubAttributes   []*Attribute `json:"subAttributes,omitempty"`
	MultiValued     bool         `json:"multiValued"`
	Description     string       `json:"description,omitempty"`
	Required        bool         `json:"required"`
	CanonicalValues []string     `json:"canonicalValues,omitempty"`
	CaseExact       bool         `json:"caseExact"`
	Mutability      string       `json:"mutability"`
	Returned        string       `json:"returned"`
	Uniqueness      string       `json:"uniqueness"`
	ReferenceTypes  []string     `json:"referenceTypes,omitempty"`
}

// Sub returns the sub-attribute named name (case-insensitively), or nil.
func (a *Attribute) Sub(name string) *Attribute {
	if a == nil {
		return nil
	}
	for _, s := range a.SubAttributes {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// Schema is a SCIM schema definition (RFC 7643 §7).
type Schema struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Attributes  []*Attribute `json:"attributes"`
}

// Attr returns the top-level attribute named name (case-insensitively), or nil.
func (s *Schema) Attr(name string) *Attribute {
	if s == nil {
		return nil
	}
	for _, a := range s.Attributes {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// SchemaExtension names an extension schema of a resource type.
type SchemaExtension struct {
	Schema   *Schema
	Required bool
}

// ResourceType binds an endpoint to its core schema and extensions.
type ResourceType struct {
	ID          string // "User", "Group"
	Name        string
	Endpoint    string // "/Users"
	Description string
	Schema      *Schema
	Extensions  []SchemaExtension
}

// Extension returns the extension schema with the given URN
// (case-insensitively), or nil.
func (rt *ResourceType) Extension(urn string) *Schema {
	for _, e := range rt.Extensions {
		if strings.EqualFold(e.Schema.ID, urn) {
			return e.Schema
		}
	}
	return nil
}

// SchemaURNs returns the core schema URN followed by the extension URNs.
func (rt *ResourceType) SchemaURNs() []string {
	out := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		out = append(out, e.Schema.ID)
	}
	return out
}

// ShortName finds the extension attribute that a name without a URN
// denotes: the attribute name of exactly one extension schema of rt
// ("manager" is the enterprise extension's), when neither the core schema
// nor the common attributes (id, externalId, meta) define it. Entra ID
// writes extension attributes so in paths and filters. It returns nils when
// the name is a core or common one, is defined by no extension or by
// several (ambiguous names keep meaning nothing).
func (rt *ResourceType) ShortName(name string) (*Schema, *Attribute) {
	if rt == nil || rt.Schema == nil || rt.Schema.Attr(name) != nil || commonAttr(name) != nil {
		return nil, nil
	}
	var schema *Schema
	var attr *Attribute
	for _, e := range rt.Extensions {
		if a := e.Schema.Attr(name); a != nil {
			if attr != nil {
				return nil, nil
			}
			schema, attr = e.Schema, a
		}
	}
	return schema, attr
}

// ResolveAttr finds the attribute a path's first segment names. name may be
// a plain attribute name of the core schema ("userName"), a URN-qualified one
// ("urn:...:enterprise:2.0:User:employeeNumber"), the short name of an
// extension attribute (see ShortName) or a bare extension URN (returns the
// extension schema and a nil attribute). It returns the schema the attribute
// belongs to and the attribute, or nils when nothing matches.
func (rt *ResourceType) ResolveAttr(name string) (*Schema, *Attribute) {
	if !strings.HasPrefix(strings.ToLower(name), "urn:") {
		if a := rt.Schema.Attr(name); a != nil {
			return rt.Schema, a
		}
		if a := commonAttr(name); a != nil {
			return nil, a
		}
		return rt.ShortName(name)
	}
	lower := strings.ToLower(name)
	schemas := append([]*Schema{rt.Schema}, nil...)
	for _, e := range rt.Extensions {
		schemas = append(schemas, e.Schema)
	}
	for _, s := range schemas {
		id := strings.ToLower(s.ID)
		if lower == id {
			return s, nil
		}
		if strings.HasPrefix(lower, id+":") {
			return s, s.Attr(name[len(id)+1:])
		}
	}
	return nil, nil
}

// Common attributes present on every resource (RFC 7643 §3.1).
var (
	AttrID         = &Attribute{Name: "id", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedAlways, Uniqueness: "server"}
	AttrExternalID = &Attribute{Name: "externalId", Type: TypeString, CaseExact: true, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none"}
	AttrMeta       = &Attribute{Name: "meta", Type: TypeComplex, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none", SubAttributes: []*Attribute{
		{Name: "resourceType", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
		{Name: "created", Type: TypeDateTime, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
		{Name: "lastModified", Type: TypeDateTime, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
		{Name: "location", Type: TypeReference, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none", ReferenceTypes: []string{"uri"}},
		{Name: "version", Type: TypeString, CaseExact: true, Mutability: ReadOnly, Returned: ReturnedDefault, Uniqueness: "none"},
	}}
)

func commonAttr(name string) *Attribute {
	switch strings.ToLower(name) {
	case "id":
		return AttrID
	case "externalid":
		return AttrExternalID
	case "meta":
		return AttrMeta
	}
	return nil
}
