package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Auditor is what the handlers, the reconciler and the token manager call.
// Append returns nil only when every record is durably in the trail; on any
// error the caller must fail the operation it was recording (the error wraps
// ErrNotRecorded).
type Auditor interface {
	Append(ctx context.Context, recs ...Record) error
}

// ErrNotRecorded wraps every Append failure: the records were not written
// (or, after a storage timeout, it is unknown whether they were).
var ErrNotRecorded = errors.New("audit: record not written")

// ErrContention means the head row kept changing under the appender for
// Options.MaxAttempts attempts.
var ErrContention = errors.New("audit: too much contention on the trail head")

// Options configures a Log. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now. Tests move it across days.
	Now func() time.Time
	// MaxBatchRecords caps how many records go into one atomic batch
	// (default and maximum store.MaxBatchOps-1, one op is the head).
	MaxBatchRecords int
	// MaxBatchBytes caps the record bodies of one batch (default and
	// maximum half of store.MaxBatchDataSize, leaving room for the chain
	// fields and the head row).
	MaxBatchBytes int
	// MaxAttempts bounds the optimistic retries of one batch (default 100).
	MaxAttempts int
	// MaxRecordBytes is the largest encoded record; above it the changes
	// are replaced by a summary (count, size, SHA-256). Default 256 KiB.
	MaxRecordBytes int
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBatchRecords <= 0 || o.MaxBatchRecords > store.MaxBatchOps-1 {
		o.MaxBatchRecords = store.MaxBatchOps - 1
	}
	if o.MaxBatchBytes <= 0 || o.MaxBatchBytes > store.MaxBatchDataSize/2 {
		o.MaxBatchBytes = store.MaxBatchDataSize / 2
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 100
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 256 << 10
	}
	return o
}

// Log is the audit trail on a store. It implements Auditor. Concurrent
// Appends of one Log are group-committed: while one batch is being written,
// the records of other callers queue up and go together in the next batch,
// so a busy server does not serialise on the head row one record at a time.
// Several Logs (in one or many processes) may append to the same store; the
// head row's ETag keeps their chain valid.
type Log struct {
	s   store.Store
	opt Options

	sem   chan struct{} // held by the one goroutine writing batches
	mu    sync.Mutex    // guards queue
	queue []*pending
	head  *cachedHead // touched only while holding sem
	// lastDay is the day of the last head seen (also held under sem): after
	// a conflict the appender re-reads that head, not the meta row.
	lastDay string
}

type cachedHead struct {
	data headData
	etag string
}

// pending is one Append call waiting for its records to be written.
type pending struct {
	bodies [][]byte
	size   int
	done   chan error
}

// New returns a Log writing to table Table of s.
func New(s store.Store, opt Options) *Log {
	return &Log{s: s, opt: opt.withDefaults(), sem: make(chan struct{}, 1)}
}

// Append writes recs to the trail, in order, after redacting secrets from
// their changes. Time is set to now when zero. Records of one call are never
// interleaved with others; up to MaxBatchRecords of them are written
// atomically (more are written in several batches).
func (l *Log) Append(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	p := &pending{done: make(chan error, 1)}
	for i, r := range recs {
		b, err := l.encode(r)
		if err != nil {
			return fmt.Errorf("%w: record %d (%s): %w", ErrNotRecorded, i, r.Action, err)
		}
		p.bodies = append(p.bodies, b)
		p.size += len(b)
	}
	l.mu.Lock()
	l.queue = append(l.queue, p)
	l.mu.Unlock()
	for {
		select {
		case err := <-p.done:
			return err
		case l.sem <- struct{}{}:
			l.leadOnce(ctx)
			<-l.sem
		case <-ctx.Done():
			if l.withdraw(p) {
				return fmt.Errorf("%w: %w", ErrNotRecorded, ctx.Err())
			}
			// A leader is writing our records already: its write is not
			// tied to our context and ends within its retry budget, so
			// wait for the definite answer rather than guess.
			return <-p.done
		}
	}
}

// withdraw removes p from the queue; false means a leader has taken it.
func (l *Log) withdraw(p *pending) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, q := range l.queue {
		if q == p {
			l.queue = append(l.queue[:i], l.queue[i+1:]...)
			return true
		}
	}
	return false
}

