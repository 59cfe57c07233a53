package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "update.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// write applies one op, standing in for another writer.
func write(t *testing.T, s store.Store, kind store.OpKind, data string) {
	t.Helper()
	o := store.Op{Kind: kind, Entity: store.Entity{PartitionKey: "p", RowKey: "r", Data: []byte(data)}}
	if _, err := s.Batch(context.Background(), "rows", []store.Op{o}); err != nil {
		t.Fatalf("concurrent %s: %v", kind, err)
	}
}

func TestUpdate(t *testing.T) {
	errBoom := errors.New("boom")
	cases := []struct {
		name string
		// initial is the row's data before Update; "" means no row.
		initial string
		// fn is the updater; call counts from 1. It may write as another
		// writer would.
		fn        func(t *testing.T, s store.Store, call int, old store.Entity) ([]byte, []store.Op, error)
		wantCalls int
		wantErr   error
		// want is the row's data afterwards; "" means no row.
		want string
	}{
		{
			name: "creates a missing row",
			fn: func(t *testing.T, _ store.Store, _ int, old store.Entity) ([]byte, []store.Op, error) {
				if old.ETag != "" || old.Data != nil || old.PartitionKey != "p" || old.RowKey != "r" {
					t.Errorf("old = %+v, want empty entity with keys", old)
				}
				return []byte("new"), nil, nil
			},
			wantCalls: 1, want: "new",
		},
		{
			name: "changes an existing row", initial: "a",
			fn: func(t *testing.T, _ store.Store, _ int, old store.Entity) ([]byte, []store.Op, error) {
				if old.ETag == "" {
					t.Error("existing row came without ETag")
				}
				return append(old.Data, 'b'), nil, nil
			},
			wantCalls: 1, want: "ab",
		},
		{
			name: "re-applies after a concurrent replace", initial: "a",
			fn: func(t *testing.T, s store.Store, call int, old store.Entity) ([]byte, []store.Op, error) {
				if call == 1 {
					write(t, s, store.Upsert, "x")
				}
				return append(old.Data, 'b'), nil, nil
			},
			wantCalls: 2, want: "xb",
		},
		{
			name: "re-applies after a concurrent insert",
			fn: func(t *testing.T, s store.Store, call int, old store.Entity) ([]byte, []store.Op, error) {
				if call == 1 {
					write(t, s, store.Insert, "x")
				}
				return append(old.Data, 'b'), nil, nil
			},
			wantCalls: 2, want: "xb",
		},
		{
			name: "re-applies after a concurrent delete", initial: "a",
			fn: func(t *testing.T, s store.Store, call int, old store.Entity) ([]byte, []store.Op, error) {
				if call == 1 {
					write(t, s, store.Delete, "")
				}
				return append([]byte("new:"), old.Data...), nil, nil
			},
			wantCalls: 2, want: "new:",
		},
		{
			name: "gives up under endless contention", initial: "a",
			fn: func(t *testing.T, s store.Store, call int, old store.Entity) ([]byte, []store.Op, error) {
				write(t, s, store.Upsert, "other")
				return []byte("mine"), nil, nil
			},
			wantCalls: store.MaxUpdateAttempts, wantErr: store.ErrTooMuchContention, want: "other",
		},
		{
			name: "returns the updater's error", initial: "a",
			fn: func(*testing.T, store.Store, int, store.Entity) ([]byte, []store.Op, error) {
				return []byte("never"), nil, errBoom
			},
			wantCalls: 1, wantErr: errBoom, want: "a",
		},
		{
			name: "nil data deletes", initial: "a",
			fn: func(*testing.T, store.Store, int, store.Entity) ([]byte, []store.Op, error) {
				return nil, nil, nil
			},
			wantCalls: 1,
		},
		{
			name: "nil data on a missing row",
			fn: func(*testing.T, store.Store, int, store.Entity) ([]byte, []store.Op, error) {
				return nil, nil, nil
			},
			wantCalls: 1, wantErr: store.ErrNotFound,
		},
		{
			name: "a failing extra op is not retried", initial: "a",
			fn: func(t *testing.T, s store.Store, _ int, _ store.Entity) ([]byte, []store.Op, error) {
				return []byte("b"), []store.Op{{Kind: store.Replace, Entity: store.Entity{PartitionKey: "p", RowKey: "missing", Data: []byte("x")}}}, nil
			},
			wantCalls: 1, wantErr: store.ErrNotFound, want: "a",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t)
			ctx := context.Background()
			if c.initial != "" {
				write(t, s, store.Insert, c.initial)
			}
			calls := 0
			got, err := store.Update(ctx, s, "rows", "p", "r", func(old store.Entity) ([]byte, []store.Op, error) {
				calls++
				return c.fn(t, s, calls, old)
			})
			if (c.wantErr == nil && err != nil) || !errors.Is(err, c.wantErr) {
				t.Fatalf("Update error = %v, want %v", err, c.wantErr)
			}
			if calls != c.wantCalls {
				t.Errorf("updater called %d times, want %d", calls, c.wantCalls)
			}
			row, gerr := s.Get(ctx, "rows", "p", "r")
			switch {
			case c.want == "" && !errors.Is(gerr, store.ErrNotFound):
				t.Errorf("row afterwards = %q, %v; want none", row.Data, gerr)
			case c.want != "" && (gerr != nil || string(row.Data) != c.want):
				t.Errorf("row afterwards = %q, %v; want %q", row.Data, gerr, c.want)
			}
			if err == nil && c.want != "" && (got.ETag != row.ETag || string(got.Data) != c.want) {
				t.Errorf("Update returned %q with ETag %q, stored %q with %q", got.Data, got.ETag, row.Data, row.ETag)
			}
		})
	}
}

func TestUpdateReadError(t *testing.T) {
	s := openStore(t)
	calls := 0
	_, err := store.Update(context.Background(), s, "rows", "p", "bad/key", func(store.Entity) ([]byte, []store.Op, error) {
		calls++
		return []byte("x"), nil, nil
	})
	if !errors.Is(err, store.ErrInvalid) || calls != 0 {
		t.Errorf("Update of an invalid key: %v after %d calls; want ErrInvalid before any call", err, calls)
	}
}
