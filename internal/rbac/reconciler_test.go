package rbac_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	. "github.com/adfscim/adfscim/internal/rbac"
)

func testMapping(t testing.TB) *Mapping {
	return mustMapping(t, `{"factories":{"a":"`+factoryA+`","b":"`+factoryB+`"},"bindings":[
		{"group":"Analysts","role":"Data Factory Contributor","factories":["a","b"]},
		{"group":"Viewers","role":"Reader","factories":["a"],"mode":"group"}]}`)
}

func TestFastPathLifecycle(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := e.reconciler(t, testMapping(t), "i1")
		e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
		e.dir.putUser(User{ID: "u1", UserName: "ann@example.com", ExternalID: pid(1), Active: true})
		e.dir.putUser(User{ID: "u2", UserName: "bob@example.com", ExternalID: "00u-okta-2", Active: true}) // unresolvable

		owned := func() []string { return shorts(e.simAssignments(t)) }
		drain := func(refs ...Ref) Report {
			t.Helper()
			if err := r.Enqueue(ctx, refs...); err != nil {
				t.Fatal(err)
			}
			rep, err := r.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := r.Pending(ctx); len(p) != 0 {
				t.Fatalf("pending after drain: %v", p)
			}
			return rep
		}
		steps := []struct {
			name   string
			change func()
			refs   []Ref
			want   []string
		}{
			{"join", func() { e.dir.setMember("g1", "u1", true); e.dir.setMember("g1", "u2", true) }, []Ref{UserRef("u1"), UserRef("u2")},
				[]string{"adf-a/1/dfc", "adf-b/1/dfc"}},
			{"deactivate", func() { e.dir.putUser(User{ID: "u1", ExternalID: pid(1), Active: false}) }, []Ref{UserRef("u1")}, []string{}},
			{"reactivate", func() { e.dir.putUser(User{ID: "u1", ExternalID: pid(1), Active: true}) }, []Ref{UserRef("u1")},
				[]string{"adf-a/1/dfc", "adf-b/1/dfc"}},
			{"delete", func() { e.dir.deleteUser("u1") }, []Ref{UserRef("u1")}, []string{}},
		}
		for _, s := range steps {
			s.change()
			rep := drain(s.refs...)
			if got := owned(); !slices.Equal(got, s.want) {
				t.Fatalf("%s: ARM holds %v, want %v (report %+v)", s.name, got, s.want, rep)
			}
			if s.name == "join" && (len(rep.Plan.Unresolved) != 1 || rep.Plan.Unresolved[0].UserID != "u2") {
				t.Errorf("join: unresolved = %+v, want u2 reported", rep.Plan.Unresolved)
			}
		}
	})
}

