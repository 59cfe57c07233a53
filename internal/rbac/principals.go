package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/adfscim/adfscim/internal/store"
)

// principalPartition holds the principal cache: RowKey EncodeKey(userID).
const principalPartition = "principal"

// principal cache: the last object id resolved for a user, so that the
// assignments of a deleted user can be found on the fast path.
type principalRow struct {
	PrincipalID string `json:"principalId"`
}

func (r *Reconciler) cachedPrincipal(ctx context.Context, userID string) (string, error) {
	e, err := r.opts.Store.Get(ctx, r.table, principalPartition, store.EncodeKey(userID))
	if store.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("rbac: principal cache: %w", err)
	}
	var p principalRow
	if err := json.Unmarshal(e.Data, &p); err != nil {
		return "", fmt.Errorf("rbac: principal cache %s: %w", userID, err)
	}
	return p.PrincipalID, nil
}

// principalOp is the store operation that caches principal as userID's
// (deletes the row when principal is "").
func principalOp(userID, principal string) store.Op {
	rk := store.EncodeKey(userID)
	if principal == "" {
		return store.Op{Kind: store.Delete, Entity: store.Entity{PartitionKey: principalPartition, RowKey: rk}}
	}
	data, _ := json.Marshal(principalRow{PrincipalID: strings.ToLower(principal)})
	return store.Op{Kind: store.Upsert, Entity: store.Entity{PartitionKey: principalPartition, RowKey: rk, Data: data}}
}

func (r *Reconciler) cachePrincipal(ctx context.Context, userID, principal string) error {
	_, err := r.opts.Store.Batch(ctx, r.table, []store.Op{principalOp(userID, principal)})
	if store.IsNotFound(err) {
		return nil
	}
	return err
}
