package filter

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/adfscim/adfscim/internal/scim"
)

// Parse parses a SCIM filter. Every error is a *scim.Error with status 400
// and scimType invalidFilter whose detail names the column of the problem.
//
// Grammar (RFC 7644 §3.4.2.2, keywords case-insensitive, `and` binding
// tighter than `or`):
//
//	filter    = or
//	or        = and *("or" and)
//	and       = unary *("and" unary)
//	unary     = "not" unary | "(" filter ")" | attrPath "[" filter "]" ["." sub compare]
//	          | attrPath "pr" | attrPath compareOp value
//	value     = JSON string | number | true | false | null | bare word (quirk)
func Parse(s string) (*Expr, error) {
	if len(s) > MaxLength {
		return nil, scim.BadRequest(scim.ErrInvalidFilter, "filter is longer than %d bytes", MaxLength)
	}
	p := parser{s: s, scimType: scim.ErrInvalidFilter, what: "filter"}
	p.skipSpace()
	if p.i == len(p.s) {
		return nil, scim.BadRequest(scim.ErrInvalidFilter, "filter is empty")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %s", p.near())
	}
	return e, nil
}

// ParsePath parses a PATCH path: attr, attr.sub, urn:…:attr, urn:…:attr.sub,
// attr[filter] or attr[filter].sub. Errors are 400 invalidPath, or
// invalidFilter for a malformed filter inside the brackets.
func ParsePath(s string) (*Path, error) {
	if len(s) > MaxLength {
		return nil, scim.BadRequest(scim.ErrInvalidPath, "path is longer than %d bytes", MaxLength)
	}
	p := parser{s: s, scimType: scim.ErrInvalidPath, what: "path"}
	p.skipSpace()
	ap, err := p.attrPath()
	if err != nil {
		return nil, err
	}
	path := &Path{AttrPath: ap}
	if p.peek() == '[' {
		if ap.Sub != "" {
			return nil, p.errorf("a value filter must follow the attribute, not %q", ap.Name+"."+ap.Sub)
		}
		open := p.i
		p.i++
		p.scimType = scim.ErrInvalidFilter
		p.what = "filter in path"
		p.depth = 1
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		p.scimType = scim.ErrInvalidPath
		p.what = "path"
		if p.peek() != ']' {
			return nil, p.errorf("missing ] for the [ at column %d", open+1)
		}
		p.i++
		path.Filter = inner
		if p.peek() == '.' {
			p.i++
			start := p.i
			sub := p.name()
			if sub == "" {
				p.i = start
				return nil, p.errorf("expected a sub-attribute name after '.'")
			}
			path.Sub = sub
		}
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected %s", p.near())
	}
	return path, nil
}

type parser struct {
	s        string
	i        int
	depth    int
	scimType string // invalidFilter or invalidPath
	what     string // "filter", "path": for error details
}

func (p *parser) errorf(format string, args ...any) error {
	e := scim.BadRequest(p.scimType, format, args...)
	e.Detail = "invalid " + p.what + " at column " + itoa(p.i+1) + ": " + e.Detail
	return e
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(buf[i:])
}

