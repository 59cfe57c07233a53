package store

import (
	"context"
	"errors"
)

// Write is a batch of operations on one table, for a Follow to return.
type Write struct {
	Table string
	Ops   []Op
}

// Reader reads rows inside a commit: it sees what is committed plus what
// the same commit wrote before. It returns an error wrapping ErrNotFound for
// a missing row.
type Reader interface {
	Get(table, partitionKey, rowKey string) (Entity, error)
}

// A Follow computes, inside the commit of a batch and after the batch's
// checks have passed, further writes that must commit atomically with it:
// the audit record of a change, which chains onto the trail's head as it is
// at that moment, or the queue entry that tells the reconciler about it. It
// runs while the engine holds its write lock, so it must be quick and must
// not call the store. It may be called more than once (each time afresh) and
// must not keep state across calls that is not idempotent. Returning an
// error fails the batch too; returning no writes lets the batch commit alone.
type Follow func(r Reader) ([]Write, error)

// Follower is implemented by engines that can commit a batch and its
// follow-up writes, in other tables, as one atomic and durable step. The
// embedded engine can (one transaction, one fsync); Table Storage cannot (a
// batch spans one partition of one table), so callers type-assert and fall
// back to separate writes.
type Follower interface {
	// BatchFollow is Batch, with follow's writes applied in the same commit
	// when the batch's checks pass. Every op of follow's writes is checked
	// like a batch's; if one fails, or follow returns an error, nothing is
	// written and an error wrapping ErrFollow is returned. It does not wrap
	// the follow-up's own error or *BatchError, so that a caller cannot
	// mistake it for a failure of its own batch (a conflict to retry).
	// ops may be empty: the commit then holds only follow's writes, which
	// is how a writer computes its writes from the state it commits onto
	// without optimistic retries.
	BatchFollow(ctx context.Context, table string, ops []Op, follow Follow) ([]string, error)
}

// ErrFollow wraps a failure of a Follow or of one of its writes.
var ErrFollow = errors.New("store: follow-up writes failed")
