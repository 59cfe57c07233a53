// Package report builds the access report an auditor reads: who holds which
// role on which Data Factory, through which SCIM group, since when, and the
// last change that touched it — together with the shadow access adfscim
// found but did not grant (drift), the inactive users who keep their
// memberships but no access, the users whose Entra object id is unknown,
// the changes not yet applied, the most recent changes, and whether the
// audit trail verifies.
//
// The report joins three sources read once each, so that every row is
// consistent with the others:
//   - the SCIM state (Directory: groups, members, users and their active
//     flag), turned into the desired assignments by rbac.Desired with the
//     mapping;
//   - the assignments Azure actually holds on the mapped factories
//     (Assignments, the reconciler's ARM listing), compared with the desired
//     ones by rbac.Diff, the same pure function the reconciler's Plan uses;
//   - the audit trail (Audit): the rbac.assign record that created each
//     assignment ("since"), the last user, membership or assignment record
//     touching each row, the first rbac.drift record of each finding, and
//     the recent changes; and audit.Verify's verdict on the chain.
//
// Render it with WriteJSON, WriteCSV or WriteHTML (a self-contained page with
// a search box, no external requests).
package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
)

// Schema names the JSON shape of a Report; it changes when a field changes
// meaning.
const Schema = "urn:adfscim:report:access:1"

// DefaultRecent is how many recent changes a report lists when Options do
// not say.
const DefaultRecent = 50

// Resolver finds a user's Entra object id; rbac.Resolver implements it.
type Resolver interface {
	Resolve(ctx context.Context, u rbac.User) (string, error)
}

// Assignments lists the role assignments on the mapped factories as Azure
// holds them; *rbac.Reconciler implements it.
type Assignments interface {
	Assignments(ctx context.Context) ([]rbac.Assignment, error)
}

