package report

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
)

// DefaultRevokeTarget is the time within which a loss of access should be
// carried out in Azure when Options do not say (ADFSCIM_REVOKE_TARGET).
const DefaultRevokeTarget = time.Hour

// Revocation statuses.
const (
	// RevokeDone: ARM confirmed the deletion (a successful rbac.unassign).
	RevokeDone = "revoked"
	// RevokeOpen: the assignment is still held though the IdP's request
	// said it should go.
	RevokeOpen = "open"
	// RevokeUnconfirmed: the assignment is gone from Azure, but the trail
	// holds no deletion by adfscim (someone removed it by hand).
	RevokeUnconfirmed = "gone, not by adfscim"
)

// Breach causes, the first word of Revocation.Cause.
const (
	CauseThrottling = "ARM throttling"
	CauseARMError   = "ARM error"
	CauseUnresolved = "unresolved principal"
	CauseDown       = "service down"
	CauseUnknown    = "unknown"
)

// Deprovisioning is the evidence that access ended when the identity
// provider said so: one Revocation per role assignment an IdP request took
// away, with the audit records of the request and of ARM's confirmed
// deletion, and the elapsed time between them, summarised per calendar
// month (UTC) of the request.
type Deprovisioning struct {
	// Target is the time within which a revocation should be done
	// (ADFSCIM_REVOKE_TARGET); slower ones are breaches.
	Target        string  `json:"target"`
	TargetSeconds float64 `json:"targetSeconds"`
	// Period names the buckets of Periods: "month" (UTC calendar month of
	// the request).
	Period  string        `json:"period"`
	Periods []PeriodStats `json:"periods"`
	// Revocations lists every loss of access the trail shows, oldest
	// request first: done, open, and gone without adfscim.
	Revocations []Revocation `json:"revocations"`
	Done        int          `json:"done"`
	Open        int          `json:"open"`
	Breaches    int          `json:"breaches"`
	// Unattributed counts assignments adfscim deleted without an IdP
	// request in the trail that explains it (a mapping change, or a
	// request older than the trail's retention); they are not timed.
	Unattributed int `json:"unattributed"`
}

// PeriodStats summarise the done revocations requested in one period.
type PeriodStats struct {
	Period string `json:"period"` // "2026-03"
	Count  int    `json:"count"`
	// Median, P95 and Worst are elapsed times in seconds (nearest-rank
	// percentiles), with Human forms for the page.
	Median      float64 `json:"medianSeconds"`
	P95         float64 `json:"p95Seconds"`
	Worst       float64 `json:"worstSeconds"`
	MedianHuman string  `json:"median"`
	P95Human    string  `json:"p95"`
	WorstHuman  string  `json:"worst"`
	// WorstSeq is the request record of the worst case.
	WorstSeq uint64 `json:"worstRequestSeq"`
	Breaches int    `json:"breaches"`
	// Open counts the revocations requested in the period and not done.
	Open int `json:"open"`
}

// Revocation is one role assignment an IdP request took away.
type Revocation struct {
	Status        string `json:"status"`
	UserID        string `json:"userId,omitempty"`
	UserName      string `json:"userName,omitempty"`
	PrincipalType string `json:"principalType,omitempty"`
	PrincipalID   string `json:"principalId"`
	Role          string `json:"role"`
	RoleID        string `json:"roleId"`
	Factory       string `json:"factory"`
	FactoryID     string `json:"factoryId"`
	// Reason is what the IdP asked: "deactivated", "removed from group
	// ADF Readers", "user deleted", "group ADF Readers deleted".
	Reason string `json:"reason"`
	// RequestSeq and Requested are the audit record of the IdP's request
	// (its time is when adfscim accepted it); RequestActor is the client.
	RequestSeq   uint64    `json:"requestSeq"`
	Requested    time.Time `json:"requested"`
	RequestActor string    `json:"requestActor"`
	// ConfirmSeq and Confirmed are the rbac.unassign record written when
	// ARM confirmed the deletion; absent while not done.
	ConfirmSeq uint64     `json:"confirmSeq,omitempty"`
	Confirmed  *time.Time `json:"confirmed,omitempty"`
	// Elapsed is from request to confirmation, or for an open item its
	// age when the report was made.
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Elapsed        string  `json:"elapsed"`
	// Breach is true when Elapsed exceeds the target.
	Breach bool `json:"breach"`
	// Cause says, for a breach, what the trail shows delayed it; Evidence
	// lists the sequence numbers of the records it rests on.
	Cause    string   `json:"cause,omitempty"`
	Evidence []uint64 `json:"evidence,omitempty"`

	key      string
	subject  string
	failures []failure
}

