package rbac_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/store"
)

const endsAttr = "urn:ietf:params:scim:schemas:extension:adfscim:2.0:User:accessEndsAt"

// The three binding kinds side by side: standing (Analysts), time-bound
// (Engineers, 30 days renewed while they stay), eligible without an end
// (Ops) and eligible for 90 days (Oncall).
var scheduleMapping = `{"factories":{"a":"` + factoryA + `","b":"` + factoryB + `","c":"` + factoryC + `"},"bindings":[
	{"group":"Analysts","role":"Data Factory Contributor","factories":["a","b"]},
	{"group":"Engineers","role":"Reader","factories":["b"],"kind":"active","maxDuration":"720h"},
	{"group":"Ops","role":"` + roleOps + `","factories":["a","c"],"kind":"eligible"},
	{"group":"Oncall","role":"Data Factory Contributor","factories":["c"],"kind":"eligible","maxDuration":"2160h"}]}`

// clock is the shared fake time of the reconciler and the simulated ARM.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// tlsSim is armsim served over TLS with faults, and the ARM client talking
// to it over the wire.
func tlsSim(t testing.TB, st store.Store, now func() time.Time, f *armsim.Faults, pageSize int) (*armsim.Sim, *armclient.Client) {
	t.Helper()
	return tlsSimWith(t, armsim.Options{Store: st, PageSize: pageSize, Now: now, Faults: f})
}

// tlsSimWith is tlsSim with the simulator's options given whole.
func tlsSimWith(t testing.TB, o armsim.Options) (*armsim.Sim, *armclient.Client) {
	t.Helper()
	sim := armsim.New(o)
	srv := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(srv.Close)
	a, err := armclient.New(armclient.Options{Cloud: armclient.CloudConfig(srv.URL, "", ""), Credential: &azfake.TokenCredential{}, Transport: srv.Client(),
		WritesPerSecond: 1e6, WriteBurst: 1 << 20, MaxRetries: 10, TryTimeout: 5 * time.Second, RetryDelay: 2 * time.Millisecond, MaxRetryDelay: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return sim, a
}

// TestModelSchedules drives thousands of lifecycle events through the fast
// path and the timer with all three binding kinds, per-person end dates,
// people activating their eligibilities, time passing (schedules renewed
// and expiring), and assignments and schedules made by someone else, against
// the simulated ARM over TLS failing at random (429 with Retry-After, 500,
// lost answers). At the end ARM holds exactly what the oracle says, every
// activation of a person who lost the eligibility is gone, and everything
// foreign is untouched.
func TestModelSchedules(t *testing.T) {
	events := 2000
	if testing.Short() {
		events = 600
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			for _, eng := range engines {
				t.Run(eng.name, func(t *testing.T) { runScheduleModel(t, eng.open(t), seed, events) })
			}
		})
	}
}

type oracleKey struct {
	kind                   GrantKind
	scope, principal, role string
}

