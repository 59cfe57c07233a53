package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

// joinMany makes k active, resolvable members of Analysts (bound to two
// factories by testMapping) and enqueues them; it returns their ids.
func joinMany(t *testing.T, e *env, r *Reconciler, k int) []string {
	t.Helper()
	e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	var ids []string
	var refs []Ref
	for i := 0; i < k; i++ {
		id := fmt.Sprintf("u%04d", i)
		e.dir.putUser(User{ID: id, UserName: id + "@example.com", ExternalID: pid(i + 1), Active: true})
		e.dir.setMember("g1", id, true)
		ids = append(ids, id)
		refs = append(refs, UserRef(id))
	}
	if err := r.Enqueue(context.Background(), refs...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// A drain's ARM reads per pending person stay at most one per factory, and
// fall to one list per factory (its pages) beyond TargetedListMax people.
func TestDrainReadsDoNotGrowWithThePending(t *testing.T) {
	for _, tc := range []struct {
		people, wantPages int
	}{
		{1, 2},
		{10, 20}, // TargetedListMax: per factory and principal
		{11, 2},  // each empty factory listed once
		{200, 2},
	} {
		t.Run(fmt.Sprint(tc.people), func(t *testing.T) {
			e := newEnv(t, 1)
			r := e.reconciler(t, testMapping(t), "i1")
			joinMany(t, e, r, tc.people)
			before := e.arm.Calls()
			rep, err := r.Drain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			calls := e.arm.Calls()
			if pages := calls.ListPages - before.ListPages; pages != int64(tc.wantPages) {
				t.Errorf("%d people: %d list pages, want %d", tc.people, pages, tc.wantPages)
			}
			if rep.Created != 2*tc.people || rep.Failed != 0 || len(e.simAssignments(t)) != 2*tc.people {
				t.Errorf("%d people: created %d, failed %d, ARM holds %d; want %d created", tc.people, rep.Created, rep.Failed, len(e.simAssignments(t)), 2*tc.people)
			}
			if p, _ := r.Pending(context.Background()); len(p) != 0 {
				t.Errorf("pending after the drain: %v", p)
			}
		})
	}
}

// gatedARM holds every list after the first until a create has been seen
// (or guard passes, and then fails the list): a drain that waited for all
// its reads before writing fails.
type gatedARM struct {
	AssignmentAPI
	lists   atomic.Int32
	once    sync.Once
	written chan struct{}
	guard   time.Duration
}

func (g *gatedARM) List(ctx context.Context, scope, principal string) ([]Assignment, error) {
	if g.lists.Add(1) > 1 {
		t := time.NewTimer(g.guard)
		defer t.Stop()
		select {
		case <-g.written:
		case <-t.C: // a deadlock guard, not a measurement
			return nil, errors.New("no write came before the other reads")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.AssignmentAPI.List(ctx, scope, principal)
}

func (g *gatedARM) Create(ctx context.Context, a Assignment) error {
	err := g.AssignmentAPI.Create(ctx, a)
	g.once.Do(func() { close(g.written) })
	return err
}

// A drain writes as soon as the first part of its plan is known, rather
// than after listing for every pending person.
func TestDrainWritesBeforeAllReads(t *testing.T) {
	for _, people := range []int{5, 50} { // per principal, and per factory
		t.Run(fmt.Sprint(people), func(t *testing.T) {
			e := newEnv(t, 1)
			g := &gatedARM{AssignmentAPI: e.arm, written: make(chan struct{}), guard: 30 * time.Second}
			r, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: g, Store: e.store, Instance: "i1"})
			if err != nil {
				t.Fatal(err)
			}
			joinMany(t, e, r, people)
			rep, err := r.Drain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Created != 2*people || rep.Failed != 0 {
				t.Errorf("created %d, failed %d; want %d created", rep.Created, rep.Failed, 2*people)
			}
		})
	}
}

// failingARM fails the lists of one principal while fail is set.
type failingARM struct {
	AssignmentAPI
	principal string
	fail      atomic.Bool
}

var errListFailed = errors.New("list failed")

func (f *failingARM) List(ctx context.Context, scope, principal string) ([]Assignment, error) {
	if f.fail.Load() && principal == f.principal {
		return nil, errListFailed
	}
	return f.AssignmentAPI.List(ctx, scope, principal)
}

// A list that fails leaves its person pending (claimed until the claim
// expires) while the others' changes are applied and their items finished.
func TestDrainListFailureKeepsOnlyItsPerson(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := &failingARM{AssignmentAPI: e.arm, principal: pid(2)}
		f.fail.Store(true)
		var now atomic.Pointer[time.Time]
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now.Store(&t0)
		r, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: f, Store: e.store, Instance: "i1",
			Now: func() time.Time { return *now.Load() }})
		if err != nil {
			t.Fatal(err)
		}
		joinMany(t, e, r, 3)
		rep, err := r.Drain(ctx)
		if !errors.Is(err, errListFailed) {
			t.Fatalf("drain: %v, want the list failure", err)
		}
		if rep.Created != 4 || rep.Failed != 0 {
			t.Errorf("created %d, failed %d; want the 4 assignments of the others", rep.Created, rep.Failed)
		}
		if p, _ := r.Pending(ctx); !slices.Equal(p, []Ref{UserRef("u0001")}) {
			t.Errorf("pending = %v, want only u0001", p)
		}
		// The claim holds the item until it expires; then it is applied.
		if rep, err := r.Drain(ctx); err != nil || rep.Items != 0 {
			t.Errorf("drain while claimed: %d items, %v", rep.Items, err)
		}
		f.fail.Store(false)
		later := t0.Add(3 * time.Minute)
		now.Store(&later)
		if rep, err := r.Drain(ctx); err != nil || rep.Items != 1 {
			t.Errorf("drain after the claim expired: %d items, %v", rep.Items, err)
		}
		if n := len(e.simAssignments(t)); n != 6 {
			t.Errorf("ARM holds %d assignments, want 6", n)
		}
		if p, _ := r.Pending(ctx); len(p) != 0 {
			t.Errorf("pending at the end: %v", p)
		}
	})
}

