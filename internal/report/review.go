package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/adfscim/adfscim/internal/audit"
)

// ActionReviewComplete is the audit action of a completed access review.
const ActionReviewComplete = "review.complete"

// ReviewSchema names the JSON shape of a review Sheet.
const ReviewSchema = "urn:adfscim:review:sheet:1"

// Decisions a reviewer gives a line.
const (
	DecisionKeep   = "keep"
	DecisionRemove = "remove"
)

// Follow-up statuses of a removal decided by the previous review.
const (
	FollowUpDone    = "carried out"
	FollowUpNotDone = "not carried out"
)

// Limits of a submitted review.
const (
	maxReviewerLen = 200
	maxNoteLen     = 500
)

// ErrReviewInvalid is wrapped when a submitted review is malformed or does
// not match the sheet's lines (HTTP 400); ErrReviewStale when the sheet it
// answers is no longer the current one (HTTP 409).
var (
	ErrReviewInvalid = errors.New("review: invalid")
	ErrReviewStale   = errors.New("review: the sheet changed")
)

// Sheet is an access review sheet: per factory and role, who holds it,
// through which group or binding kind, since when, and the last change,
// for the factory's owner to decide keep or remove on each line.
type Sheet struct {
	Schema    string    `json:"schema"`
	Generated time.Time `json:"generated"`
	// Factory is the factory the sheet is limited to ("" for all).
	Factory string `json:"factory,omitempty"`
	// Digest is the SHA-256 (hex) of the sheet's canonical CSV (CanonicalCSV):
	// a completed review names it, so the record says which sheet it answers.
	Digest string `json:"digest"`
	// Trail is the audit trail's verification status.
	Trail Trail       `json:"auditTrail"`
	Lines []SheetLine `json:"lines"`
	// Previous is the last completed review of the same scope, and
	// FollowUps the removals it decided, each carried out or not.
	Previous  *ReviewRecord `json:"previousReview,omitempty"`
	FollowUps []FollowUp    `json:"followUps"`
}

// Line kinds: how the holder comes by the role.
const (
	KindMembership    = "group membership"
	KindGroup         = "group assignment"
	KindShadow        = "shadow"
	KindRevokePending = "revoke pending"
)

// SheetLine is one role held on one factory by one principal.
type SheetLine struct {
	// ID is stable while factory, role, principal and the way it is held
	// stay the same: decisions name lines by it.
	ID            string     `json:"line"`
	Factory       string     `json:"factory"`
	FactoryID     string     `json:"factoryId"`
	Role          string     `json:"role"`
	RoleID        string     `json:"roleId"`
	UserName      string     `json:"userName,omitempty"`
	UserID        string     `json:"userId,omitempty"`
	PrincipalType string     `json:"principalType,omitempty"`
	PrincipalID   string     `json:"principalId"`
	Kind          string     `json:"kind"`
	Via           string     `json:"via"`
	Since         *time.Time `json:"since,omitempty"`
	LastChange    *Event     `json:"lastChange,omitempty"`
	// Previous is the previous review's decision on this line, if it had it.
	Previous string `json:"previousDecision,omitempty"`
}

// FollowUp is a removal a review decided: the IdP's owner carries it out
// (adfscim does not override the IdP), and the next sheet says whether the
// access is gone.
type FollowUp struct {
	Line          string `json:"line"`
	Factory       string `json:"factory"`
	FactoryID     string `json:"factoryId"`
	Role          string `json:"role"`
	RoleID        string `json:"roleId"`
	UserName      string `json:"userName,omitempty"`
	PrincipalID   string `json:"principalId"`
	Via           string `json:"via"`
	Note          string `json:"note,omitempty"`
	Action        string `json:"action"`
	Status        string `json:"status,omitempty"`
	DecidedSeq    uint64 `json:"decidedSeq,omitempty"`
	DecidedByName string `json:"reviewer,omitempty"`
}

// ReviewRecord is what the trail says of a completed review.
type ReviewRecord struct {
	Seq         uint64    `json:"seq"`
	Time        time.Time `json:"time"`
	Actor       string    `json:"actor"`
	Reviewer    string    `json:"reviewer"`
	SheetDigest string    `json:"sheetDigest"`
	Factory     string    `json:"factory,omitempty"`
	Lines       int       `json:"lines"`
	Keep        int       `json:"keep"`
	Remove      int       `json:"remove"`

	removals []FollowUp
	decided  map[string]string
}

