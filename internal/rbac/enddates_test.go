package rbac_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

// TestEndDates: a person's end date caps their schedules; once it has come,
// the fast path removes everything when the value it reads is already past,
// and the timer's sweep removes what remains within one cycle when the date
// simply arrives; a running activation goes with the eligibility.
func TestEndDates(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	sim, arm := tlsSim(t, st, clk.Now, nil, 100)
	d := newDir()
	for i, g := range []string{"Analysts", "Engineers", "Ops"} {
		d.putGroup(Group{ID: []string{"g1", "g2", "g3"}[i], DisplayName: g})
	}
	end := clk.Now().Add(48 * time.Hour)
	mk := func(uid string, n int, endsAt string) {
		d.putUser(User{ID: uid, UserName: uid, ExternalID: pid(n), Active: true, Attributes: map[string]string{endsAttr: endsAt}})
		for _, g := range []string{"g1", "g2", "g3"} {
			d.setMember(g, uid, true)
		}
	}
	mk("u1", 1, end.Format(time.RFC3339))
	mk("u2", 2, "")
	r, err := New(Options{Mapping: mustMapping(t, scheduleMapping), Directory: d, ARM: arm, Store: st, Now: clk.Now, EndsAttribute: endsAttr})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Reconcile(ctx, nil); err != nil || rep.Failed > 0 || rep.Created != 10 {
		t.Fatalf("first run: %d created, %d failed, %v", rep.Created, rep.Failed, err)
	}
	holds := func(principal string) (standing, scheds int, ends []time.Time) {
		t.Helper()
		all, err := sim.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ra := range all {
			if *ra.Properties.PrincipalID == principal && deref(ra.Properties.Description) != "" {
				standing++
			}
		}
		ss, err := sim.Schedules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if s.PrincipalID == principal {
				scheds++
				ends = append(ends, s.End)
			}
		}
		return
	}
	// u1's schedules end at the end date, not later.
	if _, n, ends := holds(pid(1)); n != 3 {
		t.Fatalf("u1 holds %d schedules, want 3", n)
	} else {
		for _, e := range ends {
			if !e.Equal(end) {
				t.Errorf("u1's schedule ends %v, want the end date %v", e, end)
			}
		}
	}
	// u2 activates the Ops eligibility on factory a.
	if err := sim.Activate(ctx, factoryA, pid(2), RoleDefinitionID(factoryA, roleOps), 4*time.Hour); err != nil {
		t.Fatal(err)
	}
	// The date arrives for u1: the sweep removes the standing assignments
	// (ARM ended the schedules itself).
	clk.add(49 * time.Hour)
	if _, err := r.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if s, n, _ := holds(pid(1)); s != 0 || n != 0 {
		t.Errorf("after the end date u1 still holds %d assignments and %d schedules", s, n)
	}
	// u2's end date arrives already past through SCIM: the fast path alone
	// removes everything, the activation first.
	u, _ := d.User(ctx, "u2")
	u.Attributes = map[string]string{endsAttr: clk.Now().Add(-time.Minute).Format(time.RFC3339)}
	d.putUser(u)
	if err := r.Enqueue(ctx, UserRef("u2")); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Drain(ctx); err != nil || rep.Failed > 0 {
		t.Fatalf("drain: %v, %d failed", err, rep.Failed)
	}
	if s, n, _ := holds(pid(2)); s != 0 || n != 0 {
		t.Errorf("the fast path left u2 with %d assignments and %d schedules (activation included)", s, n)
	}
}

