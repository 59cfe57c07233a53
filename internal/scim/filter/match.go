package filter

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/scim"
)

// Match reports whether the resource res (a JSON object decoded with
// UseNumber, canonical or any-case attribute names, extension attributes
// under their schema URN) satisfies the filter.
//
// Semantics: string comparisons follow the attribute's caseExact (unknown
// attributes compare case-insensitively); dateTime attributes compare as
// instants; booleans and numbers compare as such; a multi-valued attribute
// matches when any of its values does; a complex multi-valued attribute
// without a sub-attribute compares its "value" sub-attribute; `pr` means
// present and not empty; `ne` is `not eq` (true for an absent attribute);
// `eq null` means absent and `ne null` present. The ordering operators on
// an absent attribute are false.
//
// Match resolves attribute names against rt (which may be nil: then every
// attribute is treated as unknown). It does not modify e or res and is safe
// for concurrent use.
func (e *Expr) Match(res map[string]any, rt *scim.ResourceType) bool {
	if e == nil {
		return true
	}
	return e.eval(res, rt, nil)
}

// eval evaluates e against obj. parent is nil at the resource level, or the
// complex attribute whose value obj is (inside a value path).
func (e *Expr) eval(obj map[string]any, rt *scim.ResourceType, parent *scim.Attribute) bool {
	switch e.Op {
	case OpAnd:
		return e.X.eval(obj, rt, parent) && e.Y.eval(obj, rt, parent)
	case OpOr:
		return e.X.eval(obj, rt, parent) || e.Y.eval(obj, rt, parent)
	case OpNot:
		return !e.X.eval(obj, rt, parent)
	}
	def := e.resolveDef(rt, parent)
	ap := e.Attr
	if parent == nil {
		ap.URN = e.resolveExt(rt, ap)
	}
	top, ok := lookup(obj, ap, rt, parent != nil)
	if e.Op == OpValuePath {
		if !ok {
			return false
		}
		return anyElem(top, func(el any) bool {
			m, isMap := el.(map[string]any)
			return isMap && e.X.eval(m, rt, def)
		})
	}
	if e.Op == OpPr {
		if !ok {
			return false
		}
		return anyValue(top, e.Attr.Sub, isPresent)
	}
	if e.Value.Kind == KindNull {
		present := ok && anyValue(top, e.Attr.Sub, isPresent)
		if e.Op == OpEq {
			return !present
		}
		return present // ne null
	}
	if e.Op == OpNe {
		if !ok {
			return true
		}
		return !anyValue(top, e.Attr.Sub, func(v any) bool { return compare(v, OpEq, e.Value, def) })
	}
	if !ok {
		return false
	}
	return anyValue(top, e.Attr.Sub, func(v any) bool { return compare(v, e.Op, e.Value, def) })
}

// resolveDef returns the definition of the attribute (or sub-attribute) a
// comparison names, using what Validate cached when it ran for this rt.
func (e *Expr) resolveDef(rt *scim.ResourceType, parent *scim.Attribute) *scim.Attribute {
	if e.rt != nil && e.rt == rt {
		return e.def
	}
	return defFor(e.Attr, rt, parent)
}

// resolveExt returns the URN the comparison's attribute lives under: its
// own, or the extension a short name resolved to.
func (e *Expr) resolveExt(rt *scim.ResourceType, ap AttrPath) string {
	if ap.URN != "" {
		return ap.URN
	}
	if e.rt != nil && e.rt == rt {
		return e.ext
	}
	return shortExt(rt, ap)
}

// shortExt returns the extension URN a name without a URN denotes (see
// scim.ResourceType.ShortName), or "".
func shortExt(rt *scim.ResourceType, ap AttrPath) string {
	if ap.URN != "" || rt == nil {
		return ""
	}
	if s, _ := rt.ShortName(ap.Name); s != nil {
		return s.ID
	}
	return ""
}

func defFor(ap AttrPath, rt *scim.ResourceType, parent *scim.Attribute) *scim.Attribute {
	var a *scim.Attribute
	if parent != nil {
		a = parent.Sub(ap.Name)
	} else {
		_, a = Resolve(rt, ap)
	}
	if ap.Sub != "" {
		return a.Sub(ap.Sub)
	}
	return a
}

// lookup finds the value of ap's attribute (not its sub-attribute) in obj.
func lookup(obj map[string]any, ap AttrPath, rt *scim.ResourceType, inner bool) (any, bool) {
	if ap.URN != "" && !inner {
		core := rt != nil && rt.Schema != nil && strings.EqualFold(ap.URN, rt.Schema.ID)
		if !core {
			ext, ok := Get(obj, ap.URN)
			if m, isMap := ext.(map[string]any); ok && isMap {
				return Get(m, ap.Name)
			}
			if rt != nil {
				return nil, false
			}
		}
	}
	return Get(obj, ap.Name)
}

// Get returns obj[name], matching the key case-insensitively (an exact
// match is tried first, so canonical names cost one map access).
func Get(obj map[string]any, name string) (any, bool) {
	if v, ok := obj[name]; ok {
		return v, true
	}
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

// anyElem calls f on each element of a multi-valued v (or on v itself)
// until f returns true.
func anyElem(v any, f func(any) bool) bool {
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if f(el) {
				return true
			}
		}
		return false
	}
	return f(v)
}