// Submission is a completed review as the reviewer uploads it.
type Submission struct {
	Reviewer    string     `json:"reviewer"`
	SheetDigest string     `json:"sheetDigest"`
	Factory     string     `json:"factory,omitempty"`
	Decisions   []Decision `json:"decisions"`
}

// Decision is the reviewer's decision on one line.
type Decision struct {
	Line     string `json:"line"`
	Decision string `json:"decision"`
	Note     string `json:"note,omitempty"`
}

// Completion is what recording a review gives back: the record and the
// removals the IdP's owner is to carry out.
type Completion struct {
	Schema  string       `json:"schema"`
	Review  ReviewRecord `json:"review"`
	Actions []FollowUp   `json:"actions"`
}

// lineID is the stable id of a line: the first 16 hex digits of the
// SHA-256 of factory|role|principal|kind|groups.
func lineID(factoryID, roleID, principalID, kind string, groups []GroupRef) string {
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.ToLower(factoryID) + "|" + strings.ToLower(roleID) + "|" + strings.ToLower(principalID) +
		"|" + kind + "|" + strings.Join(ids, ",")))
	return hex.EncodeToString(sum[:8])
}

// Review builds the review sheet, for one factory (its name or resource
// id) or, with factory "", for all.
func (b *Builder) Review(ctx context.Context, factory string) (*Sheet, error) {
	factoryID := ""
	if factory != "" {
		for _, f := range b.o.Mapping.Factories {
			if strings.EqualFold(f, normScope(factory)) || strings.EqualFold(FactoryName(f), factory) {
				factoryID = normScope(f)
			}
		}
		if factoryID == "" {
			return nil, fmt.Errorf("%w: factory %q is not one of the mapping's factories", ErrReviewInvalid, factory)
		}
	}
	rep, err := b.Build(ctx)
	if err != nil {
		return nil, err
	}
	return sheetOf(rep, factoryID), nil
}

// sheetOf derives the sheet from a report.
func sheetOf(rep *Report, factoryID string) *Sheet {
	sh := &Sheet{Schema: ReviewSchema, Generated: rep.Generated, Trail: rep.Trail}
	if factoryID != "" {
		sh.Factory = FactoryName(factoryID)
	}
	for _, a := range rep.Access {
		if factoryID != "" && a.FactoryID != factoryID {
			continue
		}
		l := SheetLine{Factory: a.Factory, FactoryID: a.FactoryID, Role: a.Role, RoleID: a.RoleID, UserName: a.UserName,
			UserID: a.UserID, PrincipalType: a.PrincipalType, PrincipalID: a.PrincipalID, Since: a.Since, LastChange: a.LastChange}
		switch {
		case a.Status == StatusShadow:
			l.Kind, l.Via = KindShadow, "not granted by adfscim (made in Azure directly)"
		case a.Status == StatusRevokePending:
			l.Kind, l.Via = KindRevokePending, "no group any more: adfscim is removing it"
		case a.PrincipalType == "Group":
			l.Kind, l.Via = KindGroup, "the group itself: "+groupNames(a.Groups)
		default:
			l.Kind, l.Via = KindMembership, groupNames(a.Groups)
		}
		groups := a.Groups
		if l.Kind == KindShadow || l.Kind == KindRevokePending {
			groups = nil
		}
		l.ID = lineID(l.FactoryID, l.RoleID, l.PrincipalID, l.Kind, groups)
		sh.Lines = append(sh.Lines, l)
	}
	sort.SliceStable(sh.Lines, func(i, j int) bool {
		a, b := sh.Lines[i], sh.Lines[j]
		if a.Factory != b.Factory {
			return a.Factory < b.Factory
		}
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		return lessAccess(Access{UserName: a.UserName, PrincipalID: a.PrincipalID}, Access{UserName: b.UserName, PrincipalID: b.PrincipalID})
	})
	sh.Digest = digest(sh.Lines)

	// The previous review of the same scope and what became of its removals.
	for i := len(rep.reviews) - 1; i >= 0; i-- {
		rr := reviewRecordOf(rep.reviews[i])
		if !strings.EqualFold(rr.Factory, sh.Factory) {
			continue
		}
		sh.Previous = &rr
		for j := range sh.Lines {
			sh.Lines[j].Previous = rr.decided[sh.Lines[j].ID]
		}
		for _, f := range rr.removals {
			f.Status = FollowUpDone
			for _, l := range sh.Lines {
				if l.FactoryID == f.FactoryID && l.RoleID == f.RoleID && l.PrincipalID == f.PrincipalID {
					f.Status = FollowUpNotDone
				}
			}
			sh.FollowUps = append(sh.FollowUps, f)
		}
		break
	}
	sh.Lines = nonNil(sh.Lines)
	sh.FollowUps = nonNil(sh.FollowUps)
	return sh
}

