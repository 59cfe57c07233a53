package rbac_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/store"
)

// expiries collects what the reconcilers' runs report as expired.
type expiries struct {
	mu  sync.Mutex
	got []Assignment
}

func (e *expiries) applied(_ context.Context, rep Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, rep.Expired...)
}

func (e *expiries) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, a := range e.got {
		out = append(out, fmt.Sprintf("%s %s %s %s until %s for %s", a.Kind, a.Scope, a.PrincipalID, a.RoleID, a.EndsAt.Format(time.RFC3339), a.Subject))
	}
	return out
}

// TestScheduleExpiry: a time-bound assignment and an eligibility cut short
// by a person's end date end by themselves in ARM; two instances, draining
// and sweeping at once and again, record each expiry exactly once, with its
// kind, end and person. A schedule adfscim removed, one it renewed, and one
// someone else made are never recorded as expired.
func TestScheduleExpiry(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { testScheduleExpiry(t, eng.open(t)) })
	}
}

func testScheduleExpiry(t *testing.T, st store.Store) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	sim, arm := tlsSim(t, st, clk.Now, nil, 100)
	d := newDir()
	for i, g := range []string{"Analysts", "Engineers", "Ops", "Oncall"} {
		d.putGroup(Group{ID: fmt.Sprint("g", i), DisplayName: g})
	}
	end := clk.Now().Add(48 * time.Hour)
	mk := func(uid string, n int, endsAt time.Time, groups ...string) {
		u := User{ID: uid, UserName: uid, ExternalID: pid(n), Active: true}
		if !endsAt.IsZero() {
			u.Attributes = map[string]string{endsAttr: endsAt.Format(time.RFC3339)}
		}
		d.putUser(u)
		for _, g := range groups {
			d.setMember(g, uid, true)
		}
	}
	mk("u1", 1, end, "g1", "g3")                   // time-bound on b, eligible on c: both end with u1's date
	mk("u2", 2, time.Time{}, "g1")                 // time-bound for 30 days, renewed while u2 stays
	mk("u3", 3, clk.Now().Add(24*time.Hour), "g1") // leaves before the end: removed, not expired
	foreignEnd := clk.Now().Add(10 * time.Hour)    // someone else's schedule that ends
	if err := sim.PutSchedule(ctx, "timeBound", factoryB, pid(90001), RoleDefinitionID(factoryB, roleRdr), foreignEnd); err != nil {
		t.Fatal(err)
	}
	var exp expiries
	newR := func(instance string) *Reconciler {
		r, err := New(Options{Mapping: mustMapping(t, scheduleMapping), Directory: d, ARM: arm, Store: st, Now: clk.Now,
			EndsAttribute: endsAttr, Instance: instance, OnApplied: exp.applied})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1, r2 := newR("one"), newR("two")
	if rep, err := r1.Reconcile(ctx, nil); err != nil || rep.Failed > 0 || rep.Created != 4 {
		t.Fatalf("first run: %d created, %d failed, %v", rep.Created, rep.Failed, err)
	}

	// u3 leaves the group: the fast path removes the schedule (a removal).
	clk.add(5 * time.Hour)
	d.setMember("g1", "u3", false)
	if err := r2.Enqueue(ctx, UserRef("u3")); err != nil {
		t.Fatal(err)
	}
	if rep, err := r2.Drain(ctx); err != nil || rep.Deleted != 1 {
		t.Fatalf("drain of u3: %d deleted, %v", rep.Deleted, err)
	}

	// u1's date (and u3's former end, and the foreign schedule's) pass;
	// one instance drains u1 while the other sweeps, then both run again.
	clk.add(44 * time.Hour)
	if err := r2.Enqueue(ctx, UserRef("u1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); _, errs[0] = r1.Reconcile(ctx, nil) }()
	go func() { defer wg.Done(); _, errs[1] = r2.Drain(ctx) }()
	wg.Wait()
	for _, err := range errs {
		if err != nil && !strings.Contains(err.Error(), "lease") {
			t.Fatal(err)
		}
	}
	if err := r1.Enqueue(ctx, UserRef("u1")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Reconciler{r1, r2} {
		if _, err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Reconcile(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		fmt.Sprintf("timeBound %s %s %s until %s for u1", strings.ToLower(factoryB), pid(1), roleRdr, end.Format(time.RFC3339)),
		fmt.Sprintf("eligible %s %s %s until %s for u1", strings.ToLower(factoryC), pid(1), roleDFC, end.Format(time.RFC3339)),
	}
	if got := exp.list(); !sameSet(got, want) {
		t.Fatalf("expired:\n got %q\nwant %q", got, want)
	}

	// u2's schedule is renewed half-way, then its first end passes: a
	// renewal is not an expiry.
	clk.add(400 * time.Hour)
	if rep, err := r1.Reconcile(ctx, nil); err != nil || rep.Renewed != 1 {
		t.Fatalf("renewal run: %d renewed, %v", rep.Renewed, err)
	}
	clk.add(400 * time.Hour)
	for _, r := range []*Reconciler{r1, r2} {
		if _, err := r.Reconcile(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := exp.list(); len(got) != 2 {
		t.Errorf("after the renewal: %q, want only u1's two expiries", got)
	}
}

// TestScheduleExpiryClaimedOnce: two instances that read the ledger and
// ARM at the same moment both see one schedule gone past its end; only one
// of them may report it. A removal by adfscim made after an instance read
// the ledger is not taken for an expiry or for a schedule gone by someone
// else's hand.
func TestScheduleExpiryClaimedOnce(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			st := eng.open(t)
			clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
			_, arm := tlsSim(t, st, clk.Now, nil, 100)
			d := newDir()
			d.putGroup(Group{ID: "g1", DisplayName: "Engineers"})
			for n := 1; n <= 2; n++ {
				uid := fmt.Sprint("u", n)
				d.putUser(User{ID: uid, UserName: uid, ExternalID: pid(n), Active: true,
					Attributes: map[string]string{endsAttr: clk.Now().Add(time.Duration(n) * 24 * time.Hour).Format(time.RFC3339)}})
				d.setMember("g1", uid, true)
			}
			newR := func(instance string) *Reconciler {
				r, err := New(Options{Mapping: mustMapping(t, scheduleMapping), Directory: d, ARM: arm, Store: st, Now: clk.Now,
					EndsAttribute: endsAttr, Instance: instance})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			r1, r2 := newR("one"), newR("two")
			if rep, err := r1.Reconcile(ctx, nil); err != nil || rep.Created != 2 {
				t.Fatalf("first run: %d created, %v", rep.Created, err)
			}
			// u1's end passes; both instances read the ledger, then ARM.
			clk.add(25 * time.Hour)
			at := clk.Now()
			led1, err := r1.ReadLedger(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			led2, err := r2.ReadLedger(ctx, []string{pid(1), pid(2)})
			if err != nil {
				t.Fatal(err)
			}
			if len(led1) != 2 || len(led2) != 2 {
				t.Fatalf("ledgers of %d and %d rows, want 2 each", len(led1), len(led2))
			}
			// Meanwhile u2 leaves and the first instance removes its schedule.
			d.setMember("g1", "u2", false)
			if err := r1.Enqueue(ctx, UserRef("u2")); err != nil {
				t.Fatal(err)
			}
			if rep, err := r1.Drain(ctx); err != nil || rep.Deleted != 1 || len(rep.Expired) != 0 {
				t.Fatalf("drain of u2: %d deleted, %d expired, %v", rep.Deleted, len(rep.Expired), err)
			}
			listed, scheds, err := r2.ListScope(ctx, factoryB, "", true)
			if err != nil || !scheds {
				t.Fatalf("list: schedules read %v, %v", scheds, err)
			}
			e1 := r1.Observe(ctx, led1, listed, factoryB, nil, at, nil)
			e2 := r2.Observe(ctx, led2, listed, factoryB, map[string]bool{pid(1): true, pid(2): true}, at, nil)
			if len(e1) != 1 || len(e2) != 0 || e1[0].PrincipalID != pid(1) {
				t.Errorf("first instance reported %+v, second %+v; want u1's schedule once", e1, e2)
			}
			// u2's row says removed, whatever the stale reads thought.
			rows, err := st.List(ctx, DefaultTable, store.Query{PartitionKey: SchedulePartition, Prefix: LedgerPrefix(pid(2))})
			if err != nil || len(rows) != 1 {
				t.Fatalf("u2's ledger rows: %d, %v", len(rows), err)
			}
			var l LedgerRow
			if err := json.Unmarshal(rows[0].Data, &l); err != nil || l.State != SchedRemoved {
				t.Errorf("u2's row is %q (%v), want removed", l.State, err)
			}
			// An hour on, the full reconcile forgets the settled rows.
			clk.add(2 * time.Hour)
			if _, err := r2.Reconcile(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if rows, err := st.List(ctx, DefaultTable, store.Query{PartitionKey: SchedulePartition}); err != nil || len(rows) != 0 {
				t.Errorf("%d ledger rows left after the settled ones aged (%v)", len(rows), err)
			}
		})
	}
}

// TestScheduleExpiryAdoptsUnknownSchedules: a schedule adfscim made whose
// ledger row was never written (the create's answer was lost, or it
// predates the ledger) is adopted by the next list and its expiry recorded.
func TestScheduleExpiryAdoptsUnknownSchedules(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			st := eng.open(t)
			clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
			_, arm := tlsSim(t, st, clk.Now, nil, 100)
			d := newDir()
			d.putGroup(Group{ID: "g1", DisplayName: "Oncall"})
			d.putUser(User{ID: "u1", UserName: "u1", ExternalID: pid(1), Active: true,
				Attributes: map[string]string{endsAttr: clk.Now().Add(6 * time.Hour).Format(time.RFC3339)}})
			d.setMember("g1", "u1", true)
			var exp expiries
			r, err := New(Options{Mapping: mustMapping(t, scheduleMapping), Directory: d, ARM: arm, Store: st, Now: clk.Now,
				EndsAttribute: endsAttr, OnApplied: exp.applied})
			if err != nil {
				t.Fatal(err)
			}
			if rep, err := r.Reconcile(ctx, nil); err != nil || rep.Created != 1 {
				t.Fatalf("first run: %d created, %v", rep.Created, err)
			}
			rows, err := st.List(ctx, DefaultTable, store.Query{PartitionKey: SchedulePartition})
			if err != nil || len(rows) != 1 {
				t.Fatalf("%d ledger rows, want 1 (%v)", len(rows), err)
			}
			if _, err := st.Batch(ctx, DefaultTable, []store.Op{{Kind: store.Delete, Entity: store.Entity{PartitionKey: SchedulePartition, RowKey: rows[0].RowKey}}}); err != nil {
				t.Fatal(err)
			}
			// The fast path lists u1 and adopts the schedule.
			clk.add(time.Hour)
			if err := r.Enqueue(ctx, UserRef("u1")); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if rows, err := st.List(ctx, DefaultTable, store.Query{PartitionKey: SchedulePartition}); err != nil || len(rows) != 1 {
				t.Fatalf("%d ledger rows after the drain, want the adopted one (%v)", len(rows), err)
			}
			clk.add(6 * time.Hour)
			for i := 0; i < 2; i++ {
				if _, err := r.Reconcile(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := exp.list(); len(got) != 1 || !strings.HasPrefix(got[0], "eligible "+strings.ToLower(factoryC)+" "+pid(1)) || !strings.HasSuffix(got[0], " for u1") {
				t.Errorf("expired %q, want u1's eligibility once", got)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
