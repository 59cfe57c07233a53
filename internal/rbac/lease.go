package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// The lease is one row: PartitionKey "lease", RowKey "reconcile".
const (
	leasePartition = "lease"
	leaseRow       = "reconcile"
)

// ErrLeaseHeld is returned by Reconcile when another instance holds the
// reconcile lease.
var ErrLeaseHeld = errors.New("rbac: reconcile lease held by another instance")

type leaseRowData struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// lease is the full reconcile's lease: at most one holder at a time across
// instances, by conditional writes of one row. A hold lasts ttl unless
// renewed; an instance that dies holding it keeps others out no longer.
type lease struct {
	st     store.Store
	table  string
	holder string
	ttl    time.Duration
	now    func() time.Time

	mu   sync.Mutex // guards etag: Keep renews beside the work
	etag string     // the row's ETag while held
}

// lease returns the reconcile lease as this reconciler would hold it.
func (r *Reconciler) lease() *lease {
	return &lease{st: r.opts.Store, table: r.table, holder: r.instance, ttl: r.opts.LeaseDuration, now: r.opts.Now}
}

func (l *lease) row() store.Entity {
	data, _ := json.Marshal(leaseRowData{Holder: l.holder, Expires: l.now().Add(l.ttl)})
	return store.Entity{PartitionKey: leasePartition, RowKey: leaseRow, Data: data}
}

// Acquire takes the lease if it is absent or expired, else fails with
// ErrLeaseHeld. A lease this holder already has counts as held too: one
// process can start two reconciles at once (the timer and POST
// /ops/v1/reconcile), and each must exclude the other.
func (l *lease) Acquire(ctx context.Context) error {
	ent := l.row()
	cur, err := l.st.Get(ctx, l.table, leasePartition, leaseRow)
	var op store.Op
	switch {
	case store.IsNotFound(err):
		op = store.Op{Kind: store.Insert, Entity: ent}
	case err != nil:
		return fmt.Errorf("rbac: read lease: %w", err)
	default:
		var cl leaseRowData
		if err := json.Unmarshal(cur.Data, &cl); err != nil {
			return fmt.Errorf("rbac: lease row: %w", err)
		}
		if l.now().Before(cl.Expires) {
			return fmt.Errorf("%w (%s until %s)", ErrLeaseHeld, cl.Holder, cl.Expires.Format(time.RFC3339))
		}
		op = store.Op{Kind: store.Replace, IfMatch: cur.ETag, Entity: ent}
	}
	etags, err := l.st.Batch(ctx, l.table, []store.Op{op})
	if store.IsExists(err) || store.IsPrecondition(err) || store.IsNotFound(err) {
		return fmt.Errorf("%w (lost the race to take it)", ErrLeaseHeld)
	}
	if err != nil {
		return fmt.Errorf("rbac: take lease: %w", err)
	}
	l.mu.Lock()
	l.etag = etags[0]
	l.mu.Unlock()
	return nil
}

// Renew extends the hold by ttl from now; it fails when the lease is no
// longer ours (another holder took it after it expired) or was never
// acquired.
func (l *lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.etag == "" {
		return fmt.Errorf("%w (never acquired)", ErrLeaseHeld)
	}
	etags, err := l.st.Batch(ctx, l.table, []store.Op{{Kind: store.Replace, IfMatch: l.etag, Entity: l.row()}})
	if err != nil {
		return fmt.Errorf("rbac: renew lease: %w", err)
	}
	l.etag = etags[0]
	return nil
}

// Release gives the lease up; a lease already taken by another holder, or
// never acquired, is left alone.
func (l *lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.etag == "" {
		return nil // an empty IfMatch would delete whoever's lease
	}
	_, err := l.st.Batch(ctx, l.table, []store.Op{{Kind: store.Delete, IfMatch: l.etag,
		Entity: store.Entity{PartitionKey: leasePartition, RowKey: leaseRow}}})
	if err != nil && !store.IsPrecondition(err) && !store.IsNotFound(err) {
		return fmt.Errorf("rbac: release lease: %w", err)
	}
	l.etag = ""
	return nil
}

// Keep renews the acquired lease every third of its ttl beside the work done
// under the returned context, which is cancelled, with a cause wrapping
// ErrLeaseHeld, when a renewal fails: work that goes on without the lease
// could overlap another holder's. done stops the renewals and releases the
// lease.
func (l *lease) Keep(ctx context.Context) (_ context.Context, done func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := l.Renew(ctx); err != nil {
					cancel(fmt.Errorf("%w: lost while running: %w", ErrLeaseHeld, err))
					return
				}
			}
		}
	}()
	return ctx, func() error {
		close(stop)
		<-stopped
		defer cancel(nil)
		return l.Release(context.WithoutCancel(ctx))
	}
}
