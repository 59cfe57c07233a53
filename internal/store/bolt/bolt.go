// Package bolt is the embedded storage engine of adfscim: the store.Store
// contract kept in one bbolt file, ACID and pure Go, with no server to start.
// It is the default for local runs and tests and obeys the same limits as the
// Azure Table Storage engine (store.ValidateBatch, table names as Azure
// accepts them), so code that works here does not fail in Azure.
//
// Layout: one bucket per table, created by its first write. Inside a bucket a
// row's key is PartitionKey, a 0x00 byte, then RowKey. Valid keys contain no
// control characters, so the 0x00 separator cannot occur inside either part:
// the encoding cannot collide and byte order of the encoded keys is exactly
// (PartitionKey, RowKey) order. A row's value is an 8-byte write sequence, an
// 8-byte timestamp (Unix nanoseconds) and the Data.
//
// ETags come from a per-file sequence that every write advances, prefixed by
// a random epoch chosen when the file is created, so an ETag is unique per
// write and an ETag remembered from a deleted and re-created file cannot
// match a row of the new one.
//
// Writes are durable (fsync) before Batch returns. Concurrent Batch calls are
// coalesced into one bbolt transaction (group commit, bbolt's DB.Batch), so
// many writers share one fsync; a lone writer commits at once without waiting
// for company.
package bolt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/adfscim/adfscim/internal/store"
)

// Options tunes the engine. The zero value is a sensible default.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another process
	// (bbolt allows one writer process per file). Open fails with an error
	// wrapping ErrLocked after it. Zero means DefaultLockTimeout; a negative
	// value fails at once if the file is locked.
	LockTimeout time.Duration
	// MaxBatchDelay is how long a commit waits for more writers before it
	// starts. Zero (the default) starts at once: writers that arrive while
	// a commit runs form the next one, so batches grow with the load and a
	// lone writer never waits. Tests set it to force coalescing.
	MaxBatchDelay time.Duration
	// MaxBatchSize is the most Batch calls coalesced into one transaction.
	// Zero means DefaultMaxBatchSize.
	MaxBatchSize int
}

// Defaults of Options.
const (
	DefaultLockTimeout  = 5 * time.Second
	DefaultMaxBatchSize = 256
)

// ErrLocked means the database file is held by another process.
var ErrLocked = errors.New("bolt: database file is locked by another process")

// metaBucket holds the engine's own settings. Its name is not a valid table
// name, so it cannot collide with a table.
var (
	metaBucket = []byte("\x00meta")
	epochKey   = []byte("epoch")
)

// errRollback aborts a lone writer's transaction after a failed check.
var errRollback = errors.New("bolt: rollback")

// tableName is the rule Azure Table Storage applies to table names.
var tableName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)

// Store is the bbolt engine. It is safe for concurrent use.
type Store struct {
	db    *bbolt.DB
	epoch string
	opts  Options
	// Group commit: Batch calls queue here; one of them at a time leads,
	// committing everything queued in one transaction.
	mu      sync.Mutex
	queue   []*pending
	leading bool
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database file at path.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		// bbolt treats 0 as "wait forever"; the shortest real wait is one
		// retry of its lock loop.
		timeout = time.Nanosecond
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        timeout,
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %v)", path, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = DefaultMaxBatchSize
	}
	s := &Store{db: db, opts: opts}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := b.Get(epochKey); v != nil {
			s.epoch = string(v)
			return nil
		}
		var r [4]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		s.epoch = hex.EncodeToString(r[:])
		return b.Put(epochKey, []byte(s.epoch))
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: initialise: %w", path, err)
	}
	return s, nil
}

// Capabilities reports that the embedded engine commits follow-up writes
// (it implements store.Follower).
func (s *Store) Capabilities() store.Capabilities { return store.Capabilities{Follow: true} }

// Close closes the file. Calls after Close fail.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

func validTable(table string) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("%w: table name %q (want a letter then 2 to 62 letters or digits)", store.ErrInvalid, table)
	}
	return nil
}

// rowKey encodes (pk, rk) as the bucket key.
func rowKey(pk, rk string) []byte {
	k := make([]byte, 0, len(pk)+1+len(rk))
	k = append(k, pk...)
	k = append(k, 0)
	return append(k, rk...)
}

