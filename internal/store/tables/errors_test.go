package tables_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/tables"
)

func TestBatchFailuresNameTheOp(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	seed := mustBatch(t, s, "err",
		store.Op{Kind: store.Insert, Entity: ent("p", "a", "A")},
		store.Op{Kind: store.Insert, Entity: ent("p", "b", "B")})
	stale := "W/\"datetime'2001-01-01T00%3A00%3A00.0000000Z'\""
	tests := []struct {
		name      string
		ops       []store.Op
		wantIndex int
		want      error
	}{
		{"single insert of an existing row", []store.Op{{Kind: store.Insert, Entity: ent("p", "a", "x")}}, 0, store.ErrExists},
		{"single replace with a stale etag", []store.Op{{Kind: store.Replace, Entity: ent("p", "a", "x"), IfMatch: stale}}, 0, store.ErrPrecondition},
		// a and b were written by one batch: the service gave them the same
		// ETag, yet b's ETag is no version of a
		{"single replace with another row's etag", []store.Op{{Kind: store.Replace, Entity: ent("p", "a", "x"), IfMatch: seed[1]}}, 0, store.ErrPrecondition},
		{"batch delete with another row's etag", []store.Op{{Kind: store.Upsert, Entity: ent("p", "c", "C")}, {Kind: store.Delete, Entity: ent("p", "b", ""), IfMatch: seed[0]}}, 1, store.ErrPrecondition},
		{"malformed etag", []store.Op{{Kind: store.Replace, Entity: ent("p", "a", "x"), IfMatch: "some-etag"}}, 0, store.ErrPrecondition},
		{"single replace of a missing row", []store.Op{{Kind: store.Replace, Entity: ent("p", "zz", "x")}}, 0, store.ErrNotFound},
		{"single delete of a missing row", []store.Op{{Kind: store.Delete, Entity: ent("p", "zz", "")}}, 0, store.ErrNotFound},
		{"single delete with a stale etag", []store.Op{{Kind: store.Delete, Entity: ent("p", "a", ""), IfMatch: stale}}, 0, store.ErrPrecondition},
		{"batch insert of an existing row at 2", []store.Op{
			{Kind: store.Insert, Entity: ent("p", "c", "C")},
			{Kind: store.Upsert, Entity: ent("p", "d", "D")},
			{Kind: store.Insert, Entity: ent("p", "b", "B2")},
		}, 2, store.ErrExists},
		{"batch replace with a stale etag at 1", []store.Op{
			{Kind: store.Replace, Entity: ent("p", "a", "A2"), IfMatch: seed[0]},
			{Kind: store.Replace, Entity: ent("p", "b", "B2"), IfMatch: stale},
		}, 1, store.ErrPrecondition},
		{"batch replace of a missing row at 1", []store.Op{
			{Kind: store.Insert, Entity: ent("p", "c", "C")},
			{Kind: store.Replace, Entity: ent("p", "zz", "x")},
		}, 1, store.ErrNotFound},
		{"batch delete of a missing row at 3", []store.Op{
			{Kind: store.Delete, Entity: ent("p", "a", "")},
			{Kind: store.Insert, Entity: ent("p", "c", "C")},
			{Kind: store.Upsert, Entity: ent("p", "b", "B3")},
			{Kind: store.Delete, Entity: ent("p", "zz", "")},
		}, 3, store.ErrNotFound},
		{"two partitions", []store.Op{{Kind: store.Insert, Entity: ent("p", "c", "")}, {Kind: store.Insert, Entity: ent("q", "c", "")}}, -1, store.ErrInvalid},
		{"101 operations", manyInserts("p", 101), -1, store.ErrInvalid},
		{"body over 4 MiB", []store.Op{
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "c", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "d", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "e", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "f", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "g", Data: make([]byte, store.MaxDataSize)}},
		}, -1, store.ErrInvalid},
		{"invalid key", []store.Op{{Kind: store.Insert, Entity: ent("p", "a/b", "")}}, -1, store.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Batch(ctx, "err", tc.ops)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var be *store.BatchError
			if tc.wantIndex >= 0 {
				if !errors.As(err, &be) || be.Index != tc.wantIndex {
					t.Fatalf("got %v, want a BatchError at index %d", err, tc.wantIndex)
				}
			}
			// all or nothing: the seeded rows are untouched and nothing new exists
			rows, err := s.List(ctx, "err", store.Query{PartitionKey: "p"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || string(rows[0].Data) != "A" || string(rows[1].Data) != "B" || rows[0].ETag != seed[0] || rows[1].ETag != seed[1] {
				t.Fatalf("store changed by a failed batch: %+v", rows)
			}
		})
	}
}

