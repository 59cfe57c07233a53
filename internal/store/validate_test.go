package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

func op(kind store.OpKind, pk, rk string) store.Op {
	return store.Op{Kind: kind, Entity: store.Entity{PartitionKey: pk, RowKey: rk, Data: []byte("x")}}
}

func ops(n int) []store.Op {
	out := make([]store.Op, n)
	for i := range out {
		out[i] = op(store.Insert, "p", fmt.Sprint(i))
	}
	return out
}

// sized builds inserts carrying the given numbers of bytes.
func sized(sizes ...int) []store.Op {
	out := make([]store.Op, len(sizes))
	for i, n := range sizes {
		out[i] = store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: fmt.Sprint(i), Data: make([]byte, n)}}
	}
	return out
}

func TestValidateBatch(t *testing.T) {
	cases := []struct {
		name  string
		ops   []store.Op
		valid bool
	}{
		{"one op", ops(1), true},
		{"100 ops", ops(store.MaxBatchOps), true},
		{"every kind", []store.Op{op(store.Insert, "p", "a"), op(store.Replace, "p", "b"), op(store.Upsert, "p", "c"), op(store.Delete, "p", "d"), op(store.Touch, "p", "e")}, true},
		{"empty keys", []store.Op{op(store.Insert, "", "")}, true},
		{"data of MaxDataSize", []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", Data: make([]byte, store.MaxDataSize)}}}, true},
		{"longest keys", []store.Op{op(store.Insert, strings.Repeat("p", store.MaxKeyLen), strings.Repeat("r", store.MaxKeyLen))}, true},
		{"batch data at the limit", sized(store.MaxDataSize, store.MaxDataSize, store.MaxBatchDataSize-2*store.MaxDataSize), true},
		{"batch data over the limit", sized(store.MaxDataSize, store.MaxDataSize, store.MaxBatchDataSize-2*store.MaxDataSize+1), false},
		{"many small ops over the limit", sized(slices.Repeat([]int{store.MaxBatchDataSize/100 + 1}, 100)...), false},
		{"nil", nil, false},
		{"101 ops", ops(store.MaxBatchOps + 1), false},
		{"two partitions", []store.Op{op(store.Insert, "p", "a"), op(store.Insert, "q", "b")}, false},
		{"partitions differ in case", []store.Op{op(store.Insert, "p", "a"), op(store.Insert, "P", "b")}, false},
		{"duplicate row", []store.Op{op(store.Insert, "p", "a"), op(store.Delete, "p", "a")}, false},
		{"bad row key", []store.Op{op(store.Insert, "p", "a"), op(store.Insert, "p", "a/b")}, false},
		{"bad partition key in every op", []store.Op{op(store.Insert, "p#", "a")}, false},
		{"row key too long", []store.Op{op(store.Insert, "p", strings.Repeat("r", store.MaxKeyLen+1))}, false},
		{"invalid UTF-8", []store.Op{op(store.Insert, "p", "\xff")}, false},
		{"zero kind", []store.Op{op(0, "p", "a")}, false},
		{"unknown kind", []store.Op{op(store.Touch+1, "p", "a")}, false},
		{"data too large", []store.Op{{Kind: store.Upsert, Entity: store.Entity{PartitionKey: "p", Data: make([]byte, store.MaxDataSize+1)}}}, false},
	}
	for _, c := range cases {
		err := store.ValidateBatch(c.ops)
		switch {
		case c.valid && err != nil:
			t.Errorf("%s: ValidateBatch = %v, want nil", c.name, err)
		case !c.valid && !errors.Is(err, store.ErrInvalid):
			t.Errorf("%s: ValidateBatch = %v, want ErrInvalid", c.name, err)
		}
	}
}

func TestValidateQuery(t *testing.T) {
	cases := []struct {
		q     store.Query
		valid bool
	}{
		{store.Query{PartitionKey: "p"}, true},
		{store.Query{PartitionKey: "", Prefix: "a", After: "a", Limit: 10, KeysOnly: true}, true},
		{store.Query{PartitionKey: "p/"}, false},
		{store.Query{PartitionKey: "p", Limit: -1}, false},
	}
	for _, c := range cases {
		err := store.ValidateQuery(c.q)
		if c.valid != (err == nil) || (err != nil && !errors.Is(err, store.ErrInvalid)) {
			t.Errorf("ValidateQuery(%+v) = %v, want valid %v", c.q, err, c.valid)
		}
	}
}

func TestBatchError(t *testing.T) {
	err := error(&store.BatchError{Index: 3, Op: op(store.Replace, "p", "r"), Err: fmt.Errorf("row changed: %w", store.ErrPrecondition)})
	wrapped := fmt.Errorf("saving user: %w", err)
	if !store.IsPrecondition(wrapped) || store.IsExists(wrapped) || store.IsNotFound(wrapped) {
		t.Errorf("sentinel helpers misread %v", wrapped)
	}
	var be *store.BatchError
	if !errors.As(wrapped, &be) || be.Index != 3 {
		t.Errorf("errors.As(%v) = %v", wrapped, be)
	}
	if msg := err.Error(); !strings.Contains(msg, "op 3") || !strings.Contains(msg, "replace p/r") {
		t.Errorf("message %q does not name the op", msg)
	}
}
