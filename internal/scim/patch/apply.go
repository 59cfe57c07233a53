package patch

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// Options carries what Apply needs beyond the operations.
type Options struct {
	// ID is the resource's id. A path-less add/replace whose value carries
	// "id" equal to it (Okta's group push) has that key ignored; any other
	// write to id is a 400 mutability.
	ID string
	// External names multi-valued attributes (for example "members") that
	// are not applied to the resource: their changes are returned in
	// Result.External as deltas.
	External []string
	// UpsertOnNoMatch makes a replace whose value filter matches no value
	// add one built from the filter's `sub eq "literal"` conjuncts, as add
	// does. Off by default: RFC 7644 §3.5.2.3 answers 400 noTarget.
	UpsertOnNoMatch bool
}

// Member is one value of an external multi-valued attribute: the
// directory's own member type, so deltas pass through unconverted.
type Member = scim.Member

// Delta is the net change to an external multi-valued attribute, to apply
// in this order: if RemoveAll, delete every existing value; then delete
// the values in Removed; then add the values in Added that are not there
// yet. Removed and Added never share a value.
type Delta struct {
	RemoveAll bool
	Removed   []string
	Added     []Member
}

// Empty reports whether the delta changes nothing.
func (d *Delta) Empty() bool {
	return d == nil || (!d.RemoveAll && len(d.Removed) == 0 && len(d.Added) == 0)
}

// Result is what Apply produced.
type Result struct {
	// Resource is the patched copy of the input resource.
	Resource map[string]any
	// Changed lists, sorted, the top-level attributes whose value changed:
	// canonical names, URN-qualified for extension attributes
	// ("urn:…:enterprise:2.0:User:manager"), including External ones whose
	// delta is not empty.
	Changed []string
	// External holds one delta per name in Options.External that an
	// operation touched, keyed by the name as given in Options.External.
	External map[string]*Delta
	// Ignored lists the paths (as written by the client) that name no
	// attribute of the resource type; they were skipped, not rejected, so
	// the caller can log and count them.
	Ignored []string
}

// Apply applies ops to a copy of res with RFC 7644 §3.5.2 semantics and
// returns the copy with a summary. It never modifies res. rt must not be
// nil: it gives the attributes' types, mutability and case-exactness.
// Apply records validation results in the filters of ops (see
// filter.Expr.Validate), so one []Operation must not be applied by several
// goroutines at once; Parse a body per request.
//
// Choices where the RFC leaves room or IdPs disagree with it:
//   - add with a value filter that matches nothing adds a value made of the
//     filter's `sub eq "literal"` conjuncts plus the given value (Entra's
//     `emails[type eq "work"].value`); replace does so only with
//     Options.UpsertOnNoMatch, else it is 400 noTarget; remove of nothing
//     is a no-op (IdPs retry).
//   - replace of a single-valued complex attribute without a sub-attribute
//     merges the given sub-attributes (RFC 7644 §3.5.2.3); replace of a
//     multi-valued one replaces all its values.
//   - a null value with a path clears the target, like remove.
//   - paths and keys that name no attribute are ignored and reported in
//     Result.Ignored; sub-attributes the schema does not define are
//     dropped from values the same way.
//   - remove on a multi-valued attribute with a value removes only the
//     values listed (Entra's member removal); without a value it removes
//     all. For External attributes, `value: []` removes nothing.
//   - only `value eq "…"` filters (joined with `or`) select External
//     values to remove; others are 400 invalidFilter, because the values
//     are not in the resource to evaluate them against.
func Apply(res map[string]any, ops []Operation, rt *scim.ResourceType, opts Options) (Result, error) {
	if rt == nil || rt.Schema == nil {
		return Result{}, scim.Errorf(scim.CodeInternal, "", "patch: no resource type")
	}
	a := &applier{
		doc:     scim.CopyJSON(res).(map[string]any),
		rt:      rt,
		opts:    opts,
		touched: map[string]touchedAttr{},
	}
	for i, op := range ops {
		if err := a.apply(op); err != nil {
			if se, ok := scim.AsError(err); ok {
				se.Detail = "Operations[" + strconv.Itoa(i) + "]: " + se.Detail
			}
			return Result{}, err
		}
	}
	return a.result(res), nil
}

