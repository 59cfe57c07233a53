package scim

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Member is one entry of a Group's members as a client sent it.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Normalized is a client-supplied resource in the canonical form adfscim
// stores: canonical attribute names, typed values, extension attributes under
// their URN, and nothing read-only or write-only.
type Normalized struct {
	// Attrs is the resource without id, meta, schemas, members or groups.
	Attrs map[string]any
	// Members are the group's members, when the body carried "members".
	Members      []Member
	MembersGiven bool
	// Unknown lists attributes that matched no schema and were ignored,
	// as dotted paths ("adreses", "emails.foo", "urn:x:y:attr").
	Unknown []string
	// Secrets lists write-only attributes that were accepted and discarded
	// (never stored, never returned), such as "password".
	Secrets []string
}

// Normalize validates body against rt and returns its canonical form. It
// accepts what real identity providers send: attribute names in any case,
// booleans as strings ("True"), a bare string as an element of a
// multi-valued complex attribute ({"value": s}), a bare string for a
// single-valued complex one with a "value" (Entra's manager), URN-qualified
// attribute names at the top level, and the short name of an attribute that
// exactly one extension schema defines ("manager"). Values of the wrong type
// (a number for a string, a lone value for a multi-valued attribute) are a
// 400 invalidValue naming the attribute; unknown attributes are ignored and
// reported.
func Normalize(body map[string]any, rt *ResourceType) (*Normalized, error) {
	n := &Normalized{Attrs: make(map[string]any, len(body))}
	keys := make([]string, 0, len(body))
	for key := range body {
		keys = append(keys, key)
	}
	// In a fixed order, so that of two spellings of one attribute ("manager"
	// and the enterprise URN's "manager") the same one wins every time: the
	// URN-qualified one, which sorts after.
	sort.Strings(keys)
	for _, key := range keys {
		raw := body[key]
		lk := strings.ToLower(key)
		switch lk {
		case "schemas":
			if err := checkSchemas(raw); err != nil {
				return nil, err
			}
			continue
		case "id", "meta":
			continue // server-assigned; a client's copy is ignored (Okta sends them)
		}
		schema, attr := rt.ResolveAttr(key)
		switch {
		case schema == nil && attr == nil:
			n.Unknown = append(n.Unknown, key)
			continue
		case attr == nil: // a bare extension URN: its value is the extension object
			obj, ok := raw.(map[string]any)
			if raw == nil {
				continue
			}
			if !ok {
				return nil, BadRequest(ErrInvalidValue, "%s must be an object", schema.ID)
			}
			ext := extMap(n.Attrs, schema.ID)
			for k, v := range obj {
				a := schema.Attr(k)
				if a == nil {
					n.Unknown = append(n.Unknown, schema.ID+":"+k)
					continue
				}
				if err := n.put(ext, a, v, schema.ID+":"+a.Name); err != nil {
					return nil, err
				}
			}
			if len(ext) == 0 {
				delete(n.Attrs, schema.ID)
			}
			continue
		}
		target := n.Attrs
		path := attr.Name
		if schema != nil && schema != rt.Schema {
			target = extMap(n.Attrs, schema.ID)
			path = schema.ID + ":" + attr.Name
		}
		if schema == rt.Schema && strings.EqualFold(attr.Name, "members") && rt.Schema.ID == SchemaGroup {
			members, err := parseMembers(raw)
			if err != nil {
				return nil, err
			}
			n.Members, n.MembersGiven = members, true
			continue
		}
		if err := n.put(target, attr, raw, path); err != nil {
			return nil, err
		}
		if schema != nil && schema != rt.Schema && len(target) == 0 {
			delete(n.Attrs, schema.ID)
		}
	}
	for _, a := range rt.Schema.Attributes {
		if !a.Required || a.Mutability == ReadOnly {
			continue
		}
		v, ok := n.Attrs[a.Name]
		if s, isStr := v.(string); !ok || (isStr && strings.TrimSpace(s) == "") {
			return nil, BadRequest(ErrInvalidValue, "attribute %q is required", a.Name)
		}
	}
	sort.Strings(n.Unknown)
	return n, nil
}

func extMap(attrs map[string]any, urn string) map[string]any {
	if m, ok := attrs[urn].(map[string]any); ok {
		return m
	}
	m := map[string]any{}
	attrs[urn] = m
	return m
}

func checkSchemas(raw any) error {
	list, ok := raw.([]any)
	if !ok {
		return BadRequest(ErrInvalidSyntax, "schemas must be an array of URIs")
	}
	for _, s := range list {
		if _, ok := s.(string); !ok {
			return BadRequest(ErrInvalidSyntax, "schemas must be an array of URIs")
		}
	}
	return nil
}

// put stores the coerced value of attr into target, skipping what a client
// may not set. A null value leaves the attribute unassigned.
func (n *Normalized) put(target map[string]any, attr *Attribute, raw any, path string) error {
	switch attr.Mutability {
	case ReadOnly:
		return nil
	case WriteOnly:
		if raw != nil {
			n.Secrets = append(n.Secrets, path)
		}
		return nil
	}
	if raw == nil {
		return nil
	}
	v, err := n.coerce(attr, raw, path)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	target[attr.Name] = v
	return nil
}

