package report

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/adfscim/adfscim/internal/audit"
)

// Limits of what one event shows of its changes; the export has them all.
const (
	maxChangeLines = 12
	maxValueLen    = 120
)

// memberRef marks a member id inside a change line until the report knows
// the member's userName (trailIndex.nameMembers replaces it).
const memberRef = "\x00member:"

// values remembers the last known value of each simple attribute of each
// resource, so that a change reads "active: true → false" rather than as
// the operation the identity provider sent.
type values map[string]map[string]any // "Type/id" -> lower-case attribute -> value

// phrase says what one SCIM write record changed, one line per change, as
// a reader would put it: "active: true → false (deactivated)", "added
// alice@contoso.com", "password set (not recorded)". It updates known with
// the values the record set when the record took effect.
func (known values) phrase(r audit.Record) []string {
	key := r.Target.Type + "/" + r.Target.ID
	prev := known[key]
	if prev == nil {
		prev = map[string]any{}
	}
	_, verb, _ := strings.Cut(r.Action, ".")
	var lines []string
	var set func(attr string, v any)
	set = func(attr string, v any) {
		name := strings.ToLower(attr)
		if isMembers(name) {
			lines = append(lines, membersLine("members: ", v))
			return
		}
		if m, ok := v.(map[string]any); ok && m["value"] == nil && len(m) > 0 {
			// A complex attribute (name): one line per sub-attribute.
			subs := make([]string, 0, len(m))
			for k := range m {
				subs = append(subs, k)
			}
			slices.Sort(subs)
			for _, k := range subs {
				set(attr+"."+k, m[k])
			}
			return
		}
		v = coerce(name, prev[name], v)
		switch old, had := prev[name]; {
		case verb == "create":
			lines = append(lines, attr+": "+showValue(v))
		case !had:
			lines = append(lines, attr+": "+showValue(v)+activeNote(name, v))
		case fmt.Sprint(old) != fmt.Sprint(v):
			lines = append(lines, attr+": "+showValue(old)+" → "+showValue(v)+activeNote(name, v))
		default:
			lines = append(lines, attr+": "+showValue(v)+" (unchanged)")
		}
		if r.Outcome.Success && isScalar(v) {
			prev[name] = v
		}
	}
	if verb == "replace" && r.Outcome.Success {
		// A replace drops what it does not name.
		for name := range prev {
			named := func(c audit.Change) bool {
				p := strings.ToLower(c.Path)
				return p == name || strings.HasPrefix(name, p+".")
			}
			if !slices.ContainsFunc(r.Changes, named) {
				delete(prev, name)
			}
		}
	}
	for _, c := range r.Changes {
		op := strings.ToLower(c.Op)
		lower := strings.ToLower(c.Path)
		switch {
		case lower == "schemas" || lower == "meta":
			// Protocol envelope, not an attribute of the person.
		case c.Value == audit.Redacted:
			lines = append(lines, c.Path+" set (not recorded)")
		case c.Path == "" && op != "remove":
			// A PATCH without a path carries attributes by name.
			m, ok := c.Value.(map[string]any)
			if !ok {
				lines = append(lines, op+" "+showValue(c.Value))
				continue
			}
			names := make([]string, 0, len(m))
			for k := range m {
				names = append(names, k)
			}
			slices.Sort(names)
			for _, k := range names {
				if m[k] == audit.Redacted {
					lines = append(lines, k+" set (not recorded)")
					continue
				}
				set(k, m[k])
			}
		case op == "grant" || op == "revoke":
			// What a write of entitlements or roles gave or took away
			// (directory.Note): the grant by name.
			verb := map[string]string{"grant": "granted ", "revoke": "revoked "}[op]
			lines = append(lines, verb+showValue(c.Value)+" ("+c.Path+")")
		case isMembers(lower) || strings.HasPrefix(lower, "members["):
			lines = append(lines, memberLine(op, c))
		case op == "remove":
			if old, ok := prev[lower]; ok {
				lines = append(lines, c.Path+": "+showValue(old)+" → (removed)")
			} else {
				lines = append(lines, c.Path+" removed")
			}
			if r.Outcome.Success {
				delete(prev, lower)
			}
		default: // set (create, replace), add, replace
			set(c.Path, c.Value)
		}
	}
	if r.Outcome.Success && r.Target.ID != "" {
		if verb == "delete" {
			delete(known, key)
		} else {
			known[key] = prev
		}
	}
	if n := len(lines); n > maxChangeLines {
		lines = append(lines[:maxChangeLines-1], fmt.Sprintf("and %d more changes (adfscim audit export shows them all)", n-maxChangeLines+1))
	}
	return lines
}

