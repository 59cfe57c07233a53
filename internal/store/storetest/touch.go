package storetest

import (
	"context"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

// testTouch checks the Touch op: it keeps Data, changes the ETag, fails on a
// missing row (failing the whole batch), and honours IfMatch.
func testTouch(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := mustBatch(t, s, table, insert("p", "user", "payload"))
	touched := mustBatch(t, s, table, store.Op{Kind: store.Touch, Entity: ent("p", "user", "")})
	if touched[0] == first[0] {
		t.Errorf("Touch kept ETag %q; want a new one", first[0])
	}
	e := wantData(t, s, table, "p", "user", "payload")
	if e.ETag != touched[0] {
		t.Errorf("Get ETag = %q after Touch returned %q", e.ETag, touched[0])
	}

	// A Touch of a missing row fails the batch: the insert beside it is not written.
	_, err := s.Batch(ctx, table, []store.Op{
		insert("p", "membership", "m"),
		{Kind: store.Touch, Entity: ent("p", "nobody", "")},
	})
	wantBatchError(t, err, 1, store.ErrNotFound)
	wantMissing(t, s, table, "p", "membership")

	// IfMatch is honoured.
	_, err = s.Batch(ctx, table, []store.Op{{Kind: store.Touch, Entity: ent("p", "user", ""), IfMatch: first[0]}})
	wantBatchError(t, err, 0, store.ErrPrecondition)
	mustBatch(t, s, table, store.Op{Kind: store.Touch, Entity: ent("p", "user", ""), IfMatch: touched[0]})
	wantData(t, s, table, "p", "user", "payload")
}
