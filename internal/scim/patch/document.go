package patch

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// Helpers on the resource document being patched: extension objects, the
// schemas list, what was touched, and JSON values.

// extObj returns the object of extension urn in the document, creating it
// when create is set; nil when absent and not created.
func (a *applier) extObj(urn string, create bool) map[string]any {
	if v, ok := filter.Get(a.doc, urn); ok {
		if m, ok := v.(map[string]any); ok {
			if !hasExactKey(a.doc, urn) {
				setKey(a.doc, urn, m)
			}
			return m
		}
	}
	if !create {
		return nil
	}
	m := map[string]any{}
	setKey(a.doc, urn, m)
	return m
}

func hasExactKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// addSchema lists urn in the resource's schemas if it has a schemas array.
func (a *applier) addSchema(urn string) {
	v, ok := a.doc["schemas"]
	if !ok {
		return
	}
	arr, ok := v.([]any)
	if !ok {
		return
	}
	for _, s := range arr {
		if str, ok := s.(string); ok && strings.EqualFold(str, urn) {
			return
		}
	}
	a.doc["schemas"] = append(arr, urn)
}

func (a *applier) dropSchema(urn string) {
	arr, ok := a.doc["schemas"].([]any)
	if !ok {
		return
	}
	out := arr[:0:0]
	for _, s := range arr {
		if str, ok := s.(string); ok && strings.EqualFold(str, urn) {
			continue
		}
		out = append(out, s)
	}
	a.doc["schemas"] = out
}

func (a *applier) touch(urn, name string) {
	a.touched[strings.ToLower(urn+"\x00"+name)] = touchedAttr{urn: urn, name: name}
}

func attrValue(doc map[string]any, t touchedAttr) any {
	c := doc
	if t.urn != "" {
		ext, _ := filter.Get(doc, t.urn)
		m, ok := ext.(map[string]any)
		if !ok {
			return nil
		}
		c = m
	}
	v, _ := filter.Get(c, t.name)
	return v
}

// decodeValue decodes an operation's raw value with UseNumber.
func decodeValue(raw json.RawMessage) (any, bool, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, false, nil
	case string(raw) == "true":
		return true, true, nil
	case string(raw) == "false":
		return false, true, nil
	case string(raw) == "null":
		return nil, true, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return s, true, nil
		}
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false, &scim.Error{Code: scim.CodeInvalid, ScimType: scim.ErrInvalidValue, Detail: "value is not JSON: " + err.Error(), Err: err}
	}
	return v, true, nil
}

// setKey sets m[k], removing keys that differ from k only in case.
func setKey(m map[string]any, k string, v any) {
	deleteKey(m, k)
	m[k] = v
}

// deleteKey removes k from m in any case.
func deleteKey(m map[string]any, k string) {
	delete(m, k)
	for key := range m {
		if strings.EqualFold(key, k) {
			delete(m, key)
		}
	}
}

func asArray(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return slices.Clone(t)
	}
	return []any{v}
}
