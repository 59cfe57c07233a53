package tables_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/tables"
)

func keysOf(rows []store.Entity) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.RowKey
	}
	return out
}

func TestListSelects(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	rows := []string{"a", "ab", "abc", "abd", "b", "b'", "x", "x' or PartitionKey ne 'y", "y", "zz"}
	var ops []store.Op
	for _, r := range rows {
		ops = append(ops, store.Op{Kind: store.Insert, Entity: ent("p", r, "data-"+r)})
	}
	mustBatch(t, s, "sel", ops...)
	// rows in other partitions that a widened filter would leak
	mustBatch(t, s, "sel", store.Op{Kind: store.Insert, Entity: ent("y", "x", "other")}, store.Op{Kind: store.Insert, Entity: ent("y", "zzz", "other")})
	mustBatch(t, s, "sel", store.Op{Kind: store.Insert, Entity: ent("p'", "a", "other")})

	tests := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"whole partition", store.Query{PartitionKey: "p"}, rows},
		{"prefix", store.Query{PartitionKey: "p", Prefix: "ab"}, []string{"ab", "abc", "abd"}},
		{"prefix with quote", store.Query{PartitionKey: "p", Prefix: "b'"}, []string{"b'"}},
		{"after", store.Query{PartitionKey: "p", After: "b'"}, []string{"x", "x' or PartitionKey ne 'y", "y", "zz"}},
		{"prefix and after", store.Query{PartitionKey: "p", Prefix: "ab", After: "abc"}, []string{"abd"}},
		{"limit", store.Query{PartitionKey: "p", Limit: 3}, []string{"a", "ab", "abc"}},
		{"limit after", store.Query{PartitionKey: "p", After: "abd", Limit: 2}, []string{"b", "b'"}},
		{"injection in prefix", store.Query{PartitionKey: "p", Prefix: "x' or PartitionKey ne 'y"}, []string{"x' or PartitionKey ne 'y"}},
		{"injection in after", store.Query{PartitionKey: "p", After: "zz' or PartitionKey ne 'q"}, nil},
		{"injection in partition", store.Query{PartitionKey: "q' or PartitionKey ne 'q"}, nil},
		{"injection that closes the prefix bound", store.Query{PartitionKey: "p", Prefix: "zz' or RowKey gt '"}, nil},
		{"partition with quote", store.Query{PartitionKey: "p'"}, []string{"a"}},
		{"missing partition", store.Query{PartitionKey: "none"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, keysOnly := range []bool{false, true} {
				q := tc.q
				q.KeysOnly = keysOnly
				got, err := s.List(ctx, "sel", q)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(keysOf(got), tc.want) {
					t.Fatalf("keysOnly=%v: got %q, want %q", keysOnly, keysOf(got), tc.want)
				}
				for _, e := range got {
					if e.PartitionKey != q.PartitionKey || e.ETag == "" {
						t.Fatalf("row %+v: wrong partition or no etag", e)
					}
					if keysOnly && e.Data != nil {
						t.Fatalf("keysOnly returned data for %s", e.RowKey)
					}
					if !keysOnly && string(e.Data) != "data-"+e.RowKey && string(e.Data) != "other" {
						t.Fatalf("row %s has data %q", e.RowKey, e.Data)
					}
				}
			}
		})
	}
	if _, err := s.List(ctx, "sel", store.Query{PartitionKey: "a#b"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid partition key: %v", err)
	}
}

// TestPagingAndCost checks that List and Scan follow continuation tokens
// (Table Storage answers at most 1,000 rows a page) and what each costs.
func TestPagingAndCost(t *testing.T) {
	ctx := context.Background()
	counter := new(tables.Counter)
	s := newStore(t, func(o *tables.Options) { o.Counter = counter; o.Tables = []string{"pages"} })
	if got := counter.Snapshot(); got.Table != 1 || got.Total() != 1 {
		t.Fatalf("Open with one table cost %+v, want one table request", got)
	}
	const n = 2345
	var want []string
	for start := 0; start < n; start += store.MaxBatchOps {
		var ops []store.Op
		for i := start; i < min(start+store.MaxBatchOps, n); i++ {
			ops = append(ops, store.Op{Kind: store.Insert, Entity: ent("p", rowName(i), fmt.Sprint(i))})
			want = append(want, rowName(i))
		}
		mustBatch(t, s, "pages", ops...)
	}
	mustBatch(t, s, "pages", store.Op{Kind: store.Insert, Entity: ent("a", "first", "")})
	mustBatch(t, s, "pages", store.Op{Kind: store.Insert, Entity: ent("q", "last", "")})
	before := counter.Snapshot()
	if d := before.Sub(tables.Counts{Table: 1}); d.Batch != 24 || d.Write != 2 || d.Total() != 26 {
		t.Fatalf("writes cost %+v, want 24 batches and 2 single writes", d)
	}

	tests := []struct {
		name      string
		q         store.Query
		wantRows  int
		wantPages int64
	}{
		{"all rows", store.Query{PartitionKey: "p"}, n, 3},
		{"keys only", store.Query{PartitionKey: "p", KeysOnly: true}, n, 3},
		{"limit within a page", store.Query{PartitionKey: "p", Limit: 10}, 10, 1},
		{"limit over a page", store.Query{PartitionKey: "p", Limit: 1500}, 1500, 2},
		{"after, the tail", store.Query{PartitionKey: "p", After: rowName(n - 6)}, 5, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := counter.Snapshot()
			got, err := s.List(ctx, "pages", tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantRows {
				t.Fatalf("got %d rows, want %d", len(got), tc.wantRows)
			}
			if tc.q.After == "" && !slices.Equal(keysOf(got), want[:tc.wantRows]) {
				t.Fatal("rows out of order or missing")
			}
			if d := counter.Snapshot().Sub(b); d.Query != tc.wantPages || d.Total() != tc.wantPages {
				t.Fatalf("cost %+v, want %d query pages", d, tc.wantPages)
			}
		})
	}

	b := counter.Snapshot()
	var scanned []string
	err := s.Scan(ctx, "pages", func(e store.Entity) error { scanned = append(scanned, e.PartitionKey+"/"+e.RowKey); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(scanned) != n+2 || scanned[0] != "a/first" || scanned[n+1] != "q/last" || !slices.IsSorted(scanned) {
		t.Fatalf("scan returned %d rows, first %q last %q", len(scanned), scanned[0], scanned[len(scanned)-1])
	}
	if d := counter.Snapshot().Sub(b); d.Query != 3 {
		t.Fatalf("scan cost %+v, want 3 pages", d)
	}
	if _, err := s.Get(ctx, "pages", "p", rowName(7)); err != nil {
		t.Fatal(err)
	}
	if got := s.Transactions(); got != counter.Snapshot() || got.Read != 1 {
		t.Fatalf("Transactions %+v, counter %+v: want the same, one read", got, counter.Snapshot())
	}
	stop := errors.New("stop")
	if err := s.Scan(ctx, "pages", func(store.Entity) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("scan did not pass on fn's error: %v", err)
	}
}