// TestSweepRemovesSchedulesOfAnEarlierMapping: after the bindings change
// from eligible and time-bound to standing only, the timer's sweep takes the
// earlier schedules on the mapped factories away (the fast path no longer
// reads schedules then).
func TestSweepRemovesSchedulesOfAnEarlierMapping(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	sim, arm := tlsSim(t, st, clk.Now, nil, 100)
	d := newDir()
	for i, g := range []string{"Analysts", "Engineers", "Ops", "Oncall"} {
		d.putGroup(Group{ID: fmt.Sprint("g", i), DisplayName: g})
	}
	d.putUser(User{ID: "u1", UserName: "u1", ExternalID: pid(1), Active: true})
	for i := 0; i < 4; i++ {
		d.setMember(fmt.Sprint("g", i), "u1", true)
	}
	r, err := New(Options{Mapping: mustMapping(t, scheduleMapping), Directory: d, ARM: arm, Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ss, _ := sim.Schedules(ctx); len(ss) != 4 {
		t.Fatalf("%d schedules, want 4", len(ss))
	}
	standing := `{"factories":{"a":"` + factoryA + `","b":"` + factoryB + `","c":"` + factoryC + `"},"bindings":[
		{"group":"Analysts","role":"Data Factory Contributor","factories":["a","b","c"]}]}`
	r, err = New(Options{Mapping: mustMapping(t, standing), Directory: d, ARM: arm, Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Reconcile(ctx, nil)
	if err != nil || rep.Failed > 0 {
		t.Fatalf("reconcile: %v, %d failed", err, rep.Failed)
	}
	if ss, _ := sim.Schedules(ctx); len(ss) != 0 {
		t.Errorf("the sweep left %d schedules of the earlier mapping: %+v", len(ss), ss)
	}
}

// grantDir is the test directory with its direct grants' holders listed,
// as the SCIM directory lists them.
type grantDir struct{ *dir }

func (g grantDir) GrantHolders(ctx context.Context, fn func(User) error) error {
	g.mu.Lock()
	var holders []User
	for _, u := range g.users {
		if len(u.Grants) > 0 {
			holders = append(holders, u)
		}
	}
	g.mu.Unlock()
	for _, u := range holders {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

// TestDirectGrantEndsWithEndDate: a role an identity provider grants a
// person directly (an entitlement or app role, no group) is a standing
// assignment that stays until the person's end date and goes within the
// first sweep after it, the removal told to OnApplied (the trail's
// rbac.unassign); a person without an end date keeps theirs.
func TestDirectGrantEndsWithEndDate(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			st := eng.open(t)
			clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
			sim, arm := tlsSim(t, st, clk.Now, nil, 100)
			m := mustMapping(t, `{"factories":{"a":"`+factoryA+`"},"bindings":[],
				"grants":[{"factories":["a"],"roles":["Reader"]}]}`)
			grant := m.Grants[0].ID
			d := grantDir{newDir()}
			end := clk.Now().Add(48 * time.Hour)
			d.putUser(User{ID: "u1", UserName: "u1", ExternalID: pid(1), Active: true, Grants: []string{grant},
				Attributes: map[string]string{endsAttr: end.Format(time.RFC3339)}})
			d.putUser(User{ID: "u2", UserName: "u2", ExternalID: pid(2), Active: true, Grants: []string{grant}})
			var mu sync.Mutex
			var removed []Result
			r, err := New(Options{Mapping: m, Directory: d, ARM: arm, Store: st, Now: clk.Now, EndsAttribute: endsAttr,
				OnApplied: func(_ context.Context, rep Report) {
					mu.Lock()
					defer mu.Unlock()
					for _, res := range rep.Results {
						if res.Op == OpDelete {
							removed = append(removed, res)
						}
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			holders := func() []string {
				t.Helper()
				all, err := sim.All(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var ps []string
				for _, ra := range all {
					if strings.Contains(deref(ra.Properties.Description), Marker) && RoleGUID(*ra.Properties.RoleDefinitionID) == roleRdr {
						ps = append(ps, *ra.Properties.PrincipalID)
					}
				}
				sort.Strings(ps)
				return ps
			}
			if rep, err := r.Reconcile(ctx, nil); err != nil || rep.Created != 2 {
				t.Fatalf("first run: %d created, %v", rep.Created, err)
			}
			// A minute before the date, u1 keeps the role.
			clk.add(48*time.Hour - time.Minute)
			if rep, err := r.Reconcile(ctx, nil); err != nil || !rep.Plan.Empty() {
				t.Fatalf("sweep before the date: %v, plan %+v", err, rep.Plan)
			}
			if got := holders(); !reflect.DeepEqual(got, []string{pid(1), pid(2)}) {
				t.Fatalf("before the date Reader is held by %v", got)
			}
			// The date passes: one sweep takes u1's role away, and only it.
			clk.add(2 * time.Minute)
			rep, err := r.Reconcile(ctx, nil)
			if err != nil || rep.Deleted != 1 || rep.Failed != 0 {
				t.Fatalf("sweep after the date: %d deleted, %d failed, %v", rep.Deleted, rep.Failed, err)
			}
			if got := holders(); !reflect.DeepEqual(got, []string{pid(2)}) {
				t.Errorf("after the date Reader is held by %v, want u2 only", got)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(removed) != 1 || removed[0].Error != "" || removed[0].Assignment.PrincipalID != pid(1) ||
				removed[0].Assignment.Scope != strings.ToLower(factoryA) || removed[0].Assignment.Kind != GrantStanding {
				t.Errorf("removals told to OnApplied: %+v, want u1's standing Reader on a", removed)
			}
		})
	}
}