// CanonicalHeader is the header of the canonical CSV a sheet's digest is
// computed over.
var CanonicalHeader = []string{"line", "factory_id", "role_id", "principal_id", "user_name", "kind", "via", "since"}

// CanonicalCSV writes the lines as the canonical CSV: CanonicalHeader, then
// one row per line in sheet order, RFC 4180 with "\n" line ends, times in
// RFC 3339 UTC. Its SHA-256 is the sheet's digest.
func CanonicalCSV(lines []SheetLine) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(CanonicalHeader)
	for _, l := range lines {
		_ = w.Write([]string{l.ID, l.FactoryID, l.RoleID, l.PrincipalID, l.UserName, l.Kind, l.Via, fmtTimePtr(l.Since, time.RFC3339)})
	}
	w.Flush()
	return b.Bytes()
}

func digest(lines []SheetLine) string {
	sum := sha256.Sum256(CanonicalCSV(lines))
	return hex.EncodeToString(sum[:])
}

// followUp is the action for the IdP's owner that removing line l takes.
func followUp(l SheetLine, note string) FollowUp {
	f := FollowUp{Line: l.ID, Factory: l.Factory, FactoryID: l.FactoryID, Role: l.Role, RoleID: l.RoleID, UserName: l.UserName,
		PrincipalID: l.PrincipalID, Via: l.Via, Note: note}
	who := l.UserName
	if who == "" {
		who = l.PrincipalID
	}
	switch l.Kind {
	case KindMembership:
		f.Action = "in the identity provider, remove " + who + " from " + l.Via
	case KindGroup:
		f.Action = "remove the binding of " + strings.TrimPrefix(l.Via, "the group itself: ") + " to " + l.Role + " on " + l.Factory + " from the mapping, or the group from the identity provider's assignment"
	case KindShadow:
		f.Action = "in Azure, delete the role assignment " + l.Role + " on " + l.Factory + " for " + who + " (adfscim did not make it)"
	default:
		f.Action = "none: adfscim is already removing it (check the next sheet)"
	}
	return f
}

