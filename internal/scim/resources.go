package scim

// Attribute constructors keep the schema tables below readable.

func str(name string, opts ...func(*Attribute)) *Attribute {
	a := &Attribute{Name: name, Type: TypeString, Mutability: ReadWrite, Returned: ReturnedDefault, Uniqueness: "none"}
	for _, o := range opts {
		o(a)
	}
	return a
}

func typed(name string, t AttrType, opts ...func(*Attribute)) *Attribute {
	a := str(name, opts...)
	a.Type = t
	return a
}

func complexAttr(name string, subs []*Attribute, opts ...func(*Attribute)) *Attribute {
	a := str(name, opts...)
	a.Type = TypeComplex
	a.SubAttributes = subs
	return a
}

func multi(a *Attribute) { a.MultiValued = true }

func required(a *Attribute) { a.Required = true }

func caseExact(a *Attribute) { a.CaseExact = true }

func readOnly(a *Attribute) { a.Mutability = ReadOnly }

func immutable(a *Attribute) { a.Mutability = Immutable }

func writeOnly(a *Attribute) { a.Mutability = WriteOnly; a.Returned = ReturnedNever }

func serverUnique(a *Attribute) { a.Uniqueness = "server" }

func canonical(values ...string) func(*Attribute) {
	return func(a *Attribute) { a.CanonicalValues = values }
}

func refs(types ...string) func(*Attribute) {
	return func(a *Attribute) { a.ReferenceTypes = types }
}

// multiValuedSubs are the usual sub-attributes of a multi-valued attribute
// (RFC 7643 §2.4), with the given canonical type values.
func multiValuedSubs(valueType AttrType, types ...string) []*Attribute {
	return []*Attribute{
		typed("value", valueType),
		str("display"),
		str("type", canonical(types...)),
		typed("primary", TypeBoolean),
	}
}

// UserSchema returns the core User schema (RFC 7643 §4.1), as adfscim
// supports it. A fresh value is returned on every call so callers may extend
// it without sharing state.
func UserSchema() *Schema {
	return &Schema{
		ID:          SchemaUser,
		Name:        "User",
		Description: "User Account",
		Attributes: []*Attribute{
			str("userName", required, serverUnique),
			complexAttr("name", []*Attribute{
				str("formatted"), str("familyName"), str("givenName"), str("middleName"),
				str("honorificPrefix"), str("honorificSuffix"),
			}),
			str("displayName"),
			str("nickName"),
			typed("profileUrl", TypeReference, refs("external")),
			str("title"),
			str("userType"),
			str("preferredLanguage"),
			str("locale"),
			str("timezone"),
			typed("active", TypeBoolean),
			str("password", writeOnly),
			complexAttr("emails", multiValuedSubs(TypeString, "work", "home", "other"), multi),
			complexAttr("phoneNumbers", multiValuedSubs(TypeString, "work", "home", "mobile", "fax", "pager", "other"), multi),
			complexAttr("ims", multiValuedSubs(TypeString, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"), multi),
			complexAttr("photos", multiValuedSubs(TypeReference, "photo", "thumbnail"), multi),
			complexAttr("addresses", []*Attribute{
				str("formatted"), str("streetAddress"), str("locality"), str("region"),
				str("postalCode"), str("country"), str("type", canonical("work", "home", "other")),
				typed("primary", TypeBoolean),
			}, multi),
			complexAttr("groups", []*Attribute{
				str("value", readOnly),
				typed("$ref", TypeReference, readOnly, caseExact, refs("Group")),
				str("display", readOnly),
				str("type", readOnly, canonical("direct", "indirect")),
			}, multi, readOnly),
			complexAttr("entitlements", multiValuedSubs(TypeString), multi),
			complexAttr("roles", multiValuedSubs(TypeString), multi),
			complexAttr("x509Certificates", multiValuedSubs(TypeBinary), multi),
		},
	}
}

// EnterpriseUserSchema returns the enterprise User extension (RFC 7643 §4.3).
func EnterpriseUserSchema() *Schema {
	return &Schema{
		ID:          SchemaEnterpriseUser,
		Name:        "EnterpriseUser",
		Description: "Enterprise User",
		Attributes: []*Attribute{
			str("employeeNumber"),
			str("costCenter"),
			str("organization"),
			str("division"),
			str("department"),
			complexAttr("manager", []*Attribute{
				str("value"),
				typed("$ref", TypeReference, caseExact, refs("User")),
				str("displayName", readOnly),
			}),
		},
	}
}

// GroupSchema returns the core Group schema (RFC 7643 §4.2).
func GroupSchema() *Schema {
	return &Schema{
		ID:          SchemaGroup,
		Name:        "Group",
		Description: "Group",
		Attributes: []*Attribute{
			str("displayName", required, serverUnique),
			complexAttr("members", []*Attribute{
				str("value", immutable),
				typed("$ref", TypeReference, immutable, caseExact, refs("User", "Group")),
				str("display", readOnly),
				str("type", immutable, canonical("User", "Group")),
			}, multi),
		},
	}
}

// NewUserResourceType returns the User resource type with the enterprise
// extension and any configured extensions.
func NewUserResourceType(extra ...*Schema) *ResourceType {
	rt := &ResourceType{
		ID: "User", Name: "User", Endpoint: "/Users", Description: "User Account",
		Schema:     UserSchema(),
		Extensions: []SchemaExtension{{Schema: EnterpriseUserSchema()}},
	}
	for _, s := range extra {
		rt.Extensions = append(rt.Extensions, SchemaExtension{Schema: s})
	}
	return rt
}

// NewGroupResourceType returns the Group resource type with any configured
// extensions.
func NewGroupResourceType(extra ...*Schema) *ResourceType {
	rt := &ResourceType{
		ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "Group",
		Schema: GroupSchema(),
	}
	for _, s := range extra {
		rt.Extensions = append(rt.Extensions, SchemaExtension{Schema: s})
	}
	return rt
}

// CopyJSON deep-copies a decoded JSON value (maps and slices; scalars are
// shared), so that a PATCH may change its copy while the original stays for
// comparison (cheaper than decoding the stored body twice).
func CopyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = CopyJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = CopyJSON(x)
		}
		return out
	}
	return v
}