// anyValue calls f on each value the attribute value v holds: the
// sub-attribute sub of each element when sub is set, else each element.
func anyValue(v any, sub string, f func(any) bool) bool {
	if sub == "" {
		return anyElem(v, f)
	}
	return anyElem(v, func(el any) bool {
		m, ok := el.(map[string]any)
		if !ok {
			return false
		}
		sv, ok := Get(m, sub)
		return ok && anyElem(sv, f)
	})
}

// isPresent reports whether v is a non-empty value (RFC 7644 "pr").
func isPresent(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t != ""
	case []any:
		for _, el := range t {
			if isPresent(el) {
				return true
			}
		}
		return false
	case map[string]any:
		for _, el := range t {
			if isPresent(el) {
				return true
			}
		}
		return false
	}
	return true
}

// compare applies a comparison operator to one attribute value.
func compare(v any, op Op, lit Literal, def *scim.Attribute) bool {
	typ := scim.AttrType("")
	caseExact := false
	if def != nil {
		typ = def.Type
		caseExact = def.CaseExact
		if typ == scim.TypeComplex {
			if m, ok := v.(map[string]any); ok {
				// A complex value without sub-attribute compares its "value".
				inner, ok := Get(m, "value")
				if !ok {
					return false
				}
				return compare(inner, op, lit, def.Sub("value"))
			}
		}
	}
	switch t := v.(type) {
	case string:
		switch typ {
		case scim.TypeDateTime:
			if c, ok := compareTimes(t, lit.Str); ok {
				return ordered(op, c)
			}
		case scim.TypeBoolean:
			if b, ok := ParseBool(t); ok {
				return compareBool(b, op, lit)
			}
		case scim.TypeInteger, scim.TypeDecimal:
			if c, ok := compareNumbers(t, lit); ok {
				return ordered(op, c)
			}
		}
		return compareStrings(t, op, lit, caseExact)
	case bool:
		return compareBool(t, op, lit)
	case json.Number:
		if c, ok := compareNumbers(string(t), lit); ok {
			return ordered(op, c)
		}
		return compareStrings(string(t), op, lit, true)
	case float64:
		if c, ok := compareNumbers(strconv.FormatFloat(t, 'g', -1, 64), lit); ok {
			return ordered(op, c)
		}
	case int:
		if c, ok := compareNumbers(strconv.Itoa(t), lit); ok {
			return ordered(op, c)
		}
	case map[string]any:
		if inner, ok := Get(t, "value"); ok {
			return compare(inner, op, lit, nil)
		}
	}
	return false
}

// ordered turns a three-way comparison into the operator's answer; the
// substring operators make no sense on it and are false.
func ordered(op Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	}
	return false
}

func compareBool(b bool, op Op, lit Literal) bool {
	want, ok := lit.Bool, lit.Kind == KindBool
	if lit.Kind == KindString {
		want, ok = ParseBool(lit.Str)
	}
	if !ok {
		return false
	}
	switch op {
	case OpEq:
		return b == want
	case OpNe:
		return b != want
	}
	return false
}

// ParseBool accepts "true"/"false" in any case (Entra sends "True").
func ParseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

func compareNumbers(s string, lit Literal) (int, bool) {
	if lit.Kind != KindNumber && lit.Kind != KindString {
		return 0, false
	}
	a, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(a) {
		return 0, false
	}
	b, err := strconv.ParseFloat(strings.TrimSpace(lit.Str), 64)
	if err != nil || math.IsNaN(b) {
		return 0, false
	}
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

func compareTimes(a, b string) (int, bool) {
	ta, ok := ParseTime(a)
	if !ok {
		return 0, false
	}
	tb, ok := ParseTime(b)
	if !ok {
		return 0, false
	}
	return ta.Compare(tb), true
}

// ParseTime parses an xsd:dateTime as SCIM uses it: RFC 3339 with
// fractional seconds of any length; a missing zone means UTC.
func ParseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func compareStrings(s string, op Op, lit Literal, caseExact bool) bool {
	if lit.Kind == KindBool || lit.Kind == KindNull {
		return false
	}
	want := lit.Str
	switch op {
	case OpEq:
		if caseExact {
			return s == want
		}
		// As the uniqueness index compares: NFC and case folded, so the
		// NFD spelling of a userName finds it.
		return scim.EqualFoldKey(s, want)
	case OpNe:
		if caseExact {
			return s != want
		}
		return !scim.EqualFoldKey(s, want)
	case OpSw:
		return len(s) >= len(want) && equal(s[:len(want)], want, caseExact)
	case OpEw:
		return len(s) >= len(want) && equal(s[len(s)-len(want):], want, caseExact)
	case OpCo:
		if caseExact {
			return strings.Contains(s, want)
		}
		return containsFold(s, want)
	}
	if !caseExact {
		s, want = strings.ToLower(s), strings.ToLower(want)
	}
	return ordered(op, strings.Compare(s, want))
}

func equal(a, b string, caseExact bool) bool {
	if caseExact {
		return a == b
	}
	return strings.EqualFold(a, b)
}

// containsFold reports whether sub is within s, case-insensitively,
// without allocating for ASCII text.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	// Non-ASCII case folding can change byte lengths.
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// MatchValue reports whether one value v of the complex attribute attr
// satisfies e, whose attribute names are sub-attributes of attr (the filter
// of a value path such as `emails[type eq "work"]`).
func (e *Expr) MatchValue(v map[string]any, rt *scim.ResourceType, attr *scim.Attribute) bool {
	if e == nil {
		return true
	}
	return e.eval(v, rt, attr)
}
