package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
)

// trailIndex is what one pass over the audit trail tells the report.
type trailIndex struct {
	st     *state
	recent []Event // ring of the last n user/group/rbac events
	n      int
	next   int // ring position
	seen   int // user, group and rbac records read
	others int // other records read

	since      map[string]time.Time // assignment key -> last successful rbac.assign
	firstDrift map[string]time.Time // assignment key -> first rbac.drift
	lastRBAC   map[string]*Event    // assignment key -> last rbac.* record
	lastUser   map[string]*Event    // user id -> last successful user.* record
	lastGroup  map[string]*Event    // group id -> last successful group.* record
	lastMember map[string]*Event    // group id|user id -> last group record naming the user
	// subjects maps a principal to the SCIM user id the rbac records name
	// as its subject: it names former members, whom the SCIM state no
	// longer links to a group.
	subjects map[string]string
	// values are the attribute values the trail has seen set, so a change
	// shows what it changed from; names are the userNames user records
	// gave, so a member who left or was deleted is still named.
	values values
	names  map[string]string
	// dp follows the trail for the deprovisioning evidence; reviews are
	// the review.complete records, oldest first.
	dp      *deprov
	reviews []audit.Record
	// granters maps user id|grant id to the actor of the last record that
	// granted it.
	granters map[string]string
}

func newTrailIndex(n int, st *state, m *rbac.Mapping) *trailIndex {
	return &trailIndex{
		st: st, n: n, recent: make([]Event, 0, n), dp: newDeprov(m),
		since: map[string]time.Time{}, firstDrift: map[string]time.Time{}, lastRBAC: map[string]*Event{},
		lastUser: map[string]*Event{}, lastGroup: map[string]*Event{}, lastMember: map[string]*Event{},
		subjects: map[string]string{}, values: values{}, names: map[string]string{}, granters: map[string]string{},
	}
}

// read walks the whole trail once, oldest first.
func (x *trailIndex) read(ctx context.Context, q audit.Querier) error {
	f := audit.Filter{Limit: audit.MaxLimit}
	for {
		p, err := q.Query(ctx, f)
		if err != nil {
			return fmt.Errorf("report: read the audit trail: %w", err)
		}
		for _, r := range p.Records {
			x.add(r)
		}
		if p.Next == "" {
			return nil
		}
		f.Cursor = p.Next
	}
}

// finish looks up the users the rbac records name who are not members of
// a mapped group any more (leavers) — only those whose principal holds an
// assignment or appears in a recent change — so that their rows and records
// show a userName; then it names every assignment record for a reader.
func (x *trailIndex) finish(ctx context.Context, dir rbac.Directory, held []rbac.Assignment) error {
	need := map[string]bool{}
	for _, a := range held {
		need[strings.ToLower(a.PrincipalID)] = true
	}
	for _, e := range x.recent {
		need[strings.ToLower(e.principal)] = true
	}
	for p := range need {
		uid, ok := x.subjects[p]
		if !ok {
			continue
		}
		if _, known := x.st.byPrincipal[p]; known {
			continue
		}
		if _, known := x.st.Users[uid]; !known {
			u, err := dir.User(ctx, uid)
			if errors.Is(err, rbac.ErrUserNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("report: read user %s: %w", uid, err)
			}
			x.st.Users[uid] = u
		}
		x.st.byPrincipal[p] = uid
	}
	for i := range x.recent {
		x.describe(&x.recent[i])
		x.nameMembers(&x.recent[i])
	}
	for _, e := range x.lastRBAC {
		x.describe(e)
	}
	for _, m := range []map[string]*Event{x.lastUser, x.lastGroup, x.lastMember} {
		for _, e := range m {
			x.nameMembers(e)
		}
	}
	return nil
}

