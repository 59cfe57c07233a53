package tables_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

// TestEmptyKeys: Table Storage and the contract allow empty keys; the SDK
// refuses an empty PartitionKey, which the engine works around.
func TestEmptyKeys(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tests := []struct{ pk, rk string }{{"", "r"}, {"", ""}, {"p", ""}, {"", "o'brien"}}
	for _, tc := range tests {
		t.Run(tc.pk+"/"+tc.rk, func(t *testing.T) {
			sib := tc.rk + "x"
			get := func(rk string) (store.Entity, error) { return s.Get(ctx, "empty", tc.pk, rk) }
			e1 := mustBatch(t, s, "empty", store.Op{Kind: store.Insert, Entity: ent(tc.pk, tc.rk, "1")})
			if e, err := get(tc.rk); err != nil || string(e.Data) != "1" || e.ETag != e1[0] {
				t.Fatalf("after insert: %v %q", err, e.Data)
			}
			e2 := mustBatch(t, s, "empty", store.Op{Kind: store.Replace, Entity: ent(tc.pk, tc.rk, "2"), IfMatch: e1[0]})
			e3 := mustBatch(t, s, "empty", store.Op{Kind: store.Touch, Entity: ent(tc.pk, tc.rk, ""), IfMatch: e2[0]})
			mustBatch(t, s, "empty", store.Op{Kind: store.Upsert, Entity: ent(tc.pk, sib, "s")})
			e4 := mustBatch(t, s, "empty",
				store.Op{Kind: store.Replace, Entity: ent(tc.pk, tc.rk, "3"), IfMatch: e3[0]},
				store.Op{Kind: store.Touch, Entity: ent(tc.pk, sib, "")},
				store.Op{Kind: store.Upsert, Entity: ent(tc.pk, sib+"2", "u")})
			if e, err := get(tc.rk); err != nil || string(e.Data) != "3" || e.ETag != e4[0] {
				t.Fatalf("after batch: %v %q", err, e.Data)
			}
			rows, err := s.List(ctx, "empty", store.Query{PartitionKey: tc.pk, Prefix: tc.rk})
			if err != nil || !slices.Equal(keysOf(rows), []string{tc.rk, sib, sib + "2"}) {
				t.Fatalf("List: %v %q", err, keysOf(rows))
			}
			_, err = s.Batch(ctx, "empty", []store.Op{{Kind: store.Delete, Entity: ent(tc.pk, tc.rk, ""), IfMatch: e1[0]}})
			if !errors.Is(err, store.ErrPrecondition) {
				t.Fatalf("stale delete: %v", err)
			}
			mustBatch(t, s, "empty", store.Op{Kind: store.Delete, Entity: ent(tc.pk, sib, "")}, store.Op{Kind: store.Delete, Entity: ent(tc.pk, sib+"2", "")})
			mustBatch(t, s, "empty", store.Op{Kind: store.Delete, Entity: ent(tc.pk, tc.rk, ""), IfMatch: e4[0]})
			if _, err := get(tc.rk); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}

// TestMaxDataEveryWrite: the largest Data goes through every kind of write,
// alone and in a batch.
func TestMaxDataEveryWrite(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	big := make([]byte, store.MaxDataSize)
	for i := range big {
		big[i] = byte(i * 7)
	}
	bigEnt := func(rk string) store.Entity { return store.Entity{PartitionKey: "p", RowKey: rk, Data: big} }
	steps := []struct {
		name string
		ops  []store.Op
	}{
		{"insert", []store.Op{{Kind: store.Insert, Entity: bigEnt("a")}}},
		{"replace", []store.Op{{Kind: store.Replace, Entity: bigEnt("a")}}},
		{"upsert", []store.Op{{Kind: store.Upsert, Entity: bigEnt("b")}}},
		// as many rows of MaxDataSize as store.MaxBatchDataSize allows in one batch
		{"batch", []store.Op{{Kind: store.Replace, Entity: bigEnt("a")}, {Kind: store.Upsert, Entity: bigEnt("b")}}},
	}
	for _, st := range steps {
		mustBatch(t, s, "max", st.ops...)
		for _, op := range st.ops {
			if e, err := s.Get(ctx, "max", "p", op.Entity.RowKey); err != nil || !bytes.Equal(e.Data, big) {
				t.Fatalf("%s: %s: %v, %d bytes", st.name, op.Entity.RowKey, err, len(e.Data))
			}
		}
	}
}