type touchedAttr struct {
	urn  string // "" for core and common attributes
	name string // canonical name
}

type applier struct {
	doc      map[string]any
	rt       *scim.ResourceType
	opts     Options
	touched  map[string]touchedAttr
	external map[string]*deltaState
	ignored  []string
}

func (a *applier) apply(op Operation) error {
	val, hasValue, err := decodeValue(op.Value)
	if err != nil {
		return err
	}
	if op.path == nil && op.Path != "" {
		// An Operation built by hand rather than by Parse.
		if op.path, err = filter.ParsePath(op.Path); err != nil {
			return err
		}
	}
	val = entraRoles(op.path, val)
	opName := strings.ToLower(op.Op)
	switch opName {
	case OpAdd, OpReplace, OpRemove:
	default:
		return scim.BadRequest(scim.ErrInvalidSyntax, "op %q is not add, replace or remove", op.Op)
	}
	if op.path != nil {
		return a.applyPath(opName, op.path, op.Path, val, hasValue, false)
	}
	if opName == OpRemove {
		return scim.BadRequest(scim.ErrNoTarget, "remove needs a path")
	}
	obj, ok := val.(map[string]any)
	if !ok {
		return scim.BadRequest(scim.ErrInvalidValue, "%s without a path needs an object value", opName)
	}
	return a.applyObject(opName, "", obj)
}