type failure struct {
	seq    uint64
	status int
	detail string
}

// holding is an assignment adfscim made, as the trail tells it.
type holding struct {
	scope, principal, role, subject, ptype string
}

// gap is a stretch of the trail without any record.
type gap struct {
	fromSeq, toSeq   uint64
	fromTime, toTime time.Time
}

// minGap is the shortest stretch without records remembered as a gap.
const minGap = 5 * time.Minute

// deprov follows the trail to pair each IdP request that takes access away
// with ARM's confirmation of the deletion. It keeps, from the trail alone,
// who is active, who is in which group, and which assignments adfscim
// holds, so that a request is paired with exactly the assignments it ends.
type deprov struct {
	m         *rbac.Mapping
	inactive  map[string]bool            // user id -> deactivated
	members   map[string]map[string]bool // group id -> user ids
	groups    map[string]rbac.Group      // group id -> name and externalId
	held      map[string]holding         // assignment key -> holding
	bySubject map[string]map[string]bool // subject -> assignment keys
	pending   map[string]*Revocation     // assignment key -> open loss
	done      []Revocation
	gaps      []gap
	restarts  []uint64 // config.load records
	restartAt map[uint64]time.Time
	lastSeq   uint64
	lastTime  time.Time
	unattrib  int
}

func newDeprov(m *rbac.Mapping) *deprov {
	return &deprov{m: m, inactive: map[string]bool{}, members: map[string]map[string]bool{}, groups: map[string]rbac.Group{},
		held: map[string]holding{}, bySubject: map[string]map[string]bool{}, pending: map[string]*Revocation{},
		restartAt: map[uint64]time.Time{}}
}

// add follows one record.
func (d *deprov) add(r audit.Record, k string, ok bool) {
	if !d.lastTime.IsZero() && r.Time.Sub(d.lastTime) >= minGap {
		d.gaps = append(d.gaps, gap{fromSeq: d.lastSeq, toSeq: r.Seq, fromTime: d.lastTime, toTime: r.Time})
	}
	d.lastSeq, d.lastTime = r.Seq, r.Time
	if r.Action == audit.ActionConfigLoad {
		d.restarts = append(d.restarts, r.Seq)
		d.restartAt[r.Seq] = r.Time
	}
	family, verb, _ := strings.Cut(r.Action, ".")
	switch family {
	case "user":
		if r.Outcome.Success {
			d.user(r, verb)
		}
	case "group":
		if r.Outcome.Success {
			d.group(r, verb)
		}
	case "rbac":
		if ok {
			d.rbac(r, k)
		}
	}
}

func (d *deprov) user(r audit.Record, verb string) {
	uid := r.Target.ID
	switch verb {
	case "delete":
		d.lose(r, uid, nil, "user deleted")
		delete(d.inactive, uid)
		for _, ms := range d.members {
			delete(ms, uid)
		}
	case "create", "replace", "patch":
		active, set := activeIn(r.Changes)
		if verb == "replace" && !set {
			active, set = true, true // a replace without active drops it: SCIM's default
		}
		if !set {
			return
		}
		was := !d.inactive[uid]
		d.inactive[uid] = !active
		switch {
		case was && !active && verb != "create":
			d.lose(r, uid, nil, "deactivated")
		case !was && active:
			d.restore(uid)
		}
	}
}

