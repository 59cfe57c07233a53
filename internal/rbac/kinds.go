package rbac

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// BindingKind is what a binding grants, as the mapping's "kind" says.
type BindingKind string

// Binding kinds. An active binding with a maxDuration grants time-bound
// assignments that adfscim renews while the person stays in the group; an
// eligible one grants a PIM eligibility that the person activates
// themselves (its maxDuration, when set, bounds the eligibility itself).
const (
	BindingActive   BindingKind = "active"
	BindingEligible BindingKind = "eligible"
)

// GrantKind says how ARM holds an assignment: a standing role assignment
// (""), a time-bound role assignment schedule, or a role eligibility
// schedule. Standing assignments keep the zero value so that their JSON and
// their keys are what they always were.
type GrantKind string

// Grant kinds.
const (
	GrantStanding  GrantKind = ""
	GrantTimeBound GrantKind = "timeBound"
	GrantEligible  GrantKind = "eligible"
)

// Scheduled reports whether k is held as a PIM schedule (a schedule request
// creates, renews and removes it).
func (k GrantKind) Scheduled() bool { return k == GrantTimeBound || k == GrantEligible }

// Counts reports whether a grant of kind k counts against the subscription's
// role assignment limit: eligibilities do not.
func (k GrantKind) Counts() bool { return k != GrantEligible }

// class separates, in duplicate detection, the bindings that may grant the
// same role on the same factory side by side: an eligibility next to an
// active grant.
func (k BindingKind) class() string {
	if k == BindingEligible {
		return "e"
	}
	return "a"
}

// setKind validates and sets the binding's kind and maxDuration.
func (b *Binding) setKind(bf BindingFile) error {
	b.Kind = bf.Kind
	if b.Kind == "" {
		b.Kind = BindingActive
	}
	if b.Kind != BindingActive && b.Kind != BindingEligible {
		return fmt.Errorf("unknown kind %q (active or eligible)", bf.Kind)
	}
	if bf.MaxDuration != "" {
		d, err := time.ParseDuration(bf.MaxDuration)
		if err != nil {
			return fmt.Errorf("maxDuration %q: %w (a Go duration such as \"720h\")", bf.MaxDuration, err)
		}
		if d < 5*time.Minute || d > 5*365*24*time.Hour {
			return fmt.Errorf("maxDuration %s: PIM schedules run from 5 minutes to 5 years", d)
		}
		b.MaxDuration = d.Truncate(time.Second)
	}
	return nil
}

// Grant is the kind of assignment the binding makes.
func (b Binding) Grant() GrantKind {
	switch {
	case b.Kind == BindingEligible:
		return GrantEligible
	case b.MaxDuration > 0:
		return GrantTimeBound
	}
	return GrantStanding
}

// UsesSchedules reports whether a binding grants time-bound assignments or
// eligibilities: only then does the reconciler read and write PIM schedules
// (which need the schedule-request permissions and an Entra ID P2 or
// Governance licence).
func (m *Mapping) UsesSchedules() bool {
	for _, b := range m.Bindings {
		if b.Grant().Scheduled() {
			return true
		}
	}
	return false
}

// ScheduleRequestName is the deterministic name of the schedule request that
// grants (or renews to) end the schedule of kind on (scope, principal, role)
// starting at start (the request's startDateTime, so that a grant made again
// after a removal is a new request): a zero end means no expiration. A listed schedule is adfscim's when the
// request that made it carries this name for the schedule's own end, which
// is how adfscim owns schedules the way it owns assignments (ARM keeps no
// description on a schedule).
func ScheduleRequestName(kind GrantKind, scope, principal, role string, start, end time.Time) string {
	return uuid.NewSHA1(namespace, []byte(string(kind)+"|"+assignmentKey(scope, principal, role)+"|"+start.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)+"|"+endText(end))).String()
}

// RemoveRequestName is the name of the request that removes the schedule
// made by request (the same name for every retry of one removal).
func RemoveRequestName(kind GrantKind, scope, principal, role, request string) string {
	return uuid.NewSHA1(namespace, []byte("remove|"+string(kind)+"|"+assignmentKey(scope, principal, role)+"|"+strings.ToLower(request))).String()
}

