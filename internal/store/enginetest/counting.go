package enginetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// Counts are the calls a Counting store passed on, and what they carried.
type Counts struct {
	Gets, Lists, Scans int // read calls
	Batches            int // Batch calls
	Follows            int // BatchFollow calls (a batch with follow-up writes)
	// Ops are the operations of Batch and BatchFollow calls; the writes a
	// follow-up adds inside the engine are not counted.
	Ops int
	// Rows are the rows that Get, List and Scan returned.
	Rows int
	// Marked are the rows read that Counting.Mark picked.
	Marked int
}

// Calls is the number of calls: on Table Storage each is at least one
// billed transaction (a List or Scan one per page).
func (c Counts) Calls() int { return c.Gets + c.Lists + c.Scans + c.Batches + c.Follows }

// Reads is the number of Get and List calls.
func (c Counts) Reads() int { return c.Gets + c.Lists }

// Writes is the number of Batch and BatchFollow calls: the commits.
func (c Counts) Writes() int { return c.Batches + c.Follows }

// Sub returns c minus an earlier snapshot, for the cost of the steps between.
func (c Counts) Sub(before Counts) Counts {
	return Counts{
		Gets: c.Gets - before.Gets, Lists: c.Lists - before.Lists, Scans: c.Scans - before.Scans,
		Batches: c.Batches - before.Batches, Follows: c.Follows - before.Follows,
		Ops: c.Ops - before.Ops, Rows: c.Rows - before.Rows, Marked: c.Marked - before.Marked,
	}
}

func (c Counts) add(o Counts) Counts {
	return Counts{
		Gets: c.Gets + o.Gets, Lists: c.Lists + o.Lists, Scans: c.Scans + o.Scans,
		Batches: c.Batches + o.Batches, Follows: c.Follows + o.Follows,
		Ops: c.Ops + o.Ops, Rows: c.Rows + o.Rows, Marked: c.Marked + o.Marked,
	}
}

// Counting is a store that counts, per table, the calls that reach the
// store it wraps. It forwards everything else: its Capabilities are its
// engine's, and BatchFollow goes to the engine, so store.FollowerOf sees
// through it and the code under test takes the path it takes in production.
// On Table Storage, Billed also counts the engine's billed transactions.
type Counting struct {
	store.Store
	// Mark, when set before use, picks rows whose reads count as Marked
	// (for example a group's membership rows).
	Mark func(table string, e store.Entity) bool
	// counter is the engine's transaction counter on Table Storage.
	counter *tables.Counter

	mu      sync.Mutex
	byTable map[string]*Counts
	base    Counts // the totals at the last Reset
	before  func()
}

// NewCounting wraps st.
func NewCounting(st store.Store) *Counting {
	return &Counting{Store: st, byTable: map[string]*Counts{}}
}

// OpenCounting is Open wrapped in a Counting store; on Table Storage the
// engine's transaction counter feeds Billed.
func OpenCounting(t testing.TB) *Counting {
	t.Helper()
	counter := new(tables.Counter)
	st, isTables := open(t, counter)
	c := NewCounting(st)
	if isTables {
		c.counter = counter
	}
	return c
}

// Billed returns the transactions Table Storage billed so far (zero on
// other engines, or when the store was not opened by OpenCounting).
func (c *Counting) Billed() tables.Counts {
	if c.counter == nil {
		return tables.Counts{}
	}
	return c.counter.Snapshot()
}

// Snapshot returns the counts so far on the named tables, or on every table
// when none is named.
func (c *Counting) Snapshot(tables ...string) Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total(tables)
}

func (c *Counting) total(tables []string) Counts {
	var sum Counts
	if len(tables) == 0 {
		for _, n := range c.byTable {
			sum = sum.add(*n)
		}
		return sum
	}
	for _, t := range tables {
		if n, ok := c.byTable[t]; ok {
			sum = sum.add(*n)
		}
	}
	return sum
}

// Measure runs fn and returns what it cost, on the named tables or on all.
func (c *Counting) Measure(fn func(), tables ...string) Counts {
	before := c.Snapshot(tables...)
	fn()
	return c.Snapshot(tables...).Sub(before)
}

// Reset returns the counts, on every table, since the last Reset (or since
// the start), and starts counting again from there.
func (c *Counting) Reset() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.total(nil)
	d := now.Sub(c.base)
	c.base = now
	return d
}

// Before makes fn run once, just ahead of the next Batch or BatchFollow
// that reaches the store: another instance acting between a read and the
// write that follows it.
func (c *Counting) Before(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.before = fn
}

// count adds to table's counts under the lock.
func (c *Counting) count(table string, fn func(n *Counts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.byTable[table]
	if !ok {
		n = &Counts{}
		c.byTable[table] = n
	}
	fn(n)
}

func (c *Counting) read(table string, n *Counts, rows ...store.Entity) {
	n.Rows += len(rows)
	if c.Mark == nil {
		return
	}
	for _, r := range rows {
		if c.Mark(table, r) {
			n.Marked++
		}
	}
}

// takeBefore returns the pending Before hook, once.
func (c *Counting) takeBefore() func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.before
	c.before = nil
	return f
}

func (c *Counting) Get(ctx context.Context, table, pk, rk string) (store.Entity, error) {
	e, err := c.Store.Get(ctx, table, pk, rk)
	c.count(table, func(n *Counts) {
		n.Gets++
		if err == nil {
			c.read(table, n, e)
		}
	})
	return e, err
}

func (c *Counting) List(ctx context.Context, table string, q store.Query) ([]store.Entity, error) {
	es, err := c.Store.List(ctx, table, q)
	c.count(table, func(n *Counts) {
		n.Lists++
		c.read(table, n, es...)
	})
	return es, err
}

func (c *Counting) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	c.count(table, func(n *Counts) { n.Scans++ })
	return c.Store.Scan(ctx, table, func(e store.Entity) error {
		c.count(table, func(n *Counts) { c.read(table, n, e) })
		return fn(e)
	})
}

func (c *Counting) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	if f := c.takeBefore(); f != nil {
		f()
	}
	c.count(table, func(n *Counts) {
		n.Batches++
		n.Ops += len(ops)
	})
	return c.Store.Batch(ctx, table, ops)
}

// BatchFollow counts like Batch and forwards to the engine. The engine says
// (Capabilities) whether it has one; called on one without, it fails with
// store.ErrCapability rather than committing the follow-ups apart.
func (c *Counting) BatchFollow(ctx context.Context, table string, ops []store.Op, follow store.Follow) ([]string, error) {
	f, ok := c.Store.(store.Follower)
	if !ok {
		return nil, fmt.Errorf("%w: %T commits no follow-up writes", store.ErrCapability, c.Store)
	}
	if hook := c.takeBefore(); hook != nil {
		hook()
	}
	c.count(table, func(n *Counts) {
		n.Follows++
		n.Ops += len(ops)
	})
	return f.BatchFollow(ctx, table, ops, follow)
}