// near describes the text at the cursor for an error message.
func (p *parser) near() string {
	if p.i >= len(p.s) {
		return "end of " + p.what
	}
	rest := p.s[p.i:]
	if len(rest) > 20 {
		rest = rest[:20] + "…"
	}
	return "\"" + strings.ToValidUTF8(rest, "\uFFFD") + "\""
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// nameChar reports whether c may appear in an ATTRNAME after its first
// character (RFC 7643 §2.1: ALPHA / DIGIT / "-" / "_"; "$" for $ref).
func nameChar(c byte) bool { return isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '$' }

// name reads an ATTRNAME at the cursor, or returns "" and leaves the cursor.
func (p *parser) name() string {
	start := p.i
	if p.i >= len(p.s) || !(isAlpha(p.s[p.i]) || p.s[p.i] == '$') {
		return ""
	}
	p.i++
	for p.i < len(p.s) && nameChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// keyword reports whether the word at the cursor is kw (case-insensitive)
// followed by a delimiter, and consumes it if so.
func (p *parser) keyword(kw string) bool {
	end := p.i + len(kw)
	if end > len(p.s) || !strings.EqualFold(p.s[p.i:end], kw) {
		return false
	}
	if end < len(p.s) && (nameChar(p.s[end]) || p.s[end] == '.' || p.s[end] == ':') {
		return false
	}
	p.i = end
	return true
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf("nested more than %d levels deep", MaxDepth)
	}
	return nil
}

func (p *parser) parseOr() (*Expr, error) { return p.parseBinary("or", OpOr, p.parseAnd) }

func (p *parser) parseAnd() (*Expr, error) { return p.parseBinary("and", OpAnd, p.parseUnary) }

// parseBinary parses operands joined by a left-associative keyword
// operator; operand parses the tighter-binding level below it.
func (p *parser) parseBinary(keyword string, op Op, operand func() (*Expr, error)) (*Expr, error) {
	x, err := operand()
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skipSpace()
		if p.i == save || !p.keyword(keyword) {
			p.i = save
			return x, nil
		}
		pos := save + 1
		p.skipSpace()
		y, err := operand()
		if err != nil {
			return nil, err
		}
		x = &Expr{Op: op, X: x, Y: y, Pos: pos}
	}
}

func (p *parser) parseUnary() (*Expr, error) {
	p.skipSpace()
	start := p.i
	if p.i >= len(p.s) {
		return nil, p.errorf("expected an expression, found end of %s", p.what)
	}
	if p.s[p.i] == '(' {
		if err := p.enter(); err != nil {
			return nil, err
		}
		p.i++
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, p.errorf("expected ) to close the ( at column %d, found %s", start+1, p.near())
		}
		p.i++
		p.depth--
		return x, nil
	}
	if p.keyword("not") {
		save := p.i
		p.skipSpace()
		// "not" followed by an operator keyword is an attribute named
		// "not" (for example `not pr`); otherwise it negates.
		if p.peek() == '(' || p.i > save {
			if op, _ := p.peekOp(); op == 0 || p.peek() == '(' {
				if err := p.enter(); err != nil {
					return nil, err
				}
				x, err := p.parseUnary()
				if err != nil {
					return nil, err
				}
				p.depth--
				return &Expr{Op: OpNot, X: x, Pos: start + 1}, nil
			}
		}
		p.i = start
	}
	ap, err := p.attrPath()
	if err != nil {
		return nil, err
	}
	if p.peek() == '[' {
		return p.valuePath(ap, start)
	}
	return p.comparison(ap, start)
}

