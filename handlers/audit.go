package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
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
	rec := audit.Record{
		Actor:     identityFrom(r.Context()).Name,
		Action:    writeAction(rt, verb),
		Target:    audit.Target{Type: rt.ID, ID: id},
		Changes:   auditChanges(verb, raw, ch),
		Outcome:   audit.Outcome{Success: failure == nil, Status: statusOf(verb, failure)},
		RequestID: infoFrom(r.Context()).requestID,
		Source:    sourceOf(r),
	}
	if ch != nil {
		rec.Target.ID = ch.ID
		rec.Target.Display = ch.Display
	}
	if failure != nil {
		if se, ok := scim.AsError(failure); ok {
			rec.Outcome.Detail = se.Detail
		} else {
			rec.Outcome.Detail = "internal error"
		}
	}
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

func statusOf(verb string, err error) int {
	if err == nil {
		switch verb {
		case "create":
			return http.StatusCreated
		case "delete":
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
