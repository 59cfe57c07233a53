package rbac_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

// queueOf returns a reconciler (instance "i1") whose store counts batches,
// with n user items u000, u001, ... pending, and the counter at zero.
func queueOf(t *testing.T, e *env, n int) (*Reconciler, *enginetest.Counting) {
	t.Helper()
	c := enginetest.NewCounting(e.store)
	r, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: e.arm, Store: c, Instance: "i1"})
	if err != nil {
		t.Fatal(err)
	}
	refs := make([]Ref, n)
	for i := range refs {
		refs[i] = UserRef(fmt.Sprintf("u%03d", i))
	}
	if err := r.Enqueue(context.Background(), refs...); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	return r, c
}

// pendingIDs lists the ids of what is pending, in order.
func pendingIDs(t *testing.T, r *Reconciler) []string {
	t.Helper()
	refs, err := r.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, ref := range refs {
		ids = append(ids, ref.ID)
	}
	return ids
}

// takeItem claims user id's pending item for instance "i2", as another
// instance would, straight on st.
func takeItem(t *testing.T, st store.Store, id string) {
	t.Helper()
	ctx := context.Background()
	e, err := st.Get(ctx, DefaultTable, PendingPartition, PendingRowKey(UserRef(id)))
	if err != nil {
		t.Fatal(err)
	}
	var p PendingRow
	if err := json.Unmarshal(e.Data, &p); err != nil {
		t.Fatal(err)
	}
	p.Claim, p.ClaimUntil = "i2", time.Now().Add(time.Hour)
	data, _ := json.Marshal(p)
	if _, err := st.Batch(ctx, DefaultTable, []store.Op{{Kind: store.Replace, IfMatch: e.ETag,
		Entity: store.Entity{PartitionKey: PendingPartition, RowKey: e.RowKey, Data: data}}}); err != nil {
		t.Fatal(err)
	}
}

// dropItem deletes user id's pending item straight on st, as another
// instance finishing it would.
func dropItem(t *testing.T, st store.Store, id string) {
	t.Helper()
	if _, err := st.Batch(context.Background(), DefaultTable, []store.Op{{Kind: store.Delete,
		Entity: store.Entity{PartitionKey: PendingPartition, RowKey: PendingRowKey(UserRef(id))}}}); err != nil {
		t.Fatal(err)
	}
}

// without returns ids u000..u(n-1) less skip.
func without(n int, skip string) []string {
	var ids []string
	for i := range n {
		if id := fmt.Sprintf("u%03d", i); id != skip {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestClaimBatches: claim takes the queue a hundred items to a batch; when
// another instance took an item or finished it between the list and the
// batch, that batch fails as a whole and is redone item by item, so the
// other items are still claimed and the moved one is not.
func TestClaimBatches(t *testing.T) {
	const n = 250
	cases := []struct {
		name   string
		move   func(t *testing.T, st store.Store) // between list and batch; nil for none
		want   []string                           // ids claimed
		stored []string                           // ids pending afterwards
		// batches: one per hundred items, plus one per item of the hundred
		// holding the moved item (which fails as a whole first).
		batches int
	}{
		{"uncontended", nil, without(n, ""), without(n, ""), 3},
		{"taken by another instance", func(t *testing.T, st store.Store) { takeItem(t, st, "u150") },
			without(n, "u150"), without(n, ""), 3 + 100},
		{"finished by another instance", func(t *testing.T, st store.Store) { dropItem(t, st, "u150") },
			without(n, "u150"), without(n, "u150"), 3 + 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onEngines(t, 1, func(t *testing.T, e *env) {
				ctx := context.Background()
				r, c := queueOf(t, e, n)
				if tc.move != nil {
					c.Before(func() { tc.move(t, e.store) })
				}
				items, err := r.Claim(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, it := range items {
					got = append(got, it.Ref.ID)
					// The etag is this item's: the row's current one, claimed by i1.
					row, err := e.store.Get(ctx, DefaultTable, PendingPartition, PendingRowKey(it.Ref))
					if err != nil {
						t.Fatal(err)
					}
					var p PendingRow
					if err := json.Unmarshal(row.Data, &p); err != nil {
						t.Fatal(err)
					}
					if row.ETag != it.ETag || p.Claim != "i1" {
						t.Errorf("%s: claimed with etag %s by %q; the row has etag %s", it.Ref.ID, it.ETag, p.Claim, row.ETag)
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("claimed %d items %v, want %d %v", len(got), got, len(tc.want), tc.want)
				}
				if n := c.Reset().Writes(); n != tc.batches {
					t.Errorf("%d batches, want %d", n, tc.batches)
				}
				if got := pendingIDs(t, r); !slices.Equal(got, tc.stored) {
					t.Errorf("pending %v, want %v", got, tc.stored)
				}
				// Every item is held now: a second claim, by this instance
				// or another, takes none.
				r2, err := New(Options{Mapping: testMapping(t), Directory: e.dir, ARM: e.arm, Store: e.store, Instance: "i2"})
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range []*Reconciler{r, r2} {
					if again, err := q.Claim(ctx, 0); err != nil || len(again) != 0 {
						t.Errorf("%s claimed %d items again (err %v)", q.Instance(), len(again), err)
					}
				}
			})
		})
	}
}

// TestFinishBatches: finish deletes the applied items a hundred to a batch,
// but not an item re-enqueued after the claim (it has changed since, and
// must be applied again), and it does not mind an item already gone.
func TestFinishBatches(t *testing.T) {
	const n = 250
	cases := []struct {
		name string
		// move runs between the claim and finish; nil for nothing.
		move    func(t *testing.T, e *env, r *Reconciler)
		stored  []string // ids pending afterwards
		batches int      // as in TestClaimBatches
	}{
		{"all applied", nil, []string{}, 3},
		{"re-enqueued after the claim", func(t *testing.T, e *env, r *Reconciler) {
			if err := r.Enqueue(context.Background(), UserRef("u150")); err != nil {
				t.Fatal(err)
			}
		}, []string{"u150"}, 3 + 100},
		{"finished by another instance", func(t *testing.T, e *env, r *Reconciler) { dropItem(t, e.store, "u150") },
			[]string{}, 3 + 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onEngines(t, 1, func(t *testing.T, e *env) {
				ctx := context.Background()
				r, c := queueOf(t, e, n)
				items, err := r.Claim(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) != n {
					t.Fatalf("claimed %d items, want %d", len(items), n)
				}
				if tc.move != nil {
					tc.move(t, e, r)
				}
				c.Reset()
				if err := r.Finish(ctx, items); err != nil {
					t.Fatal(err)
				}
				if n := c.Reset().Writes(); n != tc.batches {
					t.Errorf("%d batches, want %d", n, tc.batches)
				}
				if got := pendingIDs(t, r); !slices.Equal(got, tc.stored) {
					t.Errorf("pending %v, want %v", got, tc.stored)
				}
			})
		})
	}
}
