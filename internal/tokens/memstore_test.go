package tokens

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// memStore is a small in-memory engine of the store contract, so that the
// local source's tests run before a real engine is on main. It keeps the
// contract's rules that the local source depends on: atomic batches,
// insert-if-absent, replace-if-match, ordered listing.
type memStore struct {
	mu   sync.Mutex
	rows map[string]store.Entity // table|pk|rk
	seq  int
}

func newMemStore() *memStore { return &memStore{rows: map[string]store.Entity{}} }

func memKey(table, pk, rk string) string { return table + "\x00" + pk + "\x00" + rk }

func (m *memStore) Get(_ context.Context, table, pk, rk string) (store.Entity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.rows[memKey(table, pk, rk)]
	if !ok {
		return store.Entity{}, fmt.Errorf("get %s/%s: %w", pk, rk, store.ErrNotFound)
	}
	e.Data = slices.Clone(e.Data)
	return e, nil
}

func (m *memStore) List(_ context.Context, table string, q store.Query) ([]store.Entity, error) {
	if err := store.ValidateQuery(q); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Entity
	prefix := table + "\x00" + q.PartitionKey + "\x00"
	for k, e := range m.rows {
		if !strings.HasPrefix(k, prefix) || !strings.HasPrefix(e.RowKey, q.Prefix) || (q.After != "" && e.RowKey <= q.After) {
			continue
		}
		e.Data = slices.Clone(e.Data)
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b store.Entity) int { return strings.Compare(a.RowKey, b.RowKey) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (m *memStore) Batch(_ context.Context, table string, ops []store.Op) ([]string, error) {
	if err := store.ValidateBatch(ops); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, op := range ops {
		cur, ok := m.rows[memKey(table, op.Entity.PartitionKey, op.Entity.RowKey)]
		var err error
		switch {
		case op.Kind == store.Insert && ok:
			err = store.ErrExists
		case op.Kind != store.Insert && op.Kind != store.Upsert && !ok:
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
		k := memKey(table, op.Entity.PartitionKey, op.Entity.RowKey)
		if op.Kind == store.Delete {
			delete(m.rows, k)
			continue
		}
		m.seq++
		e := op.Entity
		e.Data = slices.Clone(e.Data)
		if op.Kind == store.Touch {
			e = m.rows[k]
		}
		e.ETag = strconv.Itoa(m.seq)
		e.Timestamp = time.Now()
		m.rows[k] = e
		etags[i] = e.ETag
	}
	return etags, nil
}

func (m *memStore) Scan(ctx context.Context, table string, fn func(store.Entity) error) error {
	return fmt.Errorf("%w: scan not needed by these tests", store.ErrInvalid)
}

func (m *memStore) Capabilities() store.Capabilities { return store.Capabilities{} }

func (m *memStore) Close() error { return nil }

// dump returns every stored byte, for leak checks.
func (m *memStore) dump() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for k, e := range m.rows {
		b.WriteString(k)
		b.Write(e.Data)
	}
	return b.String()
}
