package handlers

import (
	"errors"
	"net/http"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/provision"
	"github.com/adfscim/adfscim/internal/scim"
)

// writeRequest is the write unit's Request for a SCIM write on r: who asks,
// from where, under which request id. The caller adds the body.
func (s *Server) writeRequest(r *http.Request, rt *scim.ResourceType, id string) provision.Request {
	return provision.Request{
		Kind:      directory.Kind(rt.ID),
		ID:        id,
		IfMatch:   r.Header.Get("If-Match"),
		Actor:     identityFrom(r.Context()).Name,
		RequestID: infoFrom(r.Context()).requestID,
		Source:    sourceOf(r),
	}
}

// refuse answers a write that failed with its error, and has the write unit
// record it with the status answered.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, action directory.Action, req provision.Request, err error) {
	s.writes.Refused(r.Context(), action, req, statusOf(asSCIMError(err).Code), err)
	writeError(w, r, err)
}

// noteUnknown logs and counts attributes that matched no schema, so an
// operator sees at once when an IdP sends a field adfscim does not know.
func (s *Server) noteUnknown(r *http.Request, ch *directory.Change) {
	if len(ch.Unknown) == 0 {
		return
	}
	client := identityFrom(r.Context()).Name
	s.unknown.add(client, ch.Unknown)
	s.opts.Logger.Warn().Str("client", client).Str("resource", string(ch.Type)).
		Strs("attributes", ch.Unknown).Msg("ignored attributes that match no schema")
}

// answersNoContent reports whether a successful PATCH is answered 204
// without a body: a group PATCH that names no attributes to return (Entra ID
// expects it and it spares reading every member back).
func answersNoContent(r *http.Request, rt *scim.ResourceType) bool {
	q := r.URL.Query()
	return rt.ID == "Group" && q.Get("attributes") == "" && q.Get("excludedAttributes") == ""
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