func TestGroupItemsAndGroupMode(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := e.reconciler(t, testMapping(t), "i1")
		e.dir.putGroup(Group{ID: "g2", DisplayName: "Viewers", ExternalID: pid(800)})
		if err := r.Enqueue(ctx, GroupRef("g2")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		got := e.simAssignments(t)
		if len(got) != 1 || got[0].PrincipalType != PrincipalGroup || short(got[0]) != "adf-a/800/reader" {
			t.Fatalf("ARM holds %+v, want one Group assignment", got)
		}
		e.dir.putGroup(Group{ID: "g2", DisplayName: "Former viewers", ExternalID: pid(800)}) // rename out of the mapping
		if err := r.Enqueue(ctx, GroupRef("g2")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.simAssignments(t); len(got) != 0 {
			t.Fatalf("after rename ARM holds %+v", got)
		}
		// Renamed back, then deleted.
		e.dir.putGroup(Group{ID: "g2", DisplayName: "viewers", ExternalID: pid(800)})
		if err := r.Enqueue(ctx, GroupRef("g2")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.simAssignments(t); len(got) != 1 {
			t.Fatalf("after renaming back ARM holds %+v", got)
		}
		e.dir.deleteGroup("g2")
		if err := r.Enqueue(ctx, GroupRef("g2")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.simAssignments(t); len(got) != 0 {
			t.Fatalf("after delete ARM holds %+v", got)
		}
	})
}

func TestOneFailureDoesNotStopOthers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	e.faults.FailPrincipal = pid(2)
	r := e.reconciler(t, testMapping(t), "i1")
	e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	for i := 1; i <= 5; i++ {
		id := string(rune('0' + i))
		e.dir.putUser(User{ID: "u" + id, ExternalID: pid(i), Active: true})
		e.dir.setMember("g1", "u"+id, true)
	}
	rep, err := r.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 8 || rep.Failed != 2 {
		t.Errorf("created %d, failed %d; want 8 and 2", rep.Created, rep.Failed)
	}
	for _, res := range rep.Results {
		if (res.Error != "") != (res.Assignment.PrincipalID == pid(2)) {
			t.Errorf("result %+v", res)
		}
	}
	if got := len(e.simAssignments(t)); got != 8 {
		t.Errorf("ARM holds %d assignments, want 8", got)
	}
}

// countingARM counts the writes that reach the API, to show that two
// reconcilers never apply the same plan twice.
type countingARM struct {
	AssignmentAPI
	mu      sync.Mutex
	writes  map[string]int
	started chan struct{} // closed on the first write
	release chan struct{} // writes wait for it
	once    sync.Once
}

func (c *countingARM) Create(ctx context.Context, a Assignment) error {
	c.once.Do(func() { close(c.started) })
	<-c.release
	c.mu.Lock()
	c.writes["create "+a.Name]++
	c.mu.Unlock()
	return c.AssignmentAPI.Create(ctx, a)
}

func TestLeaseExclusivity(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
		for i := 1; i <= 20; i++ {
			uid := "u" + pid(i)
			e.dir.putUser(User{ID: uid, ExternalID: pid(i), Active: true})
			e.dir.setMember("g1", uid, true)
		}
		c := &countingARM{AssignmentAPI: e.arm, writes: map[string]int{}, started: make(chan struct{}), release: make(chan struct{})}
		m := testMapping(t)
		mk := func(name string) *Reconciler {
			r, err := New(Options{Mapping: m, Directory: e.dir, ARM: c, Store: e.store, Instance: name})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r1, r2 := mk("instance-1"), mk("instance-2")

		// r1 is mid-apply (its writes are held) when r2's timer fires.
		var rep1 Report
		var err1 error
		done := make(chan struct{})
		go func() { rep1, err1 = r1.Reconcile(ctx, nil); close(done) }()
		<-c.started
		_, err2 := r2.Reconcile(ctx, nil)
		if !errors.Is(err2, ErrLeaseHeld) {
			t.Fatalf("second reconcile while the first runs: err = %v, want ErrLeaseHeld", err2)
		}
		close(c.release)
		<-done
		if err1 != nil {
			t.Fatal(err1)
		}
		// Once the lease is released the other instance may run; it finds
		// nothing left to do.
		rep2, err := r2.Reconcile(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep1.Created != 40 || len(rep2.Plan.Creates) != 0 {
			t.Errorf("first created %d (want 40), second planned %d creates (want 0)", rep1.Created, len(rep2.Plan.Creates))
		}
		for k, n := range c.writes {
			if n != 1 {
				t.Errorf("%s applied %d times", k, n)
			}
		}
	})
}

func TestLeaseRacingInstances(t *testing.T) {
	// Many instances race for the lease at once: exactly one wins each
	// round, and every assignment is written once.
	ctx := context.Background()
	e := newEnv(t, 2)
	e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	for i := 1; i <= 10; i++ {
		uid := "u" + pid(i)
		e.dir.putUser(User{ID: uid, ExternalID: pid(i), Active: true})
		e.dir.setMember("g1", uid, true)
	}
	c := &countingARM{AssignmentAPI: e.arm, writes: map[string]int{}, started: make(chan struct{}), release: make(chan struct{})}
	close(c.release)
	m := testMapping(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := 0; i < 6; i++ {
		r, err := New(Options{Mapping: m, Directory: e.dir, ARM: c, Store: e.store, Instance: "racer-" + pid(i)})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Reconcile(ctx, nil)
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, ErrLeaseHeld) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won < 1 {
		t.Fatal("no instance reconciled")
	}
	if len(c.writes) != 20 {
		t.Errorf("%d distinct creates, want 20", len(c.writes))
	}
	for k, n := range c.writes {
		if n != 1 {
			t.Errorf("%s applied %d times", k, n)
		}
	}
}

func TestLeaseExpires(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	m := testMapping(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r1, _ := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "a", Now: clock})
	r2, _ := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "b", Now: clock})
	if err := r1.Lease().Acquire(ctx); err != nil { // a crashes holding it
		t.Fatal(err)
	}
	if err := r2.Lease().Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("lease taken while held: %v", err)
	}
	now = now.Add(r1.Opts().LeaseDuration + 1)
	if _, err := r2.Reconcile(ctx, nil); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
}

