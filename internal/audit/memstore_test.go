package audit

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

// memStore is a small in-memory engine that keeps the store contract
// (atomic batches, ETags, ordered rows). It lets these tests run without the
// embedded engine and doubles as a second engine for the append tests.
type memStore struct {
	mu   sync.Mutex
	rows map[string]map[string]store.Entity // table -> pk+"\x00"+rk
	n    uint64
}

func newMemStore() *memStore { return &memStore{rows: map[string]map[string]store.Entity{}} }

func mkey(pk, rk string) string { return pk + "\x00" + rk }

func (m *memStore) Get(_ context.Context, table, pk, rk string) (store.Entity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.rows[table][mkey(pk, rk)]
	if !ok {
		return store.Entity{}, fmt.Errorf("get %s/%s: %w", pk, rk, store.ErrNotFound)
	}
	e.Data = append([]byte(nil), e.Data...)
	return e, nil
}

func (m *memStore) sorted(table string) []store.Entity {
	var out []store.Entity
	for _, e := range m.rows[table] {
		e.Data = append([]byte(nil), e.Data...)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PartitionKey != out[j].PartitionKey {
			return out[i].PartitionKey < out[j].PartitionKey
		}
		return out[i].RowKey < out[j].RowKey
	})
	return out
}

func (m *memStore) List(_ context.Context, table string, q store.Query) ([]store.Entity, error) {
	if err := store.ValidateQuery(q); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Entity
	for _, e := range m.sorted(table) {
		if e.PartitionKey != q.PartitionKey || !strings.HasPrefix(e.RowKey, q.Prefix) || e.RowKey <= q.After {
			continue
		}
		if q.KeysOnly {
			e.Data = nil
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

func (m *memStore) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	m.mu.Lock()
	rows := m.sorted(table)
	m.mu.Unlock()
	for _, e := range rows {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memStore) Batch(_ context.Context, table string, ops []store.Op) ([]string, error) {
	if err := store.ValidateBatch(ops); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.rows[table]
	if t == nil {
		t = map[string]store.Entity{}
		m.rows[table] = t
	}
	for i, op := range ops {
		cur, exists := t[mkey(op.Entity.PartitionKey, op.Entity.RowKey)]
		var err error
		switch {
		case op.Kind == store.Insert && exists:
			err = store.ErrExists
		case op.Kind != store.Insert && op.Kind != store.Upsert && !exists:
			err = store.ErrNotFound
		case op.Kind != store.Insert && op.Kind != store.Upsert && op.IfMatch != "" && op.IfMatch != cur.ETag:
			err = store.ErrPrecondition
		}
		if err != nil {
			return nil, &store.BatchError{Index: i, Op: op, Err: err}
		}
	}
	etags := make([]string, len(ops))
	for i, op := range ops {
		k := mkey(op.Entity.PartitionKey, op.Entity.RowKey)
		if op.Kind == store.Delete {
			delete(t, k)
			continue
		}
		m.n++
		e := op.Entity
		if op.Kind == store.Touch {
			e = t[k]
		}
		e.Data = append([]byte(nil), e.Data...)
		e.ETag = strconv.FormatUint(m.n, 10)
		e.Timestamp = time.Now()
		t[k] = e
		etags[i] = e.ETag
	}
	return etags, nil
}

func (m *memStore) Close() error { return nil }
