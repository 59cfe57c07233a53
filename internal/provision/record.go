package provision

import (
	"encoding/json"
	"strings"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
)

// record is the audit record of the unit's write: ch is the change when the
// write took effect, failure the error when it did not.
func (u *unit) record(ch *directory.Change, status int, failure error) audit.Record {
	req := u.req
	rec := audit.Record{
		Actor:     req.Actor,
		Action:    strings.ToLower(string(req.Kind)) + "." + string(u.action),
		Target:    audit.Target{Type: string(req.Kind), ID: req.ID},
		Changes:   append(u.changes(ch), notes(ch)...),
		Outcome:   audit.Outcome{Success: failure == nil, Status: status},
		RequestID: req.RequestID,
		Source:    req.Source,
	}
	if ch != nil {
		rec.Target.ID = ch.ID
		rec.Target.Display = ch.Display
	} else if failure != nil {
		// A refused create or replace is found by what it tried to
		// write (GET /ops/v1/audit?target=<userName>).
		rec.Target.Display = attemptedName(req.Kind, req.Raw)
	}
	if failure != nil {
		if se, ok := scim.AsError(failure); ok {
			rec.Outcome.Detail = se.Detail
		} else {
			rec.Outcome.Detail = "internal error"
		}
	}
	return rec
}

// changes lists what a write asked for, as the client sent it (Append
// redacts secrets such as passwords before anything is stored).
func (u *unit) changes(wrote *directory.Change) []audit.Change {
	if wrote != nil && wrote.Attrs != nil {
		// A create or replace that took effect: what was stored, decoded
		// already, with the secrets it was sent shown as set.
		return audit.ChangesFromAttributes(wrote.Attrs, wrote.Secrets)
	}
	if !u.askedDone {
		// Once per write, not once per optimistic retry.
		u.asked, u.askedDone = asked(u.action, u.req), true
	}
	return u.asked
}

// asked is the trail's list of what req asked for: a patch's operations, or
// the attributes of a create or replace body.
func asked(action directory.Action, req Request) []audit.Change {
	var (
		ch  []audit.Change
		err error
	)
	switch {
	case req.Operations != nil:
		ops := make([]audit.Change, len(req.Operations))
		for i, o := range req.Operations {
			var v any
			if o.Value != nil {
				_ = json.Unmarshal(o.Value, &v) // Parse checked it is JSON
			}
			ops[i] = audit.Change{Op: o.Sent, Path: o.Path, Value: v}
		}
		ch, err = audit.ChangesFromOperations(ops)
	case len(req.Raw) == 0:
		return nil
	case action == directory.ActionPatch:
		// A body that did not parse: the operations as far as they decode.
		var body map[string]json.RawMessage
		if json.Unmarshal(req.Raw, &body) == nil {
			for k, v := range body {
				if strings.EqualFold(k, "Operations") {
					ch, err = audit.ChangesFromPatch(v)
				}
			}
		}
	default:
		ch, err = audit.ChangesFromResource(req.Raw)
	}
	if err != nil {
		return nil
	}
	return ch
}

// attemptedName is the name a write's body gives its resource (userName of
// a user, displayName of a group), or "" when it names none.
func attemptedName(kind directory.Kind, raw []byte) string {
	want := "displayName"
	if kind == directory.User {
		want = "userName"
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(raw, &body) != nil {
		return ""
	}
	for k, v := range body {
		var s string
		if strings.EqualFold(k, want) && json.Unmarshal(v, &s) == nil {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// notes are the changes the directory found a write made beyond what the
// client's words show: the direct grants it gave and took away, by name.
func notes(ch *directory.Change) []audit.Change {
	if ch == nil {
		return nil
	}
	var out []audit.Change
	for _, n := range ch.Notes {
		out = append(out, audit.Change{Op: n.Op, Path: n.Path, Value: n.Value})
	}
	return out
}