// add indexes one record.
func (x *trailIndex) add(r audit.Record) {
	family, _, _ := strings.Cut(r.Action, ".")
	var k string
	var isRBAC bool
	if family == "rbac" {
		k, isRBAC = rbacKey(r)
	}
	x.dp.add(r, k, isRBAC)
	if r.Action == ActionReviewComplete && r.Outcome.Success {
		x.reviews = append(x.reviews, r)
	}
	if family != "user" && family != "group" && family != "rbac" {
		x.others++
		return
	}
	ev := x.event(r)
	x.remember(ev)
	switch family {
	case "user":
		if r.Outcome.Success {
			x.lastUser[r.Target.ID] = &ev
			if r.Target.Display != "" {
				x.names[r.Target.ID] = r.Target.Display
			}
			for _, c := range r.Changes {
				if v, ok := c.Value.(string); ok && c.Op == "grant" && strings.HasSuffix(v, "]") {
					id := v[strings.LastIndex(v, "[")+1 : len(v)-1]
					x.granters[r.Target.ID+"|"+strings.ToLower(id)] = r.Actor
				}
			}
		}
	case "group":
		if !r.Outcome.Success {
			return
		}
		x.lastGroup[r.Target.ID] = &ev
		if _, mapped := x.st.members[r.Target.ID]; !mapped {
			return // only memberships of mapped groups grant access
		}
		for _, s := range mentioned(r.Changes) {
			x.lastMember[r.Target.ID+"|"+s] = &ev
		}
	case "rbac":
		if !isRBAC {
			return
		}
		x.lastRBAC[k] = &ev
		if ev.subject != "" && r.Action != audit.ActionRBACDrift {
			x.subjects[strings.ToLower(ev.principal)] = ev.subject
		}
		switch {
		case r.Action == audit.ActionRBACAssign && r.Outcome.Success:
			x.since[k] = r.Time
		case (r.Action == audit.ActionRBACUnassign || r.Action == audit.ActionRBACExpired) && r.Outcome.Success:
			delete(x.since, k)
		case r.Action == audit.ActionRBACDrift:
			if _, ok := x.firstDrift[k]; !ok {
				x.firstDrift[k] = r.Time
			}
		}
	}
}

func (x *trailIndex) remember(ev Event) {
	x.seen++
	if len(x.recent) < x.n {
		x.recent = append(x.recent, ev)
		return
	}
	x.recent[x.next] = ev
	x.next = (x.next + 1) % x.n
}

// recentNewestFirst returns the ring, newest first.
func (x *trailIndex) recentNewestFirst() []Event {
	out := make([]Event, 0, len(x.recent))
	for i := range x.recent {
		out = append(out, x.recent[(x.next+len(x.recent)-1-i)%len(x.recent)])
	}
	return out
}

// lastFor is the latest record about an access row: its assignment, its
// user, or the user's membership in the groups it comes through (for a
// group principal: the group).
func (x *trailIndex) lastFor(row Access, k string, st *state) *Event {
	var best *Event
	pick := func(e *Event) {
		if e != nil && (best == nil || e.Seq > best.Seq) {
			best = e
		}
	}
	pick(x.lastRBAC[k])
	if row.UserID != "" {
		pick(x.lastUser[row.UserID])
		groups := row.Groups
		if len(groups) == 0 {
			// Access no group grants (any more): a leaver's removal from
			// whichever mapped group it was is the change to show.
			for _, g := range st.Groups {
				groups = append(groups, GroupRef{ID: g.ID})
			}
		}
		for _, g := range groups {
			pick(x.lastMember[g.ID+"|"+row.UserID])
		}
	}
	if g, ok := st.groupByExt[row.PrincipalID]; ok && row.UserID == "" {
		pick(x.lastGroup[g.ID])
	}
	return best
}

// rbacKey reads the assignment an rbac.* record is about from its changes
// (scope, principalId, roleDefinitionId).
func rbacKey(r audit.Record) (string, bool) {
	var scope, principal, role string
	for _, c := range r.Changes {
		s, _ := c.Value.(string)
		switch c.Path {
		case "scope":
			scope = s
		case "principalId":
			principal = s
		case "roleDefinitionId":
			role = s
		}
	}
	if scope == "" || principal == "" || role == "" {
		return "", false
	}
	if i := strings.LastIndex(role, "/"); i >= 0 {
		role = role[i+1:]
	}
	return key(scope, principal, role), true
}