// valuePath parses `[filter]` after ap, and an optional `.sub op value`
// (a common extension of the grammar), which becomes ap[filter and sub op value].
func (p *parser) valuePath(ap AttrPath, start int) (*Expr, error) {
	if ap.Sub != "" {
		return nil, p.errorf("a value filter must follow the attribute, not %q", ap.Name+"."+ap.Sub)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	open := p.i
	p.i++
	inner, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.peek() != ']' {
		return nil, p.errorf("expected ] to close the [ at column %d, found %s", open+1, p.near())
	}
	p.i++
	p.depth--
	if p.peek() == '.' {
		p.i++
		subStart := p.i
		sub := p.name()
		if sub == "" {
			return nil, p.errorf("expected a sub-attribute name after '.'")
		}
		cmp, err := p.comparison(AttrPath{Name: sub}, subStart)
		if err != nil {
			return nil, err
		}
		inner = &Expr{Op: OpAnd, X: inner, Y: cmp, Pos: open + 2}
	}
	return &Expr{Op: OpValuePath, Attr: ap, X: inner, Pos: start + 1}, nil
}

// attrPath reads [URN ":"] ATTRNAME ["." ATTRNAME].
func (p *parser) attrPath() (AttrPath, error) {
	start := p.i
	if p.i+4 <= len(p.s) && strings.EqualFold(p.s[p.i:p.i+4], "urn:") {
		// A URN runs to the last ':' of the token; the attribute follows.
		end := p.i
		for end < len(p.s) && (nameChar(p.s[end]) || p.s[end] == ':' || p.s[end] == '.' ||
			p.s[end] == '%' || p.s[end] == '+' || p.s[end] == '/' || p.s[end] == '=' || p.s[end] == '@') {
			end++
		}
		tok := p.s[p.i:end]
		colon := strings.LastIndexByte(tok, ':')
		if colon <= len("urn") {
			return AttrPath{}, p.errorf("expected an attribute after the schema URN")
		}
		p.i += colon + 1
		nameStart := p.i
		name := p.name()
		if name == "" {
			return AttrPath{}, p.errorf("expected an attribute name after the schema URN")
		}
		ap := AttrPath{URN: tok[:colon], Name: name}
		if p.peek() == '.' {
			p.i++
			if ap.Sub = p.name(); ap.Sub == "" {
				return AttrPath{}, p.errorf("expected a sub-attribute name after '.'")
			}
		}
		if p.i != nameStart && p.i < end {
			// Something like urn:…:2.0 with no attribute name.
			p.i = start
			return AttrPath{}, p.errorf("expected an attribute after the schema URN in %s", p.near())
		}
		return ap, nil
	}
	name := p.name()
	if name == "" {
		return AttrPath{}, p.errorf("expected an attribute name, found %s", p.near())
	}
	ap := AttrPath{Name: name}
	if p.peek() == '.' {
		p.i++
		if ap.Sub = p.name(); ap.Sub == "" {
			return AttrPath{}, p.errorf("expected a sub-attribute name after '.'")
		}
	}
	if c := p.peek(); c == '.' || c == ':' {
		return AttrPath{}, p.errorf("unexpected %q in attribute path", c)
	}
	return ap, nil
}

// peekOp reads the operator keyword at the cursor without consuming it.
func (p *parser) peekOp() (Op, int) {
	end := p.i
	for end < len(p.s) && isAlpha(p.s[end]) {
		end++
	}
	if end-p.i != 2 || (end < len(p.s) && nameChar(p.s[end])) {
		return 0, 0
	}
	w := uint16(p.s[p.i]|0x20)<<8 | uint16(p.s[p.i+1]|0x20)
	var op Op
	switch w {
	case 'e'<<8 | 'q':
		op = OpEq
	case 'n'<<8 | 'e':
		op = OpNe
	case 'c'<<8 | 'o':
		op = OpCo
	case 's'<<8 | 'w':
		op = OpSw
	case 'e'<<8 | 'w':
		op = OpEw
	case 'g'<<8 | 't':
		op = OpGt
	case 'g'<<8 | 'e':
		op = OpGe
	case 'l'<<8 | 't':
		op = OpLt
	case 'l'<<8 | 'e':
		op = OpLe
	case 'p'<<8 | 'r':
		op = OpPr
	}
	return op, end
}

// comparison parses `op value` or `pr` after an attribute path.
func (p *parser) comparison(ap AttrPath, start int) (*Expr, error) {
	if p.i < len(p.s) && !isSpace(p.s[p.i]) {
		return nil, p.errorf("unexpected %s after attribute %q", p.near(), ap.String())
	}
	p.skipSpace()
	opAt := p.i
	op, end := p.peekOp()
	if op == 0 {
		return nil, p.errorf("expected an operator (eq ne co sw ew gt ge lt le pr) after %q, found %s", ap.String(), p.near())
	}
	p.i = end
	e := &Expr{Op: op, Attr: ap, Pos: start + 1}
	if op == OpPr {
		return e, nil
	}
	if p.i >= len(p.s) || !isSpace(p.s[p.i]) {
		return nil, p.errorf("expected a value after %q", p.s[opAt:end])
	}
	p.skipSpace()
	valAt := p.i
	v, err := p.literal()
	if err != nil {
		return nil, err
	}
	if op.isOrdering() && (v.Kind == KindBool || v.Kind == KindNull) {
		p.i = valAt
		return nil, p.errorf("%s needs a string, number or dateTime value, not %s", op, v.String())
	}
	if (op == OpCo || op == OpSw || op == OpEw) && v.Kind == KindNull {
		p.i = valAt
		return nil, p.errorf("%s cannot compare with null", op)
	}
	e.Value = v
	return e, nil
}

// literal reads a JSON string, number, true, false, null or a bare word.
func (p *parser) literal() (Literal, error) {
	if p.i >= len(p.s) {
		return Literal{}, p.errorf("expected a value, found end of %s", p.what)
	}
	if p.s[p.i] == '"' {
		s, err := p.jsonString()
		if err != nil {
			return Literal{}, err
		}
		return Literal{Kind: KindString, Str: s}, nil
	}
	start := p.i
	for p.i < len(p.s) && !isSpace(p.s[p.i]) && p.s[p.i] != ')' && p.s[p.i] != ']' && p.s[p.i] != '(' && p.s[p.i] != '[' && p.s[p.i] != '"' {
		p.i++
	}
	w := p.s[start:p.i]
	if w == "" {
		return Literal{}, p.errorf("expected a value, found %s", p.near())
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 0x20 || w[i] == 0x7f {
			p.i = start + i
			return Literal{}, p.errorf("value holds a control character (0x%02x)", w[i])
		}
	}
	switch {
	case strings.EqualFold(w, "true"):
		return Literal{Kind: KindBool, Str: "true", Bool: true}, nil
	case strings.EqualFold(w, "false"):
		return Literal{Kind: KindBool, Str: "false"}, nil
	case strings.EqualFold(w, "null"):
		return Literal{Kind: KindNull, Str: "null"}, nil
	case isNumber(w):
		return Literal{Kind: KindNumber, Str: w}, nil
	}
	if !utf8.ValidString(w) {
		p.i = start
		return Literal{}, p.errorf("value is not valid UTF-8")
	}
	return Literal{Kind: KindString, Str: w, Bare: true}, nil
}

// isNumber reports whether s is a JSON number.
func isNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}