// applyObject applies a path-less value: each key is an attribute path
// (plain, dotted or URN-qualified) or an extension URN with an object.
func (a *applier) applyObject(op, urn string, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // "name" before "name.givenName"
	for _, k := range keys {
		v := obj[k]
		if urn == "" && strings.EqualFold(k, "schemas") {
			continue
		}
		if urn == "" {
			if ext := a.rt.Extension(k); ext != nil {
				m, ok := v.(map[string]any)
				if !ok {
					if v == nil {
						if err := a.removeExtension(ext); err != nil {
							return err
						}
						continue
					}
					return scim.BadRequest(scim.ErrInvalidValue, "value of %q must be an object", k)
				}
				if err := a.applyObject(op, ext.ID, m); err != nil {
					return err
				}
				continue
			}
		}
		raw := k
		if urn != "" {
			raw = urn + ":" + k
		}
		p, err := filter.ParsePath(raw)
		if err != nil {
			return err
		}
		if err := a.applyPath(op, p, raw, v, true, true); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) removeExtension(ext *scim.Schema) error {
	for _, attr := range ext.Attributes {
		if attr.Mutability == scim.ReadOnly || attr.Required {
			if _, ok := filter.Get(a.extObj(ext.ID, false), attr.Name); ok {
				return scim.BadRequest(scim.ErrMutability, "cannot remove %s:%s", ext.ID, attr.Name)
			}
		}
	}
	for _, attr := range ext.Attributes {
		a.touch(ext.ID, attr.Name)
	}
	deleteKey(a.doc, ext.ID)
	a.dropSchema(ext.ID)
	return nil
}

// applyPath applies one operation to one path. raw is the path as the
// client wrote it (for messages); pathless marks keys of a path-less value.
func (a *applier) applyPath(op string, p *filter.Path, raw string, val any, hasValue, pathless bool) error {
	if a.isExternal(p) != "" {
		return a.applyExternal(op, a.isExternal(p), p, raw, val, hasValue)
	}
	schema, def := filter.Resolve(a.rt, p.AttrPath)
	if schema != nil && def == nil && p.Sub == "" && p.Filter == nil && strings.EqualFold(p.URN+":"+p.Name, schema.ID) {
		// The whole extension: urn:…:enterprise:2.0:User.
		if op == OpRemove || val == nil {
			return a.removeExtension(schema)
		}
		m, ok := val.(map[string]any)
		if !ok {
			return scim.BadRequest(scim.ErrInvalidValue, "value of %q must be an object", raw)
		}
		return a.applyObject(op, schema.ID, m)
	}
	if def == nil {
		a.ignored = append(a.ignored, raw)
		return nil
	}
	urn := ""
	if schema != nil && schema != a.rt.Schema {
		urn = schema.ID
	}
	if _, isList := val.([]any); pathless && def.MultiValued && p.Sub == "" && p.Filter == nil && val != nil && !isList {
		// A key of a path-less value is an attribute of a partial resource,
		// and a multi-valued attribute's value there is an array (as in a
		// POST body); a lone value would replace all of them.
		return scim.BadRequest(scim.ErrInvalidValue, "attribute %q is multi-valued and needs an array", raw)
	}
	if def.Mutability == scim.ReadOnly {
		if def == scim.AttrID && op != OpRemove && p.Sub == "" {
			if s, ok := val.(string); ok && s == a.opts.ID && a.opts.ID != "" {
				return nil // Okta sends the resource's own id along
			}
		}
		return scim.BadRequest(scim.ErrMutability, "attribute %q is readOnly", raw)
	}
	var sub *scim.Attribute
	if p.Sub != "" {
		if def.Type != scim.TypeComplex {
			return scim.BadRequest(scim.ErrInvalidPath, "attribute %q has no sub-attributes", def.Name)
		}
		if sub = def.Sub(p.Sub); sub == nil {
			a.ignored = append(a.ignored, raw)
			return nil
		}
		if sub.Mutability == scim.ReadOnly {
			return scim.BadRequest(scim.ErrMutability, "attribute %q is readOnly", raw)
		}
	}
	if p.Filter != nil {
		if !def.MultiValued || def.Type != scim.TypeComplex {
			return scim.BadRequest(scim.ErrInvalidPath, "value filter on %q, which is not a multi-valued complex attribute", def.Name)
		}
		if err := p.Filter.ValidateValue(a.rt, def); err != nil {
			return err
		}
	}
	container := a.doc
	if urn != "" {
		container = a.extObj(urn, op != OpRemove && val != nil)
		if container == nil {
			return nil // removing from an extension the resource does not have
		}
	}
	old, had := filter.Get(container, def.Name)
	old = scim.CopyJSON(old)
	a.touch(urn, def.Name)

	var err error
	switch {
	case p.Filter != nil:
		err = a.applyFiltered(op, container, def, sub, p, raw, val)
	case sub != nil:
		err = a.applySub(op, container, def, sub, raw, val)
	default:
		err = a.applyWhole(op, container, def, raw, val, hasValue)
	}
	if err != nil {
		return err
	}
	if def.Mutability == scim.Immutable && had && old != nil {
		if cur, _ := filter.Get(container, def.Name); !reflect.DeepEqual(cur, old) {
			return scim.BadRequest(scim.ErrMutability, "attribute %q is immutable", raw)
		}
	}
	if urn != "" {
		if len(container) == 0 {
			deleteKey(a.doc, urn)
			a.dropSchema(urn)
		} else {
			a.addSchema(urn)
		}
	}
	return nil
}

// applyWhole handles a path naming a whole attribute.
func (a *applier) applyWhole(op string, c map[string]any, def *scim.Attribute, raw string, val any, hasValue bool) error {
	if op == OpRemove || val == nil {
		if op == OpRemove && hasValue && val != nil && def.MultiValued {
			return a.removeValues(c, def, raw, val)
		}
		if def.Required {
			return scim.BadRequest(scim.ErrMutability, "attribute %q is required and cannot be removed", raw)
		}
		deleteKey(c, def.Name)
		return nil
	}
	if def.MultiValued {
		vals, err := coerceMulti(def, val, raw, &a.ignored)
		if err != nil {
			return err
		}
		var arr []any
		var touched []int
		if op == OpAdd {
			cur, _ := filter.Get(c, def.Name)
			arr = asArray(cur)
			for _, v := range vals {
				if i := slices.IndexFunc(arr, func(x any) bool { return reflect.DeepEqual(x, v) }); i >= 0 {
					touched = append(touched, i)
					continue
				}
				arr = append(arr, v)
				touched = append(touched, len(arr)-1)
			}
		} else {
			arr = vals
			for i := range arr {
				touched = append(touched, i)
			}
		}
		setMulti(c, def, arr, touched)
		return nil
	}
	v, err := coerce(def, val, raw, &a.ignored)
	if err != nil {
		return err
	}
	if v == nil {
		deleteKey(c, def.Name)
		return nil
	}
	if def.Type == scim.TypeComplex {
		// add and replace both merge sub-attributes (RFC 7644 §3.5.2.1, .3).
		if cur, ok := filter.Get(c, def.Name); ok {
			if m, ok := cur.(map[string]any); ok {
				merged := canonicalSubs(def, m)
				for k, sv := range v.(map[string]any) {
					merged[k] = sv
				}
				setKey(c, def.Name, merged)
				return nil
			}
		}
	}
	setKey(c, def.Name, v)
	return nil
}

// removeValues removes the listed values from a multi-valued attribute:
// a complex value matches on its "value" sub-attribute when the given value
// has one, otherwise on equality.
func (a *applier) removeValues(c map[string]any, def *scim.Attribute, raw string, val any) error {
	vals, err := coerceMulti(def, val, raw, &a.ignored)
	if err != nil {
		return err
	}
	cur, ok := filter.Get(c, def.Name)
	if !ok {
		return nil
	}
	arr := asArray(cur)
	out := arr[:0:0]
	for _, el := range arr {
		if !slices.ContainsFunc(vals, func(v any) bool { return sameValue(def, el, v) }) {
			out = append(out, el)
		}
	}
	setMulti(c, def, out, nil)
	return nil
}

func sameValue(def *scim.Attribute, el, v any) bool {
	vm, vok := v.(map[string]any)
	em, eok := el.(map[string]any)
	if vok && eok {
		if want, ok := filter.Get(vm, "value"); ok {
			got, _ := filter.Get(em, "value")
			if ws, ok := want.(string); ok {
				gs, _ := got.(string)
				if vd := def.Sub("value"); vd != nil && !vd.CaseExact {
					return strings.EqualFold(gs, ws)
				}
				return gs == ws
			}
			return reflect.DeepEqual(got, want)
		}
	}
	if ws, ok := v.(string); ok && !def.CaseExact {
		gs, ok := el.(string)
		return ok && strings.EqualFold(gs, ws)
	}
	return reflect.DeepEqual(el, v)
}

// applySub handles attr.sub without a filter.
func (a *applier) applySub(op string, c map[string]any, def, sub *scim.Attribute, raw string, val any) error {
	var v any
	if op != OpRemove && val != nil {
		var err error
		if v, err = coerce(sub, val, raw, &a.ignored); err != nil {
			return err
		}
	}
	cur, ok := filter.Get(c, def.Name)
	if def.MultiValued {
		arr := asArray(cur)
		if len(arr) == 0 && v != nil {
			arr = []any{map[string]any{sub.Name: v}}
			setMulti(c, def, arr, []int{0})
			return nil
		}
		var touched []int
		for i, el := range arr {
			m, ok := el.(map[string]any)
			if !ok {
				continue
			}
			m = canonicalSubs(def, m)
			arr[i] = m
			setSub(m, sub, v)
			touched = append(touched, i)
		}
		setMulti(c, def, arr, touched)
		return nil
	}
	m, isMap := cur.(map[string]any)
	if !ok || !isMap {
		if v == nil {
			return nil
		}
		m = map[string]any{}
	} else {
		m = canonicalSubs(def, m)
	}
	setSub(m, sub, v)
	if len(m) == 0 {
		deleteKey(c, def.Name)
		return nil
	}
	setKey(c, def.Name, m)
	return nil
}

func setSub(m map[string]any, sub *scim.Attribute, v any) {
	deleteKey(m, sub.Name)
	if v != nil {
		m[sub.Name] = v
	}
}

// applyFiltered handles attr[filter] and attr[filter].sub.
func (a *applier) applyFiltered(op string, c map[string]any, def, sub *scim.Attribute, p *filter.Path, raw string, val any) error {
	cur, _ := filter.Get(c, def.Name)
	arr := asArray(cur)
	var matched []int
	for i, el := range arr {
		if m, ok := el.(map[string]any); ok && p.Filter.MatchValue(m, a.rt, def) {
			matched = append(matched, i)
		}
	}
	if op == OpRemove || val == nil {
		if sub != nil {
			for _, i := range matched {
				m := canonicalSubs(def, arr[i].(map[string]any))
				deleteKey(m, sub.Name)
				arr[i] = m
			}
		} else {
			out := arr[:0:0]
			for i, el := range arr {
				if !slices.Contains(matched, i) {
					out = append(out, el)
				}
			}
			arr = out
		}
		setMulti(c, def, arr, nil)
		return nil
	}
	if len(matched) == 0 {
		if op == OpReplace && !a.opts.UpsertOnNoMatch {
			return scim.BadRequest(scim.ErrNoTarget, "no value of %q matches %q", def.Name, raw)
		}
		el := seedFromFilter(def, p.Filter)
		if sub != nil {
			v, err := coerce(sub, val, raw, &a.ignored)
			if err != nil {
				return err
			}
			setSub(el, sub, v)
		} else {
			v, err := coerceElement(def, val, raw, &a.ignored)
			if err != nil {
				return err
			}
			for k, sv := range v {
				el[k] = sv
			}
		}
		arr = append(arr, el)
		setMulti(c, def, arr, []int{len(arr) - 1})
		return nil
	}
	if sub != nil {
		v, err := coerce(sub, val, raw, &a.ignored)
		if err != nil {
			return err
		}
		for _, i := range matched {
			m := canonicalSubs(def, arr[i].(map[string]any))
			setSub(m, sub, v)
			arr[i] = m
		}
	} else {
		v, err := coerceElement(def, val, raw, &a.ignored)
		if err != nil {
			return err
		}
		for _, i := range matched {
			if op == OpAdd {
				m := canonicalSubs(def, arr[i].(map[string]any))
				for k, sv := range v {
					m[k] = sv
				}
				arr[i] = m
			} else {
				arr[i] = scim.CopyJSON(v)
			}
		}
	}
	setMulti(c, def, arr, matched)
	return nil
}

// seedFromFilter builds the value an add with a value filter creates when
// nothing matches: the `sub eq literal` conjuncts of the filter.
func seedFromFilter(def *scim.Attribute, e *filter.Expr) map[string]any {
	m := map[string]any{}
	var walk func(e *filter.Expr)
	walk = func(e *filter.Expr) {
		switch e.Op {
		case filter.OpAnd:
			walk(e.X)
			walk(e.Y)
		case filter.OpEq:
			if e.Attr.Sub != "" || e.Attr.URN != "" {
				return
			}
			sd := def.Sub(e.Attr.Name)
			if sd == nil {
				return
			}
			var v any
			switch e.Value.Kind {
			case filter.KindString:
				v = e.Value.Str
			case filter.KindNumber:
				v = json.Number(e.Value.Str)
			case filter.KindBool:
				v = e.Value.Bool
			default:
				return
			}
			if cv, err := coerce(sd, v, "", nil); err == nil && cv != nil {
				m[sd.Name] = cv
			}
		}
	}
	walk(e)
	return m
}

// setMulti stores a multi-valued attribute (deleting it when empty) and
// keeps "primary" unique: when a value written by this operation (touched)
// is primary, every other value loses its primary flag.
func setMulti(c map[string]any, def *scim.Attribute, arr []any, touched []int) {
	if len(arr) == 0 {
		deleteKey(c, def.Name)
		return
	}
	if def.Sub("primary") != nil {
		keep := -1
		for _, i := range touched {
			if i < len(arr) && isPrimary(arr[i]) {
				keep = i
			}
		}
		if keep >= 0 {
			for i, el := range arr {
				if i != keep && isPrimary(el) {
					m := canonicalSubs(def, el.(map[string]any))
					m["primary"] = false
					arr[i] = m
				}
			}
		}
	}
	setKey(c, def.Name, arr)
}

func isPrimary(el any) bool {
	m, ok := el.(map[string]any)
	if !ok {
		return false
	}
	v, _ := filter.Get(m, "primary")
	b, _ := v.(bool)
	return b
}

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

func (a *applier) result(orig map[string]any) Result {
	r := Result{Resource: a.doc, Ignored: a.ignored}
	for _, t := range a.touched {
		before, after := attrValue(orig, t), attrValue(a.doc, t)
		if !reflect.DeepEqual(before, after) {
			name := t.name
			if t.urn != "" {
				name = t.urn + ":" + t.name
			}
			r.Changed = append(r.Changed, name)
		}
	}
	for name, st := range a.external {
		d := st.delta()
		if r.External == nil {
			r.External = map[string]*Delta{}
		}
		r.External[name] = d
		if !d.Empty() {
			r.Changed = append(r.Changed, name)
		}
	}
	sort.Strings(r.Changed)
	return r
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