// activeIn reads the active flag a user write sets, if it sets one.
func activeIn(cs []audit.Change) (active, set bool) {
	for _, c := range cs {
		var v any
		switch {
		case strings.EqualFold(c.Path, "active"):
			v = c.Value
		case c.Path == "":
			m, ok := c.Value.(map[string]any)
			if !ok {
				continue
			}
			for k, x := range m {
				if strings.EqualFold(k, "active") {
					v = x
				}
			}
		default:
			continue
		}
		if strings.EqualFold(c.Op, "remove") {
			return false, true
		}
		switch t := v.(type) {
		case bool:
			active, set = t, true
		case string:
			if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(t))); err == nil {
				active, set = b, true
			}
		}
	}
	return active, set
}

func (d *deprov) group(r audit.Record, verb string) {
	gid := r.Target.ID
	g := d.groups[gid]
	g.ID = gid
	if r.Target.Display != "" {
		g.DisplayName = r.Target.Display
	}
	before := d.members[gid]
	after := map[string]bool{}
	for u := range before {
		after[u] = true
	}
	setMembers := func(v any) {
		after = map[string]bool{}
		for _, id := range memberIDs(v) {
			after[id] = true
		}
	}
	for _, c := range r.Changes {
		op, lower := strings.ToLower(c.Op), strings.ToLower(c.Path)
		switch {
		case lower == "displayname":
			if s, ok := c.Value.(string); ok {
				g.DisplayName = s
			}
		case lower == "externalid":
			if s, ok := c.Value.(string); ok {
				g.ExternalID = s
			}
		case lower == "members" && (op == "set" || op == "replace"):
			setMembers(c.Value)
		case lower == "members" && op == "add":
			for _, id := range memberIDs(c.Value) {
				after[id] = true
			}
		case lower == "members" && op == "remove":
			if c.Value == nil {
				after = map[string]bool{}
			}
			for _, id := range memberIDs(c.Value) {
				delete(after, id)
			}
		case strings.HasPrefix(lower, "members[") && op == "remove":
			for _, id := range quoted(c.Path) {
				delete(after, id)
			}
		case c.Path == "" && op != "remove":
			m, _ := c.Value.(map[string]any)
			for k, v := range m {
				switch strings.ToLower(k) {
				case "members":
					if op == "add" {
						for _, id := range memberIDs(v) {
							after[id] = true
						}
					} else {
						setMembers(v)
					}
				case "displayname":
					if s, ok := v.(string); ok {
						g.DisplayName = s
					}
				case "externalid":
					if s, ok := v.(string); ok {
						g.ExternalID = s
					}
				}
			}
		}
	}
	if verb == "replace" && !slices.ContainsFunc(r.Changes, func(c audit.Change) bool { return strings.EqualFold(c.Path, "members") }) {
		after = map[string]bool{} // a replace without members leaves none
	}
	d.groups[gid] = g
	if verb == "delete" {
		d.members[gid] = map[string]bool{}
		for u := range before {
			d.lose(r, u, &g, "group "+g.DisplayName+" deleted")
		}
		d.lose(r, gid, nil, "group "+g.DisplayName+" deleted")
		delete(d.members, gid)
		return
	}
	d.members[gid] = after
	for u := range before {
		if !after[u] {
			d.lose(r, u, &g, "removed from group "+g.DisplayName)
		}
	}
	for u := range after {
		if !before[u] {
			d.restore(u)
		}
	}
}

// memberIDs lists the ids of a members value ([{"value": id}, ...]).
func memberIDs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, m := range list {
		switch t := m.(type) {
		case map[string]any:
			if id, ok := t["value"].(string); ok {
				out = append(out, id)
			}
		case string:
			out = append(out, t)
		}
	}
	return out
}

// grants says whether group g grants role on scope to its members
// (user-mode bindings).
func (d *deprov) grants(g rbac.Group, scope, role string) bool {
	for _, b := range d.m.Bindings {
		if b.Mode != rbac.ModeUser || !b.MatchesGroup(g) || !strings.EqualFold(b.RoleID, role) {
			continue
		}
		for _, f := range b.Factories {
			if normScope(f) == scope {
				return true
			}
		}
	}
	return false
}

