// Package rbac turns SCIM group membership into Azure RBAC role assignments
// on Data Factory instances: it reads the SCIM state through Directory,
// computes the desired assignments from a Mapping, diffs them against the
// assignments ARM lists (Plan, a pure function), applies the difference with
// the armauthorization client under ARM's write budget, and keeps a durable
// pending queue and a reconcile lease in the store so that access follows a
// SCIM write within seconds and a timer sweeps for anything left.
//
// The reconciler only ever deletes assignments it owns: deterministically
// named (UUIDv5 of scope|principal|role) and carrying the managed-by marker in
// their description. Assignments of mapped roles on mapped factories that it
// does not own are reported as drift ("shadow access") and left alone.
package rbac

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Group is what the reconciler reads of a SCIM group.
type Group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	ExternalID  string `json:"externalId,omitempty"`
}

// User is what the reconciler reads of a SCIM user.
type User struct {
	ID         string `json:"id"`
	UserName   string `json:"userName"`
	ExternalID string `json:"externalId,omitempty"`
	Active     bool   `json:"active"`
	// Attributes holds extension attribute values by their full name
	// (e.g. "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber");
	// the directory fills at least the one named by Options.PrincipalAttribute.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Grants are the ids of the direct grants the user holds (its
	// entitlements and roles, see grants.go).
	Grants []string `json:"grants,omitempty"`
}

// Directory is what the reconciler reads of the SCIM state. The lead's
// directory service implements it over the store.
type Directory interface {
	// Groups calls fn for every group.
	Groups(ctx context.Context, fn func(Group) error) error
	// Members calls fn for every member user id of a group. A missing group
	// has no members (no error).
	Members(ctx context.Context, groupID string, fn func(userID string) error) error
	// User returns one user; an error wrapping ErrUserNotFound when the user
	// does not exist (deleted).
	User(ctx context.Context, id string) (User, error)
}

// UserGroups is an optional extension of Directory: a directory that keeps
// memberships indexed by user implements it, and the fast path then reads
// only the pending users' groups instead of every member of every mapped
// group.
type UserGroups interface {
	// UserGroups calls fn with the id of every group the user is a member of.
	UserGroups(ctx context.Context, userID string, fn func(groupID string) error) error
}

// GrantHolders is an optional extension of Directory: it finds the users
// holding direct grants (grants.go), who need belong to no mapped group. A
// full plan over a mapping with grants reads them through it.
type GrantHolders interface {
	// GrantHolders calls fn for every user whose Grants are not empty.
	GrantHolders(ctx context.Context, fn func(User) error) error
}

// PrincipalType is the ARM principalType of an assignment.
type PrincipalType string

// Principal types adfscim assigns.
const (
	PrincipalUser  PrincipalType = "User"
	PrincipalGroup PrincipalType = "Group"
)

// Marker is the text every assignment adfscim creates carries in its
// description; with the deterministic name it marks the assignment as owned.
const Marker = "managed-by:adfscim"

// namespace is the UUIDv5 namespace of assignment names. Never change it:
// every assignment made so far is named under it.
var namespace = uuid.MustParse("4f1c3e0a-6b2d-5e8f-9a7c-2d1e0b3f4a5c")

// AssignmentName is the deterministic name of the assignment of role (a
// role definition guid) to principal on scope.
func AssignmentName(scope, principal, role string) string {
	return uuid.NewSHA1(namespace, []byte(assignmentKey(scope, principal, role))).String()
}

func assignmentKey(scope, principal, role string) string {
	return normScope(scope) + "|" + strings.ToLower(principal) + "|" + strings.ToLower(role)
}

// normScope gives a scope its leading '/' (the SDK fake drops it) and lower case.
func normScope(s string) string {
	s = strings.ToLower(strings.TrimSuffix(s, "/"))
	if !strings.HasPrefix(s, "/") {
		s = "/" + s
	}
	return s
}

// Assignment is one role assignment, desired or listed from ARM.
type Assignment struct {
	Scope         string        `json:"scope"`
	PrincipalID   string        `json:"principalId"`
	PrincipalType PrincipalType `json:"principalType,omitempty"`
	RoleID        string        `json:"roleId"` // role definition guid
	Name          string        `json:"name,omitempty"`
	Description   string        `json:"description,omitempty"`
	// Subject is the SCIM user or group id the desired assignment derives
	// from (empty for listed assignments).
	Subject string `json:"subject,omitempty"`
	// Reason says why a desired assignment is wanted: "group <name>",
	// "direct grant <factory: role>", joined by "; " when several.
	Reason string `json:"reason,omitempty"`
	// Kind is how ARM holds it: a standing assignment (empty), a time-bound
	// one or an eligibility (see kinds.go). For a schedule, Name is the name
	// of the schedule request that made it (or, desired, will).
	Kind GrantKind `json:"kind,omitempty"`
	// Start and EndsAt are when a schedule starts and ends (zero end: no
	// expiration).
	Start  time.Time `json:"start,omitzero"`
	EndsAt time.Time `json:"endsAt,omitzero"`
	// RenewBefore, on a desired schedule, is the end before which an
	// existing one is renewed.
	RenewBefore time.Time `json:"-"`
	// ScheduleID is the ARM id of a listed schedule.
	ScheduleID string `json:"scheduleId,omitempty"`
	// Activation is the person's current activation of a listed
	// eligibility, if any.
	Activation *Activation `json:"activation,omitempty"`
}

