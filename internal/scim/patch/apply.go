package patch

import (
	"reflect"
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