// entitled says whether, as the trail tells it, user uid should still
// hold h: active and a member of a group granting it.
func (d *deprov) entitled(uid string, h holding) bool {
	if d.inactive[uid] {
		return false
	}
	for gid, ms := range d.members {
		if ms[uid] && d.grants(d.groups[gid], h.scope, h.role) {
			return true
		}
	}
	return false
}

// lose opens a revocation for each assignment of subject the request ends:
// every one (from is nil: a deactivation or deletion), or those group from
// granted and no other group still grants.
func (d *deprov) lose(r audit.Record, subject string, from *rbac.Group, reason string) {
	for k := range d.bySubject[subject] {
		h := d.held[k]
		if from != nil && (!d.grants(*from, h.scope, h.role) || d.entitled(subject, h)) {
			continue
		}
		if _, open := d.pending[k]; open {
			continue // the first request is when access should have ended
		}
		d.pending[k] = &Revocation{Reason: reason, RequestSeq: r.Seq, Requested: r.Time.UTC(), RequestActor: r.Actor,
			key: k, subject: subject, PrincipalID: strings.ToLower(h.principal), PrincipalType: h.ptype,
			Role: RoleName(h.role), RoleID: strings.ToLower(h.role), Factory: FactoryName(h.scope), FactoryID: h.scope}
	}
}

// restore drops the open revocations of a user whom a later request
// entitled again before adfscim removed anything.
func (d *deprov) restore(uid string) {
	for k := range d.bySubject[uid] {
		if _, open := d.pending[k]; open && d.entitled(uid, d.held[k]) {
			delete(d.pending, k)
		}
	}
}

func (d *deprov) rbac(r audit.Record, k string) {
	var h holding
	var ends time.Time // a schedule's end (rbac.expired)
	for _, c := range r.Changes {
		s, _ := c.Value.(string)
		switch c.Path {
		case "scope":
			h.scope = normScope(s)
		case "principalId":
			h.principal = strings.ToLower(s)
		case "roleDefinitionId":
			h.role = strings.ToLower(s[strings.LastIndex(s, "/")+1:])
		case "scimSubject":
			h.subject = s
		case "endsAt":
			ends, _ = time.Parse(time.RFC3339, s)
		}
	}
	if t, _, ok := strings.Cut(r.Target.Display, " "); ok {
		h.ptype = t
	}
	switch r.Action {
	case audit.ActionRBACAssign:
		if !r.Outcome.Success {
			return
		}
		d.held[k] = h
		if h.subject != "" {
			if d.bySubject[h.subject] == nil {
				d.bySubject[h.subject] = map[string]bool{}
			}
			d.bySubject[h.subject][k] = true
		}
		delete(d.pending, k)
	case audit.ActionRBACUnassign:
		rv := d.pending[k]
		if !r.Outcome.Success {
			if rv != nil {
				rv.failures = append(rv.failures, failure{seq: r.Seq, status: r.Outcome.Status, detail: r.Outcome.Detail})
			}
			return
		}
		if old, ok := d.held[k]; ok {
			delete(d.bySubject[old.subject], k)
		}
		delete(d.held, k)
		if rv == nil {
			d.unattrib++
			return
		}
		delete(d.pending, k)
		t := r.Time.UTC()
		rv.Status, rv.ConfirmSeq, rv.Confirmed = RevokeDone, r.Seq, &t
		d.done = append(d.done, *rv)
	case audit.ActionRBACExpired:
		// The schedule ended by itself: access ended at its end time (or
		// at the request, if it had ended by then), which the record that
		// found it confirms.
		if !r.Outcome.Success {
			return
		}
		if old, ok := d.held[k]; ok {
			delete(d.bySubject[old.subject], k)
		}
		delete(d.held, k)
		rv := d.pending[k]
		if rv == nil {
			return
		}
		delete(d.pending, k)
		t := r.Time.UTC()
		if !ends.IsZero() && ends.Before(t) {
			t = ends.UTC()
		}
		if t.Before(rv.Requested) {
			t = rv.Requested
		}
		rv.Status, rv.ConfirmSeq, rv.Confirmed = RevokeDone, r.Seq, &t
		d.done = append(d.done, *rv)
	}
}

