package handlers

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// sortLess builds the ordering of sortBy/sortOrder (RFC 7644 §3.4.2.3):
// values compare by the attribute's type, strings case-insensitively unless
// caseExact; a multi-valued attribute sorts by its primary (else first)
// value; resources without a value sort last in either order.
func sortLess(rt *scim.ResourceType, sortBy, sortOrder string) (func(a, b map[string]any) bool, error) {
	p, err := filter.ParsePath(sortBy)
	if err != nil || p.Filter != nil {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "sortBy %q is not an attribute path", sortBy)
	}
	schema, def := filter.Resolve(rt, p.AttrPath)
	if def == nil {
		return nil, scim.BadRequest(scim.ErrInvalidValue, "sortBy names %q, which is not an attribute of %s", sortBy, rt.Name)
	}
	sub := p.AttrPath.Sub
	leaf := def
	if sub != "" {
		if leaf = def.Sub(sub); leaf == nil {
			return nil, scim.BadRequest(scim.ErrInvalidValue, "sortBy names %q, which is not an attribute of %s", sortBy, rt.Name)
		}
	} else if def.Type == scim.TypeComplex {
		sub = "value"
		if leaf = def.Sub("value"); leaf == nil {
			return nil, scim.BadRequest(scim.ErrInvalidValue, "sortBy cannot order by the complex attribute %q", sortBy)
		}
	}
	desc := false
	switch strings.ToLower(sortOrder) {
	case "", "ascending":
	case "descending":
		desc = true
	default:
		return nil, scim.BadRequest(scim.ErrInvalidValue, "sortOrder must be ascending or descending, not %q", sortOrder)
	}
	// The extension the attribute lives in: named, or found from a short
	// name ("manager").
	urn := ""
	if schema != nil && schema != rt.Schema {
		urn = schema.ID
	}
	value := func(attrs map[string]any) (any, bool) {
		obj := attrs
		if urn != "" {
			ext, _ := filter.Get(attrs, urn)
			if obj, _ = ext.(map[string]any); obj == nil {
				return nil, false
			}
		}
		v, ok := filter.Get(obj, p.AttrPath.Name)
		if !ok {
			return nil, false
		}
		if list, isList := v.([]any); isList {
			if len(list) == 0 {
				return nil, false
			}
			v = list[0]
			for _, item := range list {
				if m, ok := item.(map[string]any); ok {
					if pr, _ := filter.Get(m, "primary"); pr == true {
						v = item
						break
					}
				}
			}
		}
		if sub != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = filter.Get(m, sub); !ok {
				return nil, false
			}
		}
		return v, v != nil
	}
	return func(a, b map[string]any) bool {
		va, oka := value(a)
		vb, okb := value(b)
		switch {
		case !oka || !okb:
			return oka && !okb // present before absent, in either order
		}
		c := compareValues(leaf, va, vb)
		if desc {
			return c > 0
		}
		return c < 0
	}, nil
}

// compareValues orders two values of one attribute.
func compareValues(def *scim.Attribute, a, b any) int {
	switch def.Type {
	case scim.TypeInteger, scim.TypeDecimal:
		fa, _ := strconv.ParseFloat(numString(a), 64)
		fb, _ := strconv.ParseFloat(numString(b), 64)
		return cmp(fa < fb, fa > fb)
	case scim.TypeBoolean:
		ba, bb := a == true, b == true
		return cmp(!ba && bb, ba && !bb)
	case scim.TypeDateTime:
		sa, _ := a.(string)
		sb, _ := b.(string)
		ta, oka := filter.ParseTime(sa)
		tb, okb := filter.ParseTime(sb)
		if oka && okb {
			return ta.Compare(tb)
		}
		return strings.Compare(sa, sb)
	}
	sa, _ := a.(string)
	sb, _ := b.(string)
	if !def.CaseExact {
		sa, sb = strings.ToLower(sa), strings.ToLower(sb)
	}
	return strings.Compare(sa, sb)
}

func numString(v any) string {
	switch t := v.(type) {
	case json.Number:
		return t.String()
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	}
	return ""
}

func cmp(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}
