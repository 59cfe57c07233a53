// Package filter implements the SCIM 2.0 filter language (RFC 7644
// §3.4.2.2) and the attribute paths PATCH uses (RFC 7644 §3.5.2): a
// hand-written recursive-descent parser that allocates one node per
// comparison and never copies a quoted value without escapes, an evaluator
// over JSON-decoded resources (map[string]any), validation against a
// scim.ResourceType, and a fast-path recogniser for `attr eq "value"`
// lookups that the directory turns into index reads.
//
// It is deliberately forgiving where real clients are sloppy: keywords and
// attribute names are case-insensitive, and unquoted bare-word values
// (`name.familyName eq Employee`, `meta.created gt 2015-10-10T14:38:21Z`) are
// accepted as strings because Microsoft's SCIM test suite sends them.
package filter

import (
	"strconv"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
)

// Limits that keep a hostile filter from costing more than a request is
// worth. A filter beyond them is a 400 invalidFilter, never a stack overflow.
const (
	// MaxLength is the longest filter or path accepted, in bytes.
	MaxLength = 8192
	// MaxDepth bounds the nesting of parentheses, `not` and value paths.
	MaxDepth = 64
)

// Op is the operator of an Expr node.
type Op uint8

// Operators. The comparison operators come first so that IsComparison is a
// range check.
const (
	OpEq Op = iota + 1
	OpNe
	OpCo
	OpSw
	OpEw
	OpGt
	OpGe
	OpLt
	OpLe
	OpPr        // attribute present (and not empty)
	OpAnd       // X and Y
	OpOr        // X or Y
	OpNot       // not (X)
	OpValuePath // Attr[X]: some value of the multi-valued Attr matches X
)

