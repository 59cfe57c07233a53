// Package store defines the narrow table contract that every storage engine
// of adfscim implements. The contract is shaped after Azure Table Storage so
// that the embedded engine used for local runs and tests obeys exactly the
// rules the production engine has to live with:
//
//   - an entity is (PartitionKey, RowKey) -> opaque Data, with an ETag;
//   - writes are optimistic: insert-if-absent, replace/delete-if-match;
//   - a batch is atomic, holds at most MaxBatchOps operations, touches one
//     partition and names each RowKey once;
//   - keys may not contain '/', '\\', '#', '?' or control characters
//     (EncodeKey makes any user-supplied value safe to use in a key);
//   - rows of one partition are returned in ascending RowKey order.
//
// Engines live in sub-packages (store/bolt, store/tables) and prove that they
// keep this contract by passing store/storetest. An engine that can also
// commit writes to several tables at once implements Follower (the embedded
// one does; Table Storage cannot) and passes storetest's follower suite; one
// that can replace whole tables atomically implements Replacer (again the
// embedded one) and passes the replacer suite.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits of the contract. They are those of Azure Table Storage, enforced by
// every engine so that nothing that works locally fails in Azure.
const (
	// MaxBatchOps is the largest number of operations in one atomic batch.
	MaxBatchOps = 100
	// MaxKeyLen is the longest PartitionKey or RowKey, in bytes.
	MaxKeyLen = 1024
	// MaxDataSize is the largest Data payload of one entity. Table Storage
	// caps an entity at 1 MiB and a binary property at 64 KiB; engines split
	// Data into properties as they need to. Azurite (the emulator every test
	// runs against) applies the 1 MiB cap to the JSON body of an update,
	// where binary data travels as base64 (4/3 larger): 11 chunks of 64 KiB
	// is the most that a replace or upsert can carry there.
	MaxDataSize = 11 * 64 * 1024
	// MaxBatchDataSize is the most Data one batch may carry in all. Table
	// Storage refuses a batch request larger than 4 MiB and Data travels
	// base64-encoded, so this is what fits with room left for keys and
	// framing and per-operation headers (measured against Azurite with 100 ops).
	MaxBatchDataSize = 2 << 20
)

// Entity is one row of a table.
type Entity struct {
	PartitionKey string
	RowKey       string
	// Data is the row's payload, opaque to the engine (usually JSON).
	Data []byte
	// ETag identifies the stored version. Engines set it on every read and
	// return the new one from every write; callers pass it back in Op.IfMatch.
	ETag string
	// Timestamp is the time of the last write, set by the engine.
	Timestamp time.Time
}

// OpKind says what a batch operation does.
type OpKind int

const (
	// Insert adds the entity; it fails with ErrExists when the row is present.
	Insert OpKind = iota + 1
	// Replace overwrites an existing row. With IfMatch set it fails with
	// ErrPrecondition when the stored ETag differs; it fails with ErrNotFound
	// when the row is absent.
	Replace
	// Upsert writes the row whether or not it exists. IfMatch is ignored (as
	// Table Storage ignores it): use Insert or Replace for concurrency control.
	Upsert
	// Delete removes the row. With IfMatch set it fails with ErrPrecondition
	// when the stored ETag differs; it fails with ErrNotFound when the row is
	// absent.
	Delete
	// Touch rewrites nothing but the row's ETag and Timestamp. It fails with
	// ErrNotFound when the row is absent, so a batch can assert that a row
	// it refers to exists (a group member's user) and mark a row changed
	// (the group whose members changed) without reading it first. IfMatch
	// is honoured as for Replace.
	Touch
)

func (k OpKind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Replace:
		return "replace"
	case Upsert:
		return "upsert"
	case Delete:
		return "delete"
	case Touch:
		return "touch"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one operation of a batch.
type Op struct {
	Kind   OpKind
	Entity Entity // PartitionKey and RowKey always; Data except for Delete and Touch
	// IfMatch, for Replace, Delete and Touch, is the ETag the row must still have.
	// Empty means unconditional ("*").
	IfMatch string
}

// Query selects rows of one partition, in ascending RowKey order.
type Query struct {
	PartitionKey string
	// Prefix keeps only rows whose RowKey starts with it.
	Prefix string
	// After keeps only rows whose RowKey is strictly greater: pass the last
	// RowKey of a page to read the next one.
	After string
	// Limit is the most rows returned; 0 means all.
	Limit int
	// KeysOnly asks the engine not to return Data (cheaper on the wire).
	KeysOnly bool
}

// Store is the table contract. All methods are safe for concurrent use, also
// by several processes sharing one backing store where the engine allows it.
type Store interface {
	// Get reads one row. It returns an error wrapping ErrNotFound when the
	// row does not exist.
	Get(ctx context.Context, table, partitionKey, rowKey string) (Entity, error)
	// List returns the rows of one partition selected by q.
	List(ctx context.Context, table string, q Query) ([]Entity, error)
	// Batch applies ops atomically: all or none. On success it returns the
	// new ETag of each op (empty for Delete), in order. On failure it returns
	// a *BatchError naming the failed op and wrapping ErrExists, ErrNotFound
	// or ErrPrecondition; invalid batches fail with ErrInvalid before any
	// write.
	Batch(ctx context.Context, table string, ops []Op) ([]string, error)
	// Scan calls fn for every row of the table, partition by partition, in
	// (PartitionKey, RowKey) order, without holding the whole table in
	// memory. fn must not write to the store. Used by export and repair.
	Scan(ctx context.Context, table string, fn func(Entity) error) error
	// Capabilities says what the engine can do beyond this contract (see
	// Capabilities and FollowerOf).
	Capabilities() Capabilities
	// Close releases the engine's resources.
	Close() error
}

// Sentinel errors of the contract; check them with errors.Is.
var (
	ErrNotFound     = errors.New("store: not found")
	ErrExists       = errors.New("store: already exists")
	ErrPrecondition = errors.New("store: etag mismatch")
	ErrInvalid      = errors.New("store: invalid request")
	// ErrUnavailable means the backing store could not be reached within the
	// retry budget; the request may be retried later.
	ErrUnavailable = errors.New("store: unavailable")
)

// BatchError reports which operation of a batch failed.
type BatchError struct {
	Index int // position of the failed op in the batch
	Op    Op
	Err   error // wraps one of the sentinels
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch op %d (%s %s/%s): %v", e.Index, e.Op.Kind, e.Op.Entity.PartitionKey, e.Op.Entity.RowKey, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// IsNotFound reports whether err means a missing row.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsExists reports whether err means an insert met an existing row.
func IsExists(err error) bool { return errors.Is(err, ErrExists) }

// IsPrecondition reports whether err means an ETag mismatch.
func IsPrecondition(err error) bool { return errors.Is(err, ErrPrecondition) }