// Activation is a PIM activation of an eligibility: an active role
// assignment schedule the person requested, linked to the eligibility.
type Activation struct {
	ScheduleID string    `json:"scheduleId"`
	Start      time.Time `json:"start,omitzero"`
	End        time.Time `json:"end,omitzero"`
}

func (a Assignment) key() string {
	if a.Kind.Scheduled() {
		return string(a.Kind) + "|" + assignmentKey(a.Scope, a.PrincipalID, a.RoleID)
	}
	return assignmentKey(a.Scope, a.PrincipalID, a.RoleID)
}

// Owned reports whether adfscim made a: its name is the deterministic one
// and its description carries the marker; for a schedule, the request that
// made it has the deterministic name for the schedule's end.
func (a Assignment) Owned() bool {
	if a.Kind.Scheduled() {
		return strings.EqualFold(a.Name, ScheduleRequestName(a.Kind, a.Scope, a.PrincipalID, a.RoleID, a.Start, a.EndsAt))
	}
	return strings.EqualFold(a.Name, AssignmentName(a.Scope, a.PrincipalID, a.RoleID)) && strings.Contains(a.Description, Marker)
}

// Unresolved is a user whose Entra object id could not be found; the user
// gets no assignment until it can.
type Unresolved struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Reason   string `json:"reason"`
}

// Drift is an assignment of a mapped role on a mapped factory that adfscim
// does not own ("shadow access"). It is reported, never deleted.
type Drift struct {
	Assignment
	// CoversDesired is true when the foreign assignment grants exactly what
	// the mapping wants, so adfscim does not create its own.
	CoversDesired bool `json:"coversDesired"`
}

// Plan is the difference between desired and actual assignments.
type Plan struct {
	Creates []Assignment `json:"creates"`
	Deletes []Assignment `json:"deletes"`
	// Renewals are owned schedules moved to a new end (the desired
	// assignment, with its new end).
	Renewals   []Assignment `json:"renewals"`
	Drift      []Drift      `json:"drift"`
	Unresolved []Unresolved `json:"unresolved"`
	// Problems are bindings that cannot be honoured (e.g. group mode on a
	// group without an Entra object id).
	Problems  []string `json:"problems"`
	Desired   int      `json:"desired"`
	Unchanged int      `json:"unchanged"`
	// Budget is, per subscription written to, how its role assignment
	// limit stands; Held are the creates it kept back (see budget.go).
	Budget []BudgetLine `json:"budget,omitempty"`
	Held   []Assignment `json:"held,omitempty"`
}

// normalize makes every list non-nil, so JSON shows [] rather than null.
func (p *Plan) normalize() {
	if p.Creates == nil {
		p.Creates = []Assignment{}
	}
	if p.Deletes == nil {
		p.Deletes = []Assignment{}
	}
	if p.Renewals == nil {
		p.Renewals = []Assignment{}
	}
	if p.Drift == nil {
		p.Drift = []Drift{}
	}
	if p.Unresolved == nil {
		p.Unresolved = []Unresolved{}
	}
	if p.Problems == nil {
		p.Problems = []string{}
	}
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Creates) == 0 && len(p.Deletes) == 0 && len(p.Renewals) == 0 }

// State is a snapshot of the SCIM state the desired assignments derive from.
type State struct {
	Groups  []Group
	Members map[string][]string // group id -> member user ids
	Users   map[string]User     // user id -> user (deleted users absent)
	// Principals maps a user id to its resolved Entra object id; users
	// missing here are unresolved.
	Principals map[string]string
	// Ends are the per-person end dates (user id -> end): a user whose end
	// is not after Now gets nothing, the others' schedules end by then.
	Ends map[string]time.Time
	// Now is when the state was read: schedules' ends count from it.
	Now time.Time
}

