package store

import (
	"context"
	"errors"
	"fmt"
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
// batch spans one partition of one table), so callers ask FollowerOf and
// fall back to separate writes.
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

// Capabilities says what an engine can do beyond the Store contract. It is
// part of the contract, so a wrapper that embeds a Store (an instrumented
// engine, a test's counting store) reports its engine's capabilities along
// with the methods it forwards, and FollowerOf notices a wrapper that hides
// one instead of silently taking the slower path.
type Capabilities struct {
	// Follow means the engine implements Follower.
	Follow bool
}

// ErrCapability means a store reports a capability it does not implement:
// a wrapper that does not forward the capability's methods.
var ErrCapability = errors.New("store: capability reported but not implemented")

// FollowerOf returns s as a Follower when its engine commits follow-up
// writes, and nil when it cannot (Table Storage). A store that reports
// Capabilities.Follow without implementing Follower is an error wrapping
// ErrCapability: a wrapper must forward BatchFollow.
func FollowerOf(s Store) (Follower, error) {
	f, ok := s.(Follower)
	switch caps := s.Capabilities(); {
	case caps.Follow && !ok:
		return nil, fmt.Errorf("%w: %T reports Follow but has no BatchFollow (forward it to the engine)", ErrCapability, s)
	case !caps.Follow:
		// An engine that implements BatchFollow but does not claim it is
		// taken at its word: it commits follow-ups through Batch.
		return nil, nil
	}
	return f, nil
}

// ErrFollow wraps a failure of a Follow or of one of its writes.
var ErrFollow = errors.New("store: follow-up writes failed")