func endText(end time.Time) string {
	if end.IsZero() {
		return "none"
	}
	return end.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// endTolerance is how far apart two ends may be and still count as one (ARM
// rounds what it stores).
const endTolerance = time.Second

func sameEnd(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	d := a.Sub(b)
	return d < endTolerance && d > -endTolerance
}

// ParseEndsAt reads a per-person end date as the IdP sends it: an RFC 3339
// date-time ("2026-03-31T17:00:00Z") or a date ("2026-03-31", the start of
// that day in UTC). ok is false for an empty or unreadable value, which sets
// no end.
func ParseEndsAt(v string) (t time.Time, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// grant gives a desired assignment the binding's kind and its end: now plus
// maxDuration for a bounded grant, capped by the person's end date (zero
// for none), and the time before which an existing schedule is renewed (half
// its maxDuration ahead of now, so a person who stays never loses access).
func (b Binding) grant(a Assignment, now, personEnd time.Time) Assignment {
	a.Kind = b.Grant()
	if !a.Kind.Scheduled() {
		return a
	}
	a.Start = now.UTC().Truncate(time.Millisecond)
	now = now.UTC().Truncate(time.Second)
	if b.MaxDuration > 0 {
		a.EndsAt = now.Add(b.MaxDuration)
		a.RenewBefore = now.Add(b.MaxDuration / 2)
	}
	if !personEnd.IsZero() && (a.EndsAt.IsZero() || personEnd.Before(a.EndsAt)) {
		a.EndsAt = personEnd.UTC().Truncate(time.Second)
	}
	a.Name = ScheduleRequestName(a.Kind, a.Scope, a.PrincipalID, a.RoleID, a.Start, a.EndsAt)
	return a
}

// resolveKinds keeps one active grant per (scope, principal, role): a
// standing assignment over a time-bound one, the later-ending of two
// time-bound ones (ARM holds one role assignment per triple). Eligibilities
// stand beside them.
func resolveKinds(desired []Assignment) []Assignment {
	best := map[string]int{} // triple -> index in out of the active grant kept
	var out []Assignment
	for _, d := range desired {
		if d.Kind == GrantEligible {
			out = append(out, d)
			continue
		}
		t := assignmentKey(d.Scope, d.PrincipalID, d.RoleID)
		i, seen := best[t]
		switch {
		case !seen:
			best[t] = len(out)
			out = append(out, d)
		case betterActive(d, out[i]):
			d.Reason = joinReasons(d.Reason, out[i].Reason)
			out[i] = d
		default:
			out[i].Reason = joinReasons(out[i].Reason, d.Reason)
		}
	}
	return out
}

// joinReasons keeps every reason an assignment is wanted for, once each
// ("group Analysts; direct grant adf-prod: Reader").
func joinReasons(a, b string) string {
	switch {
	case b == "" || strings.Contains(a, b):
		return a
	case a == "":
		return b
	}
	return a + "; " + b
}

func betterActive(a, b Assignment) bool {
	switch {
	case a.Kind == GrantStanding:
		return b.Kind != GrantStanding
	case b.Kind == GrantStanding:
		return false
	}
	return !b.EndsAt.IsZero() && (a.EndsAt.IsZero() || a.EndsAt.After(b.EndsAt))
}

// needsRenewal reports whether an owned schedule a must be updated to the
// desired d: its end is to move earlier (a person's end date), or it ends
// before d.RenewBefore, or one of them has no end and the other has. A
// schedule already at the desired end is never renewed.
func needsRenewal(d, a Assignment) bool {
	if sameEnd(d.EndsAt, a.EndsAt) {
		return false
	}
	if d.EndsAt.IsZero() != a.EndsAt.IsZero() {
		return true
	}
	if d.EndsAt.Before(a.EndsAt) {
		return true
	}
	return d.RenewBefore.IsZero() || a.EndsAt.Before(d.RenewBefore)
}
