package tables_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

var prefixSeq atomic.Int64

// newStore opens an engine on the shared Azurite with a table prefix of its
// own, so every test starts from empty tables.
func newStore(t *testing.T, mutate ...func(*tables.Options)) *tables.Store {
	t.Helper()
	opts := tables.Options{
		ConnectionString: azuritetest.Shared(t),
		TablePrefix:      fmt.Sprintf("t%d%d", time.Now().UnixNano()%1e6, prefixSeq.Add(1)),
		Retry:            policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Millisecond},
	}
	for _, m := range mutate {
		m(&opts)
	}
	s, err := tables.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ent(pk, rk, data string) store.Entity {
	return store.Entity{PartitionKey: pk, RowKey: rk, Data: []byte(data)}
}

func mustBatch(t *testing.T, s store.Store, table string, ops ...store.Op) []string {
	t.Helper()
	etags, err := s.Batch(context.Background(), table, ops)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	return etags
}

func TestRoundTripData(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), store.MaxDataSize/16)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"small json", []byte(`{"userName":"o'brien"}`)},
		{"one chunk exactly", big[:64*1024]},
		{"one byte over a chunk", big[:64*1024+1]},
		{"max size", big},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rk := fmt.Sprintf("r%d", i)
			etags := mustBatch(t, s, "rows", store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: rk, Data: tc.data}})
			got, err := s.Get(ctx, "rows", "p", rk)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, tc.data) {
				t.Fatalf("data: got %d bytes, want %d", len(got.Data), len(tc.data))
			}
			if got.ETag == "" || got.ETag != etags[0] {
				t.Fatalf("etag: got %q, insert returned %q", got.ETag, etags[0])
			}
			if got.Timestamp.IsZero() {
				t.Fatal("no timestamp")
			}
		})
	}
	if _, err := s.Batch(ctx, "rows", []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big", Data: append(big, 'x')}}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("oversized data: got %v, want ErrInvalid", err)
	}
}

func TestKeysWithAwkwardCharacters(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	keys := []string{"o'brien", "a%2Fb", "with space", "ünïcødé", "x' or PartitionKey ne 'y", store.EncodeKey("a/b#c?d\\e")}
	for _, k := range keys {
		t.Run(k, func(t *testing.T) {
			// single-op path
			mustBatch(t, s, "keys", store.Op{Kind: store.Insert, Entity: ent(k, k, "v1")})
			got, err := s.Get(ctx, "keys", k, k)
			if err != nil || string(got.Data) != "v1" {
				t.Fatalf("Get after insert: %v %q", err, got.Data)
			}
			// multi-op path: replace the row and add a sibling atomically
			etags := mustBatch(t, s, "keys",
				store.Op{Kind: store.Replace, Entity: ent(k, k, "v2"), IfMatch: got.ETag},
				store.Op{Kind: store.Insert, Entity: ent(k, k+"'2", "sib")})
			got, err = s.Get(ctx, "keys", k, k)
			if err != nil || string(got.Data) != "v2" || got.ETag != etags[0] {
				t.Fatalf("Get after batch: %v %q etag %q want %q", err, got.Data, got.ETag, etags[0])
			}
			mustBatch(t, s, "keys",
				store.Op{Kind: store.Delete, Entity: ent(k, k, ""), IfMatch: got.ETag},
				store.Op{Kind: store.Delete, Entity: ent(k, k+"'2", "")})
			if _, err := s.Get(ctx, "keys", k, k); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Get after delete: %v", err)
			}
		})
	}
}