// Options wire a Builder to its sources.
type Options struct {
	// Mapping binds SCIM groups to roles on factories (the reconciler's).
	Mapping *rbac.Mapping
	// Directory reads the SCIM state (rbac.FromDirectory).
	Directory rbac.Directory
	// Resolver turns users into Entra object ids (the reconciler's).
	Resolver Resolver
	// ARM lists the actual assignments (the reconciler).
	ARM Assignments
	// Audit reads the trail; nil leaves since, last change and recent
	// changes empty.
	Audit audit.Querier
	// Verify checks the trail's hash chain (audit.Verify on the store); nil
	// reports the trail as not checked.
	Verify func(ctx context.Context) (audit.Result, error)
	// Recent is how many recent changes to list (DefaultRecent when 0).
	Recent int
	// RevokeTarget is the time within which a loss of access should be
	// done in Azure (DefaultRevokeTarget when 0); slower ones are
	// breaches in the deprovisioning evidence.
	RevokeTarget time.Duration
	// Budget, when set, gives the role assignment budget of each
	// subscription as the reconciler last counted it; the report's banner
	// shows those that held creates back.
	Budget func() []rbac.BudgetLine
	// EndsAttribute names the user attribute holding a person's end date
	// (as the reconciler's).
	EndsAttribute string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Builder builds access reports.
type Builder struct{ o Options }

// New checks the options and returns a Builder.
func New(o Options) (*Builder, error) {
	if o.Mapping == nil || o.Directory == nil || o.Resolver == nil || o.ARM == nil {
		return nil, errors.New("report: Mapping, Directory, Resolver and ARM are required")
	}
	if o.Recent <= 0 {
		o.Recent = DefaultRecent
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RevokeTarget <= 0 {
		o.RevokeTarget = DefaultRevokeTarget
	}
	return &Builder{o: o}, nil
}

// Report is the access report.
type Report struct {
	Schema    string    `json:"schema"`
	Generated time.Time `json:"generated"`
	// Trail is the audit trail's verification status.
	Trail Trail `json:"auditTrail"`
	// Budget is each subscription's role assignment budget as last counted
	// (Options.Budget).
	Budget  []rbac.BudgetLine `json:"budget,omitempty"`
	Summary Summary           `json:"summary"`
	// Access lists every assignment of a mapped role on a mapped factory
	// that Azure holds, one row each, granted by adfscim or not.
	Access []Access `json:"access"`
	// Drift lists the assignments adfscim did not make ("shadow access").
	Drift []Finding `json:"drift"`
	// Inactive lists users with active=false who are still members of
	// mapped groups: they keep the memberships but must hold no access.
	Inactive []Inactive `json:"inactiveUsers"`
	// Unresolved lists active members of mapped groups without a known
	// Entra object id: they get no access until one is found.
	Unresolved []rbac.Unresolved `json:"unresolved"`
	// Pending lists the changes a reconcile would make now: access that
	// should exist but does not yet, or should be gone but is still held.
	Pending []Pending `json:"pending"`
	// Problems are bindings that cannot be honoured.
	Problems []string `json:"problems"`
	// Recent are the last user.*, group.* and rbac.* records, newest first.
	Recent []Event `json:"recentChanges"`
	// RecentOf counts the user.*, group.* and rbac.* records the trail
	// holds: Recent lists the newest of them.
	RecentOf int `json:"recentOf"`
	// OtherRecords counts the trail's records that are not changes of
	// access (refused requests, tokens, configuration, retention): the
	// report lists none of them; the audit export has them.
	OtherRecords int `json:"otherRecords"`
	// Deprovisioning is the evidence that each loss of access the IdP
	// asked for was carried out in Azure, and how fast.
	Deprovisioning Deprovisioning `json:"deprovisioning"`
	// LastReview is the most recent completed access review, if any.
	LastReview *ReviewRecord `json:"lastReview,omitempty"`
	// Actors says who each actor the report names is.
	Actors []Actor `json:"actors"`

	// reviews are the trail's review.complete records, oldest first.
	reviews []audit.Record
}

// Actor is who an audit record's actor name stands for.
type Actor struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// StaticTokenActor is the actor name of requests made with the static
// token set by SCIM_BEARER_TOKEN (the local token source's client).
const StaticTokenActor = "configured"

// DescribeActor says who an actor name stands for: adfscim's own actors,
// the static and the generated local token, or else the SCIM client whose
// bearer token carries that name.
func DescribeActor(name string) string {
	switch name {
	case "reconciler":
		return "adfscim's reconciler, which turns group memberships into role assignments"
	case StaticTokenActor:
		return "the static token set by SCIM_BEARER_TOKEN: every scope, meant for local runs and scripts, never for Azure"
	case "local":
		return "the token adfscim generated at its first start without SCIM_BEARER_TOKEN"
	case "anonymous":
		return "a request without a valid token"
	case "system":
		return "adfscim itself"
	case "retention":
		return "audit retention (ADFSCIM_AUDIT_RETENTION_DAYS)"
	}
	return "a SCIM client: the identity provider connection holding the bearer token of this name (a Key Vault secret, or adfscim token create)"
}

// Trail says whether the audit trail verified when the report was made.
type Trail struct {
	// Checked is false when no verification ran (or it could not read the
	// store: Error says why).
	Checked bool `json:"checked"`
	// OK is true when the whole chain verified.
	OK bool `json:"ok"`
	// Status is one sentence for the reader.
	Status   string       `json:"status"`
	Break    *audit.Break `json:"break,omitempty"`
	Records  int          `json:"records"`
	FirstSeq uint64       `json:"firstSeq,omitempty"`
	LastSeq  uint64       `json:"lastSeq,omitempty"`
	LastHash string       `json:"lastHash,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// Summary counts what the report shows.
type Summary struct {
	Factories     int `json:"factories"`
	MappedGroups  int `json:"mappedGroups"`
	Members       int `json:"members"` // distinct users in user-mode mapped groups
	ActiveMembers int `json:"activeMembers"`
	Inactive      int `json:"inactiveUsers"`
	Access        int `json:"access"` // rows of Access
	Granted       int `json:"granted"`
	Shadow        int `json:"shadow"`
	Unresolved    int `json:"unresolved"`
	Pending       int `json:"pending"`
	// RevokePending counts the rows of Access still held though no longer
	// wanted: Access = Granted + Shadow + RevokePending.
	RevokePending int `json:"revokePending"`
	// Direct counts the rows of Access wanted (also) by a direct grant.
	Direct int `json:"directGrants"`
}

// Access statuses.
const (
	// StatusGranted: adfscim made the assignment and the SCIM state still
	// wants it.
	StatusGranted = "granted"
	// StatusRevokePending: adfscim made it, the SCIM state no longer wants
	// it, and the reconciler has not removed it yet (the holder still has
	// access).
	StatusRevokePending = "revoke pending"
	// StatusShadow: an assignment adfscim did not make (drift).
	StatusShadow = "shadow"
)

// Access is one role assignment held on a factory.
type Access struct {
	Status string `json:"status"`
	// UserID and UserName name the SCIM user holding it (user principals
	// that adfscim can match to a user).
	UserID   string `json:"userId,omitempty"`
	UserName string `json:"userName,omitempty"`
	// PrincipalType and PrincipalID are the Entra principal as Azure holds it.
	PrincipalType string `json:"principalType,omitempty"`
	PrincipalID   string `json:"principalId"`
	// Groups are the SCIM groups the access comes through (empty for
	// shadow access and pending revocations).
	Groups []GroupRef `json:"groups"`
	// DirectGrants are the direct grants (entitlements, app roles) the
	// access comes through, each with the client that granted it.
	DirectGrants []DirectGrant `json:"directGrants,omitempty"`
	Role         string        `json:"role"`
	RoleID       string        `json:"roleId"`
	Factory      string        `json:"factory"`
	FactoryID    string        `json:"factoryId"`
	// AssignmentID is the ARM resource id of the assignment (for a
	// schedule, of the schedule).
	AssignmentID string `json:"assignmentId"`
	// Kind is "active" (standing), "timeBound" or "eligible"; EndsAt when a
	// schedule ends; Activation the person's current activation of an
	// eligibility (who activated and when). Grant says it in words.
	Kind       string           `json:"kind,omitempty"`
	EndsAt     *time.Time       `json:"endsAt,omitempty"`
	Activation *rbac.Activation `json:"activation,omitempty"`
	Grant      string           `json:"grant,omitempty"`
	// Since is when the assignment was created: the time of the last
	// successful rbac.assign record of it, or for shadow access the first
	// rbac.drift record. Absent when the trail does not say (older than
	// the retention, or made before adfscim).
	Since *time.Time `json:"since,omitempty"`
	// LastChange is the most recent audit record about the user, the
	// user's membership in these groups, or this assignment.
	LastChange *Event `json:"lastChange,omitempty"`
}

// DirectGrant is a factory role granted to one person directly: by an
// identity provider through the User's entitlements or roles.
type DirectGrant struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// GrantedBy is the client whose write last granted it, as the audit
	// trail records it ("" when the trail does not say).
	GrantedBy string `json:"grantedBy,omitempty"`
}

// GroupRef names a SCIM group.
type GroupRef struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// Finding is one drift finding: an assignment of a mapped role on a mapped
// factory that adfscim did not make. adfscim never deletes it.
type Finding struct {
	Access
	// CoversDesired is true when it grants exactly what the mapping wants,
	// so adfscim made no assignment of its own.
	CoversDesired bool   `json:"coversDesired"`
	Description   string `json:"description,omitempty"`
}

// Inactive is a deactivated user who is still a member of mapped groups.
type Inactive struct {
	UserID   string     `json:"userId"`
	UserName string     `json:"userName"`
	Groups   []GroupRef `json:"groups"`
	// Held counts the assignments Azure still holds for the user's
	// principal on the mapped factories; it should be 0.
	Held int `json:"held"`
	// LastChange is the most recent audit record about the user (usually
	// the deactivation).
	LastChange *Event `json:"lastChange,omitempty"`
}

// Pending is a change a reconcile would make now.
type Pending struct {
	Op            string     `json:"op"` // "grant" or "revoke"
	UserID        string     `json:"userId,omitempty"`
	UserName      string     `json:"userName,omitempty"`
	PrincipalType string     `json:"principalType,omitempty"`
	PrincipalID   string     `json:"principalId"`
	Groups        []GroupRef `json:"groups"`
	// DirectGrants are the direct grants a grant comes through.
	DirectGrants []DirectGrant `json:"directGrants,omitempty"`
	Role         string        `json:"role"`
	Factory      string        `json:"factory"`
	FactoryID    string        `json:"factoryId"`
}

// Event is an audit record as the report shows it.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Target is the record's target as a reader names it (display name,
	// else type and id).
	Target   string `json:"target"`
	TargetID string `json:"targetId,omitempty"`
	Success  bool   `json:"success"`
	Detail   string `json:"detail,omitempty"`
	// Changes says what the record changed, as a reader would put it
	// ("active: true → false (deactivated)", "added alice@contoso.com"),
	// the ChangeList joined by "; ". Secret values are never shown.
	Changes    string   `json:"changes,omitempty"`
	ChangeList []string `json:"changeList,omitempty"`

	// The assignment an rbac record is about, named once the users are known.
	scope, principal, role, subject string
}

// Well-known role definition ids and the names a reader knows them by.
var roleNames = map[string]string{
	"673868aa-7521-48a0-acc6-0f60742d39f5": "Data Factory Contributor",
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
	"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}

// RoleName names a role definition id (the id itself when unknown).
func RoleName(id string) string {
	if n, ok := roleNames[strings.ToLower(id)]; ok {
		return n
	}
	return id
}

// FactoryName is the last segment of a factory resource id.
func FactoryName(id string) string {
	id = strings.TrimSuffix(id, "/")
	return id[strings.LastIndex(id, "/")+1:]
}

// normScope gives a scope a leading '/' and lower case, as rbac does.
func normScope(s string) string {
	s = strings.ToLower(strings.TrimSuffix(s, "/"))
	if !strings.HasPrefix(s, "/") {
		s = "/" + s
	}
	return s
}

// key identifies an assignment by what it grants: scope, principal, role.
func key(scope, principal, role string) string {
	return normScope(scope) + "|" + strings.ToLower(principal) + "|" + strings.ToLower(role)
}

func assignmentKey(a rbac.Assignment) string { return key(a.Scope, a.PrincipalID, a.RoleID) }

// assignmentID is the ARM resource id of an assignment.
func assignmentID(a rbac.Assignment) string {
	return normScope(a.Scope) + "/providers/Microsoft.Authorization/roleAssignments/" + strings.ToLower(a.Name)
}

// state is the SCIM side of a report.
type state struct {
	rbac.State
	byPrincipal map[string]string          // user principal -> user id
	through     map[string][]GroupRef      // assignment key -> groups granting it
	memberOf    map[string][]GroupRef      // user id -> mapped user-mode groups
	groupByExt  map[string]rbac.Group      // lower-case externalId -> group (group mode)
	members     map[string]map[string]bool // group id -> member ids
	direct      map[string][]DirectGrant   // assignment key -> direct grants wanting it
}

// Build makes a report now.
func (b *Builder) Build(ctx context.Context) (*Report, error) {
	rep := &Report{Schema: Schema, Generated: b.o.Now().UTC()}
	st, unresolved, err := b.readState(ctx)
	if err != nil {
		return nil, err
	}
	actual, err := b.o.ARM.Assignments(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: list role assignments: %w", err)
	}
	desired, problems := rbac.Desired(b.o.Mapping, st.State)
	plan := rbac.Diff(b.o.Mapping, desired, actual, nil)

	idx := newTrailIndex(b.o.Recent, st, b.o.Mapping)
	if b.o.Audit != nil {
		if err := idx.read(ctx, b.o.Audit); err != nil {
			return nil, err
		}
		if err := idx.finish(ctx, b.o.Directory, actual); err != nil {
			return nil, err
		}
	}
	rep.Trail = b.verify(ctx)
	if b.o.Budget != nil {
		rep.Budget = b.o.Budget()
	}

	m := b.o.Mapping
	wanted := map[string]bool{}
	for _, d := range desired {
		wanted[assignmentKey(d)] = true
	}
	drift := map[string]rbac.Drift{}
	for _, d := range plan.Drift {
		drift[assignmentKey(d.Assignment)] = d
	}
	heldBy := map[string]int{} // principal -> assignments held
	for _, a := range actual {
		if !m.MappedFactory(a.Scope) || !m.MappedRole(a.RoleID) {
			continue // outside adfscim's remit, as for the reconciler
		}
		k := assignmentKey(a)
		heldBy[strings.ToLower(a.PrincipalID)]++
		row := b.row(a, st, idx)
		switch {
		case a.Owned() && wanted[k]:
			row.Status = StatusGranted
			row.Groups = st.through[k]
			row.DirectGrants = idx.grantedBy(st.direct[k], row.UserID)
			if t, ok := idx.since[k]; ok {
				row.Since = &t
			}
		case a.Owned():
			row.Status = StatusRevokePending
			if t, ok := idx.since[k]; ok {
				row.Since = &t
			}
		default:
			row.Status = StatusShadow
			if wanted[k] {
				row.Groups = st.through[k]
			}
			if t, ok := idx.firstDrift[k]; ok {
				row.Since = &t
			}
			d := drift[k]
			rep.Drift = append(rep.Drift, Finding{Access: row, CoversDesired: d.CoversDesired, Description: a.Description})
		}
		row.LastChange = idx.lastFor(row, k, st)
		if row.Status == StatusShadow {
			rep.Drift[len(rep.Drift)-1].LastChange = row.LastChange
		}
		rep.Access = append(rep.Access, row)
	}
	sortAccess(rep.Access)
	sort.Slice(rep.Drift, func(i, j int) bool { return lessAccess(rep.Drift[i].Access, rep.Drift[j].Access) })

	for _, a := range plan.Creates {
		p := b.pending("grant", a, st)
		p.DirectGrants = idx.grantedBy(st.direct[assignmentKey(a)], p.UserID)
		rep.Pending = append(rep.Pending, p)
	}
	for _, a := range plan.Deletes {
		rep.Pending = append(rep.Pending, b.pending("revoke", a, st))
	}

	members, active := 0, 0
	for uid, u := range st.Users {
		if len(st.memberOf[uid]) == 0 {
			continue
		}
		members++
		if u.Active {
			active++
			continue
		}
		in := Inactive{UserID: uid, UserName: u.UserName, Groups: st.memberOf[uid], LastChange: idx.lastUser[uid]}
		if p, ok := st.Principals[uid]; ok {
			in.Held = heldBy[p]
		}
		rep.Inactive = append(rep.Inactive, in)
	}
	sort.Slice(rep.Inactive, func(i, j int) bool { return rep.Inactive[i].UserName < rep.Inactive[j].UserName })

	rep.Unresolved = unresolved
	sort.Slice(rep.Unresolved, func(i, j int) bool { return rep.Unresolved[i].UserName < rep.Unresolved[j].UserName })
	rep.Problems = problems
	rep.Recent = idx.recentNewestFirst()

	rep.Summary = Summary{
		Factories: len(m.Factories), MappedGroups: len(st.Groups), Members: members, ActiveMembers: active,
		Inactive: len(rep.Inactive), Access: len(rep.Access), Shadow: len(rep.Drift),
		Unresolved: len(rep.Unresolved), Pending: len(rep.Pending),
	}
	for _, a := range rep.Access {
		if len(a.DirectGrants) > 0 {
			rep.Summary.Direct++
		}
		switch a.Status {
		case StatusGranted:
			rep.Summary.Granted++
		case StatusRevokePending:
			rep.Summary.RevokePending++
		}
	}
	heldKeys := map[string]bool{}
	for _, a := range actual {
		heldKeys[assignmentKey(a)] = true
	}
	names := func(id string) string {
		if u, ok := st.Users[id]; ok && u.UserName != "" {
			return u.UserName
		}
		if n := idx.names[id]; n != "" {
			return n
		}
		if g, ok := idx.dp.groups[id]; ok && g.DisplayName != "" {
			return g.DisplayName
		}
		return id
	}
	rep.Deprovisioning, err = idx.dp.result(ctx, rep.Generated, b.o.RevokeTarget, heldKeys, wanted, names,
		resolverCheck(b.o.Directory, b.o.Resolver))
	if err != nil {
		return nil, err
	}
	rep.reviews = idx.reviews
	if n := len(idx.reviews); n > 0 {
		rr := reviewRecordOf(idx.reviews[n-1])
		rep.LastReview = &rr
	}
	rep.RecentOf, rep.OtherRecords = idx.seen, idx.others
	rep.Actors = actorsOf(rep)
	rep.normalize()
	return rep, nil
}

// row fills what every access row shows of an assignment.
func (b *Builder) row(a rbac.Assignment, st *state, idx *trailIndex) Access {
	row := Access{
		PrincipalType: string(a.PrincipalType), PrincipalID: strings.ToLower(a.PrincipalID),
		Role: RoleName(a.RoleID), RoleID: strings.ToLower(a.RoleID),
		Factory: FactoryName(a.Scope), FactoryID: normScope(a.Scope), AssignmentID: assignmentID(a),
	}
	if a.Kind.Scheduled() {
		row.Kind, row.AssignmentID, row.Activation, row.Grant = string(a.Kind), a.ScheduleID, a.Activation, rbac.KindText(a)
		if !a.EndsAt.IsZero() {
			end := a.EndsAt
			row.EndsAt = &end
		}
	}
	if uid, ok := st.byPrincipal[row.PrincipalID]; ok && a.PrincipalType != rbac.PrincipalGroup {
		row.UserID, row.UserName = uid, st.Users[uid].UserName
	}
	if g, ok := st.groupByExt[row.PrincipalID]; ok && a.PrincipalType != rbac.PrincipalUser {
		row.UserName = "group " + g.DisplayName
	}
	return row
}

func (b *Builder) pending(op string, a rbac.Assignment, st *state) Pending {
	p := Pending{Op: op, PrincipalType: string(a.PrincipalType), PrincipalID: strings.ToLower(a.PrincipalID),
		Role: RoleName(a.RoleID), Factory: FactoryName(a.Scope), FactoryID: normScope(a.Scope), Groups: []GroupRef{}}
	if uid, ok := st.byPrincipal[p.PrincipalID]; ok && a.PrincipalType != rbac.PrincipalGroup {
		p.UserID, p.UserName = uid, st.Users[uid].UserName
	}
	if op == "grant" {
		p.Groups = st.through[assignmentKey(a)]
	}
	return p
}

// readState reads the mapped groups, their members and those users, and
// resolves every member (inactive ones too, to check they hold nothing).
func (b *Builder) readState(ctx context.Context) (*state, []rbac.Unresolved, error) {
	m := b.o.Mapping
	st := &state{
		State:       rbac.State{Members: map[string][]string{}, Users: map[string]rbac.User{}, Principals: map[string]string{}, Ends: map[string]time.Time{}, Now: b.o.Now()},
		byPrincipal: map[string]string{}, through: map[string][]GroupRef{}, memberOf: map[string][]GroupRef{},
		groupByExt: map[string]rbac.Group{}, members: map[string]map[string]bool{}, direct: map[string][]DirectGrant{},
	}
	err := b.o.Directory.Groups(ctx, func(g rbac.Group) error {
		if slices.ContainsFunc(m.Bindings, func(bd rbac.Binding) bool { return bd.MatchesGroup(g) }) {
			st.Groups = append(st.Groups, g)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("report: read groups: %w", err)
	}
	userMode := func(g rbac.Group) bool {
		return slices.ContainsFunc(m.Bindings, func(bd rbac.Binding) bool { return bd.Mode == rbac.ModeUser && bd.MatchesGroup(g) })
	}
	for _, g := range st.Groups {
		if g.ExternalID != "" {
			st.groupByExt[strings.ToLower(g.ExternalID)] = g
		}
		if !userMode(g) {
			continue
		}
		st.members[g.ID] = map[string]bool{}
		err := b.o.Directory.Members(ctx, g.ID, func(uid string) error {
			st.Members[g.ID] = append(st.Members[g.ID], uid)
			st.members[g.ID][uid] = true
			st.memberOf[uid] = append(st.memberOf[uid], GroupRef{ID: g.ID, DisplayName: g.DisplayName})
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("report: read members of group %s: %w", g.ID, err)
		}
	}
	var unresolved []rbac.Unresolved
	uids := make([]string, 0, len(st.memberOf))
	for uid := range st.memberOf {
		uids = append(uids, uid)
	}
	holders, err := b.grantHolders(ctx)
	if err != nil {
		return nil, nil, err
	}
	for uid := range holders {
		if _, member := st.memberOf[uid]; !member {
			uids = append(uids, uid)
		}
	}
	sort.Strings(uids)
	for _, uid := range uids {
		u, err := b.o.Directory.User(ctx, uid)
		if errors.Is(err, rbac.ErrUserNotFound) {
			delete(st.memberOf, uid)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("report: read user %s: %w", uid, err)
		}
		st.Users[uid] = u
		for k, v := range u.Attributes {
			if end, ok := rbac.ParseEndsAt(v); ok && b.o.EndsAttribute != "" && strings.EqualFold(k, b.o.EndsAttribute) {
				st.Ends[uid] = end
			}
		}
		p, err := b.o.Resolver.Resolve(ctx, u)
		if err != nil {
			if u.Active {
				unresolved = append(unresolved, rbac.Unresolved{UserID: uid, UserName: u.UserName, Reason: err.Error()})
			}
			continue
		}
		st.Principals[uid] = p
		st.byPrincipal[strings.ToLower(p)] = uid
	}
	// Which direct grants each desired assignment comes through.
	for uid := range holders {
		u, ok := st.Users[uid]
		p := st.Principals[uid]
		if !ok || !u.Active || p == "" {
			continue
		}
		for _, id := range u.Grants {
			if g, ok := m.Grant(id); ok {
				k := key(g.Factory, p, g.RoleID)
				st.direct[k] = append(st.direct[k], DirectGrant{ID: g.ID, DisplayName: g.DisplayName})
			}
		}
	}
	// Which groups each desired assignment comes through.
	for _, bd := range m.Bindings {
		for _, g := range st.Groups {
			if !bd.MatchesGroup(g) {
				continue
			}
			ref := GroupRef{ID: g.ID, DisplayName: g.DisplayName}
			var principals []string
			if bd.Mode == rbac.ModeGroup {
				if rbac.IsGUID(g.ExternalID) {
					principals = append(principals, g.ExternalID)
				}
			} else {
				for _, uid := range st.Members[g.ID] {
					if u, ok := st.Users[uid]; ok && u.Active && st.Principals[uid] != "" {
						principals = append(principals, st.Principals[uid])
					}
				}
			}
			for _, p := range principals {
				for _, f := range bd.Factories {
					k := key(f, p, bd.RoleID)
					if !slices.Contains(st.through[k], ref) {
						st.through[k] = append(st.through[k], ref)
					}
				}
			}
		}
	}
	return st, unresolved, nil
}

// grantHolders are the users holding direct grants, when the mapping
// allows any.
func (b *Builder) grantHolders(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	gh, ok := b.o.Directory.(rbac.GrantHolders)
	if len(b.o.Mapping.Grants) == 0 || !ok {
		return out, nil
	}
	err := gh.GrantHolders(ctx, func(u rbac.User) error {
		out[u.ID] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: read direct grants: %w", err)
	}
	return out, nil
}

// verify runs the trail verification and says what it found.
func (b *Builder) verify(ctx context.Context) Trail {
	if b.o.Verify == nil {
		return Trail{Status: "not checked: this report was made without access to the audit trail's store"}
	}
	res, err := b.o.Verify(ctx)
	if err != nil {
		return Trail{Status: "not checked: the audit trail could not be read", Error: err.Error()}
	}
	t := Trail{Checked: true, OK: res.OK, Break: res.Break, Records: res.Records,
		FirstSeq: res.FirstSeq, LastSeq: res.LastSeq, LastHash: res.LastHash}
	switch {
	case !res.OK && res.Break != nil:
		t.Status = "BROKEN: " + res.Break.String()
	case !res.OK:
		t.Status = "BROKEN"
	case res.Records == 0:
		t.Status = "verified: the trail is empty"
	default:
		t.Status = fmt.Sprintf("verified: %d records, sequence %d to %d, intact", res.Records, res.FirstSeq, res.LastSeq)
	}
	return t
}

// actorsOf describes every actor the report names, in order of first
// appearance.
func actorsOf(rep *Report) []Actor {
	var out []Actor
	add := func(e *Event) {
		if e != nil && e.Actor != "" && !slices.ContainsFunc(out, func(a Actor) bool { return a.Name == e.Actor }) {
			out = append(out, Actor{Name: e.Actor, Description: DescribeActor(e.Actor)})
		}
	}
	for _, a := range rep.Access {
		add(a.LastChange)
	}
	for _, in := range rep.Inactive {
		add(in.LastChange)
	}
	for i := range rep.Recent {
		add(&rep.Recent[i])
	}
	return out
}

// lessAccess orders rows by user name, rows without one (unknown
// principals) last, then principal, factory and role.
func lessAccess(a, b Access) bool {
	if a.UserName != b.UserName {
		if a.UserName == "" || b.UserName == "" {
			return b.UserName == ""
		}
		return a.UserName < b.UserName
	}
	if a.PrincipalID != b.PrincipalID {
		return a.PrincipalID < b.PrincipalID
	}
	if a.Factory != b.Factory {
		return a.Factory < b.Factory
	}
	return a.Role < b.Role
}

func sortAccess(as []Access) { sort.Slice(as, func(i, j int) bool { return lessAccess(as[i], as[j]) }) }

// normalize makes lists non-nil so JSON shows [] rather than null.
func (r *Report) normalize() {
	r.Access = nonNil(r.Access)
	for i := range r.Access {
		r.Access[i].Groups = nonNil(r.Access[i].Groups)
	}
	r.Drift = nonNil(r.Drift)
	for i := range r.Drift {
		r.Drift[i].Groups = nonNil(r.Drift[i].Groups)
	}
	r.Inactive = nonNil(r.Inactive)
	r.Unresolved = nonNil(r.Unresolved)
	r.Pending = nonNil(r.Pending)
	for i := range r.Pending {
		r.Pending[i].Groups = nonNil(r.Pending[i].Groups)
	}
	r.Problems = nonNil(r.Problems)
	r.Recent = nonNil(r.Recent)
	r.Actors = nonNil(r.Actors)
}

// nonNil returns s, or an empty slice for nil, so lists encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