// unresolvedReason says why a user's principal cannot be resolved now, or
// "" when it can (or the user is gone).
type unresolvedReason func(ctx context.Context, uid string) (string, error)

// result finishes the evidence: the open revocations are classified by what
// Azure holds now (held: assignment keys; wanted: keys the SCIM state
// wants), every one is timed, and breaches get their cause.
func (d *deprov) result(ctx context.Context, now time.Time, target time.Duration, held, wanted map[string]bool,
	names func(uid string) string, unresolved unresolvedReason) (Deprovisioning, error) {
	out := Deprovisioning{Target: human(target.Seconds()), TargetSeconds: target.Seconds(), Period: "month", Unattributed: d.unattrib}
	all := d.done
	for k, rv := range d.pending {
		switch {
		case held[k] && wanted[k]:
			continue // entitled again in the current state: not a loss
		case held[k]:
			rv.Status = RevokeOpen
		default:
			rv.Status = RevokeUnconfirmed
		}
		all = append(all, *rv)
	}
	for i := range all {
		rv := &all[i]
		end := now
		if rv.Confirmed != nil {
			end = *rv.Confirmed
		}
		rv.ElapsedSeconds = end.Sub(rv.Requested).Seconds()
		rv.Elapsed = human(rv.ElapsedSeconds)
		rv.Breach = rv.Status != RevokeUnconfirmed && end.Sub(rv.Requested) > target
		if rv.PrincipalType != string(rbac.PrincipalGroup) {
			rv.UserID = rv.subject
			rv.UserName = names(rv.subject)
		} else {
			rv.UserName = "group " + names(rv.subject)
		}
		if rv.Breach {
			if err := d.explain(ctx, rv, end, unresolved); err != nil {
				return out, err
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].RequestSeq != all[j].RequestSeq {
			return all[i].RequestSeq < all[j].RequestSeq
		}
		return lessRevocation(all[i], all[j])
	})
	out.Revocations = all
	byPeriod := map[string][]float64{}
	stats := map[string]*PeriodStats{}
	var periods []string
	for _, rv := range all {
		p := rv.Requested.Format("2006-01")
		ps := stats[p]
		if ps == nil {
			ps = &PeriodStats{Period: p}
			stats[p] = ps
			periods = append(periods, p)
		}
		if rv.Breach {
			ps.Breaches++
			out.Breaches++
		}
		if rv.Status != RevokeDone {
			ps.Open++
			out.Open++
			continue
		}
		out.Done++
		byPeriod[p] = append(byPeriod[p], rv.ElapsedSeconds)
		if rv.ElapsedSeconds > ps.Worst || ps.WorstSeq == 0 {
			ps.Worst, ps.WorstSeq = rv.ElapsedSeconds, rv.RequestSeq
		}
	}
	sort.Strings(periods)
	for _, p := range periods {
		ps := stats[p]
		xs := byPeriod[p]
		ps.Count = len(xs)
		if len(xs) > 0 {
			ps.Median, ps.P95 = percentile(xs, 50), percentile(xs, 95)
			ps.MedianHuman, ps.P95Human, ps.WorstHuman = human(ps.Median), human(ps.P95), human(ps.Worst)
		} else {
			ps.WorstSeq = 0
		}
		out.Periods = append(out.Periods, *ps)
	}
	out.Periods = nonNil(out.Periods)
	out.Revocations = nonNil(out.Revocations)
	return out, nil
}

func lessRevocation(a, b Revocation) bool {
	if a.UserName != b.UserName {
		return a.UserName < b.UserName
	}
	if a.Factory != b.Factory {
		return a.Factory < b.Factory
	}
	return a.Role < b.Role
}