// jsonString reads a double-quoted JSON string at the cursor. Without
// escapes it returns a substring of the input (no allocation).
func (p *parser) jsonString() (string, error) {
	open := p.i
	p.i++
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			p.i++
			if !utf8.ValidString(s) {
				p.i = open
				return "", p.errorf("string is not valid UTF-8")
			}
			return s, nil
		}
		if c == '\\' {
			return p.jsonStringSlow(open, start)
		}
		if c < 0x20 {
			return "", p.errorf("string holds a raw control character (0x%02x); JSON strings escape them as \\u00XX", c)
		}
		p.i++
	}
	p.i = open
	return "", p.errorf("unterminated string")
}

func (p *parser) jsonStringSlow(open, start int) (string, error) {
	b := make([]byte, 0, p.i-start+16)
	b = append(b, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			if !utf8.Valid(b) {
				p.i = open
				return "", p.errorf("string is not valid UTF-8")
			}
			return string(b), nil
		case '\\':
			if p.i+1 >= len(p.s) {
				p.i = open
				return "", p.errorf("unterminated string")
			}
			esc := p.s[p.i+1]
			p.i += 2
			switch esc {
			case '"', '\\', '/':
				b = append(b, esc)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errorf("bad \\u escape")
				}
				if utf16.IsSurrogate(r) {
					save := p.i
					if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
						p.i += 2
						if r2, ok := p.hex4(); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								b = utf8.AppendRune(b, d)
								continue
							}
						}
					}
					p.i = save
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				p.i -= 2
				return "", p.errorf("bad escape \\%c in string", esc)
			}
		default:
			if c < 0x20 {
				return "", p.errorf("string holds a raw control character (0x%02x); JSON strings escape them as \\u00XX", c)
			}
			b = append(b, c)
			p.i++
		}
	}
	p.i = open
	return "", p.errorf("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		r <<= 4
		switch {
		case isDigit(c):
			r |= rune(c - '0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			r |= rune(c|0x20-'a') + 10
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}
