// Package memstore is a small in-memory store.Store for the rbac tests that
// run thousands of simulated ARM calls and reconciles (the model-based tests,
// the scale tests), where an engine's fsync per commit would only add time.
// It passes the store conformance suite (storetest), as every engine does;
// the tests of the reconciler's state (the model-based test among them) run
// on bolt and Table Storage as well.
package memstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.Mutex
	tables map[string]map[string]store.Entity // table -> pk\x00rk -> entity
	seq    int64
}

// New returns an empty store.
func New() *Store { return &Store{tables: map[string]map[string]store.Entity{}} }

func key(pk, rk string) string { return pk + "\x00" + rk }

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, table, pk, rk string) (store.Entity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.tables[table][key(pk, rk)]
	if !ok {
		return store.Entity{}, fmt.Errorf("get %s/%s: %w", pk, rk, store.ErrNotFound)
	}
	e.Data = append([]byte(nil), e.Data...)
	return e, nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, table string, q store.Query) ([]store.Entity, error) {
	if err := store.ValidateQuery(q); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Entity
	for _, e := range s.tables[table] {
		if e.PartitionKey != q.PartitionKey || !strings.HasPrefix(e.RowKey, q.Prefix) || (q.After != "" && e.RowKey <= q.After) {
			continue
		}
		if q.KeysOnly {
			e.Data = nil
		} else {
			e.Data = append([]byte(nil), e.Data...)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RowKey < out[j].RowKey })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Batch implements store.Store.
func (s *Store) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	if err := store.ValidateBatch(ops); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil {
		t = map[string]store.Entity{}
		s.tables[table] = t
	}
	for i, op := range ops {
		cur, ok := t[key(op.Entity.PartitionKey, op.Entity.RowKey)]
		var err error
		switch op.Kind {
		case store.Insert:
			if ok {
				err = store.ErrExists
			}
		case store.Replace, store.Delete, store.Touch:
			if !ok {
				err = store.ErrNotFound
			} else if op.IfMatch != "" && op.IfMatch != cur.ETag {
				err = store.ErrPrecondition
			}
		}
		if err != nil {
			return nil, &store.BatchError{Index: i, Op: op, Err: err}
		}
	}
	etags := make([]string, len(ops))
	now := time.Now().UTC()
	for i, op := range ops {
		k := key(op.Entity.PartitionKey, op.Entity.RowKey)
		if op.Kind == store.Delete {
			delete(t, k)
			continue
		}
		s.seq++
		e := op.Entity
		e.Data = append([]byte(nil), e.Data...)
		if op.Kind == store.Touch { // a new ETag, the data kept
			e.Data = t[k].Data
		}
		e.ETag = "W/\"" + strconv.FormatInt(s.seq, 10) + "\""
		e.Timestamp = now
		t[k] = e
		etags[i] = e.ETag
	}
	return etags, nil
}

// Scan implements store.Store.
func (s *Store) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	s.mu.Lock()
	var all []store.Entity
	for _, e := range s.tables[table] {
		e.Data = append([]byte(nil), e.Data...)
		all = append(all, e)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].PartitionKey != all[j].PartitionKey {
			return all[i].PartitionKey < all[j].PartitionKey
		}
		return all[i].RowKey < all[j].RowKey
	})
	for _, e := range all {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Capabilities reports none beyond the contract.
func (s *Store) Capabilities() store.Capabilities { return store.Capabilities{} }

// Close implements store.Store.
func (s *Store) Close() error { return nil }

var _ store.Store = (*Store)(nil)
