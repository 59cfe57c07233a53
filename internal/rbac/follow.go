package rbac

import (
	"fmt"

	"github.com/adfscim/adfscim/internal/store"
)

// PendingWrites returns the writes that record refs as pending, for a caller
// that commits them with its own change (store.Follower) instead of calling
// Enqueue; once they committed, it calls Notify to wake the worker. The
// writes are the upserts Enqueue makes, at most store.MaxBatchOps per Write.
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
	for len(ops) > 0 {
		n := min(len(ops), store.MaxBatchOps)
		out = append(out, store.Write{Table: r.table, Ops: ops[:n:n]})
		ops = ops[n:]
	}
	return out, nil
}
