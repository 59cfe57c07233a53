package filter

import (
	"github.com/adfscim/adfscim/internal/scim"
)

// Validate checks the filter against the attributes of rt and answers 400
// invalidFilter for what cannot be evaluated sensibly: a sub-attribute of a
// simple attribute, a value path on a simple attribute, an ordering or
// substring operator on a boolean, binary or complex attribute, or a literal
// that cannot be a value of the attribute's type (a word where a number or
// dateTime is needed, a number or string other than "true"/"false" for a
// boolean, a boolean for a string).
//
// Attributes that rt does not define are accepted and simply never match
// (an IdP's custom attribute must not fail a lookup). A name without a URN
// that one extension alone defines ("manager") is that extension's, and a
// complex attribute with a "value" sub-attribute compares its value
// (`manager eq "id"`, as Entra ID asks).
//
// Validate also records the resolved definitions in the nodes so that Match
// with the same rt needs no name lookups. Call it before sharing e between
// goroutines; Match itself never writes to e.
func (e *Expr) Validate(rt *scim.ResourceType) error {
	if e == nil {
		return nil
	}
	return e.validate(rt, nil, false)
}

func (e *Expr) validate(rt *scim.ResourceType, parent *scim.Attribute, inner bool) error {
	switch e.Op {
	case OpAnd, OpOr:
		if err := e.X.validate(rt, parent, inner); err != nil {
			return err
		}
		return e.Y.validate(rt, parent, inner)
	case OpNot:
		return e.X.validate(rt, parent, inner)
	}
	if inner && e.Attr.URN != "" {
		return invalid(e, "attribute %q inside a value filter cannot carry a schema URN", e.Attr.String())
	}
	if inner && e.Op == OpValuePath {
		return invalid(e, "value filters cannot be nested (%q)", e.Attr.String())
	}
	var a *scim.Attribute
	e.ext = ""
	if inner {
		a = parent.Sub(e.Attr.Name)
	} else {
		e.ext = shortExt(rt, e.Attr)
		_, a = Resolve(rt, e.Attr)
	}
	def := a
	if a != nil && e.Attr.Sub != "" {
		if a.Type != scim.TypeComplex {
			return invalid(e, "attribute %q has no sub-attributes", a.Name)
		}
		def = a.Sub(e.Attr.Sub)
	}
	e.rt, e.def = rt, def
	if e.Op == OpValuePath {
		if a != nil && a.Type != scim.TypeComplex && !a.MultiValued {
			return invalid(e, "attribute %q is neither complex nor multi-valued and takes no value filter", a.Name)
		}
		return e.X.validate(rt, a, true)
	}
	if def == nil || e.Op == OpPr {
		return nil
	}
	t := def
	if t.Type == scim.TypeComplex {
		if v := t.Sub("value"); v != nil {
			t = v // emails co "x" compares emails.value, manager eq "x" manager.value
		} else {
			return invalid(e, "complex attribute %q cannot be compared with %s; name a sub-attribute", e.Attr.String(), e.Op)
		}
	}
	lit := e.Value
	if lit.Kind == KindNull {
		return nil
	}
	switch t.Type {
	case scim.TypeBoolean:
		if e.Op != OpEq && e.Op != OpNe {
			return invalid(e, "boolean attribute %q supports only eq and ne, not %s", e.Attr.String(), e.Op)
		}
		if lit.Kind == KindNumber {
			return invalid(e, "boolean attribute %q cannot equal %s", e.Attr.String(), lit.String())
		}
		if _, ok := ParseBool(lit.Str); lit.Kind == KindString && !ok {
			return invalid(e, "boolean attribute %q cannot equal %s", e.Attr.String(), lit.String())
		}
	case scim.TypeBinary:
		if e.Op != OpEq && e.Op != OpNe {
			return invalid(e, "binary attribute %q supports only eq and ne, not %s", e.Attr.String(), e.Op)
		}
	case scim.TypeInteger, scim.TypeDecimal:
		if lit.Kind == KindBool || (lit.Kind == KindString && !isNumber(lit.Str)) {
			return invalid(e, "number attribute %q cannot be compared with %s", e.Attr.String(), lit.String())
		}
	case scim.TypeDateTime:
		if lit.Kind == KindBool || lit.Kind == KindNumber {
			return invalid(e, "dateTime attribute %q cannot be compared with %s", e.Attr.String(), lit.String())
		}
		if e.Op != OpCo && e.Op != OpSw && e.Op != OpEw {
			if _, ok := ParseTime(lit.Str); !ok {
				return invalid(e, "%s is not a dateTime (RFC 3339) for attribute %q", lit.String(), e.Attr.String())
			}
		}
	default: // string, reference
		if lit.Kind == KindBool {
			return invalid(e, "string attribute %q cannot be compared with %s", e.Attr.String(), lit.String())
		}
	}
	return nil
}

func invalid(e *Expr, format string, args ...any) error {
	err := scim.BadRequest(scim.ErrInvalidFilter, format, args...)
	err.Detail = "invalid filter at column " + itoa(e.Pos) + ": " + err.Detail
	return err
}

// ValidateValue validates e as the filter of a value path on attribute attr
// (as in `emails[type eq "work"]`, whose names are sub-attributes of
// emails), with the same rules and caching as Validate.
func (e *Expr) ValidateValue(rt *scim.ResourceType, attr *scim.Attribute) error {
	if e == nil {
		return nil
	}
	return e.validate(rt, attr, true)
}

// Compile parses s and validates it against rt: the one call a list or
// search request needs. Errors are 400 invalidFilter.
func Compile(s string, rt *scim.ResourceType) (*Expr, error) {
	e, err := Parse(s)
	if err != nil {
		return nil, err
	}
	if err := e.Validate(rt); err != nil {
		return nil, err
	}
	return e, nil
}
