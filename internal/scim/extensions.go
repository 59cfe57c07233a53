package scim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// ExtensionDecl is a custom extension schema declared in configuration: the
// attributes an identity provider sends beyond the core and enterprise
// schemas (Entra ID's urn:ietf:params:scim:schemas:extension:<Name>:2.0:User
// attributes, Okta's custom profile attributes).
type ExtensionDecl struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Description  string       `json:"description"`
	ResourceType string       `json:"resourceType"` // "User" or "Group"
	Attributes   []*Attribute `json:"attributes"`
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_$-]*$`)

// ParseExtensions reads a JSON array of ExtensionDecl and returns the
// extension schemas for users and for groups. Attribute defaults: type
// string, mutability readWrite, returned default, uniqueness none. Every
// problem is reported with the schema and attribute it concerns.
func ParseExtensions(data []byte) (users, groups []*Schema, err error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil, nil
	}
	var decls []ExtensionDecl
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&decls); err != nil {
		return nil, nil, fmt.Errorf("schema extensions: not a JSON array of {id, name, resourceType, attributes}: %w", err)
	}
	seen := map[string]bool{
		strings.ToLower(SchemaUser): true, strings.ToLower(SchemaGroup): true,
		strings.ToLower(SchemaEnterpriseUser): true,
	}
	for i, d := range decls {
		where := fmt.Sprintf("schema extension %d (%s)", i, d.ID)
		if !strings.HasPrefix(strings.ToLower(d.ID), "urn:") {
			return nil, nil, fmt.Errorf("%s: id must be a URN (urn:ietf:params:scim:schemas:extension:<name>:2.0:User)", where)
		}
		if seen[strings.ToLower(d.ID)] {
			return nil, nil, fmt.Errorf("%s: the schema id is declared twice or is a built-in schema", where)
		}
		seen[strings.ToLower(d.ID)] = true
		if len(d.Attributes) == 0 {
			return nil, nil, fmt.Errorf("%s: declares no attributes", where)
		}
		if err := checkAttributes(where, d.Attributes, true); err != nil {
			return nil, nil, err
		}
		name := d.Name
		if name == "" {
			name = d.ID[strings.LastIndexByte(d.ID, ':')+1:]
		}
		s := &Schema{ID: d.ID, Name: name, Description: d.Description, Attributes: d.Attributes}
		switch strings.ToLower(d.ResourceType) {
		case "user":
			users = append(users, s)
		case "group":
			groups = append(groups, s)
		default:
			return nil, nil, fmt.Errorf("%s: resourceType must be User or Group, not %q", where, d.ResourceType)
		}
	}
	return users, groups, nil
}

func checkAttributes(where string, attrs []*Attribute, top bool) error {
	names := map[string]bool{}
	for _, a := range attrs {
		if a == nil || !attrNameRE.MatchString(a.Name) {
			return fmt.Errorf("%s: attribute name %q is not a valid SCIM attribute name", where, nameOf(a))
		}
		if names[strings.ToLower(a.Name)] {
			return fmt.Errorf("%s: attribute %q is declared twice", where, a.Name)
		}
		names[strings.ToLower(a.Name)] = true
		if a.Type == "" {
			a.Type = TypeString
		}
		switch a.Type {
		case TypeString, TypeBoolean, TypeDecimal, TypeInteger, TypeDateTime, TypeBinary, TypeReference:
			if len(a.SubAttributes) > 0 {
				return fmt.Errorf("%s: attribute %q of type %s cannot have subAttributes", where, a.Name, a.Type)
			}
		case TypeComplex:
			if !top {
				return fmt.Errorf("%s: attribute %q: complex attributes cannot nest", where, a.Name)
			}
			if len(a.SubAttributes) == 0 {
				return fmt.Errorf("%s: complex attribute %q needs subAttributes", where, a.Name)
			}
			if err := checkAttributes(where+" "+a.Name, a.SubAttributes, false); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: attribute %q has unknown type %q", where, a.Name, a.Type)
		}
		if a.Mutability == "" {
			a.Mutability = ReadWrite
		}
		switch a.Mutability {
		case ReadWrite, Immutable, WriteOnly, ReadOnly:
		default:
			return fmt.Errorf("%s: attribute %q has unknown mutability %q", where, a.Name, a.Mutability)
		}
		if a.Returned == "" {
			a.Returned = ReturnedDefault
		}
		if a.Mutability == WriteOnly {
			a.Returned = ReturnedNever
		}
		switch a.Returned {
		case ReturnedAlways, ReturnedNever, ReturnedDefault, ReturnedRequest:
		default:
			return fmt.Errorf("%s: attribute %q has unknown returned %q", where, a.Name, a.Returned)
		}
		if a.Uniqueness == "" {
			a.Uniqueness = "none"
		}
	}
	return nil
}

func nameOf(a *Attribute) string {
	if a == nil {
		return ""
	}
	return a.Name
}