// splitKey decodes a bucket key; ok is false for a malformed key.
func splitKey(k []byte) (pk, rk string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

const headerLen = 16 // sequence + timestamp

func (s *Store) etag(seq uint64) string {
	b := make([]byte, 0, len(s.epoch)+1+16)
	b = append(b, s.epoch...)
	b = append(b, '-')
	return string(strconv.AppendUint(b, seq, 16))
}

// decode copies a stored row out of the mmap, so the result stays valid after
// the transaction ends.
func (s *Store) decode(k, v []byte, keysOnly bool) (store.Entity, error) {
	pk, rk, ok := splitKey(k)
	if !ok || len(v) < headerLen {
		return store.Entity{}, fmt.Errorf("bolt: corrupt row %q", k)
	}
	e := store.Entity{
		PartitionKey: pk,
		RowKey:       rk,
		ETag:         s.etag(binary.BigEndian.Uint64(v[0:8])),
		Timestamp:    time.Unix(0, int64(binary.BigEndian.Uint64(v[8:16]))).UTC(),
	}
	if !keysOnly {
		e.Data = bytes.Clone(v[headerLen:])
		if e.Data == nil {
			e.Data = []byte{}
		}
	}
	return e, nil
}

// Get reads one row.
func (s *Store) Get(ctx context.Context, table, pk, rk string) (store.Entity, error) {
	if err := ctx.Err(); err != nil {
		return store.Entity{}, err
	}
	var e store.Entity
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		e, err = txReader{tx: tx, s: s}.Get(table, pk, rk)
		return err
	})
	return e, err
}

// List returns the rows of one partition selected by q, in RowKey order.
func (s *Store) List(ctx context.Context, table string, q store.Query) ([]store.Entity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validTable(table); err != nil {
		return nil, err
	}
	if err := store.ValidateQuery(q); err != nil {
		return nil, err
	}
	var out []store.Entity
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(table))
		if b == nil {
			return nil
		}
		prefix := rowKey(q.PartitionKey, q.Prefix)
		start := prefix
		var after []byte
		if q.After != "" && q.After >= q.Prefix {
			after = rowKey(q.PartitionKey, q.After)
			start = after
		}
		c := b.Cursor()
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			e, err := s.decode(k, v, q.KeysOnly)
			if err != nil {
				return err
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s %q: %w", table, q.PartitionKey, err)
	}
	return out, nil
}

// scanChunk is how many rows Scan reads per read transaction. Scan copies a
// chunk out and calls fn outside the transaction, so fn never holds a
// transaction open (a long read transaction would block the file from
// growing) and memory stays bounded.
const scanChunk = 256

// Scan calls fn for every row of the table in (PartitionKey, RowKey) order.
// Rows written during the scan may or may not be seen.
func (s *Store) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	if err := validTable(table); err != nil {
		return err
	}
	var last []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := make([]store.Entity, 0, scanChunk)
		err := s.db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(table))
			if b == nil {
				return nil
			}
			c := b.Cursor()
			k, v := c.First()
			if last != nil {
				k, v = c.Seek(last)
				if k != nil && bytes.Equal(k, last) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(chunk) < scanChunk; k, v = c.Next() {
				e, err := s.decode(k, v, false)
				if err != nil {
					return err
				}
				chunk = append(chunk, e)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("scan %s: %w", table, err)
		}
		for _, e := range chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(chunk) < scanChunk {
			return nil
		}
		e := chunk[len(chunk)-1]
		last = rowKey(e.PartitionKey, e.RowKey)
	}
}

// Batch applies ops atomically and durably.
//
// A batch is checked in full against the stored rows before anything is
// written, and a failed check is reported to its caller without failing the
// bbolt transaction. So a failing batch writes nothing, and it cannot abort
// the transaction it shares with other callers' batches under group commit.
func (s *Store) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	return s.BatchFollow(ctx, table, ops, nil)
}

var _ store.Follower = (*Store)(nil)

// BatchFollow is Batch with follow-up writes in the same transaction (and
// so under the same fsync): see store.Follower. follow runs inside the
// group commit, after the batch's checks passed; a nil follow is Batch. With
// a follow, ops may be empty.
func (s *Store) BatchFollow(ctx context.Context, table string, ops []store.Op, follow store.Follow) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validTable(table); err != nil {
		return nil, err
	}
	if follow == nil || len(ops) > 0 {
		if err := store.ValidateBatch(ops); err != nil {
			return nil, err
		}
	}
	p := &pending{s: s, table: table, ops: ops, follow: follow, done: make(chan error, 1), lead: make(chan struct{})}
	if err := s.commit(p); err != nil {
		return nil, fmt.Errorf("batch %s: %w", table, err)
	}
	if p.failed != nil {
		return nil, p.failed
	}
	return p.etags, nil
}