func TestDriftIsReportedNotDeleted(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := e.reconciler(t, testMapping(t), "i1")
		e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
		foreignName := "deadbeef-0000-4000-8000-000000000009"
		if err := e.sim.Put(ctx, factoryA, foreignName, armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(pid(9)), RoleDefinitionID: to.Ptr(RoleDefinitionID(factoryA, roleDFC)),
			Description: to.Ptr("break-glass, granted by hand")}); err != nil {
			t.Fatal(err)
		}
		p, err := r.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Drift) != 1 || p.Drift[0].Name != foreignName || len(p.Deletes) != 0 {
			t.Fatalf("plan = %+v, want the foreign assignment as drift only", p)
		}
		if _, err := r.Reconcile(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if got := e.simAssignments(t); len(got) != 1 || got[0].Name != foreignName {
			t.Fatalf("ARM holds %+v, want the foreign assignment untouched", got)
		}
	})
}

func TestLeaseRenewal(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	m := testMapping(t)
	a, _ := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "a", Now: clock})
	b, _ := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "b", Now: clock})
	la := a.Lease()
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// a renews before expiry, again and again: b never gets in.
	for i := 0; i < 3; i++ {
		now = now.Add(a.Opts().LeaseDuration * 2 / 3)
		if err := la.Renew(ctx); err != nil {
			t.Fatalf("renewal %d: %v", i, err)
		}
		if err := b.Lease().Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
			t.Fatalf("b took a renewed lease: %v", err)
		}
	}
	// a stalls past expiry; b takes over, and a's renewal then fails.
	now = now.Add(a.Opts().LeaseDuration + time.Second)
	if err := b.Lease().Acquire(ctx); err != nil {
		t.Fatalf("b could not take an expired lease: %v", err)
	}
	if err := la.Renew(ctx); err == nil {
		t.Fatal("a renewed a lease b holds")
	}
}

// TestLeaseKeep: the work beside which the lease is kept stops, with
// ErrLeaseHeld as the cause, once a renewal finds the lease taken; done
// releases a lease still held, so the next holder need not wait it out.
func TestLeaseKeep(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := testMapping(t)
	// A short lease, so that renewals come often; expiry follows the clock.
	a, _ := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "a", Now: clock, LeaseDuration: 30 * time.Millisecond})
	b, _ := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "b", Now: clock, LeaseDuration: time.Hour})

	la := a.Lease()
	if err := la.Release(ctx); err != nil { // never acquired: nothing to give up
		t.Fatal(err)
	}
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Lease().Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Lease().Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("a lease b never held, released by b: %v", err)
	}
	work, done := la.Keep(ctx)
	if err := done(); err != nil {
		t.Fatal(err)
	}
	if work.Err() == nil {
		t.Error("the work's context outlives done")
	}
	if err := b.Lease().Acquire(ctx); err != nil {
		t.Fatalf("lease not released by done: %v", err)
	}

	// b holds it for an hour; a takes it after the clock passes that, then
	// stalls past its own hold while b takes it back (before a's first
	// renewal, so that the order is certain): a's renewal must stop a's work.
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute) // a's hold (30ms) has expired
	mu.Unlock()
	if err := b.Lease().Acquire(ctx); err != nil {
		t.Fatalf("b could not take the expired lease: %v", err)
	}
	work, done = la.Keep(ctx)
	<-work.Done()
	if cause := context.Cause(work); !errors.Is(cause, ErrLeaseHeld) {
		t.Errorf("work stopped with %v, want ErrLeaseHeld", cause)
	}
	if err := done(); err != nil {
		t.Fatal(err)
	}
	if err := a.Lease().Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Errorf("a's done released b's lease: %v", err)
	}
}