// leadOnce takes the queued calls that fit one batch and writes them. It
// runs with sem held. Writes use a context detached from the leader's
// cancellation, because they carry other callers' records too.
func (l *Log) leadOnce(ctx context.Context) {
	l.mu.Lock()
	var take []*pending
	n, size := 0, 0
	for len(l.queue) > 0 {
		p := l.queue[0]
		if len(take) > 0 && (n+len(p.bodies) > l.opt.MaxBatchRecords || size+p.size > l.opt.MaxBatchBytes) {
			break
		}
		take = append(take, p)
		n += len(p.bodies)
		size += p.size
		l.queue = l.queue[1:]
	}
	l.mu.Unlock()
	if len(take) == 0 {
		return
	}
	wctx := context.WithoutCancel(ctx)
	var err error
	if len(take) == 1 {
		// One call, possibly larger than a batch: write it in chunks.
		err = l.writeChunks(wctx, take[0].bodies)
	} else {
		var bodies [][]byte
		for _, p := range take {
			bodies = append(bodies, p.bodies...)
		}
		err = l.commit(wctx, bodies)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	for _, p := range take {
		p.done <- err
	}
}

func (l *Log) writeChunks(ctx context.Context, bodies [][]byte) error {
	for len(bodies) > 0 {
		n, size := 0, 0
		for n < len(bodies) && n < l.opt.MaxBatchRecords && (n == 0 || size+len(bodies[n]) <= l.opt.MaxBatchBytes) {
			size += len(bodies[n])
			n++
		}
		if err := l.commit(ctx, bodies[:n]); err != nil {
			return err
		}
		bodies = bodies[n:]
	}
	return nil
}

// encode produces the canonical body of r: UTC time, redacted changes,
// encoding/json's fixed field order and sorted map keys.
func (l *Log) encode(r Record) ([]byte, error) {
	if !validActionName(r.Action) {
		return nil, fmt.Errorf("invalid action name %q", r.Action)
	}
	if r.Actor == "" {
		r.Actor = "anonymous"
	}
	if r.Time.IsZero() {
		r.Time = l.opt.Now()
	}
	r.Time = r.Time.UTC()
	cs, err := redactChanges(r.Changes)
	if err != nil {
		return nil, err
	}
	r.Changes = cs
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > l.opt.MaxRecordBytes {
		full := len(b)
		r.Changes = []Change{{Op: "truncated", Value: map[string]any{
			"changes": len(cs), "bytes": full, "sha256": chainHash(0, "", b),
		}}}
		if b, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// commit writes bodies as the next records of the chain in one atomic batch:
// the record rows are inserted and the day's head replaced if-match. When
// another writer moved the head first, it re-reads the head and retries. On
// a store.Follower the chain is computed inside the commit instead, and the
// optimistic loop only starts a day.
func (l *Log) commit(ctx context.Context, bodies [][]byte) error {
	// A wrapper that hides its engine's BatchFollow (store.FollowerOf's
	// error) gets the optimistic loop, as an engine without one does.
	if f, _ := store.FollowerOf(l.s); f != nil {
		// An engine that computes writes inside its commit chains the
		// records onto the head as it is then: no conflict with records
		// written in other commits (Prepared), so no retries.
		wrote := false
		_, err := f.BatchFollow(ctx, Table, nil, func(r store.Reader) ([]store.Write, error) {
			w, ok, err := l.chain(r, bodies)
			wrote = ok
			return w, err
		})
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		if wrote {
			return nil
		}
		// No open head for today: start the day below.
	}
	var lastErr error
	for attempt := 0; attempt < l.opt.MaxAttempts; attempt++ {
		if attempt > 0 {
			backoff(ctx, attempt)
		}
		h, err := l.currentHead(ctx)
		if err != nil {
			return err
		}
		ops, next, err := appendOps(h.data, h.etag, bodies)
		if err != nil {
			return err
		}
		etags, err := l.s.Batch(ctx, Table, ops)
		if err == nil {
			l.head = &cachedHead{data: next, etag: etags[len(etags)-1]}
			return nil
		}
		l.head = nil
		if !conflict(err) {
			return fmt.Errorf("append to %s: %w", h.data.Day, err)
		}
		lastErr = err
	}
	return fmt.Errorf("%w (%d attempts, last: %w)", ErrContention, l.opt.MaxAttempts, lastErr)
}

// conflict reports whether err means another writer got there first.
func conflict(err error) bool {
	return store.IsPrecondition(err) || store.IsExists(err)
}

// backoff waits a short, growing, jittered time so that writers in several
// processes that keep colliding spread out.
func backoff(ctx context.Context, attempt int) {
	ceiling := time.Millisecond << min(attempt, 6)
	t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// currentHead returns the head of the day to append to: the cached one when
// it is still the open day, or else the result of resolve.
func (l *Log) currentHead(ctx context.Context) (*cachedHead, error) {
	today := dayOf(l.opt.Now())
	if l.head != nil && l.head.data.Day >= today && !l.head.data.Sealed {
		return l.head, nil
	}
	from := l.lastDay
	if l.head != nil {
		from = l.head.data.Day
	}
	h, err := l.resolve(ctx, today, from)
	if err != nil {
		return nil, err
	}
	l.head, l.lastDay = h, h.data.Day
	return h, nil
}

// resolve finds the open day (the newest, unsealed head), starting at day
// from (or at the meta row's latest day when from is empty), following
// sealed heads forward. When the open day is older than today it seals it
// and starts today, whose genesis is the sealed day's last record. Every step
// is idempotent, so concurrent resolvers and crashes between steps converge.
func (l *Log) resolve(ctx context.Context, today, from string) (*cachedHead, error) {
	for attempt := 0; attempt < l.opt.MaxAttempts; attempt++ {
		day := from
		first := ""
		if day == "" {
			m, err := getMeta(ctx, l.s)
			if store.IsNotFound(err) {
				if err := l.bootstrap(ctx, today); err != nil {
					return nil, err
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			day, first = m.Latest, m.First
		}
		h, etag, err := getHead(ctx, l.s, day)
		if store.IsNotFound(err) && day == first {
			// The trail's first day, not started yet (a crash after the
			// meta row was written).
			if err := l.insertHead(ctx, headData{Day: day, Hash: zeroHash, GenesisHash: zeroHash}); err != nil {
				return nil, err
			}
			continue
		}
		if store.IsNotFound(err) && first == "" {
			// A day remembered from earlier may have been expired since:
			// start again from the trail's state row.
			from = ""
			continue
		}
		if store.IsNotFound(err) {
			return nil, fmt.Errorf("%w: head row of %s is missing", ErrCorrupt, day)
		}
		if err != nil {
			return nil, err
		}
		for h.Sealed {
			nh, netag, err := getHead(ctx, l.s, h.Next)
			if store.IsNotFound(err) {
				// The day was sealed but its successor not started: do it.
				if err := l.insertHead(ctx, genesisAfter(h, h.Next)); err != nil {
					return nil, err
				}
				nh, netag, err = getHead(ctx, l.s, h.Next)
			}
			if err != nil {
				return nil, err
			}
			h, etag = nh, netag
		}
		if h.Day >= today {
			return &cachedHead{data: h, etag: etag}, nil
		}
		// Roll over: seal the open day, then start today.
		sealed := h
		sealed.Sealed, sealed.Next = true, today
		sd, err := json.Marshal(sealed)
		if err != nil {
			return nil, err
		}
		_, err = l.s.Batch(ctx, Table, []store.Op{{Kind: store.Replace, Entity: store.Entity{PartitionKey: h.Day, RowKey: headRK, Data: sd}, IfMatch: etag}})
		if conflict(err) {
			from = h.Day // someone appended or sealed first: look again
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit: seal %s: %w", h.Day, err)
		}
		if err := l.insertHead(ctx, genesisAfter(sealed, today)); err != nil {
			return nil, err
		}
		if err := l.raiseLatest(ctx, today); err != nil {
			return nil, err
		}
		from = today
	}
	return nil, fmt.Errorf("%w while finding the open day", ErrContention)
}

// genesisAfter is the head of day, which follows the sealed head prev.
func genesisAfter(prev headData, day string) headData {
	return headData{Day: day, Seq: prev.Seq, Hash: prev.Hash, PrevDay: prev.Day, GenesisSeq: prev.Seq, GenesisHash: prev.Hash}
}

// insertHead creates a head row unless one exists (a concurrent resolver
// wrote the same one).
func (l *Log) insertHead(ctx context.Context, h headData) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	_, err = l.s.Batch(ctx, Table, []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: h.Day, RowKey: headRK, Data: b}}})
	if err != nil && !store.IsExists(err) {
		return fmt.Errorf("audit: start day %s: %w", h.Day, err)
	}
	return nil
}

// bootstrap writes the meta row: for an empty trail it names today as first
// and latest day, and resolve then starts today with the zero genesis. When
// day partitions exist (the meta row was lost), it is rebuilt from them, so
// that appends continue the existing chain instead of starting a second one
// that would hide the first from Verify.
func (l *Log) bootstrap(ctx context.Context, today string) error {
	m := metaData{First: today, Latest: today}
	first := ""
	err := l.s.Scan(ctx, Table, func(e store.Entity) error {
		if isDay(e.PartitionKey) && e.RowKey == headRK {
			if first == "" {
				first = e.PartitionKey
			}
			m.Latest = e.PartitionKey
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: start trail: %w", err)
	}
	if first != "" {
		m.First = first
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = l.s.Batch(ctx, Table, []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: metaPK, RowKey: metaRK, Data: b}}})
	if err != nil && !store.IsExists(err) {
		return fmt.Errorf("audit: start trail: %w", err)
	}
	return nil
}

// raiseLatest moves the meta row's latest day forward to day (never back).
func (l *Log) raiseLatest(ctx context.Context, day string) error {
	return l.updateMeta(ctx, func(m *metaData) bool {
		if m.Latest >= day {
			return false
		}
		m.Latest = day
		return true
	})
}

// updateMeta applies fn to the meta row; fn reports whether it changed it.
func (l *Log) updateMeta(ctx context.Context, fn func(*metaData) bool) error {
	errSame := errors.New("unchanged")
	_, err := store.Update(ctx, l.s, Table, metaPK, metaRK, func(old store.Entity) ([]byte, []store.Op, error) {
		if old.ETag == "" {
			return nil, nil, fmt.Errorf("%w: trail state row is missing", ErrCorrupt)
		}
		var m metaData
		if err := json.Unmarshal(old.Data, &m); err != nil {
			return nil, nil, fmt.Errorf("%w: trail state row is unreadable", ErrCorrupt)
		}
		if !fn(&m) {
			return nil, nil, errSame
		}
		b, err := json.Marshal(m)
		return b, nil, err
	})
	if errors.Is(err, errSame) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: update trail state: %w", err)
	}
	return nil
}

// validActionName reports whether a is a dotted lower-case action name.
func validActionName(a string) bool {
	if a == "" || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
		return false
	}
	return strings.Contains(a, ".")
}