// commit makes p durable in a transaction it may share with other Batch
// calls (group commit). The first caller to find no commit running leads:
// it takes everything queued, commits it in one transaction (one fsync for
// all), answers every caller in it, and hands the lead to the first caller
// that queued meanwhile. So no writer waits for a timer, a lone writer
// commits at once, and under load each commit carries the writes that
// arrived during the previous one.
func (s *Store) commit(p *pending) error {
	s.mu.Lock()
	s.queue = append(s.queue, p)
	if s.leading {
		s.mu.Unlock()
		select {
		case err := <-p.done:
			return err
		case <-p.lead: // the previous leader handed over: commit the next group
		}
	} else {
		s.leading = true
		s.mu.Unlock()
	}
	if s.opts.MaxBatchDelay > 0 {
		time.Sleep(s.opts.MaxBatchDelay)
	}
	s.mu.Lock()
	n := min(len(s.queue), s.opts.MaxBatchSize)
	group := s.queue[:n:n]
	s.queue = s.queue[n:]
	s.mu.Unlock()

	err := s.db.Update(func(tx *bbolt.Tx) error {
		wrote := false
		for _, q := range group {
			if err := q.apply(tx); err != nil {
				return err
			}
			wrote = wrote || q.failed == nil
		}
		if !wrote {
			return errRollback // every batch failed its checks: nothing to commit
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	for _, q := range group {
		if q != p {
			q.done <- err
		}
	}
	s.mu.Lock()
	if len(s.queue) > 0 {
		close(s.queue[0].lead) // the next group's leader
	} else {
		s.leading = false
	}
	s.mu.Unlock()
	return err
}

// pending is one validated Batch call on its way into a transaction.
type pending struct {
	s      *Store
	table  string
	ops    []store.Op
	follow store.Follow
	// Results of the last apply.
	etags  []string
	failed error // a *store.BatchError, or a failed follow-up
	// done receives the commit's outcome; lead is closed when this caller
	// is to commit the next group itself.
	done chan error
	lead chan struct{}
}

// apply checks every op (the batch's, then its follow-up writes') and, when
// all hold, writes them. It returns an error only for a failure of bbolt
// itself, which fails the whole transaction. It starts afresh each time, so
// it may be called more than once.
func (p *pending) apply(tx *bbolt.Tx) error {
	p.etags, p.failed = nil, nil
	keys, err := p.s.checkAll(tx, p.table, p.ops)
	if err != nil {
		p.failed = err
		return nil
	}
	var (
		writes []store.Write
		wkeys  [][][]byte
	)
	if p.follow != nil {
		if writes, wkeys, err = p.s.followUps(tx, p.follow); err != nil {
			p.failed = fmt.Errorf("%w: %v", store.ErrFollow, err)
			return nil
		}
	}
	etags, err := p.s.put(tx, p.table, p.ops, keys)
	if err != nil {
		return err
	}
	for i, w := range writes {
		if _, err := p.s.put(tx, w.Table, w.Ops, wkeys[i]); err != nil {
			return err
		}
	}
	p.etags = etags
	return nil
}

// followUps runs follow inside tx and checks the writes it returns, like a
// batch's, against the rows as tx sees them; it returns them with their
// encoded keys.
func (s *Store) followUps(tx *bbolt.Tx, follow store.Follow) ([]store.Write, [][][]byte, error) {
	writes, err := follow(txReader{tx: tx, s: s})
	if err != nil {
		return nil, nil, err
	}
	keys := make([][][]byte, len(writes))
	for i, w := range writes {
		if err := validTable(w.Table); err != nil {
			return nil, nil, err
		}
		if err := store.ValidateBatch(w.Ops); err != nil {
			return nil, nil, err
		}
		if keys[i], err = s.checkAll(tx, w.Table, w.Ops); err != nil {
			return nil, nil, err
		}
	}
	return writes, keys, nil
}

// checkAll checks ops against the rows of table as tx sees them and returns
// their encoded keys; a failed check is a *store.BatchError.
func (s *Store) checkAll(tx *bbolt.Tx, table string, ops []store.Op) ([][]byte, error) {
	keys := make([][]byte, len(ops))
	b := tx.Bucket([]byte(table))
	for i, op := range ops {
		keys[i] = rowKey(op.Entity.PartitionKey, op.Entity.RowKey)
		var cur []byte
		if b != nil {
			cur = b.Get(keys[i])
		}
		if err := s.check(op, cur); err != nil {
			return nil, &store.BatchError{Index: i, Op: op, Err: err}
		}
	}
	return keys, nil
}

// put writes checked ops to table and returns their new ETags.
func (s *Store) put(tx *bbolt.Tx, table string, ops []store.Op, keys [][]byte) ([]string, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(table))
	if err != nil {
		return nil, err
	}
	meta := tx.Bucket(metaBucket)
	now := uint64(time.Now().UnixNano())
	etags := make([]string, len(ops))
	for i, op := range ops {
		if op.Kind == store.Delete {
			if err := b.Delete(keys[i]); err != nil {
				return nil, err
			}
			continue
		}
		seq, err := meta.NextSequence()
		if err != nil {
			return nil, err
		}
		data := op.Entity.Data
		if op.Kind == store.Touch {
			// Keep the stored data; only the sequence (ETag) and time change.
			data = b.Get(keys[i])[headerLen:]
		}
		v := make([]byte, headerLen+len(data))
		binary.BigEndian.PutUint64(v[0:8], seq)
		binary.BigEndian.PutUint64(v[8:16], now)
		copy(v[headerLen:], data)
		if err := b.Put(keys[i], v); err != nil {
			return nil, err
		}
		etags[i] = s.etag(seq)
	}
	return etags, nil
}

// txReader reads rows inside a transaction: Get's reads, and the
// store.Reader a Follow gets.
type txReader struct {
	tx *bbolt.Tx
	s  *Store
}

func (r txReader) Get(table, pk, rk string) (store.Entity, error) {
	if err := validTable(table); err != nil {
		return store.Entity{}, err
	}
	if !store.ValidKey(pk) || !store.ValidKey(rk) {
		return store.Entity{}, fmt.Errorf("%w: invalid key %q/%q", store.ErrInvalid, pk, rk)
	}
	k := rowKey(pk, rk)
	var v []byte
	if b := r.tx.Bucket([]byte(table)); b != nil {
		v = b.Get(k)
	}
	if v == nil {
		return store.Entity{}, fmt.Errorf("get %s %s/%s: %w", table, pk, rk, store.ErrNotFound)
	}
	e, err := r.s.decode(k, v, false)
	if err != nil {
		return store.Entity{}, fmt.Errorf("get %s %s/%s: %w", table, pk, rk, err)
	}
	return e, nil
}

// check tells whether op may be applied to the row whose stored value is cur
// (nil when absent).
func (s *Store) check(op store.Op, cur []byte) error {
	switch op.Kind {
	case store.Insert:
		if cur != nil {
			return store.ErrExists
		}
	case store.Replace, store.Delete, store.Touch:
		if cur == nil {
			return store.ErrNotFound
		}
		if op.IfMatch != "" && op.IfMatch != "*" {
			if len(cur) < headerLen || s.etag(binary.BigEndian.Uint64(cur[0:8])) != op.IfMatch {
				return store.ErrPrecondition
			}
		}
	}
	return nil
}

var _ store.Replacer = (*Store)(nil)

// ReplaceTables empties tables and writes the rows rows puts, in one bbolt
// transaction (one fsync): a crash or an error leaves the tables as they
// were. Writers wait for it like for any other commit; it holds the whole
// new content in the transaction's dirty pages until it commits.
func (s *Store) ReplaceTables(ctx context.Context, tables []string, rows func(put func(table string, e store.Entity) error) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	listed := make(map[string]bool, len(tables))
	for _, t := range tables {
		if err := validTable(t); err != nil {
			return err
		}
		listed[t] = true
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for t := range listed {
			if err := tx.DeleteBucket([]byte(t)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
		}
		meta := tx.Bucket(metaBucket)
		now := uint64(time.Now().UnixNano())
		n := 0
		return rows(func(table string, e store.Entity) error {
			if !listed[table] {
				return fmt.Errorf("%w: row %s/%s of table %q, which is not being replaced", store.ErrInvalid, e.PartitionKey, e.RowKey, table)
			}
			if !store.ValidKey(e.PartitionKey) || !store.ValidKey(e.RowKey) {
				return fmt.Errorf("%w: invalid key %q/%q", store.ErrInvalid, e.PartitionKey, e.RowKey)
			}
			if len(e.Data) > store.MaxDataSize {
				return fmt.Errorf("%w: row %s/%s has %d bytes of data (max %d)", store.ErrInvalid, e.PartitionKey, e.RowKey, len(e.Data), store.MaxDataSize)
			}
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			b, err := tx.CreateBucketIfNotExists([]byte(table))
			if err != nil {
				return err
			}
			seq, err := meta.NextSequence()
			if err != nil {
				return err
			}
			v := make([]byte, headerLen+len(e.Data))
			binary.BigEndian.PutUint64(v[0:8], seq)
			binary.BigEndian.PutUint64(v[8:16], now)
			copy(v[headerLen:], e.Data)
			return b.Put(rowKey(e.PartitionKey, e.RowKey), v)
		})
	})
	if err != nil {
		return fmt.Errorf("bolt: replace tables: %w", err)
	}
	return nil
}