// coerce returns raw converted to attr's type and shape, or nil when nothing
// assignable remains (an empty list, an object of nulls).
func (n *Normalized) coerce(attr *Attribute, raw any, path string) (any, error) {
	if attr.MultiValued {
		list, ok := raw.([]any)
		if !ok {
			// A lone value would be stored as if the client had sent the
			// whole list: say so instead of guessing.
			return nil, BadRequest(ErrInvalidValue, "attribute %q is multi-valued and needs an array, not %s", path, jsonKind(raw))
		}
		out := make([]any, 0, len(list))
		for _, item := range list {
			if item == nil {
				continue
			}
			v, err := n.coerceSingle(attr, item, path)
			if err != nil {
				return nil, err
			}
			if v != nil {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	if _, isList := raw.([]any); isList {
		return nil, BadRequest(ErrInvalidValue, "attribute %q is single-valued but got a list", path)
	}
	return n.coerceSingle(attr, raw, path)
}

func (n *Normalized) coerceSingle(attr *Attribute, raw any, path string) (any, error) {
	if attr.Type != TypeComplex {
		return CoerceSimple(attr, raw, path)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		// A bare value where a complex one is expected: treat it as "value"
		// (Entra sends manager as a string, some clients send members so).
		if sub := attr.Sub("value"); sub != nil {
			v, err := CoerceSimple(sub, raw, path+".value")
			if err != nil {
				return nil, err
			}
			return map[string]any{"value": v}, nil
		}
		return nil, BadRequest(ErrInvalidValue, "attribute %q must be an object", path)
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		sub := attr.Sub(k)
		if sub == nil {
			n.Unknown = append(n.Unknown, path+"."+k)
			continue
		}
		if err := n.put(out, sub, v, path+"."+sub.Name); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// CoerceSimple converts a JSON value to the simple type of attr, accepting
// the string forms identity providers use for booleans and numbers.
func CoerceSimple(attr *Attribute, raw any, path string) (any, error) {
	switch attr.Type {
	case TypeBoolean:
		switch v := raw.(type) {
		case bool:
			return v, nil
		case string:
			// Entra ID sends "True" and "False".
			switch t := strings.TrimSpace(v); {
			case strings.EqualFold(t, "true"):
				return true, nil
			case strings.EqualFold(t, "false"):
				return false, nil
			}
		}
		return nil, BadRequest(ErrInvalidValue, "attribute %q must be a boolean, not %s", path, jsonKind(raw))
	case TypeInteger, TypeDecimal:
		var s string
		switch v := raw.(type) {
		case json.Number:
			s = v.String()
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		case string:
			s = strings.TrimSpace(v)
		default:
			return nil, BadRequest(ErrInvalidValue, "attribute %q must be a number, not %s", path, jsonKind(raw))
		}
		if attr.Type == TypeInteger {
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				return nil, BadRequest(ErrInvalidValue, "attribute %q must be an integer", path)
			}
		} else if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, BadRequest(ErrInvalidValue, "attribute %q must be a decimal", path)
		}
		return json.Number(s), nil
	case TypeDateTime:
		s, ok := raw.(string)
		if !ok {
			return nil, BadRequest(ErrInvalidValue, "attribute %q must be a dateTime string, not %s", path, jsonKind(raw))
		}
		if _, err := ParseDateTime(s); err != nil {
			return nil, BadRequest(ErrInvalidValue, "attribute %q is not an xsd:dateTime: %q", path, s)
		}
		return s, nil
	default: // string, reference, binary
		// A number or boolean is refused, not turned into its text: a
		// userName of 42 is a client bug that must surface, not a user
		// named "42".
		if v, ok := raw.(string); ok {
			return v, nil
		}
		return nil, BadRequest(ErrInvalidValue, "attribute %q must be a string, not %s", path, jsonKind(raw))
	}
}

// jsonKind names the JSON type of a decoded value, for error details.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "a value"
}

// ParseDateTime parses an xsd:dateTime as SCIM uses it (RFC 3339 with any
// number of fractional digits).
func ParseDateTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
}

func parseMembers(raw any) ([]Member, error) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		list = []any{raw}
	}
	out := make([]Member, 0, len(list))
	seen := make(map[string]struct{}, len(list))
	for _, item := range list {
		m, err := ParseMember(item)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[m.Value]; dup {
			continue
		}
		seen[m.Value] = struct{}{}
		out = append(out, m)
	}
	return out, nil
}

// ParseMember reads one member reference: an object with "value" (and
// optionally "display" or "displayName", "type"), or a bare string id.
func ParseMember(item any) (Member, error) {
	switch v := item.(type) {
	case string:
		if v == "" {
			return Member{}, BadRequest(ErrInvalidValue, "a member needs a non-empty value")
		}
		return Member{Value: v}, nil
	case map[string]any:
		var m Member
		for k, x := range v {
			s, _ := x.(string)
			switch strings.ToLower(k) {
			case "value":
				if js, ok := x.(json.Number); ok {
					s = js.String()
				}
				m.Value = s
			case "display", "displayname":
				m.Display = s
			case "type":
				m.Type = s
			}
		}
		if m.Value == "" {
			return Member{}, BadRequest(ErrInvalidValue, "a member needs a non-empty string value")
		}
		if m.Type != "" && !strings.EqualFold(m.Type, "User") {
			return Member{}, BadRequest(ErrInvalidValue, "member %q has type %q: only User members are supported", m.Value, m.Type)
		}
		m.Type = ""
		return m, nil
	}
	return Member{}, BadRequest(ErrInvalidValue, "a member must be an object with a value")
}
