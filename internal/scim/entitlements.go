package scim

// Entitlements as Okta Identity Governance discovers them: a resource type
// whose schema is Okta's core Entitlement schema, listed at its endpoint,
// whose ids a User's "entitlements" (or "roles") attribute carries.
const (
	// SchemaOktaEntitlement is Okta's schema for entitlement resources
	// (developer.okta.com, "Build a SCIM 2.0 server with entitlements").
	SchemaOktaEntitlement = "urn:okta:scim:schemas:core:1.0:Entitlement"
	// SchemaEntitlementFactory is adfscim's extension of an entitlement: the
	// Data Factory and the Azure role it grants.
	SchemaEntitlementFactory = "urn:adfscim:scim:schemas:extension:1.0:Entitlement"
)

// EntitlementSchema returns Okta's core Entitlement schema as adfscim
// serves it: an id (common attribute), a displayName, a type (the resource
// type's name) and a description, all read-only.
func EntitlementSchema() *Schema {
	return &Schema{
		ID:          SchemaOktaEntitlement,
		Name:        "Entitlement",
		Description: "A factory role a person may be granted directly",
		Attributes: []*Attribute{
			str("displayName", required, readOnly),
			str("type", readOnly),
			str("description", readOnly),
		},
	}
}

// EntitlementFactorySchema returns the extension that says what an
// entitlement grants in Azure.
func EntitlementFactorySchema() *Schema {
	return &Schema{
		ID:          SchemaEntitlementFactory,
		Name:        "FactoryRole",
		Description: "The Azure Data Factory and role an entitlement grants",
		Attributes: []*Attribute{
			str("factory", readOnly, caseExact),
			str("factoryName", readOnly),
			str("roleId", readOnly),
			str("role", readOnly),
		},
	}
}

// NewEntitlementResourceType returns the Entitlement resource type served
// at /Entitlements.
func NewEntitlementResourceType() *ResourceType {
	return &ResourceType{
		ID: "Entitlement", Name: "Entitlement", Endpoint: "/Entitlements",
		Description: "Roles on Azure Data Factory instances that a person may be granted directly",
		Schema:      EntitlementSchema(),
		Extensions:  []SchemaExtension{{Schema: EntitlementFactorySchema()}},
	}
}