var opNames = [...]string{"", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not", "[]"}

// String returns the operator's keyword.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// IsComparison reports whether o compares an attribute with a literal.
func (o Op) IsComparison() bool { return o >= OpEq && o <= OpLe }

// isOrdering reports whether o is gt, ge, lt or le.
func (o Op) isOrdering() bool { return o >= OpGt && o <= OpLe }

// Kind is the type of a literal value in a filter.
type Kind uint8

// Literal kinds.
const (
	KindString Kind = iota + 1
	KindNumber
	KindBool
	KindNull
)

// Literal is the comparison value of a filter.
type Literal struct {
	Kind Kind
	// Str is the string value (escapes decoded) or, for a number, its
	// text exactly as written; "true"/"false"/"null" for the others.
	Str  string
	Bool bool
	// Bare is set when the value was written without quotes (a quirk
	// accepted from Microsoft's test suite).
	Bare bool
}

// String renders the literal in filter syntax.
func (l Literal) String() string {
	switch l.Kind {
	case KindString:
		return quoteJSON(l.Str)
	case KindBool:
		return strconv.FormatBool(l.Bool)
	case KindNull:
		return "null"
	}
	return l.Str
}

// quoteJSON renders s as a JSON string literal, the form filters use.
func quoteJSON(s string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// AttrPath names an attribute: an optional schema URN, the attribute and an
// optional sub-attribute. Names keep the case the client wrote; compare them
// with strings.EqualFold.
type AttrPath struct {
	URN  string // "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", or ""
	Name string // "name"
	Sub  string // "familyName", or ""
}

// String renders the path as a client would write it.
func (a AttrPath) String() string {
	var b strings.Builder
	if a.URN != "" {
		b.WriteString(a.URN)
		b.WriteByte(':')
	}
	b.WriteString(a.Name)
	if a.Sub != "" {
		b.WriteByte('.')
		b.WriteString(a.Sub)
	}
	return b.String()
}

// Expr is a node of a parsed filter.
//
// Comparisons (eq…le) use Attr and Value; pr uses Attr; and/or use X and Y;
// not uses X; a value path `Attr[X]` uses Attr and X, where the attribute
// names inside X are sub-attributes of Attr.
type Expr struct {
	Op    Op
	Attr  AttrPath
	Value Literal
	X, Y  *Expr
	// Pos is the 1-based column where the node starts in the filter text.
	Pos int

	// Filled by Validate so that Match need not resolve names again: the
	// definition, and the extension URN a short name resolved to.
	rt  *scim.ResourceType
	def *scim.Attribute
	ext string
}

// String renders the filter in canonical syntax (lower-case keywords,
// quoted strings, fully parenthesised boolean operators).
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	if e == nil {
		return
	}
	switch e.Op {
	case OpAnd, OpOr:
		b.WriteByte('(')
		e.X.write(b)
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		e.Y.write(b)
		b.WriteByte(')')
	case OpNot:
		b.WriteString("not (")
		e.X.write(b)
		b.WriteByte(')')
	case OpValuePath:
		b.WriteString(e.Attr.String())
		b.WriteByte('[')
		e.X.write(b)
		b.WriteByte(']')
	case OpPr:
		b.WriteString(e.Attr.String())
		b.WriteString(" pr")
	default:
		b.WriteString(e.Attr.String())
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		b.WriteString(e.Value.String())
	}
}

// IndexLookup recognises the fast path `attr eq "value"`, alone or as one
// conjunct of a chain of `and`s, on a plain (not URN-qualified, no
// sub-attribute) attribute. It returns the first such conjunct, attr as the
// client spelled it (compare with strings.EqualFold). The caller still runs
// Match on what the index returns, since the other conjuncts must hold too.
func (e *Expr) IndexLookup() (attr, value string, ok bool) {
	return e.LookupFor()
}

// LookupFor is IndexLookup restricted to the given attribute names (matched
// case-insensitively): it returns the first `name eq "value"` conjunct whose
// name is one of names, with attr set to the spelling in names. With no
// names it accepts any plain attribute.
func (e *Expr) LookupFor(names ...string) (attr, value string, ok bool) {
	if e == nil {
		return "", "", false
	}
	switch e.Op {
	case OpAnd:
		if a, v, ok := e.X.LookupFor(names...); ok {
			return a, v, true
		}
		return e.Y.LookupFor(names...)
	case OpEq:
		if e.Attr.URN != "" || e.Attr.Sub != "" {
			return "", "", false
		}
		if e.Value.Kind != KindString && e.Value.Kind != KindNumber {
			return "", "", false
		}
		if len(names) == 0 {
			return e.Attr.Name, e.Value.Str, true
		}
		for _, n := range names {
			if strings.EqualFold(n, e.Attr.Name) {
				return n, e.Value.Str, true
			}
		}
	}
	return "", "", false
}

// Path is a PATCH attribute path (RFC 7644 §3.5.2): attr, attr.sub,
// urn:…:attr, urn:…:attr.sub, attr[filter] or attr[filter].sub.
type Path struct {
	AttrPath // URN, Name and (for attr.sub or attr[filter].sub) Sub
	// Filter selects values of a multi-valued attribute; its attribute
	// names are sub-attributes of Name. Nil when the path has no [ ].
	Filter *Expr
}

// String renders the path in canonical syntax.
func (p *Path) String() string {
	if p.Filter == nil {
		return p.AttrPath.String()
	}
	var b strings.Builder
	if p.URN != "" {
		b.WriteString(p.URN)
		b.WriteByte(':')
	}
	b.WriteString(p.Name)
	b.WriteByte('[')
	p.Filter.write(&b)
	b.WriteByte(']')
	if p.Sub != "" {
		b.WriteByte('.')
		b.WriteString(p.Sub)
	}
	return b.String()
}

// Resolve finds the schema and attribute definition that the URN and name
// of p denote in rt, without allocating. The schema is nil for the common
// attributes (id, externalId, meta); both are nil when nothing matches or
// rt is nil. A name without a URN that only one extension schema defines
// ("manager") resolves to that extension (see scim.ResourceType.ShortName).
// A bare extension URN (urn:…:User written as URN "urn:…:2.0" and name
// "User") resolves to the extension schema with a nil attribute.
func Resolve(rt *scim.ResourceType, p AttrPath) (*scim.Schema, *scim.Attribute) {
	if rt == nil || rt.Schema == nil {
		return nil, nil
	}
	if p.URN == "" {
		if a := rt.Schema.Attr(p.Name); a != nil {
			return rt.Schema, a
		}
		if a := CommonAttr(p.Name); a != nil {
			return nil, a
		}
		return rt.ShortName(p.Name)
	}
	if strings.EqualFold(p.URN, rt.Schema.ID) {
		if a := rt.Schema.Attr(p.Name); a != nil {
			return rt.Schema, a
		}
		return nil, CommonAttr(p.Name)
	}
	for _, ext := range rt.Extensions {
		if ext.Schema == nil {
			continue
		}
		if strings.EqualFold(p.URN, ext.Schema.ID) {
			return ext.Schema, ext.Schema.Attr(p.Name)
		}
		id := ext.Schema.ID
		if len(id) == len(p.URN)+1+len(p.Name) && strings.EqualFold(id[:len(p.URN)], p.URN) &&
			id[len(p.URN)] == ':' && strings.EqualFold(id[len(p.URN)+1:], p.Name) {
			return ext.Schema, nil
		}
	}
	return nil, nil
}

// CommonAttr returns the definition of id, externalId or meta (RFC 7643
// §3.1), the attributes every resource has outside its schema, or nil.
func CommonAttr(name string) *scim.Attribute {
	switch {
	case strings.EqualFold(name, "id"):
		return scim.AttrID
	case strings.EqualFold(name, "externalId"):
		return scim.AttrExternalID
	case strings.EqualFold(name, "meta"):
		return scim.AttrMeta
	}
	return nil
}
