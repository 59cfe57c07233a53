package dump_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/dump"
	"github.com/adfscim/adfscim/internal/store/tables"
)

func TestMain(m *testing.M) { os.Exit(azuritetest.Main(m)) }

var seq atomic.Int64

func azuriteStore(t *testing.T) *tables.Store {
	t.Helper()
	return openAzurite(t, newPrefix())
}

// newPrefix names a fresh set of tables in the shared Azurite.
func newPrefix() string { return fmt.Sprintf("d%d%d", os.Getpid()%10000, seq.Add(1)) }

// openAzurite opens the tables of prefix, with policies in the pipeline.
func openAzurite(t *testing.T, prefix string, policies ...policy.Policy) *tables.Store {
	t.Helper()
	s, err := tables.Open(context.Background(), tables.Options{
		ConnectionString: azuritetest.Shared(t),
		TablePrefix:      prefix,
		PerCallPolicies:  policies,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill writes a varied data set: several tables and partitions, a
// multi-batch partition, awkward keys, empty and multi-chunk data.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	write := func(table string, ops []store.Op) {
		t.Helper()
		if _, err := s.Batch(ctx, table, ops); err != nil {
			t.Fatalf("fill %s: %v", table, err)
		}
	}
	for start := 0; start < 250; start += 100 {
		var ops []store.Op
		for i := start; i < min(start+100, 250); i++ {
			ops = append(ops, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "u", RowKey: fmt.Sprintf("user%04d", i), Data: []byte(fmt.Sprintf(`{"userName":"user%d@example.com","x":"<&>"}`, i))}})
		}
		write("users", ops)
	}
	write("users", []store.Op{
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: "n", RowKey: store.EncodeKey("O'Brien/ÜX#1"), Data: []byte("u1")}},
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: "n", RowKey: "empty", Data: []byte{}}},
	})
	write("groups", []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: "g", RowKey: "big", Data: bytes.Repeat([]byte{0, 1, 2, 0xff}, 50_000)}}})
	write("groups", []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: "m'1", RowKey: "member", Data: []byte("1")}}})
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := azuriteStore(t)
	fill(t, src)
	tableList := []string{"users", "groups", "users", "absent"}
	var first bytes.Buffer
	if err := dump.Export(ctx, src, tableList, &first); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(first.String(), "\n"); got != 254 {
		t.Fatalf("export has %d lines, want 254", got)
	}
	if !strings.HasPrefix(first.String(), `{"table":"groups","pk":"g","rk":"big","data":"AAEC/wABAv8`) {
		t.Fatalf("export starts %.80q", first.String())
	}

	counter := new(tables.Counter)
	dst, err := tables.Open(ctx, tables.Options{ConnectionString: azuritetest.Shared(t), TablePrefix: fmt.Sprintf("d%d%d", os.Getpid()%10000, seq.Add(1)), Counter: counter})
	if err != nil {
		t.Fatal(err)
	}
	n, err := dump.Import(ctx, dst, bytes.NewReader(first.Bytes()), dump.Options{})
	if err != nil || n != 254 {
		t.Fatalf("import: %d rows, %v", n, err)
	}
	// 3 + 1 + 1 + 1 batches, plus for each of the 2 new tables a failed
	// first write and its creation; 2 emptiness checks.
	if c := counter.Snapshot(); c.Batch+c.Write != 6+2 || c.Table != 2 || c.Query != 2 {
		t.Fatalf("import cost %+v", c)
	}
	var second bytes.Buffer
	if err := dump.Export(ctx, dst, tableList, &second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("re-export differs:\n%.300s\n%.300s", first.String(), second.String())
	}

	// a second import into the now full store is refused, and writes nothing
	before := counter.Snapshot()
	if _, err := dump.Import(ctx, dst, bytes.NewReader(first.Bytes()), dump.Options{}); !errors.Is(err, dump.ErrNotEmpty) {
		t.Fatalf("import into a full store: %v", err)
	}
	if d := counter.Snapshot().Sub(before); d.Batch+d.Write != 0 {
		t.Fatalf("refused import wrote: %+v", d)
	}
	// Force replaces: rows with the dump's keys get the dump's data, the
	// others are deleted
	if _, err := dst.Batch(ctx, "users", []store.Op{
		{Kind: store.Upsert, Entity: store.Entity{PartitionKey: "n", RowKey: "empty", Data: []byte("changed")}},
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: "n", RowKey: "extra", Data: []byte("later")}},
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := dump.Import(ctx, dst, bytes.NewReader(first.Bytes()), dump.Options{Force: true}); err != nil || n != 254 {
		t.Fatalf("forced import: %d, %v", n, err)
	}
	if e, err := dst.Get(ctx, "users", "n", "empty"); err != nil || len(e.Data) != 0 {
		t.Fatalf("forced import did not restore the row: %v %q", err, e.Data)
	}
	if _, err := dst.Get(ctx, "users", "n", "extra"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("forced import kept a row that is not in the dump: %v", err)
	}
}

func TestImportRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"not json", "{\"table\":\"t\",\"pk\":\"p\",\"rk\":\"r\",\"data\":\"\"}\nnope\n", nil},
		{"bad key", `{"table":"t","pk":"a/b","rk":"r","data":""}` + "\n", store.ErrInvalid},
		{"no table", `{"pk":"p","rk":"r","data":""}` + "\n", store.ErrInvalid},
		{"bad base64", `{"table":"t","pk":"p","rk":"r","data":"!!"}` + "\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := azuriteStore(t)
			n, err := dump.Import(context.Background(), s, strings.NewReader(tc.in), dump.Options{})
			if err == nil || n != 0 || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %d, %v; want an error (%v) and nothing written", n, err, tc.want)
			}
			if _, err := s.Get(context.Background(), "t", "p", "r"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("bad input wrote a row: %v", err)
			}
		})
	}
}

// TestAcrossEngines moves a dump from Table Storage (Azurite) to the bolt
// engine and back: every export along the way is byte-identical.
func TestAcrossEngines(t *testing.T) {
	ctx := context.Background()
	src := azuriteStore(t)
	fill(t, src)
	tableList := []string{"users", "groups"}
	export := func(s store.Store) []byte {
		t.Helper()
		var b bytes.Buffer
		if err := dump.Export(ctx, s, tableList, &b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	want := export(src)

	local, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	if n, err := dump.Import(ctx, local, bytes.NewReader(want), dump.Options{}); err != nil || n != 254 {
		t.Fatalf("import into bolt: %d, %v", n, err)
	}
	if got := export(local); !bytes.Equal(got, want) {
		t.Fatalf("bolt export differs:\n%.300s\n%.300s", got, want)
	}

	back := azuriteStore(t)
	if n, err := dump.Import(ctx, back, bytes.NewReader(export(local)), dump.Options{}); err != nil || n != 254 {
		t.Fatalf("import back into Table Storage: %d, %v", n, err)
	}
	if got := export(back); !bytes.Equal(got, want) {
		t.Fatal("export after the round trip through bolt differs")
	}
}

// TestImportSplitsLargeRows: rows of one partition whose Data add up to more
// than a Table Storage batch can carry go in several batches.
func TestImportSplitsLargeRows(t *testing.T) {
	ctx := context.Background()
	var in bytes.Buffer
	for i := range 10 {
		rec, _ := json.Marshal(dump.Record{Table: "big", PK: "p", RK: fmt.Sprintf("r%02d", i), Data: bytes.Repeat([]byte{byte(i)}, store.MaxDataSize)})
		in.Write(append(rec, '\n'))
	}
	s := azuriteStore(t)
	n, err := dump.Import(ctx, s, bytes.NewReader(in.Bytes()), dump.Options{})
	if err != nil || n != 10 {
		t.Fatalf("import: %d, %v", n, err)
	}
	var out bytes.Buffer
	if err := dump.Export(ctx, s, []string{"big"}, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), in.Bytes()) {
		t.Fatal("export differs from the imported dump")
	}
}
