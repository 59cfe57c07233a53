package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/scim"
)

// Reviewer makes access review sheets and records completed reviews;
// *report.Builder implements it.
type Reviewer interface {
	Review(ctx context.Context, factory string) (*report.Sheet, error)
	Complete(ctx context.Context, trail audit.Auditor, actor string, sub report.Submission) (*report.Completion, error)
}

// reviewSheet answers GET /ops/v1/review?format=json|csv|html&factory=name:
// the access review sheet, JSON by default.
func (s *Server) reviewSheet(w http.ResponseWriter, r *http.Request) {
	format := strings.ToLower(r.URL.Query().Get("format"))
	if format == "" {
		format = formatFromAccept(r.Header.Get("Accept"))
	}
	ct := report.ContentType(format)
	if ct == "" {
		writeError(w, r, scim.BadRequest(scim.ErrInvalidValue, "format must be json, csv or html"))
		return
	}
	sh, err := s.opts.Review.Review(r.Context(), r.URL.Query().Get("factory"))
	if err != nil {
		writeError(w, r, reviewError(err))
		return
	}
	var b bytes.Buffer
	if err := report.WriteSheet(&b, sh, format); err != nil {
		writeError(w, r, err)
		return
	}
	scope := "all"
	if sh.Factory != "" {
		scope = sh.Factory
	}
	name := "adfscim-review-" + scope + "-" + sh.Generated.UTC().Format("20060102T150405Z") + "." + format
	switch format {
	case report.FormatHTML:
		writeDocument(w, b.Bytes(), ct, report.SheetContentSecurityPolicy, "inline", name)
	case report.FormatCSV:
		writeDocument(w, b.Bytes(), ct, "", "attachment", name)
	default:
		writeDocument(w, b.Bytes(), ct, "", "", "")
	}
}

// completeReview answers POST /ops/v1/review: a completed review
// ({reviewer, sheetDigest, factory, decisions: [{line, decision, note}]})
// is checked against the current sheet and recorded in the audit trail,
// with the authenticated client as actor. 400 for a malformed review or
// unknown lines, 409 when the sheet it answers is not the current one.
func (s *Server) completeReview(w http.ResponseWriter, r *http.Request) {
	_, raw, err := readBody(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var sub report.Submission
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		writeError(w, r, scim.BadRequest(scim.ErrInvalidSyntax, "a review is {\"reviewer\", \"sheetDigest\", \"factory\", \"decisions\": [{\"line\", \"decision\", \"note\"}]}: %v", jsonErrDetail(err)))
		return
	}
	done, err := s.opts.Review.Complete(r.Context(), s.opts.Audit, identityFrom(r.Context()).Name, sub)
	if err != nil {
		writeError(w, r, reviewError(err))
		return
	}
	writeJSON(w, r, http.StatusOK, done)
}

// reviewError gives a review error its SCIM status.
func reviewError(err error) error {
	switch {
	case errors.Is(err, report.ErrReviewStale):
		return scim.Errorf(scim.CodeConflict, "", "%s", err.Error())
	case errors.Is(err, report.ErrReviewInvalid):
		return scim.BadRequest(scim.ErrInvalidValue, "%s", err.Error())
	case errors.Is(err, audit.ErrNotRecorded):
		return scim.Errorf(scim.CodeUnavailable, "", "the review could not be recorded in the audit trail; retry later")
	}
	return err
}