// mentioned lists the strings a record's changes carry: member ids in
// values ({"value": id}) and in path filters (members[value eq "id"]).
func mentioned(cs []audit.Change) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			out = append(out, t)
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	for _, c := range cs {
		walk(c.Value)
		for p := c.Path; ; {
			i := strings.IndexByte(p, '"')
			if i < 0 {
				break
			}
			j := strings.IndexByte(p[i+1:], '"')
			if j < 0 {
				break
			}
			out = append(out, p[i+1:i+1+j])
			p = p[i+j+2:]
		}
	}
	return out
}

// event turns a record into what the report shows of it.
func (x *trailIndex) event(r audit.Record) Event {
	ev := Event{Seq: r.Seq, Time: r.Time.UTC(), Actor: r.Actor, Action: r.Action, TargetID: r.Target.ID,
		Success: r.Outcome.Success, Detail: r.Outcome.Detail}
	ev.Target = r.Target.Display
	if strings.HasPrefix(r.Action, "rbac.") {
		for _, c := range r.Changes {
			s, _ := c.Value.(string)
			switch c.Path {
			case "scope":
				ev.scope = s
			case "principalId":
				ev.principal = s
			case "roleDefinitionId":
				ev.role = s
			case "scimSubject":
				ev.subject = s
			}
		}
	} else {
		if ev.Target == "" && r.Target.Type == "User" {
			ev.Target = x.st.Users[r.Target.ID].UserName
		}
		ev.ChangeList = x.values.phrase(r)
		ev.Changes = strings.Join(ev.ChangeList, "; ")
	}
	if ev.Target == "" {
		ev.Target = strings.TrimSpace(r.Target.Type + " " + r.Target.ID)
	}
	return ev
}

// describe names an rbac record's assignment for a reader:
// "Reader on adf-prod for alice@contoso.com".
func (x *trailIndex) describe(ev *Event) {
	if ev.scope == "" {
		return
	}
	who := ev.principal
	if u, ok := x.st.Users[ev.subject]; ok && ev.subject != "" {
		who = u.UserName
	} else if uid, ok := x.st.byPrincipal[strings.ToLower(ev.principal)]; ok {
		who = x.st.Users[uid].UserName
	} else if g, ok := x.st.groupByExt[strings.ToLower(ev.principal)]; ok {
		who = "group " + g.DisplayName
	}
	ev.Target = RoleName(ev.role) + " on " + FactoryName(ev.scope) + " for " + who
}

// nameMembers names each member a group record's changes refer to by
// userName (from the SCIM state, else the trail's user records), or by id
// when neither knows it.
func (x *trailIndex) nameMembers(ev *Event) {
	if !strings.Contains(ev.Changes, memberRef) {
		return
	}
	name := func(id string) string {
		if u, ok := x.st.Users[id]; ok && u.UserName != "" {
			return u.UserName
		}
		if n := x.names[id]; n != "" {
			return n
		}
		return id
	}
	for i, l := range ev.ChangeList {
		var b strings.Builder
		for {
			j := strings.Index(l, memberRef)
			if j < 0 {
				break
			}
			rest := l[j+len(memberRef):]
			id, after, _ := strings.Cut(rest, "\x00")
			b.WriteString(l[:j] + name(id))
			l = after
		}
		b.WriteString(l)
		ev.ChangeList[i] = b.String()
	}
	ev.Changes = strings.Join(ev.ChangeList, "; ")
}

// grantedBy fills in who granted each of a user's direct grants.
func (x *trailIndex) grantedBy(gs []DirectGrant, userID string) []DirectGrant {
	if len(gs) == 0 {
		return nil
	}
	out := make([]DirectGrant, len(gs))
	for i, g := range gs {
		g.GrantedBy = x.granters[userID+"|"+strings.ToLower(g.ID)]
		out[i] = g
	}
	return out
}
