package patch

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// coerce converts one value to the attribute's type, forgivingly: "True"
// and "false" become booleans, numeric strings numbers (but numbers never
// strings), a string given for
// a complex attribute with a "value" sub-attribute becomes {"value": s}
// (Entra's manager, the test suite's members), sub-attribute names become
// canonical and unknown ones are dropped (and recorded in ignored). A nil
// result means "no value" (null, or "" for a complex attribute).
func coerce(def *scim.Attribute, v any, raw string, ignored *[]string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if arr, isArr := v.([]any); isArr {
		if def.MultiValued || len(arr) > 1 {
			return nil, scim.BadRequest(scim.ErrInvalidValue, "%q takes one value here, not an array", raw)
		}
		// A single-valued attribute sent as a one-element array
		// (`"manager": [{"value": "x"}]`): take the element.
		if len(arr) == 0 {
			return nil, nil
		}
		v = arr[0]
		if v == nil {
			return nil, nil
		}
	}
	switch def.Type {
	case scim.TypeComplex:
		m, err := coerceElement(def, v, raw, ignored)
		if m == nil || err != nil {
			return nil, err
		}
		return m, nil
	case scim.TypeBoolean:
		switch t := v.(type) {
		case bool:
			return t, nil
		case string:
			if b, ok := filter.ParseBool(strings.TrimSpace(t)); ok {
				return b, nil
			}
		}
		return nil, badType(raw, def, v)
	case scim.TypeInteger:
		s, ok := numberText(v)
		if !ok {
			return nil, badType(raw, def, v)
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			return nil, badType(raw, def, v)
		}
		return json.Number(s), nil
	case scim.TypeDecimal:
		s, ok := numberText(v)
		if !ok {
			return nil, badType(raw, def, v)
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, badType(raw, def, v)
		}
		return json.Number(s), nil
	case scim.TypeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, badType(raw, def, v)
		}
		if _, ok := filter.ParseTime(s); !ok {
			return nil, scim.BadRequest(scim.ErrInvalidValue, "%q needs an RFC 3339 dateTime, not %q", raw, s)
		}
		return s, nil
	default: // string, reference, binary
		// A number is refused rather than stored as its digits, as in a
		// POST body: a userName of 42 is a client bug to surface.
		if t, ok := v.(string); ok {
			return t, nil
		}
		return nil, badType(raw, def, v)
	}
}

// coerceElement converts one value of a complex attribute.
func coerceElement(def *scim.Attribute, v any, raw string, ignored *[]string) (map[string]any, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if def.Sub("value") == nil {
			return nil, badType(raw, def, v)
		}
		if t == "" {
			return nil, nil
		}
		return map[string]any{def.Sub("value").Name: t}, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, sv := range t {
			sd := def.Sub(k)
			if sd == nil {
				if ignored != nil && raw != "" {
					*ignored = append(*ignored, raw+"."+k)
				}
				continue
			}
			cv, err := coerce(sd, sv, raw+"."+sd.Name, ignored)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				out[sd.Name] = cv
			}
		}
		return out, nil
	}
	return nil, badType(raw, def, v)
}

// coerceMulti converts a value for a whole multi-valued attribute: an
// array, or a single value taken as a one-element array.
func coerceMulti(def *scim.Attribute, v any, raw string, ignored *[]string) ([]any, error) {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	out := make([]any, 0, len(items))
	single := *def
	single.MultiValued = false
	for _, it := range items {
		cv, err := coerce(&single, it, raw, ignored)
		if err != nil {
			return nil, err
		}
		if cv != nil {
			out = append(out, cv)
		}
	}
	return out, nil
}

// canonicalSubs renames the keys of a complex value to their canonical
// sub-attribute names, in place.
func canonicalSubs(def *scim.Attribute, m map[string]any) map[string]any {
	for k, v := range m {
		if sd := def.Sub(k); sd != nil && sd.Name != k {
			delete(m, k)
			m[sd.Name] = v
		}
	}
	return m
}

func numberText(v any) (string, bool) {
	switch t := v.(type) {
	case json.Number:
		return string(t), isJSONNumber(string(t))
	case string:
		s := strings.TrimSpace(t)
		return s, isJSONNumber(s)
	}
	return "", false
}

// isJSONNumber reports whether s is a JSON number (so "NaN", "Inf" and
// "0x1" are not).
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && json.Valid([]byte(s))
}

func badType(raw string, def *scim.Attribute, v any) error {
	got := "a value"
	switch v.(type) {
	case string:
		got = "a string"
	case bool:
		got = "a boolean"
	case json.Number:
		got = "a number"
	case map[string]any:
		got = "an object"
	case []any:
		got = "an array"
	}
	return scim.BadRequest(scim.ErrInvalidValue, "%q is of type %s and cannot take %s", raw, def.Type, got)
}
