package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Store layout (table Options.Table, default "rbac"):
//
//	PartitionKey "pending",   RowKey "user:"+EncodeKey(id) | "group:"+EncodeKey(id)  a pending item
//	PartitionKey "principal", RowKey EncodeKey(userID)                               last resolved object id
//	PartitionKey "lease",     RowKey "reconcile"                                     the full-reconcile lease
//	PartitionKey "schedule",  RowKey EncodeKey(principal)+"|"+schedule id             a PIM schedule adfscim made
//
// The queue is here; the principal cache is in principals.go, the lease in
// lease.go, the schedule ledger in expiry.go.
const (
	DefaultTable     = "rbac"
	PendingPartition = "pending"
)

// RefKind says what a pending item names.
type RefKind string

// Kinds of pending items.
const (
	RefUser  RefKind = "user"
	RefGroup RefKind = "group"
)

// Ref names a SCIM user or group whose access may have changed.
type Ref struct {
	Kind RefKind `json:"kind"`
	ID   string  `json:"id"`
}

// UserRef and GroupRef are shorthands.
func UserRef(id string) Ref  { return Ref{Kind: RefUser, ID: id} }
func GroupRef(id string) Ref { return Ref{Kind: RefGroup, ID: id} }

type pendingRow struct {
	Kind       RefKind   `json:"kind"`
	ID         string    `json:"id"`
	Enqueued   time.Time `json:"enqueued"`
	Claim      string    `json:"claim,omitempty"`
	ClaimUntil time.Time `json:"claimUntil,omitzero"`
}

// PendingRowKey is the RowKey of ref's pending item (partition
// PendingPartition).
func PendingRowKey(ref Ref) string { return string(ref.Kind) + ":" + store.EncodeKey(ref.ID) }

// PendingOp is the store operation that records ref as pending, for a caller
// that wants it in the same atomic batch as its own write (same table and
// partition only: Options.Table and PendingPartition). It is an Upsert, so
// enqueueing twice is one item, and a re-enqueue resets any claim.
func PendingOp(ref Ref, now time.Time) store.Op {
	data, _ := json.Marshal(pendingRow{Kind: ref.Kind, ID: ref.ID, Enqueued: now.UTC()})
	return store.Op{Kind: store.Upsert, Entity: store.Entity{PartitionKey: PendingPartition, RowKey: PendingRowKey(ref), Data: data}}
}

// PendingWrites returns the writes that record refs as pending: one upsert
// per distinct ref, at most store.MaxBatchOps per Write. Enqueue applies them;
// a caller that commits them with its own change (store.Follower) calls
// Notify once they committed, to wake the worker.
func (r *Reconciler) PendingWrites(refs ...Ref) ([]store.Write, error) {
	var ops []store.Op
	seen := make(map[string]bool, len(refs))
	for _, ref := range refs {
		if ref.ID == "" || (ref.Kind != RefUser && ref.Kind != RefGroup) {
			return nil, fmt.Errorf("rbac: bad pending ref %+v", ref)
		}
		op := PendingOp(ref, r.now())
		if seen[op.Entity.RowKey] {
			continue
		}
		seen[op.Entity.RowKey] = true
		ops = append(ops, op)
	}
	var out []store.Write
	for chunk := range slices.Chunk(ops, store.MaxBatchOps) {
		out = append(out, store.Write{Table: r.table, Ops: chunk})
	}
	return out, nil
}

// Enqueue records refs as pending (durably) and wakes the worker.
func (r *Reconciler) Enqueue(ctx context.Context, refs ...Ref) error {
	writes, err := r.PendingWrites(refs...)
	if err != nil {
		return err
	}
	for _, w := range writes {
		if _, err := r.opts.Store.Batch(ctx, w.Table, w.Ops); err != nil {
			return fmt.Errorf("rbac: enqueue: %w", err)
		}
	}
	r.Notify()
	return nil
}

// claimed is a pending item this instance holds.
type claimed struct {
	ref  Ref
	etag string
}

