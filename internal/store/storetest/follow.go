package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

// FollowerStore is an engine that also commits follow-up writes.
type FollowerStore interface {
	store.Store
	store.Follower
}

// RunFollowerTests checks the store.Follower contract: a batch and the
// writes its Follow computes commit together or not at all, the Follow sees
// the state of the commit it runs in, and concurrent callers' Follows are
// serialised against each other.
func RunFollowerTests(t *testing.T, newStore func(t *testing.T) FollowerStore) {
	runAll(t, newStore, []namedTest[FollowerStore]{
		{"ReportsFollow", testFollowReported},
		{"CommitsTogether", testFollowCommitsTogether},
		{"NoWrites", testFollowNoWrites},
		{"EmptyBatch", testFollowEmptyBatch},
		{"BatchFails", testFollowBatchFails},
		{"FollowFails", testFollowFails},
		{"FollowCheckFails", testFollowCheckFails},
		{"Serialised", testFollowSerialised},
	})
}

const followTable = "followups"

// A Follower reports it, so that callers use it (store.FollowerOf).
func testFollowReported(t *testing.T, s FollowerStore) {
	if f, err := store.FollowerOf(s); f == nil || err != nil {
		t.Errorf("FollowerOf = %v, %v; want the engine (Capabilities().Follow = %v)", f, err, s.Capabilities().Follow)
	}
}

// counterFollow reads the counter row of followTable and writes it back
// incremented (if-match what it read), creating it at 1: a read-modify-write
// that is only correct when the Follow sees the latest committed state.
func counterFollow(r store.Reader) ([]store.Write, error) {
	e, err := r.Get(followTable, "p", "counter")
	if store.IsNotFound(err) {
		return []store.Write{{Table: followTable, Ops: []store.Op{insert("p", "counter", "1")}}}, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(string(e.Data))
	if err != nil {
		return nil, err
	}
	return []store.Write{{Table: followTable, Ops: []store.Op{{Kind: store.Replace, Entity: ent("p", "counter", strconv.Itoa(n+1)), IfMatch: e.ETag}}}}, nil
}

func testFollowCommitsTogether(t *testing.T, s FollowerStore) {
	ctx := context.Background()
	etags, err := s.BatchFollow(ctx, table, []store.Op{insert("p", "a", "1"), insert("p", "b", "2")}, counterFollow)
	if err != nil {
		t.Fatal(err)
	}
	if len(etags) != 2 {
		t.Fatalf("BatchFollow returned %d ETags for 2 ops", len(etags))
	}
	if e := wantData(t, s, table, "p", "a", "1"); e.ETag != etags[0] {
		t.Errorf("ETag of a = %q, BatchFollow returned %q", e.ETag, etags[0])
	}
	wantData(t, s, table, "p", "b", "2")
	wantData(t, s, followTable, "p", "counter", "1")
	if _, err := s.BatchFollow(ctx, table, []store.Op{insert("p", "c", "3")}, counterFollow); err != nil {
		t.Fatal(err)
	}
	wantData(t, s, followTable, "p", "counter", "2")
}

func testFollowNoWrites(t *testing.T, s FollowerStore) {
	called := false
	_, err := s.BatchFollow(context.Background(), table, []store.Op{insert("p", "a", "1")}, func(store.Reader) ([]store.Write, error) {
		called = true
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !called {
		t.Error("the Follow of a batch that passed its checks was not called")
	}
	wantData(t, s, table, "p", "a", "1")
	wantMissing(t, s, followTable, "p", "counter")
}

// An empty batch commits its follow-up writes alone; without a Follow it is
// still invalid.
func testFollowEmptyBatch(t *testing.T, s FollowerStore) {
	ctx := context.Background()
	for range 3 {
		etags, err := s.BatchFollow(ctx, table, nil, counterFollow)
		if err != nil || len(etags) != 0 {
			t.Fatalf("BatchFollow(no ops) = %q, %v", etags, err)
		}
	}
	wantData(t, s, followTable, "p", "counter", "3")
	if _, err := s.BatchFollow(ctx, table, nil, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an empty batch without a Follow: err = %v, want ErrInvalid", err)
	}
}

// A batch that fails its own checks writes nothing, follow-ups included,
// and reports its own *BatchError.
func testFollowBatchFails(t *testing.T, s FollowerStore) {
	mustBatch(t, s, table, insert("p", "taken", "old"))
	_, err := s.BatchFollow(context.Background(), table, []store.Op{insert("p", "new", "1"), insert("p", "taken", "2")}, counterFollow)
	wantBatchError(t, err, 1, store.ErrExists)
	if errors.Is(err, store.ErrFollow) {
		t.Errorf("a failure of the batch itself wraps ErrFollow: %v", err)
	}
	wantMissing(t, s, table, "p", "new")
	wantData(t, s, table, "p", "taken", "old")
	wantMissing(t, s, followTable, "p", "counter")
}

// A Follow that fails fails the batch too.
func testFollowFails(t *testing.T, s FollowerStore) {
	boom := errors.New("boom")
	_, err := s.BatchFollow(context.Background(), table, []store.Op{insert("p", "a", "1")}, func(store.Reader) ([]store.Write, error) {
		return nil, boom
	})
	if !errors.Is(err, store.ErrFollow) {
		t.Fatalf("err = %v, want ErrFollow", err)
	}
	wantMissing(t, s, table, "p", "a")
}

// A follow-up write that fails its check fails the batch, and the error is
// not the caller's conflict: no *BatchError or sentinel leaks through, so a
// caller retrying on conflicts does not retry this.
func testFollowCheckFails(t *testing.T, s FollowerStore) {
	mustBatch(t, s, followTable, insert("p", "counter", "7"))
	_, err := s.BatchFollow(context.Background(), table, []store.Op{insert("p", "a", "1")}, func(store.Reader) ([]store.Write, error) {
		return []store.Write{
			{Table: "othertable", Ops: []store.Op{insert("p", "x", "1")}},
			{Table: followTable, Ops: []store.Op{insert("p", "counter", "1")}},
		}, nil
	})
	if !errors.Is(err, store.ErrFollow) {
		t.Fatalf("err = %v, want ErrFollow", err)
	}
	var be *store.BatchError
	if errors.As(err, &be) || store.IsExists(err) {
		t.Errorf("a failed follow-up check looks like the batch's own failure: %v", err)
	}
	wantMissing(t, s, table, "p", "a")
	wantMissing(t, s, "othertable", "p", "x")
	wantData(t, s, followTable, "p", "counter", "7")
}

// Concurrent BatchFollow calls, which the engine may commit together, each
// see the counter as the previous one left it: no increment is lost.
func testFollowSerialised(t *testing.T, s FollowerStore) {
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.BatchFollow(context.Background(), table, []store.Op{insert("p", fmt.Sprintf("w%d-%d", w, i), "x")}, counterFollow)
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantData(t, s, followTable, "p", "counter", strconv.Itoa(writers*each))
	if got := len(rowKeys(t, s, table, store.Query{PartitionKey: "p"})); got != writers*each {
		t.Errorf("%d rows written, want %d", got, writers*each)
	}
}
