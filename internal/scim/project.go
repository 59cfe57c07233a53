package scim

import (
	"strings"
)

// AttrPath is a parsed entry of the attributes or excludedAttributes query
// parameter: an optional extension URN, an attribute and a sub-attribute.
type AttrPath struct {
	URN  string // "" for the core schema
	Attr string
	Sub  string
}

// ParseAttrList parses a comma-separated attributes parameter. Filters in
// brackets (emails[type eq "work"]) are accepted and select the whole
// attribute, as some clients send them.
func ParseAttrList(rt *ResourceType, s string) []AttrPath {
	var out []AttrPath
	for _, raw := range splitAttrList(s) {
		raw = strings.TrimSpace(raw)
		if i := strings.IndexByte(raw, '['); i >= 0 {
			rest := ""
			if j := strings.LastIndexByte(raw, ']'); j > i {
				rest = raw[j+1:]
			}
			raw = raw[:i] + rest
		}
		if raw == "" {
			continue
		}
		out = append(out, parseAttrPath(rt, raw))
	}
	return out
}

func splitAttrList(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth <= 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseAttrPath(rt *ResourceType, p string) AttrPath {
	var ap AttrPath
	qualified := strings.HasPrefix(strings.ToLower(p), "urn:")
	if qualified {
		for _, urn := range rt.SchemaURNs() {
			if len(p) >= len(urn) && strings.EqualFold(p[:len(urn)], urn) {
				if urn != rt.Schema.ID {
					ap.URN = urn
				}
				p = strings.TrimPrefix(p[len(urn):], ":")
				break
			}
		}
	}
	ap.Attr, ap.Sub, _ = strings.Cut(p, ".")
	if !qualified {
		if ext, _ := rt.ShortName(ap.Attr); ext != nil {
			ap.URN = ext.ID // "manager" is the enterprise extension's
		}
	}
	return ap
}

// Project applies attributes / excludedAttributes (RFC 7644 §3.9) to a full
// resource representation. Attributes returned "always" (id, schemas) stay;
// "never" ones never appear; "request" ones appear only when asked for.
func Project(res map[string]any, rt *ResourceType, attributes, excluded []AttrPath) map[string]any {
	out := make(map[string]any, len(res))
	for key, v := range res {
		lk := strings.ToLower(key)
		if lk == "id" || lk == "schemas" {
			out[key] = v
			continue
		}
		if ext := rt.Extension(key); ext != nil {
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			sub := projectObject(obj, ext, ext.ID, attributes, excluded)
			if len(sub) > 0 {
				out[key] = sub
			}
			continue
		}
		a := rt.Schema.Attr(key)
		if a == nil {
			a = commonAttr(key)
		}
		if a == nil {
			continue
		}
		if pv, ok := projectAttr(a, "", key, v, attributes, excluded); ok {
			out[key] = pv
		}
	}
	return out
}

func projectObject(obj map[string]any, s *Schema, urn string, attributes, excluded []AttrPath) map[string]any {
	out := make(map[string]any, len(obj))
	for key, v := range obj {
		a := s.Attr(key)
		if a == nil {
			continue
		}
		// Asking for the whole extension ("urn:...:User") selects all of it.
		if wholeURN(attributes, urn) && !listed(excluded, urn, key) {
			if a.Returned != ReturnedNever {
				out[key] = v
			}
			continue
		}
		if pv, ok := projectAttr(a, urn, key, v, attributes, excluded); ok {
			out[key] = pv
		}
	}
	return out
}

func wholeURN(paths []AttrPath, urn string) bool {
	for _, p := range paths {
		if p.URN == "" && strings.EqualFold(p.Attr, urn) {
			return true
		}
		if strings.EqualFold(p.URN, urn) && p.Attr == "" {
			return true
		}
	}
	return false
}

// projectAttr decides whether attribute a (value v) is returned, and with
// which sub-attributes.
func projectAttr(a *Attribute, urn, key string, v any, attributes, excluded []AttrPath) (any, bool) {
	switch a.Returned {
	case ReturnedNever:
		return nil, false
	case ReturnedAlways:
		return v, true
	}
	if len(attributes) > 0 {
		if !listed(attributes, urn, key) {
			return nil, false
		}
		subs := subsListed(attributes, urn, key)
		if len(subs) > 0 && a.Type == TypeComplex {
			return keepSubs(v, subs, true), true
		}
		return v, true
	}
	if a.Returned == ReturnedRequest {
		return nil, false
	}
	if wholeListed(excluded, urn, key) {
		return nil, false
	}
	if subs := subsListed(excluded, urn, key); len(subs) > 0 && a.Type == TypeComplex {
		return keepSubs(v, subs, false), true
	}
	return v, true
}

func listed(paths []AttrPath, urn, key string) bool {
	for _, p := range paths {
		if strings.EqualFold(p.URN, urn) && strings.EqualFold(p.Attr, key) {
			return true
		}
	}
	return false
}

func wholeListed(paths []AttrPath, urn, key string) bool {
	for _, p := range paths {
		if strings.EqualFold(p.URN, urn) && strings.EqualFold(p.Attr, key) && p.Sub == "" {
			return true
		}
	}
	return false
}

// subsListed returns the sub-attributes named for key, or nil when key is
// named as a whole.
func subsListed(paths []AttrPath, urn, key string) []string {
	var subs []string
	for _, p := range paths {
		if strings.EqualFold(p.URN, urn) && strings.EqualFold(p.Attr, key) {
			if p.Sub == "" {
				return nil
			}
			subs = append(subs, p.Sub)
		}
	}
	return subs
}

// keepSubs keeps (keep=true) or drops the named sub-attributes of a complex
// value or of each element of a multi-valued one.
func keepSubs(v any, subs []string, keep bool) any {
	one := func(obj map[string]any) map[string]any {
		out := make(map[string]any, len(obj))
		for k, x := range obj {
			named := false
			for _, s := range subs {
				if strings.EqualFold(s, k) {
					named = true
					break
				}
			}
			if named == keep {
				out[k] = x
			}
		}
		return out
	}
	switch t := v.(type) {
	case map[string]any:
		return one(t)
	case []any:
		out := make([]any, 0, len(t))
		for _, item := range t {
			if obj, ok := item.(map[string]any); ok {
				out = append(out, one(obj))
			} else {
				out = append(out, item)
			}
		}
		return out
	}
	return v
}
