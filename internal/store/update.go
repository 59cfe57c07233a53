package store

import (
	"context"
	"errors"
	"fmt"
)

// MaxUpdateAttempts bounds the optimistic retries of Update.
const MaxUpdateAttempts = 16

// ErrTooMuchContention is returned by Update when the row kept changing under
// it for MaxUpdateAttempts attempts.
var ErrTooMuchContention = errors.New("store: too much contention")

// Update is the read-modify-write helper: it reads the row, calls fn with it
// (fn must not keep a reference), and replaces the row if-match, re-reading
// and calling fn again whenever another writer got there first. fn may return
// extra ops of the same partition to apply atomically with the update. A nil
// data result from fn deletes the row. When the row does not exist fn gets an
// Entity with empty ETag and the write becomes an Insert.
func Update(ctx context.Context, s Store, table, pk, rk string, fn func(old Entity) (data []byte, extra []Op, err error)) (Entity, error) {
	for attempt := 0; attempt < MaxUpdateAttempts; attempt++ {
		old, err := s.Get(ctx, table, pk, rk)
		exists := true
		if IsNotFound(err) {
			exists = false
			old = Entity{PartitionKey: pk, RowKey: rk}
		} else if err != nil {
			return Entity{}, err
		}
		data, extra, err := fn(old)
		if err != nil {
			return Entity{}, err
		}
		next := Entity{PartitionKey: pk, RowKey: rk, Data: data}
		var op Op
		switch {
		case data == nil && !exists:
			return Entity{}, fmt.Errorf("update %s/%s: %w", pk, rk, ErrNotFound)
		case data == nil:
			op = Op{Kind: Delete, Entity: next, IfMatch: old.ETag}
		case exists:
			op = Op{Kind: Replace, Entity: next, IfMatch: old.ETag}
		default:
			op = Op{Kind: Insert, Entity: next}
		}
		etags, err := s.Batch(ctx, table, append([]Op{op}, extra...))
		if err == nil {
			next.ETag = etags[0]
			return next, nil
		}
		var be *BatchError
		if errors.As(err, &be) && be.Index == 0 && (IsPrecondition(err) || IsExists(err) || IsNotFound(err)) {
			continue // someone else wrote the row: read again and re-apply
		}
		return Entity{}, err
	}
	return Entity{}, fmt.Errorf("update %s/%s: %w", pk, rk, ErrTooMuchContention)
}