func isMembers(lower string) bool { return lower == "members" }

// memberLine phrases a PATCH of a group's members.
func memberLine(op string, c audit.Change) string {
	if strings.HasPrefix(strings.ToLower(c.Path), "members[") {
		// members[value eq "id"]: the member is named in the filter.
		ids := quoted(c.Path)
		refs := make([]string, len(ids))
		for i, id := range ids {
			refs[i] = memberRef + id + "\x00"
		}
		switch op {
		case "remove":
			return "removed " + strings.Join(refs, ", ")
		default:
			return op + " " + c.Path + ": " + showValue(c.Value)
		}
	}
	switch op {
	case "set":
		return membersLine("members: ", c.Value)
	case "add":
		return membersLine("added ", c.Value)
	case "remove":
		if c.Value == nil {
			return "removed every member"
		}
		return membersLine("removed ", c.Value)
	default:
		return membersLine("members now: ", c.Value)
	}
}

// membersLine lists the members a value names ([{"value": id}, ...]).
func membersLine(prefix string, v any) string {
	var refs []string
	list, _ := v.([]any)
	for _, m := range list {
		switch t := m.(type) {
		case map[string]any:
			if id, ok := t["value"].(string); ok {
				refs = append(refs, memberRef+id+"\x00")
			}
		case string:
			refs = append(refs, memberRef+t+"\x00")
		}
	}
	if len(refs) == 0 {
		if prefix == "members: " || prefix == "members now: " {
			return prefix + "none"
		}
		return strings.TrimSpace(prefix) + " " + showValue(v)
	}
	return prefix + strings.Join(refs, ", ")
}

// quoted lists the strings between double quotes in s.
func quoted(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return out
		}
		out = append(out, s[i+1:i+1+j])
		s = s[i+j+2:]
	}
}

// coerce reads a boolean sent as a string ("False", as Entra ID sends
// active) as the boolean it stands for, when the attribute is a boolean.
func coerce(name string, old, v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	if _, wasBool := old.(bool); !wasBool && name != "active" {
		return v
	}
	if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(s))); err == nil {
		return b
	}
	return v
}

// activeNote names what a change of active means for the person.
func activeNote(name string, v any) string {
	if name != "active" {
		return ""
	}
	switch v {
	case false:
		return " (deactivated)"
	case true:
		return " (reactivated)"
	}
	return ""
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, float64, json.Number, nil:
		return true
	}
	return false
}

// showValue renders a value for a reader: strings as they are, lists of
// {"value": ...} by their values, objects as name: value pairs. A long
// value is cut at a word boundary, never inside a word.
func showValue(v any) string {
	return clip(plain(v), maxValueLen)
}

func plain(v any) string {
	switch t := v.(type) {
	case nil:
		return "(none)"
	case string:
		if t == "" {
			return `""`
		}
		return t
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			parts = append(parts, plain(e))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		if val, ok := t["value"]; ok {
			// A multi-valued attribute's entry: its value, then its
			// qualifiers ("alice@contoso.com (work, primary)").
			var quals []string
			if ty, ok := t["type"].(string); ok && ty != "" {
				quals = append(quals, ty)
			}
			if p, ok := t["primary"].(bool); ok && p {
				quals = append(quals, "primary")
			}
			s := plain(val)
			if len(quals) > 0 {
				s += " (" + strings.Join(quals, ", ") + ")"
			}
			return s
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+" "+plain(t[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// clip shortens s to at most about n bytes at the last space before the
// cut, marking the cut with "…"; a single word longer than n is kept
// whole.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut <= 0 {
		end := strings.IndexByte(s[n:], ' ')
		if end < 0 {
			return s
		}
		cut = n + end
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ,;") + " …"
}