// claim takes, among the first limit pending items (0: all), those that are
// unclaimed or whose claim expired, by conditional replaces: two instances
// never hold the same item.
// The replaces go store.MaxBatchOps to a batch (see applyPending), so a busy
// queue costs one storage transaction per hundred items, not one per item.
func (r *Reconciler) claim(ctx context.Context, limit int) ([]claimed, error) {
	rows, err := r.opts.Store.List(ctx, r.table, store.Query{PartitionKey: PendingPartition, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("rbac: list pending: %w", err)
	}
	now := r.now()
	var ops []store.Op
	refs := map[string]Ref{} // by RowKey
	for _, e := range rows {
		var p pendingRow
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return nil, fmt.Errorf("rbac: pending row %s: %w", e.RowKey, err)
		}
		if p.Claim != "" && now.Before(p.ClaimUntil) {
			continue
		}
		p.Claim, p.ClaimUntil = r.instance, now.Add(r.opts.ClaimDuration)
		data, _ := json.Marshal(p)
		ops = append(ops, store.Op{Kind: store.Replace, IfMatch: e.ETag,
			Entity: store.Entity{PartitionKey: PendingPartition, RowKey: e.RowKey, Data: data}})
		refs[e.RowKey] = Ref{Kind: p.Kind, ID: p.ID}
	}
	var out []claimed
	for batch := range slices.Chunk(ops, store.MaxBatchOps) {
		err := r.applyPending(ctx, batch, func(op store.Op, etag string) {
			out = append(out, claimed{ref: refs[op.Entity.RowKey], etag: etag})
		})
		if err != nil {
			return out, fmt.Errorf("rbac: claim: %w", err)
		}
	}
	return out, nil
}

// finish deletes items that were applied, store.MaxBatchOps to a batch. The
// deletes are conditional: an item re-enqueued meanwhile has a new ETag and
// stays for the next round.
func (r *Reconciler) finish(ctx context.Context, items []claimed) error {
	ops := make([]store.Op, len(items))
	for i, it := range items {
		ops[i] = store.Op{Kind: store.Delete, IfMatch: it.etag,
			Entity: store.Entity{PartitionKey: PendingPartition, RowKey: PendingRowKey(it.ref)}}
	}
	var errs []error
	for batch := range slices.Chunk(ops, store.MaxBatchOps) {
		if err := r.applyPending(ctx, batch, func(store.Op, string) {}); err != nil {
			errs = append(errs, fmt.Errorf("rbac: finish: %w", err))
		}
	}
	return errors.Join(errs...)
}

// applyPending applies ops, at most store.MaxBatchOps conditional writes to
// rows of the pending partition, as one batch, and calls done with each op
// that took effect and its new ETag. An op whose row changed or is gone
// (another instance claimed it, it was re-enqueued, it was finished) is
// skipped: a batch is atomic, so such an op fails the whole batch, which is
// then applied op by op to keep the others. It returns any other error.
func (r *Reconciler) applyPending(ctx context.Context, ops []store.Op, done func(op store.Op, etag string)) error {
	etags, err := r.opts.Store.Batch(ctx, r.table, ops)
	switch {
	case err == nil:
		for i, op := range ops {
			done(op, etags[i])
		}
		return nil
	case !store.IsPrecondition(err) && !store.IsNotFound(err):
		return err
	case len(ops) == 1:
		return nil // the one op's row moved on: skip it
	}
	for _, op := range ops {
		if err := r.applyPending(ctx, []store.Op{op}, done); err != nil {
			return err
		}
	}
	return nil
}

// Pending returns the pending items (for the ops endpoints and tests).
func (r *Reconciler) Pending(ctx context.Context) ([]Ref, error) {
	rows, err := r.opts.Store.List(ctx, r.table, store.Query{PartitionKey: PendingPartition})
	if err != nil {
		return nil, fmt.Errorf("rbac: list pending: %w", err)
	}
	out := make([]Ref, 0, len(rows))
	for _, e := range rows {
		var p pendingRow
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return nil, fmt.Errorf("rbac: pending row %s: %w", e.RowKey, err)
		}
		out = append(out, Ref{Kind: p.Kind, ID: p.ID})
	}
	return out, nil
}
