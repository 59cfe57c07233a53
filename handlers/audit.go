package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// errNotRecorded answers a write whose audit record could not be written:
// the request fails rather than going unrecorded.
var errNotRecorded = scim.Errorf(http.StatusServiceUnavailable, "", "the change could not be written to the audit trail; retry the request")

// writeAction names the audit action of a SCIM write.
func writeAction(rt *scim.ResourceType, verb string) string {
	return strings.ToLower(rt.ID) + "." + verb
}

// auditChanges lists what a write asked for, as the client sent it (Append
// redacts secrets such as passwords before anything is stored).
func auditChanges(verb string, raw []byte, wrote *directory.Change) []audit.Change {
	if wrote != nil && wrote.Attrs != nil {
		// A create or replace that took effect: what was stored, decoded
		// already, with the secrets it was sent shown as set.
		return audit.ChangesFromAttributes(wrote.Attrs, wrote.Secrets)
	}
	if len(raw) == 0 {
		return nil
	}
	var (
		ch  []audit.Change
		err error
	)
	if verb == "patch" {
		var body map[string]json.RawMessage
		if json.Unmarshal(raw, &body) == nil {
			for k, v := range body {
				if strings.EqualFold(k, "Operations") {
					ch, err = audit.ChangesFromPatch(v)
				}
			}
		}
	} else {
		ch, err = audit.ChangesFromResource(raw)
	}
	if err != nil {
		return nil
	}
	return ch
}

// recordWrite appends the audit record of a SCIM write. For a write that
// took effect an error means the request must fail (503); for a write that
// failed the record is best effort and errors are only logged.
func (s *Server) recordWrite(r *http.Request, rt *scim.ResourceType, verb, id string, raw []byte, ch *directory.Change, failure error) error {
	if s.opts.Audit == nil {
		return nil
	}
	rec := s.writeRecord(r, rt, verb, id, raw, ch, failure)
	err := s.opts.Audit.Append(r.Context(), rec)
	if err != nil {
		s.opts.Logger.Error().Err(err).Str("action", rec.Action).Str("target", rec.Target.ID).
			Bool("success", rec.Outcome.Success).Msg("audit record not written")
		if failure == nil {
			return errNotRecorded
		}
	}
	return nil
}

// writeRecord is the audit record of a SCIM write.
func (s *Server) writeRecord(r *http.Request, rt *scim.ResourceType, verb, id string, raw []byte, ch *directory.Change, failure error) audit.Record {
	rec := audit.Record{
		Actor:     identityFrom(r.Context()).Name,
		Action:    writeAction(rt, verb),
		Target:    audit.Target{Type: rt.ID, ID: id},
		Changes:   auditChanges(verb, raw, ch),
		Outcome:   audit.Outcome{Success: failure == nil, Status: statusOf(r, rt, verb, failure)},
		RequestID: infoFrom(r.Context()).requestID,
		Source:    sourceOf(r),
	}
	if ch != nil {
		rec.Target.ID = ch.ID
		rec.Target.Display = ch.Display
	} else if failure != nil {
		// A refused create or replace is found by what it tried to
		// write (GET /ops/v1/audit?target=<userName>).
		rec.Target.Display = attemptedName(rt, raw)
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

// preparer is an Auditor that can write a record in the commit of the
// change it records (audit.Log).
type preparer interface {
	Prepare(rec audit.Record) (*audit.Prepared, error)
}

// followed is what went into a write's commit besides the change itself.
type followed struct {
	record *audit.Prepared // its audit record, when prepared
	queued bool            // its access-queue entry
}

// followUp returns the writes that commit with a SCIM write on an engine
// that can (store.Follower): its audit record and, when the write may change
// someone's access, its entry in the access queue. The change, its record
// and its queue entry then cost one fsync instead of one and then two more.
// What did not go in (another engine, a multi-batch write, the first record
// of a day) changed writes after the commit, as before.
func (s *Server) followUp(r *http.Request, rt *scim.ResourceType, verb, id string, raw []byte) (directory.FollowUp, *followed) {
	fw := &followed{}
	pr, _ := s.opts.Audit.(preparer)
	if pr == nil && s.opts.Access == nil {
		return nil, fw
	}
	return func(ch *directory.Change) store.Follow {
		// Called afresh for every attempt of an optimistic retry.
		fw.record, fw.queued = nil, false
		if pr != nil {
			if p, err := pr.Prepare(s.writeRecord(r, rt, verb, id, raw, ch, nil)); err == nil {
				fw.record = p
			} // else Append after the commit fails the same way and says why
		}
		var queue []store.Write
		if s.opts.Access != nil && ch.AccessChanged {
			queue, _ = s.opts.Access.Writes(ch) // on error Enqueue after the commit
		}
		return func(rd store.Reader) ([]store.Write, error) {
			var out []store.Write
			if fw.record != nil {
				// A head that cannot be read here is left to Append,
				// which reports it properly.
				if w, err := fw.record.Writes(rd); err == nil {
					out = append(out, w...)
				}
			}
			fw.queued = len(queue) > 0
			return append(out, queue...), nil
		}
	}, fw
}

// attemptedName is the name a write's body gives its resource (userName of
// a user, displayName of a group), or "" when it names none.
func attemptedName(rt *scim.ResourceType, raw []byte) string {
	want := "displayName"
	if rt.ID == "User" {
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

// answersNoContent reports whether a successful write is answered 204
// without a body: a delete, and a group PATCH that names no attributes to
// return (Entra ID expects it and it spares reading every member back).
func answersNoContent(r *http.Request, rt *scim.ResourceType, verb string) bool {
	switch verb {
	case "delete":
		return true
	case "patch":
		q := r.URL.Query()
		return rt.ID == "Group" && q.Get("attributes") == "" && q.Get("excludedAttributes") == ""
	}
	return false
}

// statusOf is the status a write is answered with, which its audit record
// states.
func statusOf(r *http.Request, rt *scim.ResourceType, verb string, err error) int {
	if err == nil {
		switch {
		case verb == "create":
			return http.StatusCreated
		case answersNoContent(r, rt, verb):
			return http.StatusNoContent
		}
		return http.StatusOK
	}
	if se, ok := scim.AsError(err); ok {
		return se.Status
	}
	return http.StatusInternalServerError
}

// recordAuth appends an authentication failure or scope denial. Failures
// that are being throttled are not recorded (only logged), so a flood of bad
// tokens cannot flood the trail.
func (s *Server) recordAuth(r *http.Request, action, actor, detail string, status int) {
	if s.opts.Audit == nil {
		return
	}
	err := s.opts.Audit.Append(r.Context(), audit.Record{
		Actor:     actor,
		Action:    action,
		Target:    audit.Target{Type: "Endpoint", ID: r.Method + " " + r.URL.Path},
		Outcome:   audit.Outcome{Success: false, Status: status, Detail: detail},
		RequestID: infoFrom(r.Context()).requestID,
		Source:    sourceOf(r),
	})
	if err != nil && !errors.Is(err, r.Context().Err()) {
		s.opts.Logger.Error().Err(err).Str("action", action).Msg("audit record not written")
	}
}