// A burst settles the principal cache 100 users to a batch, not one batch
// per user, and the cache it leaves lets a later delete find the grants.
func TestDrainBatchesThePrincipalCache(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := enginetest.NewCounting(e.store)
		r, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: e.arm, Store: c, Instance: "i1"})
		if err != nil {
			t.Fatal(err)
		}
		const n = 250
		joinMany(t, e, r, n)
		c.Reset()
		rep, err := r.Drain(ctx)
		if err != nil || rep.Created != 2*n {
			t.Fatalf("drain: created %d, %v", rep.Created, err)
		}
		// 3 to claim, 3 for the principal cache, 3 to finish.
		if n := c.Reset().Writes(); n != 9 {
			t.Errorf("%d store batches, want 9", n)
		}
		e.dir.deleteUser("u0005")
		if err := r.Enqueue(ctx, UserRef("u0005")); err != nil {
			t.Fatal(err)
		}
		if rep, err := r.Drain(ctx); err != nil || rep.Deleted != 2 {
			t.Fatalf("drain after the delete: deleted %d, %v", rep.Deleted, err)
		}
		if n := len(e.simAssignments(t)); n != 2*249 {
			t.Errorf("ARM holds %d assignments, want %d", n, 2*249)
		}
		if p, err := r.CachedPrincipal(ctx, "u0005"); err != nil || p != "" {
			t.Errorf("cache of the deleted user: %q, %v; want it forgotten", p, err)
		}
	})
}

// A change ARM refuses keeps ARM's status in its result (for the trail),
// read from the client's rbac.APIError; the others are applied.
func TestFailedChangeKeepsARMStatus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	e.faults.FailPrincipal = pid(2) // every create for u0001 answers 500
	r := e.reconciler(t, testMapping(t), "i1")
	joinMany(t, e, r, 2)
	rep, err := r.Drain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 2 || rep.Failed != 2 {
		t.Fatalf("created %d, failed %d; want 2 and 2", rep.Created, rep.Failed)
	}
	for _, res := range rep.Results {
		want := 0
		if res.Assignment.PrincipalID == pid(2) {
			want = http.StatusInternalServerError
		}
		if res.Status != want || (res.Error != "") != (want != 0) {
			t.Errorf("%s %s: status %d, error %q; want status %d", res.Op, res.Assignment.PrincipalID, res.Status, res.Error, want)
		}
	}
}
