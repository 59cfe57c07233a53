package enginetest_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

func openBolt(t *testing.T) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "counting.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func insert(pk, rk string) store.Op {
	return store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: rk, Data: []byte(`{}`)}}
}

// TestCountingKeepsFollowUps: through the counting store, code that asks
// store.FollowerOf still finds the engine's one-commit path when the engine
// has one, and its commits are counted; over an engine without one it finds
// none, and a BatchFollow called anyway fails instead of committing apart.
func TestCountingKeepsFollowUps(t *testing.T) {
	ctx := context.Background()
	t.Run("engine with follow-ups", func(t *testing.T) {
		c := enginetest.NewCounting(openBolt(t))
		f, err := store.FollowerOf(c)
		if err != nil || f == nil {
			t.Fatalf("FollowerOf(counting over bbolt) = %v, %v; want the engine's Follower", f, err)
		}
		follow := func(store.Reader) ([]store.Write, error) {
			return []store.Write{{Table: "beta", Ops: []store.Op{insert("p", "followed")}}}, nil
		}
		if _, err := f.BatchFollow(ctx, "alpha", []store.Op{insert("p", "1"), insert("p", "2")}, follow); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "beta", "p", "followed"); err != nil {
			t.Errorf("the follow-up write was not committed: %v", err)
		}
		if got := c.Snapshot("alpha"); got.Follows != 1 || got.Batches != 0 || got.Ops != 2 {
			t.Errorf("counts on alpha = %+v, want one BatchFollow of 2 ops", got)
		}
	})
	t.Run("engine without", func(t *testing.T) {
		// Split commits no follow-ups: a follow-up may go to another engine.
		noFollow := enginetest.Split(openBolt(t), nil)
		c := enginetest.NewCounting(noFollow)
		if f, err := store.FollowerOf(c); err != nil || f != nil {
			t.Fatalf("FollowerOf(counting over Split) = %v, %v; want none", f, err)
		}
		_, err := c.BatchFollow(ctx, "alpha", []store.Op{insert("p", "1")}, nil)
		if !errors.Is(err, store.ErrCapability) {
			t.Errorf("BatchFollow on an engine without: %v, want ErrCapability", err)
		}
		if _, err := c.Get(ctx, "alpha", "p", "1"); !store.IsNotFound(err) {
			t.Errorf("the refused BatchFollow wrote its batch: %v", err)
		}
	})
}

// TestCountingCounts checks each count against the calls made, per table,
// on the engine under test (-engine).
func TestCountingCounts(t *testing.T) {
	ctx := context.Background()
	c := enginetest.OpenCounting(t)
	c.Mark = func(table string, e store.Entity) bool { return strings.HasPrefix(e.RowKey, "M|") }
	before := c.Billed()
	if _, err := c.Batch(ctx, "alpha", []store.Op{insert("p", "M|1"), insert("p", "M|2"), insert("p", "U|1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Batch(ctx, "beta", []store.Op{insert("p", "x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "alpha", "p", "M|1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "alpha", "p", "missing"); !store.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, "alpha", store.Query{PartitionKey: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Scan(ctx, "beta", func(store.Entity) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tables []string
		want   enginetest.Counts
	}{
		{[]string{"alpha"}, enginetest.Counts{Gets: 2, Lists: 1, Batches: 1, Ops: 3, Rows: 4, Marked: 3}},
		{[]string{"beta"}, enginetest.Counts{Scans: 1, Batches: 1, Ops: 1, Rows: 1}},
		{nil, enginetest.Counts{Gets: 2, Lists: 1, Scans: 1, Batches: 2, Ops: 4, Rows: 5, Marked: 3}},
	}
	for _, tc := range tests {
		if got := c.Snapshot(tc.tables...); got != tc.want {
			t.Errorf("Snapshot(%v) = %+v, want %+v", tc.tables, got, tc.want)
		}
	}
	if got := c.Snapshot().Calls(); got != 6 {
		t.Errorf("Calls = %d, want 6", got)
	}
	if enginetest.Engine() == "tables" {
		if billed := c.Billed().Sub(before); billed.Read != 2 || billed.Query != 2 || billed.Batch == 0 {
			t.Errorf("billed %+v, want 2 point reads, 2 queries and the batches", billed)
		}
	}

	if got := c.Reset(); got.Calls() != 6 {
		t.Errorf("first Reset = %+v, want the 6 calls", got)
	}
	ran := 0
	c.Before(func() {
		ran++
		if got := c.Snapshot(); got.Batches != 2 {
			t.Errorf("the hook ran after the batch was counted: %+v", got)
		}
	})
	cost := c.Measure(func() {
		for _, rk := range []string{"y", "z"} {
			if _, err := c.Batch(ctx, "beta", []store.Op{insert("p", rk)}); err != nil {
				t.Fatal(err)
			}
		}
	})
	if ran != 1 {
		t.Errorf("the hook ran %d times, want once", ran)
	}
	if cost != (enginetest.Counts{Batches: 2, Ops: 2}) {
		t.Errorf("Measure = %+v, want 2 batches", cost)
	}
	if got := c.Reset(); got != cost {
		t.Errorf("Reset = %+v, want what was measured since the last one, %+v", got, cost)
	}
}