// Desired computes the assignments the mapping wants for the state, with the
// problems it met. It is pure.
func Desired(m *Mapping, st State) ([]Assignment, []string) {
	var out []Assignment
	var problems []string
	for _, b := range m.Bindings {
		for _, g := range st.Groups {
			if !b.MatchesGroup(g) {
				continue
			}
			if b.Mode == ModeGroup {
				if !IsGUID(g.ExternalID) {
					problems = append(problems, "group "+g.DisplayName+" ("+g.ID+") is bound in group mode but its externalId is not an Entra object id")
					continue
				}
				for _, f := range b.Factories {
					a := b.grant(desiredAssignment(f, g.ExternalID, PrincipalGroup, b.RoleID, g.ID), st.Now, time.Time{})
					a.Reason = "group " + g.DisplayName
					out = append(out, a)
				}
				continue
			}
			for _, uid := range st.Members[g.ID] {
				u, ok := st.Users[uid]
				if !ok || !u.Active {
					continue
				}
				p, ok := st.Principals[uid]
				if !ok {
					continue
				}
				end, ended := st.personEnd(uid)
				if ended {
					continue
				}
				for _, f := range b.Factories {
					a := b.grant(desiredAssignment(f, p, PrincipalUser, b.RoleID, uid), st.Now, end)
					a.Reason = "group " + g.DisplayName
					out = append(out, a)
				}
			}
		}
	}
	// Direct grants end with the person's end date like group bindings.
	for _, a := range directGrants(m, st) {
		if _, ended := st.personEnd(a.Subject); !ended {
			out = append(out, a)
		}
	}
	return resolveKinds(out), problems
}

// personEnd is the user's end date (zero for none) and whether it has come.
func (st State) personEnd(uid string) (time.Time, bool) {
	end, ok := st.Ends[uid]
	if !ok {
		return time.Time{}, false
	}
	return end, !end.After(st.Now)
}

func desiredAssignment(scope, principal string, pt PrincipalType, role, subject string) Assignment {
	scope = normScope(scope)
	principal = strings.ToLower(principal)
	return Assignment{
		Scope: scope, PrincipalID: principal, PrincipalType: pt, RoleID: role,
		Name:        AssignmentName(scope, principal, role),
		Description: "Granted by adfscim from SCIM group membership (" + Marker + ")",
		Subject:     subject,
	}
}

// Diff is the pure plan function: desired assignments against the actual
// ones listed from ARM on the mapping's factories. When only is non-nil the
// plan is restricted to those principal ids (a targeted plan). Owned
// assignments that are not desired are deleted; foreign assignments of a
// mapped role on a mapped factory are drift; anything else is ignored.
func Diff(m *Mapping, desired, actual []Assignment, only map[string]bool) Plan {
	var p Plan
	want := map[string]Assignment{}
	for _, d := range desired {
		if only != nil && !only[strings.ToLower(d.PrincipalID)] {
			continue
		}
		if w, dup := want[d.key()]; !dup {
			want[d.key()] = d
		} else if d.Reason != "" && !strings.Contains(w.Reason, d.Reason) {
			w.Reason = strings.TrimPrefix(w.Reason+"; "+d.Reason, "; ")
			want[d.key()] = w
		}
	}
	p.Desired = len(want)
	satisfied := map[string]bool{}
	for _, a := range actual {
		if only != nil && !only[strings.ToLower(a.PrincipalID)] {
			continue
		}
		if !m.MappedFactory(a.Scope) {
			continue
		}
		k := a.key()
		_, wanted := want[k]
		switch {
		case a.Owned() && wanted:
			if !satisfied[k] {
				if d := want[k]; a.Kind.Scheduled() && needsRenewal(d, a) {
					d.ScheduleID, d.Start = a.ScheduleID, a.Start
					d.Name = ScheduleRequestName(d.Kind, d.Scope, d.PrincipalID, d.RoleID, d.Start, d.EndsAt)
					p.Renewals = append(p.Renewals, d)
				} else {
					p.Unchanged++
				}
			}
			satisfied[k] = true
		case a.Owned():
			p.Deletes = append(p.Deletes, a)
		case m.MappedRole(a.RoleID):
			p.Drift = append(p.Drift, Drift{Assignment: a, CoversDesired: wanted})
			if wanted {
				satisfied[k] = true
			}
		}
	}
	for k, d := range want {
		if !satisfied[k] {
			p.Creates = append(p.Creates, d)
		}
	}
	sortAssignments(p.Creates)
	sortAssignments(p.Deletes)
	sortAssignments(p.Renewals)
	sort.Slice(p.Drift, func(i, j int) bool { return p.Drift[i].key() < p.Drift[j].key() })
	return p
}

func sortAssignments(as []Assignment) {
	sort.Slice(as, func(i, j int) bool { return as[i].key() < as[j].key() })
}