func manyInserts(pk string, n int) []store.Op {
	ops := make([]store.Op, n)
	for i := range ops {
		ops[i] = store.Op{Kind: store.Insert, Entity: ent(pk, rowName(i), "v")}
	}
	return ops
}

func rowName(i int) string {
	const digits = "0123456789"
	b := []byte("r00000")
	for j := len(b) - 1; j > 0 && i > 0; j-- {
		b[j] = digits[i%10]
		i /= 10
	}
	return string(b)
}

func TestMissingTable(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Get(ctx, "never", "p", "r"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	if rows, err := s.List(ctx, "never", store.Query{PartitionKey: "p"}); err != nil || len(rows) != 0 {
		t.Fatalf("List: %v %v", rows, err)
	}
	if err := s.Scan(ctx, "never", func(store.Entity) error { t.Fatal("row in a missing table"); return nil }); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if _, err := s.Batch(ctx, "never", []store.Op{{Kind: store.Delete, Entity: ent("p", "r", "")}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Batch(ctx, "never", []store.Op{{Kind: store.Replace, Entity: ent("p", "r", "x")}, {Kind: store.Delete, Entity: ent("p", "s", "")}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Replace batch: %v", err)
	}
	// the first insert creates the table, single and batched
	mustBatch(t, s, "lazyone", store.Op{Kind: store.Insert, Entity: ent("p", "r", "x")})
	mustBatch(t, s, "lazytwo", store.Op{Kind: store.Insert, Entity: ent("p", "r", "x")}, store.Op{Kind: store.Upsert, Entity: ent("p", "s", "y")})
	for _, table := range []string{"lazyone", "lazytwo"} {
		if e, err := s.Get(ctx, table, "p", "r"); err != nil || string(e.Data) != "x" {
			t.Fatalf("%s: %v %q", table, err, e.Data)
		}
	}
	if _, err := s.Get(ctx, "bad_name", "p", "r"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("invalid table name: %v", err)
	}
}

// batchSpy records the request lines of every $batch sent.
type batchSpy struct {
	mu    sync.Mutex
	lines []string
}

func (b *batchSpy) Do(req *policy.Request) (*http.Response, error) {
	if strings.HasSuffix(req.Raw().URL.Path, "$batch") && req.Body() != nil {
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := req.Body().Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		_ = req.RewindBody()
		b.mu.Lock()
		for _, l := range strings.Split(sb.String(), "\r\n") {
			if strings.HasSuffix(l, " HTTP/1.1") {
				b.lines = append(b.lines, l)
			}
		}
		b.mu.Unlock()
	}
	return req.Next()
}

// TestBatchKeysAreODataLiterals checks the wire: in every batch request
// line, a key's single quotes are doubled, as Azure requires (Azurite
// accepts both forms, so the round trip alone proves nothing).
func TestBatchKeysAreODataLiterals(t *testing.T) {
	spy := &batchSpy{}
	s := newStore(t, func(o *tables.Options) { o.PerCallPolicies = append(o.PerCallPolicies, spy) })
	k := "o'brien"
	mustBatch(t, s, "q", store.Op{Kind: store.Insert, Entity: ent(k, k, "1")}, store.Op{Kind: store.Insert, Entity: ent(k, "plain", "1")})
	mustBatch(t, s, "q", store.Op{Kind: store.Replace, Entity: ent(k, k, "2")}, store.Op{Kind: store.Delete, Entity: ent(k, "plain", "")})
	var keyed int
	for _, l := range spy.lines {
		i := strings.Index(l, "(PartitionKey=")
		if i < 0 {
			continue
		}
		keyed++
		path, err := url.PathUnescape(l[i : strings.LastIndex(l, ")")+1])
		if err != nil {
			t.Fatal(err)
		}
		want := "(PartitionKey='o''brien',RowKey='o''brien')"
		if strings.Contains(path, "plain") {
			want = "(PartitionKey='o''brien',RowKey='plain')"
		}
		if path != want {
			t.Errorf("request line key segment %q, want %q", path, want)
		}
	}
	if keyed != 2 {
		t.Fatalf("saw %d keyed batch operations, want 2 (lines %q)", keyed, spy.lines)
	}
	if e, err := s.Get(context.Background(), "q", k, k); err != nil || string(e.Data) != "2" {
		t.Fatalf("Get: %v %q", err, e.Data)
	}
}