func runScheduleModel(t *testing.T, st store.Store, seed uint64, events int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	clk := &clock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	faults := &armsim.Faults{P429: 0.04, P500: 0.04, PLost: 0.03, RetryAfterHeader: "Retry-After-Ms", RetryAfterValue: "5", Seed: seed}
	// Every schedule ARM ended by itself, and every one the reconciler
	// recorded as expired, by (kind, scope, principal, role, start).
	var expMu sync.Mutex
	armExpired, recorded := map[string]int{}, map[string]int{}
	expKey := func(kind, scope, principal, role string, start time.Time) string {
		return kind + "|" + strings.ToLower(scope) + "|" + principal + "|" + role + "|" + start.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	}
	sim, arm := tlsSimWith(t, armsim.Options{Store: st, PageSize: 50, Now: clk.Now, Faults: faults, OnExpire: func(s armsim.Schedule) {
		if s.Kind == "activated" || s.PrincipalID >= pid(50000) {
			return // the person's activation, or someone else's schedule
		}
		expMu.Lock()
		defer expMu.Unlock()
		armExpired[expKey(s.Kind, s.Scope, s.PrincipalID, s.RoleID, s.Start)]++
	}})
	d := newDir()
	m := mustMapping(t, scheduleMapping)
	r, err := New(Options{Mapping: m, Directory: d, ARM: arm, Store: st, Resolver: Resolver{Attribute: objectIDAttr},
		Instance: "model", Concurrency: 4, Now: clk.Now, EndsAttribute: endsAttr,
		OnApplied: func(_ context.Context, rep Report) {
			expMu.Lock()
			defer expMu.Unlock()
			for _, a := range rep.Expired {
				recorded[expKey(string(a.Kind), a.Scope, a.PrincipalID, a.RoleID, a.Start)]++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{"Analysts", "Engineers", "Ops", "Oncall", "Other"}
	for i, g := range groups {
		d.putGroup(Group{ID: fmt.Sprint("g", i), DisplayName: g})
	}
	var users []string
	foreignAssignments := map[string]string{} // name -> scope
	type foreignSched struct{ kind, scope, principal, role string }
	var foreignScheds []foreignSched
	activated := 0
	// Someone else's principals are pid(50000) and up.
	foreignP := func(p string) bool { return p >= pid(50000) }
	principal := func(uid string) string {
		var n int
		fmt.Sscanf(uid, "u%d", &n)
		return pid(n)
	}
	drain := func() {
		if _, err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for ev := 0; ev < events; ev++ {
		clk.add(time.Second) // SCIM events come a second apart
		var refs []Ref
		x := rng.IntN(100)
		switch {
		case x < 14 || len(users) < 5:
			uid := fmt.Sprintf("u%05d", len(users)+1)
			d.putUser(User{ID: uid, UserName: uid + "@example.com", Active: true, Attributes: map[string]string{objectIDAttr: principal(uid)}})
			users = append(users, uid)
			refs = append(refs, UserRef(uid))
		case x < 42:
			uid := users[rng.IntN(len(users))]
			if _, err := d.User(ctx, uid); err == nil {
				d.setMember(fmt.Sprint("g", rng.IntN(len(groups))), uid, true)
				refs = append(refs, UserRef(uid))
			}
		case x < 56:
			uid := users[rng.IntN(len(users))]
			d.setMember(fmt.Sprint("g", rng.IntN(len(groups))), uid, false)
			refs = append(refs, UserRef(uid))
		case x < 63:
			uid := users[rng.IntN(len(users))]
			if u, err := d.User(ctx, uid); err == nil {
				u.Active = !u.Active
				d.putUser(u)
				refs = append(refs, UserRef(uid))
			}
		case x < 66:
			uid := users[rng.IntN(len(users))]
			d.deleteUser(uid)
			refs = append(refs, UserRef(uid))
		case x < 74: // an end date: mostly ahead, some already past, some cleared
			uid := users[rng.IntN(len(users))]
			if u, err := d.User(ctx, uid); err == nil {
				attrs := map[string]string{objectIDAttr: u.Attributes[objectIDAttr]}
				switch y := rng.IntN(10); {
				case y < 6:
					attrs[endsAttr] = clk.Now().Add(time.Duration(1+rng.IntN(400)) * time.Hour).Format(time.RFC3339)
				case y < 8:
					attrs[endsAttr] = clk.Now().Add(-time.Hour).Format(time.RFC3339)
				}
				u.Attributes = attrs
				d.putUser(u)
				refs = append(refs, UserRef(uid))
			}
		case x < 80: // someone eligible activates
			scheds, err := sim.Schedules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var elig []armsim.Schedule
			for _, s := range scheds {
				if s.Kind == "eligible" && !foreignP(s.PrincipalID) {
					elig = append(elig, s)
				}
			}
			if len(elig) > 0 {
				s := elig[rng.IntN(len(elig))]
				err := sim.Activate(ctx, s.Scope, s.PrincipalID, RoleDefinitionID(s.Scope, s.RoleID), time.Duration(1+rng.IntN(8))*time.Hour)
				if err == nil {
					activated++
				}
			}
		case x < 86: // time passes; the timer sweeps
			clk.add(time.Duration(1+rng.IntN(96)) * time.Hour)
			if _, err := r.Reconcile(ctx, nil); err != nil {
				t.Fatal(err)
			}
		case x < 90: // someone else grants by hand: an assignment or a schedule
			f := []string{factoryA, factoryB, factoryC}[rng.IntN(3)]
			role := []string{roleDFC, roleRdr, roleOps}[rng.IntN(3)]
			p := pid(50000 + ev)
			switch rng.IntN(3) {
			case 0:
				name := fmt.Sprintf("f0000000-0000-4000-8000-%012d", ev)
				if err := sim.Put(ctx, f, name, armauthorization.RoleAssignmentProperties{PrincipalID: to.Ptr(p),
					RoleDefinitionID: to.Ptr(RoleDefinitionID(f, role)), Description: to.Ptr("by hand")}); err != nil {
					t.Fatal(err)
				}
				foreignAssignments[name] = f
			default:
				kind := []string{"eligible", "timeBound"}[rng.IntN(2)]
				if err := sim.PutSchedule(ctx, kind, f, p, RoleDefinitionID(f, role), time.Time{}); err != nil {
					t.Fatal(err)
				}
				foreignScheds = append(foreignScheds, foreignSched{kind, strings.ToLower(f), p, role})
			}
		default:
		}
		if len(refs) > 0 {
			if err := r.Enqueue(ctx, refs...); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(8) == 0 {
			drain()
		}
	}
	for i := 0; ; i++ {
		rep, err := r.Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Items == 0 {
			break
		}
		if i > 20 {
			t.Fatalf("the queue does not drain: %+v", rep)
		}
	}
	// The timer's sweep enforces the end dates that came with time.
	if rep, err := r.Reconcile(ctx, nil); err != nil || rep.Failed > 0 {
		for _, res := range rep.Results {
			if res.Error != "" {
				t.Log(res.Op, res.Assignment.Kind, res.Error)
			}
		}
		t.Fatalf("reconcile: %v, %d failed", err, rep.Failed)
	}
	rep, err := r.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Plan.Empty() || rep.Failed > 0 {
		t.Errorf("a second reconcile still changes things: %d creates, %d deletes, %d renewals, %d failed",
			len(rep.Plan.Creates), len(rep.Plan.Deletes), len(rep.Plan.Renewals), rep.Failed)
	}

	// The oracle, from the model directly.
	now := clk.Now()
	want := map[oracleKey]time.Time{} // -> the latest end allowed (zero: none)
	maxEnd := map[string]time.Duration{"Engineers": 720 * time.Hour, "Oncall": 2160 * time.Hour}
	for uid, u := range d.users {
		if !u.Active {
			continue
		}
		end, hasEnd := ParseEndsAt(u.Attributes[endsAttr])
		if hasEnd && !end.After(now) {
			continue
		}
		for gid, members := range d.members {
			if !members[uid] {
				continue
			}
			g := d.groups[gid].DisplayName
			limit := time.Time{}
			if dur, ok := maxEnd[g]; ok {
				limit = now.Add(dur)
			}
			if hasEnd && (limit.IsZero() || end.Before(limit)) {
				limit = end
			}
			p := principal(uid)
			switch g {
			case "Analysts":
				want[oracleKey{GrantStanding, strings.ToLower(factoryA), p, roleDFC}] = time.Time{}
				want[oracleKey{GrantStanding, strings.ToLower(factoryB), p, roleDFC}] = time.Time{}
			case "Engineers":
				want[oracleKey{GrantTimeBound, strings.ToLower(factoryB), p, roleRdr}] = limit
			case "Ops":
				want[oracleKey{GrantEligible, strings.ToLower(factoryA), p, roleOps}] = limit
				want[oracleKey{GrantEligible, strings.ToLower(factoryC), p, roleOps}] = limit
			case "Oncall":
				want[oracleKey{GrantEligible, strings.ToLower(factoryC), p, roleDFC}] = limit
			}
		}
	}
	got := map[oracleKey]time.Time{}
	scheds, err := sim.Schedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var foreignSeen []foreignSched
	eligible := map[oracleKey]bool{}
	var activations []armsim.Schedule
	for _, s := range scheds {
		if foreignP(s.PrincipalID) {
			foreignSeen = append(foreignSeen, foreignSched{s.Kind, s.Scope, s.PrincipalID, s.RoleID})
			continue
		}
		switch s.Kind {
		case "activated":
			activations = append(activations, s)
		case "eligible":
			k := oracleKey{GrantEligible, s.Scope, s.PrincipalID, s.RoleID}
			got[k], eligible[k] = s.End, true
		default:
			got[oracleKey{GrantTimeBound, s.Scope, s.PrincipalID, s.RoleID}] = s.End
		}
	}
	all, err := sim.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, ra := range all {
		p := ra.Properties
		if foreignP(*p.PrincipalID) {
			continue
		}
		if strings.Contains(deref(p.Description), Marker) {
			got[oracleKey{GrantStanding, NormScope(*p.Scope), *p.PrincipalID, RoleGUID(*p.RoleDefinitionID)}] = time.Time{}
		} else {
			held++ // held by a time-bound schedule or an activation
		}
	}
	for k, limit := range want {
		end, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing %v", k)
		case k.kind == GrantStanding:
		case limit.IsZero() != end.IsZero() || (!limit.IsZero() && (end.After(limit) || !end.After(now))):
			t.Errorf("%v ends %v, want by %v and after now %v", k, end, limit, now)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %v", k)
		}
	}
	for _, a := range activations {
		if !eligible[oracleKey{GrantEligible, a.Scope, a.PrincipalID, a.RoleID}] {
			t.Errorf("activation of %s on %s outlived the eligibility", a.PrincipalID, a.Scope)
		}
	}
	if held != len(activations)+countKind(got, GrantTimeBound) {
		t.Errorf("%d unmarked role assignments, want %d (activations) + %d (time-bound)", held, len(activations), countKind(got, GrantTimeBound))
	}
	for name, scope := range foreignAssignments {
		found := false
		for _, ra := range all {
			if strings.EqualFold(*ra.Name, name) && strings.EqualFold(*ra.Properties.Scope, scope) {
				found = true
			}
		}
		if !found {
			t.Errorf("foreign assignment %s on %s was touched", name, scope)
		}
	}
	sortF := func(fs []foreignSched) {
		sort.Slice(fs, func(i, j int) bool { return fmt.Sprint(fs[i]) < fmt.Sprint(fs[j]) })
	}
	sortF(foreignScheds)
	sortF(foreignSeen)
	if fmt.Sprint(foreignScheds) != fmt.Sprint(foreignSeen) {
		t.Errorf("foreign schedules touched:\n got %v\nwant %v", foreignSeen, foreignScheds)
	}
	// Every schedule adfscim made that ARM ended by itself is recorded as
	// expired exactly once, and nothing else is.
	for k, n := range armExpired {
		if recorded[k] != n {
			t.Errorf("schedule %s expired %d times in ARM, recorded %d times", k, n, recorded[k])
		}
	}
	for k, n := range recorded {
		if armExpired[k] == 0 {
			t.Errorf("schedule %s recorded expired %d times but did not expire in ARM", k, n)
		}
	}
	if len(armExpired) < 5 {
		t.Errorf("only %d schedules expired: the model exercised too little", len(armExpired))
	}
	for _, f := range []string{"429", "500", "lost"} {
		if faults.Count(f) == 0 {
			t.Errorf("fault %s never injected", f)
		}
	}
	kinds := map[GrantKind]int{}
	for k := range want {
		kinds[k.kind]++
	}
	if kinds[GrantStanding] < 10 || kinds[GrantTimeBound] < 5 || kinds[GrantEligible] < 10 || activated < 5 {
		t.Errorf("the model exercised too little: %v, %d activations", kinds, activated)
	}
	t.Logf("seed %d: %d events, %d users, expected %v, %d activations made (%d left), %d schedules expired, %d foreign assignments, %d foreign schedules, faults 429:%d 500:%d lost:%d, calls %+v",
		seed, events, len(users), kinds, activated, len(activations), len(armExpired), len(foreignAssignments), len(foreignScheds),
		faults.Count("429"), faults.Count("500"), faults.Count("lost"), arm.Calls())
}

func countKind(m map[oracleKey]time.Time, k GrantKind) int {
	n := 0
	for key := range m {
		if key.kind == k {
			n++
		}
	}
	return n
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
