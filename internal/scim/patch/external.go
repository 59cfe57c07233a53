package patch

import (
	"fmt"
	"strings"

	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/filter"
)

// deltaState accumulates the operations on one external attribute in
// order and reduces them to a net Delta.
type deltaState struct {
	removeAll bool
	removed   []string
	isRemoved map[string]bool
	added     []Member
	addedAt   map[string]int // value -> index in added; -1 once dropped
}

func newDeltaState() *deltaState {
	return &deltaState{isRemoved: map[string]bool{}, addedAt: map[string]int{}}
}

func (d *deltaState) add(m Member) {
	if d.isRemoved[m.Value] {
		delete(d.isRemoved, m.Value) // removing then adding leaves it present
	}
	if i, ok := d.addedAt[m.Value]; ok && i >= 0 {
		d.added[i] = m
		return
	}
	d.addedAt[m.Value] = len(d.added)
	d.added = append(d.added, m)
}

func (d *deltaState) remove(value string) {
	if i, ok := d.addedAt[value]; ok && i >= 0 {
		d.addedAt[value] = -1
		d.added[i].Value = "" // tombstone, compacted in delta()
	}
	if !d.removeAll && !d.isRemoved[value] {
		d.isRemoved[value] = true
		d.removed = append(d.removed, value)
	}
}

func (d *deltaState) clear() {
	*d = *newDeltaState()
	d.removeAll = true
}

func (d *deltaState) delta() *Delta {
	out := &Delta{RemoveAll: d.removeAll}
	seen := map[string]bool{}
	for _, v := range d.removed {
		if d.isRemoved[v] && !seen[v] {
			seen[v] = true
			out.Removed = append(out.Removed, v)
		}
	}
	for _, m := range d.added {
		if m.Value != "" {
			out.Added = append(out.Added, m)
		}
	}
	return out
}

// isExternal returns the name from Options.External that p targets, or "".
func (a *applier) isExternal(p *filter.Path) string {
	if p.URN != "" && !strings.EqualFold(p.URN, a.rt.Schema.ID) {
		return ""
	}
	for _, name := range a.opts.External {
		if strings.EqualFold(name, p.Name) {
			return name
		}
	}
	return ""
}

func (a *applier) applyExternal(op, name string, p *filter.Path, raw string, val any, hasValue bool) error {
	if a.external == nil {
		a.external = map[string]*deltaState{}
	}
	st := a.external[name]
	if st == nil {
		st = newDeltaState()
		a.external[name] = st
	}
	if p.Sub != "" {
		return scim.BadRequest(scim.ErrInvalidPath, "%q: values of %s can only be added or removed whole", raw, name)
	}
	if p.Filter != nil {
		if op != OpRemove {
			return scim.BadRequest(scim.ErrInvalidPath, "%q: %s with a value filter is not supported on %s; use add or remove", raw, op, name)
		}
		ids, ok := valueEqualities(p.Filter)
		if !ok {
			return scim.BadRequest(scim.ErrInvalidFilter, "%q: only value eq \"…\" filters (joined with or) can select %s", raw, name)
		}
		for _, id := range ids {
			st.remove(id)
		}
		return nil
	}
	switch {
	case op == OpRemove && (!hasValue || val == nil):
		st.clear()
		return nil
	case op == OpRemove:
		ms, err := members(val, raw)
		if err != nil {
			return err
		}
		for _, m := range ms {
			st.remove(m.Value)
		}
		return nil
	case op == OpReplace:
		ms, err := members(val, raw)
		if err != nil {
			return err
		}
		st.clear()
		for _, m := range ms {
			st.add(m)
		}
		return nil
	default: // add
		ms, err := members(val, raw)
		if err != nil {
			return err
		}
		for _, m := range ms {
			st.add(m)
		}
		return nil
	}
}

// valueEqualities returns the literals of `value eq "x" or value eq "y"`.
func valueEqualities(e *filter.Expr) ([]string, bool) {
	switch e.Op {
	case filter.OpOr:
		x, ok := valueEqualities(e.X)
		if !ok {
			return nil, false
		}
		y, ok := valueEqualities(e.Y)
		return append(x, y...), ok
	case filter.OpEq:
		if strings.EqualFold(e.Attr.Name, "value") && e.Attr.Sub == "" && e.Attr.URN == "" &&
			(e.Value.Kind == filter.KindString || e.Value.Kind == filter.KindNumber) && e.Value.Str != "" {
			return []string{e.Value.Str}, true
		}
	}
	return nil, false
}

// members reads the values of an external attribute: an array (or a single
// value) of {"value": id, "display": …, "type": …} objects or bare id
// strings. null or [] is no value.
func members(v any, raw string) ([]Member, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	out := make([]Member, 0, len(items))
	for _, it := range items {
		if it == nil {
			continue
		}
		m, err := scim.ParseMember(it)
		if err != nil {
			if se, ok := scim.AsError(err); ok {
				se.Detail = fmt.Sprintf("%q: %s", raw, se.Detail)
			}
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
