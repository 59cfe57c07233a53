package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/storetest"
)

// open opens a fresh store in a temporary directory, closed at cleanup.
func open(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "adfscim.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store { return open(t, Options{}) })
}

// With a long gathering window every concurrent write goes through group
// commit, so the suite also runs with batches coalesced.
func TestConformanceGroupCommit(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return open(t, Options{MaxBatchDelay: 20 * time.Millisecond, MaxBatchSize: 8})
	})
}

func TestFollower(t *testing.T) {
	storetest.RunFollowerTests(t, func(t *testing.T) storetest.FollowerStore { return open(t, Options{}) })
}

func TestFollowerGroupCommit(t *testing.T) {
	storetest.RunFollowerTests(t, func(t *testing.T) storetest.FollowerStore {
		return open(t, Options{MaxBatchDelay: 5 * time.Millisecond, MaxBatchSize: 8})
	})
}

func TestReplacer(t *testing.T) {
	storetest.RunReplacerTests(t, func(t *testing.T) storetest.ReplacerStore { return open(t, Options{}) })
}

func insert(pk, rk, data string) store.Op {
	return store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: pk, RowKey: rk, Data: []byte(data)}}
}

// TestSharedTransaction runs batches in one bbolt transaction exactly as
// bbolt's group commit does, and checks that the failing one writes nothing
// and leaves the others to commit.
func TestSharedTransaction(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	if _, err := s.Batch(ctx, "users", []store.Op{insert("p", "taken", "old")}); err != nil {
		t.Fatal(err)
	}
	good1 := &pending{s: s, table: "users", ops: []store.Op{insert("p", "a", "1")}}
	bad := &pending{s: s, table: "users", ops: []store.Op{insert("p", "b", "2"), insert("p", "taken", "new"), insert("p", "c", "3")}}
	good2 := &pending{s: s, table: "users", ops: []store.Op{insert("p", "d", "4"), {Kind: store.Delete, Entity: store.Entity{PartitionKey: "p", RowKey: "a"}}}}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, p := range []*pending{good1, bad, good2} {
			if err := p.apply(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("shared transaction failed: %v", err)
	}
	if good1.failed != nil || good2.failed != nil {
		t.Fatalf("good batches failed: %v, %v", good1.failed, good2.failed)
	}
	var be *store.BatchError
	if !errors.As(bad.failed, &be) || be.Index != 1 || !errors.Is(bad.failed, store.ErrExists) {
		t.Fatalf("bad batch result = %v, want op 1 failing with ErrExists", bad.failed)
	}
	if bad.etags != nil {
		t.Errorf("bad batch reported ETags %q", bad.etags)
	}
	want := map[string]string{"taken": "old", "d": "4"}
	for _, rk := range []string{"a", "b", "c", "d", "taken"} {
		e, err := s.Get(ctx, "users", "p", rk)
		data, ok := want[rk]
		switch {
		case ok && (err != nil || string(e.Data) != data):
			t.Errorf("row %q = %q, %v; want %q", rk, e.Data, err, data)
		case !ok && !errors.Is(err, store.ErrNotFound):
			t.Errorf("row %q = %q, %v; want ErrNotFound", rk, e.Data, err)
		}
	}
	if e, _ := s.Get(ctx, "users", "p", "d"); e.ETag != good2.etags[0] {
		t.Errorf("ETag of d = %q, batch reported %q", e.ETag, good2.etags[0])
	}
}

// TestGroupCommitMixed drives many concurrent writers, a third of whose
// batches fail, through group commit: every good batch lands, no failing one
// writes anything.
func TestGroupCommitMixed(t *testing.T) {
	s := open(t, Options{MaxBatchDelay: 5 * time.Millisecond})
	ctx := context.Background()
	if _, err := s.Batch(ctx, "rows", []store.Op{insert("p", "taken", "x")}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 30
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rk := fmt.Sprintf("w%02d-%02d", w, i)
				ops := []store.Op{insert("p", rk, rk)}
				fail := i%3 == 0
				if fail {
					ops = append(ops, insert("p", "taken", "y"))
				}
				_, err := s.Batch(ctx, "rows", ops)
				switch {
				case fail && !errors.Is(err, store.ErrExists):
					errs <- fmt.Errorf("%s: error %v, want ErrExists", rk, err)
				case !fail && err != nil:
					errs <- fmt.Errorf("%s: %w", rk, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		for i := range each {
			rk := fmt.Sprintf("w%02d-%02d", w, i)
			e, err := s.Get(ctx, "rows", "p", rk)
			if i%3 == 0 {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s of a failed batch: %q, %v; want ErrNotFound", rk, e.Data, err)
				}
			} else if err != nil || string(e.Data) != rk {
				t.Errorf("%s: %q, %v", rk, e.Data, err)
			}
		}
	}
}

// TestReopen checks that rows, ETags and the ETag sequence survive a restart.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adfscim.db")
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	etags, err := s.Batch(ctx, "users", []store.Op{insert("p", "a", "1"), insert("p", "b", "2")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Get(ctx, "users", "p", "a")
	if err != nil || string(e.Data) != "1" || e.ETag != etags[0] {
		t.Fatalf("after reopen: %q %q %v; want %q with ETag %q", e.Data, e.ETag, err, "1", etags[0])
	}
	// A write after the restart gets an ETag never handed out before.
	next, err := s.Batch(ctx, "users", []store.Op{{Kind: store.Replace, Entity: store.Entity{PartitionKey: "p", RowKey: "a", Data: []byte("3")}, IfMatch: etags[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if next[0] == etags[0] || next[0] == etags[1] {
		t.Errorf("ETag %q handed out again after reopen", next[0])
	}
}

// TestNewFileNewETags checks that a re-created file does not hand out ETags
// that could match ones remembered from the old file.
func TestNewFileNewETags(t *testing.T) {
	ctx := context.Background()
	seen := map[string]bool{}
	for range 3 {
		s := open(t, Options{})
		etags, err := s.Batch(ctx, "users", []store.Op{insert("p", "a", "1")})
		if err != nil {
			t.Fatal(err)
		}
		if seen[etags[0]] {
			t.Errorf("fresh file handed out ETag %q again", etags[0])
		}
		seen[etags[0]] = true
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "adfscim.db")
	first, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, timeout := range []time.Duration{-1, 50 * time.Millisecond} {
		s, err := Open(path, Options{LockTimeout: timeout})
		if !errors.Is(err, ErrLocked) {
			t.Errorf("second Open with timeout %v = %v, %v; want ErrLocked", timeout, s, err)
			if s != nil {
				s.Close()
			}
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := Open(path, Options{LockTimeout: -1})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	second.Close()
}

func TestInvalidTableName(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	for _, name := range []string{"", "ab", "1users", "user_s", "users/x", "\x00meta", "tåble", string(make([]byte, 64))} {
		_, err := s.Batch(ctx, name, []store.Op{insert("p", "r", "x")})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Batch on table %q: %v, want ErrInvalid", name, err)
		}
		if _, err := s.Get(ctx, name, "p", "r"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Get on table %q: %v, want ErrInvalid", name, err)
		}
		if _, err := s.List(ctx, name, store.Query{PartitionKey: "p"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("List on table %q: %v, want ErrInvalid", name, err)
		}
		if err := s.Scan(ctx, name, func(store.Entity) error { return nil }); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Scan on table %q: %v, want ErrInvalid", name, err)
		}
	}
}

func TestCanceled(t *testing.T) {
	s := open(t, Options{})
	var ops []store.Op
	for i := range 10 {
		ops = append(ops, insert("p", fmt.Sprint(i), "x"))
	}
	if _, err := s.Batch(context.Background(), "users", ops); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, "users", "p", "1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: %v", err)
	}
	if _, err := s.List(ctx, "users", store.Query{PartitionKey: "p"}); !errors.Is(err, context.Canceled) {
		t.Errorf("List: %v", err)
	}
	if _, err := s.Batch(ctx, "users", []store.Op{insert("p", "new", "x")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Batch: %v", err)
	}
	if _, err := s.Get(context.Background(), "users", "p", "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled Batch wrote its row: %v", err)
	}
	// A scan stops at the first row after its context ends.
	ctx, cancel = context.WithCancel(context.Background())
	calls := 0
	err := s.Scan(ctx, "users", func(store.Entity) error { calls++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("Scan: %d calls, %v; want 1 call and context.Canceled", calls, err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "adfscim.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Batch(ctx, "users", []store.Op{insert("p", "r", "x")}); err == nil {
		t.Error("Batch after Close succeeded")
	}
	if _, err := s.Get(ctx, "users", "p", "r"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Close = %v, want a failure that is not ErrNotFound", err)
	}
}

func BenchmarkBatchParallel(b *testing.B) {
	s := open(b, Options{})
	ctx := context.Background()
	data := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"someone@example.com","active":true}`)
	var n sync.Mutex
	next := 0
	b.SetParallelism(8) // 8 × GOMAXPROCS goroutines: 16 writers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		id := next
		next++
		n.Unlock()
		for i := 0; pb.Next(); i++ {
			op := store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: fmt.Sprintf("w%d", id), RowKey: fmt.Sprint(i), Data: data}}
			if _, err := s.Batch(ctx, "bench", []store.Op{op}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBatch is one writer alone: every batch pays its own fsync.
func BenchmarkBatch(b *testing.B) {
	s := open(b, Options{})
	ctx := context.Background()
	data := []byte(`{"userName":"someone@example.com","active":true}`)
	for i := 0; b.Loop(); i++ {
		op := store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: fmt.Sprint(i), Data: data}}
		if _, err := s.Batch(ctx, "bench", []store.Op{op}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := open(b, Options{})
	ctx := context.Background()
	data := make([]byte, 1024)
	for start := 0; start < 10000; start += store.MaxBatchOps {
		var ops []store.Op
		for i := start; i < start+store.MaxBatchOps; i++ {
			ops = append(ops, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "users", RowKey: fmt.Sprintf("u%05d", i), Data: data}})
		}
		if _, err := s.Batch(ctx, "bench", ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Get(ctx, "bench", "users", fmt.Sprintf("u%05d", i%10000)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestScanChunks scans a table several times the size of one read
// transaction's chunk, across partitions, and checks order and completeness.
func TestScanChunks(t *testing.T) {
	s := open(t, Options{})
	ctx := context.Background()
	var want []string
	for _, pk := range []string{"a", "a0", "b"} {
		for start := 0; start < 300; start += store.MaxBatchOps {
			var ops []store.Op
			for i := start; i < start+store.MaxBatchOps; i++ {
				rk := fmt.Sprintf("%04d", i)
				ops = append(ops, insert(pk, rk, pk+rk))
				want = append(want, pk+"/"+rk)
			}
			if _, err := s.Batch(ctx, "users", ops); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	err := s.Scan(ctx, "users", func(e store.Entity) error {
		got = append(got, e.PartitionKey+"/"+e.RowKey)
		if string(e.Data) != e.PartitionKey+e.RowKey {
			t.Errorf("%s/%s: Data %q", e.PartitionKey, e.RowKey, e.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Scan returned %d rows, want %d in order", len(got), len(want))
	}
}