// explain names the cause of a breach from what the trail shows between
// the request and end: failed deletes (429: throttling), a principal that
// cannot be resolved, a stretch without any record (the service was down),
// or else "unknown".
func (d *deprov) explain(ctx context.Context, rv *Revocation, end time.Time, unresolved unresolvedReason) error {
	var throttled, failed []uint64
	var firstDetail string
	for _, f := range rv.failures {
		if f.status == 429 || strings.Contains(f.detail, "429") || strings.Contains(f.detail, "TooManyRequests") {
			throttled = append(throttled, f.seq)
			continue
		}
		failed = append(failed, f.seq)
		if firstDetail == "" {
			firstDetail = f.detail
		}
	}
	switch {
	case len(throttled) > 0:
		rv.Cause = fmt.Sprintf("%s: ARM answered %d %s with 429 Too Many Requests", CauseThrottling, len(throttled), plural(len(throttled), "delete", "deletes"))
		rv.Evidence = throttled
		return nil
	case len(failed) > 0:
		rv.Cause = fmt.Sprintf("%s: %d failed %s: %s", CauseARMError, len(failed), plural(len(failed), "delete", "deletes"), clip(firstDetail, maxValueLen))
		rv.Evidence = failed
		return nil
	}
	if rv.PrincipalType != string(rbac.PrincipalGroup) && unresolved != nil {
		reason, err := unresolved(ctx, rv.subject)
		if err != nil {
			return err
		}
		if reason != "" {
			rv.Cause = CauseUnresolved + ": " + reason + " (a revocation for a principal adfscim cannot resolve waits for the next full reconcile)"
			return nil
		}
	}
	// The longest stretch without any record inside the window; for an
	// open item, the stretch since the last record counts too.
	var best gap
	gaps := d.gaps
	if end.Sub(d.lastTime) >= minGap {
		gaps = append(slices.Clip(gaps), gap{fromSeq: d.lastSeq, fromTime: d.lastTime, toTime: end})
	}
	for _, g := range gaps {
		from, to := maxTime(g.fromTime, rv.Requested), minTime(g.toTime, end)
		if to.Sub(from) > best.toTime.Sub(best.fromTime) {
			best = gap{fromSeq: g.fromSeq, toSeq: g.toSeq, fromTime: from, toTime: to}
		}
	}
	if elapsed := end.Sub(rv.Requested); best.toTime.Sub(best.fromTime)*2 >= elapsed && elapsed > 0 {
		span := human(best.toTime.Sub(best.fromTime).Seconds())
		if best.toSeq == 0 {
			rv.Cause = fmt.Sprintf("%s: no audit record at all for %s, since seq %d (%s)", CauseDown, span, best.fromSeq,
				best.fromTime.UTC().Format("2006-01-02 15:04"))
			rv.Evidence = []uint64{best.fromSeq}
			return nil
		}
		rv.Cause = fmt.Sprintf("%s: no audit record at all for %s, between seq %d (%s) and seq %d (%s)", CauseDown,
			span, best.fromSeq, best.fromTime.UTC().Format("2006-01-02 15:04"), best.toSeq, best.toTime.UTC().Format("2006-01-02 15:04"))
		rv.Evidence = []uint64{best.fromSeq, best.toSeq}
		for _, s := range d.restarts {
			if t := d.restartAt[s]; s >= best.toSeq && !t.After(end) {
				rv.Cause += fmt.Sprintf("; the service started again at seq %d", s)
				if s != best.toSeq {
					rv.Evidence = append(rv.Evidence, s)
				}
				break
			}
		}
		return nil
	}
	rv.Cause = CauseUnknown + ": the trail shows nothing between the request and the deletion that explains the delay"
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// percentile is the nearest-rank percentile p (0-100] of xs.
func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// human writes seconds as "42s", "3m 05s", "1h 02m", "2d 03h".
func human(sec float64) string {
	d := time.Duration(math.Round(sec)) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// resolverCheck says why a user cannot be resolved now, using the report's
// directory and resolver; a deleted user gives "".
func resolverCheck(dir rbac.Directory, res Resolver) unresolvedReason {
	return func(ctx context.Context, uid string) (string, error) {
		if uid == "" {
			return "", nil
		}
		u, err := dir.User(ctx, uid)
		if errors.Is(err, rbac.ErrUserNotFound) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("report: read user %s: %w", uid, err)
		}
		if _, err := res.Resolve(ctx, u); err != nil {
			if errors.Is(err, rbac.ErrUnresolved) {
				return err.Error(), nil
			}
			return "", nil // a lookup fault now says nothing about then
		}
		return "", nil
	}
}
