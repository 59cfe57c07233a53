package tables_test

import (
	"context"
	"errors"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

func TestTouch(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	big := make([]byte, 200_000)
	for i := range big {
		big[i] = byte(i)
	}
	seed := mustBatch(t, s, "touch",
		store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "a", Data: big}},
		store.Op{Kind: store.Insert, Entity: ent("p", "b", "B")})
	stale := seed[0]
	tests := []struct {
		name      string
		ops       []store.Op
		want      error
		wantIndex int
	}{
		{"single, unconditional", []store.Op{{Kind: store.Touch, Entity: ent("p", "a", "ignored")}}, nil, 0},
		{"single, stale etag", []store.Op{{Kind: store.Touch, Entity: ent("p", "a", ""), IfMatch: stale}}, store.ErrPrecondition, 0},
		{"single, missing row", []store.Op{{Kind: store.Touch, Entity: ent("p", "zz", "")}}, store.ErrNotFound, 0},
		{"batch, with an insert", []store.Op{{Kind: store.Insert, Entity: ent("p", "c", "C")}, {Kind: store.Touch, Entity: ent("p", "a", "")}}, nil, 0},
		{"batch, missing row", []store.Op{{Kind: store.Insert, Entity: ent("p", "d", "D")}, {Kind: store.Touch, Entity: ent("p", "zz", "")}}, store.ErrNotFound, 1},
		{"batch, stale etag", []store.Op{{Kind: store.Touch, Entity: ent("p", "b", ""), IfMatch: seed[1]}, {Kind: store.Touch, Entity: ent("p", "a", ""), IfMatch: stale}}, store.ErrPrecondition, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := s.Get(ctx, "touch", "p", "a")
			if err != nil {
				t.Fatal(err)
			}
			etags, err := s.Batch(ctx, "touch", tc.ops)
			if tc.want != nil {
				var be *store.BatchError
				if !errors.Is(err, tc.want) || !errors.As(err, &be) || be.Index != tc.wantIndex {
					t.Fatalf("got %v, want %v at %d", err, tc.want, tc.wantIndex)
				}
				if _, err := s.Get(ctx, "touch", "p", "zz"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("touch created a row: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			after, err := s.Get(ctx, "touch", "p", "a")
			if err != nil {
				t.Fatal(err)
			}
			if string(after.Data) != string(big) {
				t.Fatalf("touch changed the data (%d bytes)", len(after.Data))
			}
			if tc.want == nil {
				i := len(tc.ops) - 1
				if after.ETag == before.ETag || after.ETag != etags[i] {
					t.Fatalf("etag %q, before %q, touch returned %q", after.ETag, before.ETag, etags[i])
				}
			} else if after.ETag != before.ETag {
				t.Fatal("a failed touch changed the etag")
			}
		})
	}
}