// Complete checks a submitted review against the current sheet and records
// it in the audit trail (action review.complete, actor: the authenticated
// client), with the digest of the sheet it answers and every decision. It
// returns the removals for the IdP's owner.
func (b *Builder) Complete(ctx context.Context, trail audit.Auditor, actor string, sub Submission) (*Completion, error) {
	reviewer := strings.TrimSpace(sub.Reviewer)
	if err := checkText("reviewer", reviewer, maxReviewerLen); err != nil {
		return nil, err
	}
	if reviewer == "" {
		return nil, fmt.Errorf("%w: reviewer is required: the name of the person who reviewed the sheet", ErrReviewInvalid)
	}
	if _, err := hex.DecodeString(sub.SheetDigest); err != nil || len(sub.SheetDigest) != 64 {
		return nil, fmt.Errorf("%w: sheetDigest must be the sheet's digest (64 hex digits)", ErrReviewInvalid)
	}
	sh, err := b.Review(ctx, sub.Factory)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(sub.SheetDigest, sh.Digest) {
		return nil, fmt.Errorf("%w: sheetDigest %s is not the digest of the current sheet (%s): access changed since the sheet was made, or it is another factory's; review a new sheet",
			ErrReviewStale, strings.ToLower(sub.SheetDigest), sh.Digest)
	}
	lines := map[string]SheetLine{}
	for _, l := range sh.Lines {
		lines[l.ID] = l
	}
	seen := map[string]bool{}
	var unknown []string
	var decisions []any
	rr := ReviewRecord{Actor: actor, Reviewer: reviewer, SheetDigest: sh.Digest, Factory: sh.Factory, Lines: len(sh.Lines)}
	var actions []FollowUp
	for i, d := range sub.Decisions {
		l, ok := lines[d.Line]
		if !ok {
			unknown = append(unknown, d.Line)
			continue
		}
		if seen[d.Line] {
			return nil, fmt.Errorf("%w: line %s is decided twice", ErrReviewInvalid, d.Line)
		}
		seen[d.Line] = true
		note := strings.TrimSpace(d.Note)
		if err := checkText(fmt.Sprintf("decisions[%d].note", i), note, maxNoteLen); err != nil {
			return nil, err
		}
		entry := map[string]any{"line": d.Line, "decision": d.Decision}
		if note != "" {
			entry["note"] = note
		}
		switch d.Decision {
		case DecisionKeep:
			rr.Keep++
		case DecisionRemove:
			rr.Remove++
			f := followUp(l, note)
			actions = append(actions, f)
			entry["factoryId"], entry["roleId"], entry["principalId"] = l.FactoryID, l.RoleID, l.PrincipalID
			entry["userName"], entry["kind"], entry["via"] = l.UserName, l.Kind, l.Via
		default:
			return nil, fmt.Errorf("%w: decisions[%d].decision must be %q or %q, not %q", ErrReviewInvalid, i, DecisionKeep, DecisionRemove, d.Decision)
		}
		decisions = append(decisions, entry)
	}
	if len(unknown) > 0 {
		if len(unknown) > 5 {
			unknown = append(unknown[:5], fmt.Sprintf("and %d more", len(unknown)-5))
		}
		return nil, fmt.Errorf("%w: unknown line ids (not on the sheet %s): %s", ErrReviewInvalid, sh.Digest, strings.Join(unknown, ", "))
	}
	if missing := len(sh.Lines) - len(seen); missing > 0 {
		var first string
		for _, l := range sh.Lines {
			if !seen[l.ID] {
				first = l.ID
				break
			}
		}
		return nil, fmt.Errorf("%w: %d of the sheet's %d lines have no decision (the first: %s); a review decides every line", ErrReviewInvalid, missing, len(sh.Lines), first)
	}
	target := "all factories"
	if sh.Factory != "" {
		target = sh.Factory
	}
	rec := audit.Record{
		Actor: actor, Action: ActionReviewComplete,
		Target: audit.Target{Type: "AccessReview", ID: sh.Digest, Display: "access review of " + target + " by " + reviewer},
		Changes: []audit.Change{
			{Op: "set", Path: "reviewer", Value: reviewer},
			{Op: "set", Path: "sheetDigest", Value: sh.Digest},
			{Op: "set", Path: "factory", Value: sh.Factory},
			{Op: "set", Path: "lines", Value: len(sh.Lines)},
			{Op: "set", Path: "decisions", Value: decisions},
		},
		Outcome: audit.Outcome{Success: true, Status: 200,
			Detail: fmt.Sprintf("%d lines: %d keep, %d remove", len(sh.Lines), rr.Keep, rr.Remove)},
	}
	if err := trail.Append(ctx, rec); err != nil {
		return nil, fmt.Errorf("review: record the review: %w", err)
	}
	rr.Time = b.o.Now().UTC()
	return &Completion{Schema: "urn:adfscim:review:completion:1", Review: rr, Actions: nonNil(actions)}, nil
}

// checkText refuses text that is too long or holds control characters.
func checkText(name, s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrReviewInvalid, name)
	}
	if utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%w: %s is longer than %d characters", ErrReviewInvalid, name, max)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: %s holds a control character", ErrReviewInvalid, name)
	}
	return nil
}

// reviewRecordOf reads a review.complete record.
func reviewRecordOf(r audit.Record) ReviewRecord {
	rr := ReviewRecord{Seq: r.Seq, Time: r.Time.UTC(), Actor: r.Actor, decided: map[string]string{}}
	for _, c := range r.Changes {
		switch c.Path {
		case "reviewer":
			rr.Reviewer, _ = c.Value.(string)
		case "sheetDigest":
			rr.SheetDigest, _ = c.Value.(string)
		case "factory":
			rr.Factory, _ = c.Value.(string)
		case "lines":
			if n, ok := c.Value.(float64); ok {
				rr.Lines = int(n)
			}
		case "decisions":
			list, _ := c.Value.([]any)
			for _, e := range list {
				m, _ := e.(map[string]any)
				str := func(k string) string { s, _ := m[k].(string); return s }
				rr.decided[str("line")] = str("decision")
				switch str("decision") {
				case DecisionKeep:
					rr.Keep++
				case DecisionRemove:
					rr.Remove++
					l := SheetLine{ID: str("line"), FactoryID: str("factoryId"), Factory: FactoryName(str("factoryId")), RoleID: str("roleId"),
						Role: RoleName(str("roleId")), PrincipalID: str("principalId"), UserName: str("userName"), Kind: str("kind"), Via: str("via")}
					f := followUp(l, str("note"))
					f.DecidedSeq, f.DecidedByName = r.Seq, rr.Reviewer
					rr.removals = append(rr.removals, f)
				}
			}
		}
	}
	return rr
}
