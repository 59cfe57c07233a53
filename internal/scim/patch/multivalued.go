package patch

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// Operations on multi-valued and complex attributes: whole values, values
// selected by a filter, sub-attributes, and the primary flag.

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
