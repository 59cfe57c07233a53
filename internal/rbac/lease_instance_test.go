package rbac_test

import (
	"context"
	"errors"
	"testing"

	. "github.com/adfscim/adfscim/internal/rbac"
)

// TestLeaseExcludesTheSameInstance: one process may start two reconciles at
// once (the timer, POST /ops/v1/reconcile, a past-due timer retried by the
// host); the lease must keep the second out even though the holder's name
// is its own, or the same plan is applied twice.
func TestLeaseExcludesTheSameInstance(t *testing.T) {
	onEngines(t, 1, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.dir.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
		for i := 1; i <= 10; i++ {
			uid := "u" + pid(i)
			e.dir.putUser(User{ID: uid, ExternalID: pid(i), Active: true})
			e.dir.setMember("g1", uid, true)
		}
		c := &countingARM{AssignmentAPI: e.arm, writes: map[string]int{}, started: make(chan struct{}), release: make(chan struct{})}
		r, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: c, Store: e.store, Instance: "one-process"})
		if err != nil {
			t.Fatal(err)
		}
		var rep1 Report
		var err1 error
		done := make(chan struct{})
		go func() { rep1, err1 = r.Reconcile(ctx, nil); close(done) }()
		<-c.started
		// (The lease itself, not a second Reconcile: that would wait for
		// the held writes if it wrongly got in.)
		if err := r.Lease().Acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("the lease taken again by the same instance while its reconcile runs: err = %v, want ErrLeaseHeld", err)
		}
		close(c.release)
		<-done
		if err1 != nil {
			t.Fatal(err1)
		}
		if rep1.Created != 20 {
			t.Errorf("created %d, want 20", rep1.Created)
		}
		for k, n := range c.writes {
			if n != 1 {
				t.Errorf("%s applied %d times", k, n)
			}
		}
		// Released, the lease can be taken again by the same instance.
		if rep, err := r.Reconcile(ctx, nil); err != nil || len(rep.Plan.Creates) != 0 {
			t.Errorf("the next reconcile: %v, %d creates", err, len(rep.Plan.Creates))
		}
	})
}
