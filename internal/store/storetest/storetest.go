// Package storetest is the conformance suite of the store.Store contract.
// Every engine proves that it keeps the contract by calling RunTests from a
// short test of its own:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunTests(t, func(t *testing.T) store.Store {
//			s := open(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The tests are engine-agnostic: they depend neither on timing nor on the
// format of ETags, so they run unchanged against the embedded engine and
// against Azure Table Storage (or Azurite). Table names follow Azure's rule
// (a letter, then letters and digits) so that every engine accepts them.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

// RunTests runs the whole suite. newStore must return a fresh, empty store
// for each call and register its Close with t.Cleanup.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	runAll(t, newStore, []namedTest[store.Store]{
		{"GetMissing", testGetMissing},
		{"GetInvalidKey", testGetInvalidKey},
		{"InsertGet", testInsertGet},
		{"InsertExisting", testInsertExisting},
		{"ReplaceIfMatch", testReplaceIfMatch},
		{"ReplaceUnconditional", testReplaceUnconditional},
		{"ReplaceMissing", testReplaceMissing},
		{"DeleteIfMatch", testDeleteIfMatch},
		{"DeleteUnconditional", testDeleteUnconditional},
		{"DeleteMissing", testDeleteMissing},
		{"Upsert", testUpsert},
		{"ETagChangesOnEveryWrite", testETagChanges},
		{"MixedBatch", testMixedBatch},
		{"BatchAtomic", testBatchAtomic},
		{"BatchInvalid", testBatchInvalid},
		{"BatchMaxOps", testBatchMaxOps},
		{"MaxDataSize", testMaxDataSize},
		{"MaxDataSizeReplace", testMaxDataSizeReplace},
		{"MaxBatchDataSize", testMaxBatchDataSize},
		{"DataRoundTrip", testDataRoundTrip},
		{"TablesIsolated", testTablesIsolated},
		{"MissingTable", testMissingTable},
		{"ListOrder", testListOrder},
		{"ListQuery", testListQuery},
		{"ListPaging", testListPaging},
		{"ListInvalid", testListInvalid},
		{"ListPartitionIsolated", testListPartitionIsolated},
		{"Scan", testScan},
		{"ScanStops", testScanStops},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"UpdateExtraOps", testUpdateExtraOps},
		{"InsertRace", testInsertRace},
		{"Touch", testTouch},
		{"CapabilitiesHonest", testCapabilitiesHonest},
	})
}

// An engine implements what its Capabilities report.
func testCapabilitiesHonest(t *testing.T, s store.Store) {
	if _, err := store.FollowerOf(s); err != nil {
		t.Error(err)
	}
}

// namedTest is one test of a suite, run on a fresh store of type S.
type namedTest[S any] struct {
	name string
	run  func(t *testing.T, s S)
}

// runAll runs each test as a subtest on a store of its own.
func runAll[S any](t *testing.T, newStore func(t *testing.T) S, tests []namedTest[S]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

const table = "conformance"

// ent builds an entity of partition pk.
func ent(pk, rk, data string) store.Entity {
	return store.Entity{PartitionKey: pk, RowKey: rk, Data: []byte(data)}
}

func insert(pk, rk, data string) store.Op {
	return store.Op{Kind: store.Insert, Entity: ent(pk, rk, data)}
}

// mustBatch applies ops and fails the test on error; it returns the ETags.
func mustBatch(t *testing.T, s store.Store, tbl string, ops ...store.Op) []string {
	t.Helper()
	etags, err := s.Batch(context.Background(), tbl, ops)
	if err != nil {
		t.Fatalf("Batch(%s): %v", describe(ops), err)
	}
	if len(etags) != len(ops) {
		t.Fatalf("Batch(%s) returned %d ETags, want %d", describe(ops), len(etags), len(ops))
	}
	for i, op := range ops {
		if op.Kind == store.Delete && etags[i] != "" {
			t.Errorf("Batch: ETag of delete op %d = %q, want empty", i, etags[i])
		}
		if op.Kind != store.Delete && etags[i] == "" {
			t.Errorf("Batch: ETag of %s op %d is empty", op.Kind, i)
		}
	}
	return etags
}

func describe(ops []store.Op) string {
	parts := make([]string, 0, len(ops))
	for _, op := range ops {
		parts = append(parts, fmt.Sprintf("%s %s/%s", op.Kind, op.Entity.PartitionKey, op.Entity.RowKey))
	}
	if len(parts) > 4 {
		parts = append(parts[:4], fmt.Sprintf("… %d ops", len(ops)))
	}
	return strings.Join(parts, ", ")
}

// wantBatchError checks that err is a *BatchError at index wrapping sentinel.
func wantBatchError(t *testing.T, err error, index int, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Batch succeeded, want op %d to fail with %v", index, sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("Batch error = %v, want one wrapping %v", err, sentinel)
	}
	var be *store.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Batch error = %v (%T), want a *store.BatchError", err, err)
	}
	if be.Index != index {
		t.Errorf("BatchError.Index = %d, want %d (%v)", be.Index, index, err)
	}
}

// mustGet reads a row that must exist.
func mustGet(t *testing.T, s store.Store, tbl, pk, rk string) store.Entity {
	t.Helper()
	e, err := s.Get(context.Background(), tbl, pk, rk)
	if err != nil {
		t.Fatalf("Get(%s, %q, %q): %v", tbl, pk, rk, err)
	}
	if e.PartitionKey != pk || e.RowKey != rk {
		t.Errorf("Get(%q, %q) returned keys %q/%q", pk, rk, e.PartitionKey, e.RowKey)
	}
	if e.ETag == "" {
		t.Errorf("Get(%q, %q) returned an empty ETag", pk, rk)
	}
	if e.Timestamp.IsZero() {
		t.Errorf("Get(%q, %q) returned a zero Timestamp", pk, rk)
	}
	return e
}

// wantData reads a row and checks its Data.
func wantData(t *testing.T, s store.Store, tbl, pk, rk, data string) store.Entity {
	t.Helper()
	e := mustGet(t, s, tbl, pk, rk)
	if string(e.Data) != data {
		t.Errorf("Get(%q, %q).Data = %q, want %q", pk, rk, e.Data, data)
	}
	return e
}

// wantMissing checks that a row does not exist.
func wantMissing(t *testing.T, s store.Store, tbl, pk, rk string) {
	t.Helper()
	e, err := s.Get(context.Background(), tbl, pk, rk)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%s, %q, %q) = %+v, %v; want ErrNotFound", tbl, pk, rk, e, err)
	}
}

// rowKeys lists a whole partition and returns its RowKeys.
func rowKeys(t *testing.T, s store.Store, tbl string, q store.Query) []string {
	t.Helper()
	es, err := s.List(context.Background(), tbl, q)
	if err != nil {
		t.Fatalf("List(%s, %+v): %v", tbl, q, err)
	}
	keys := make([]string, 0, len(es))
	for _, e := range es {
		if e.PartitionKey != q.PartitionKey {
			t.Errorf("List(%+v) returned a row of partition %q", q, e.PartitionKey)
		}
		keys = append(keys, e.RowKey)
	}
	return keys
}

func testGetMissing(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "present", "x"))
	wantMissing(t, s, table, "p", "absent")
	wantMissing(t, s, table, "q", "present")
	wantMissing(t, s, table, "", "present")
}

func testGetInvalidKey(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "a", "x"))
	// No row can have an invalid key: either answer is acceptable, but the
	// call must fail and must not reach another row.
	for _, rk := range []string{"a/..", "a?x", "a#", `a\b`, "a\x00", "a\n"} {
		_, err := s.Get(context.Background(), table, "p", rk)
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) error = %v, want ErrInvalid or ErrNotFound", rk, err)
		}
	}
}

func testInsertGet(t *testing.T, s store.Store) {
	etags := mustBatch(t, s, table, insert("p", "r", `{"a":1}`))
	e := wantData(t, s, table, "p", "r", `{"a":1}`)
	if e.ETag != etags[0] {
		t.Errorf("Get ETag = %q, Batch returned %q", e.ETag, etags[0])
	}
}

func testInsertExisting(t *testing.T, s store.Store) {
	etags := mustBatch(t, s, table, insert("p", "b", "old"))
	// The conflicting insert is the second op; the first must not be written.
	_, err := s.Batch(context.Background(), table, []store.Op{insert("p", "a", "new"), insert("p", "b", "new")})
	wantBatchError(t, err, 1, store.ErrExists)
	var be *store.BatchError
	if errors.As(err, &be) && (be.Op.Kind != store.Insert || be.Op.Entity.RowKey != "b") {
		t.Errorf("BatchError.Op = %s %q, want insert %q", be.Op.Kind, be.Op.Entity.RowKey, "b")
	}
	if e := wantData(t, s, table, "p", "b", "old"); e.ETag != etags[0] {
		t.Errorf("failed insert changed the ETag of the existing row")
	}
	wantMissing(t, s, table, "p", "a")
}

func testReplaceIfMatch(t *testing.T, s store.Store) {
	first := mustBatch(t, s, table, insert("p", "r", "v1"))[0]
	second := mustBatch(t, s, table, store.Op{Kind: store.Replace, Entity: ent("p", "r", "v2"), IfMatch: first})[0]
	wantData(t, s, table, "p", "r", "v2")

	// The first ETag is stale now.
	_, err := s.Batch(context.Background(), table, []store.Op{{Kind: store.Replace, Entity: ent("p", "r", "v3"), IfMatch: first}})
	wantBatchError(t, err, 0, store.ErrPrecondition)
	if e := wantData(t, s, table, "p", "r", "v2"); e.ETag != second {
		t.Errorf("ETag after failed replace = %q, want %q", e.ETag, second)
	}
}

func testReplaceUnconditional(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "r", "v1"))
	mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: ent("p", "r", "v2")})
	mustBatch(t, s, table, store.Op{Kind: store.Replace, Entity: ent("p", "r", "v3")})
	wantData(t, s, table, "p", "r", "v3")
}

func testReplaceMissing(t *testing.T, s store.Store) {
	etag := mustBatch(t, s, table, insert("p", "gone", "x"))[0]
	mustBatch(t, s, table, store.Op{Kind: store.Delete, Entity: ent("p", "gone", "")})
	for _, c := range []struct{ rk, ifMatch string }{
		{"never", ""},
		{"gone", ""},
		{"gone", etag},
	} {
		_, err := s.Batch(context.Background(), table, []store.Op{{Kind: store.Replace, Entity: ent("p", c.rk, "y"), IfMatch: c.ifMatch}})
		wantBatchError(t, err, 0, store.ErrNotFound)
		wantMissing(t, s, table, "p", c.rk)
	}
}

func testDeleteIfMatch(t *testing.T, s store.Store) {
	first := mustBatch(t, s, table, insert("p", "r", "v1"))[0]
	second := mustBatch(t, s, table, store.Op{Kind: store.Replace, Entity: ent("p", "r", "v2"), IfMatch: first})[0]
	_, err := s.Batch(context.Background(), table, []store.Op{{Kind: store.Delete, Entity: ent("p", "r", ""), IfMatch: first}})
	wantBatchError(t, err, 0, store.ErrPrecondition)
	wantData(t, s, table, "p", "r", "v2")

	mustBatch(t, s, table, store.Op{Kind: store.Delete, Entity: ent("p", "r", ""), IfMatch: second})
	wantMissing(t, s, table, "p", "r")
}

func testDeleteUnconditional(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "r", "v1"), insert("p", "keep", "k"))
	mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: ent("p", "r", "v2")})
	mustBatch(t, s, table, store.Op{Kind: store.Delete, Entity: ent("p", "r", "")})
	wantMissing(t, s, table, "p", "r")
	wantData(t, s, table, "p", "keep", "k")
	// Deleted rows can be inserted again.
	mustBatch(t, s, table, insert("p", "r", "v3"))
	wantData(t, s, table, "p", "r", "v3")
}

func testDeleteMissing(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "r", "x"))
	for _, ifMatch := range []string{"", "some-etag"} {
		_, err := s.Batch(context.Background(), table, []store.Op{
			{Kind: store.Upsert, Entity: ent("p", "r", "changed")},
			{Kind: store.Delete, Entity: ent("p", "absent", ""), IfMatch: ifMatch},
		})
		wantBatchError(t, err, 1, store.ErrNotFound)
		wantData(t, s, table, "p", "r", "x")
	}
}

func testUpsert(t *testing.T, s store.Store) {
	created := mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: ent("p", "r", "v1")})[0]
	if e := wantData(t, s, table, "p", "r", "v1"); e.ETag != created {
		t.Errorf("Get ETag = %q, Upsert returned %q", e.ETag, created)
	}
	// IfMatch is ignored by Upsert, as by Table Storage.
	updated := mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: ent("p", "r", "v2"), IfMatch: "stale"})[0]
	if e := wantData(t, s, table, "p", "r", "v2"); e.ETag != updated {
		t.Errorf("Get ETag = %q, Upsert returned %q", e.ETag, updated)
	}
}

func testETagChanges(t *testing.T, s store.Store) {
	seen := map[string]string{}
	record := func(what, etag string) {
		t.Helper()
		if prev, dup := seen[etag]; dup {
			t.Errorf("%s returned ETag %q, already returned by %s", what, etag, prev)
		}
		seen[etag] = what
		if got := mustGet(t, s, table, "p", "r").ETag; got != etag {
			t.Errorf("after %s Get returned ETag %q, Batch returned %q", what, got, etag)
		}
	}
	etag := mustBatch(t, s, table, insert("p", "r", "same"))[0]
	record("insert", etag)
	for i := range 3 {
		// Same data every time: the ETag must change anyway.
		etag = mustBatch(t, s, table, store.Op{Kind: store.Replace, Entity: ent("p", "r", "same"), IfMatch: etag})[0]
		record(fmt.Sprintf("replace %d", i), etag)
		etag = mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: ent("p", "r", "same")})[0]
		record(fmt.Sprintf("upsert %d", i), etag)
		etag = mustBatch(t, s, table, store.Op{Kind: store.Touch, Entity: ent("p", "r", "")})[0]
		record(fmt.Sprintf("touch %d", i), etag)
	}
	mustBatch(t, s, table, store.Op{Kind: store.Delete, Entity: ent("p", "r", "")})
	etag = mustBatch(t, s, table, insert("p", "r", "same"))[0]
	record("insert after delete", etag)
	// Two rows written by one batch may share an ETag (Table Storage derives
	// it from the batch's timestamp): ETags are per row, so that is fine.
}

func testMixedBatch(t *testing.T, s store.Store) {
	etags := mustBatch(t, s, table, insert("p", "replace", "r0"), insert("p", "delete", "d0"), insert("p", "upsert", "u0"))
	out := mustBatch(t, s, table,
		store.Op{Kind: store.Insert, Entity: ent("p", "insert", "i1")},
		store.Op{Kind: store.Replace, Entity: ent("p", "replace", "r1"), IfMatch: etags[0]},
		store.Op{Kind: store.Delete, Entity: ent("p", "delete", ""), IfMatch: etags[1]},
		store.Op{Kind: store.Upsert, Entity: ent("p", "upsert", "u1")},
		store.Op{Kind: store.Upsert, Entity: ent("p", "upsert2", "u2")},
	)
	for i, c := range []struct{ rk, data string }{{"insert", "i1"}, {"replace", "r1"}, {"", ""}, {"upsert", "u1"}, {"upsert2", "u2"}} {
		if c.rk == "" {
			continue
		}
		if e := wantData(t, s, table, "p", c.rk, c.data); e.ETag != out[i] {
			t.Errorf("ETag of %q = %q, Batch returned %q", c.rk, e.ETag, out[i])
		}
	}
	wantMissing(t, s, table, "p", "delete")
	if got, want := rowKeys(t, s, table, store.Query{PartitionKey: "p"}), []string{"insert", "replace", "upsert", "upsert2"}; !slices.Equal(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
}

func testBatchAtomic(t *testing.T, s store.Store) {
	setup := mustBatch(t, s, table, insert("p", "exists", "e0"), insert("p", "victim", "v0"))
	stale := setup[1]
	mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: ent("p", "victim", "v1")})
	before := mustGet(t, s, table, "p", "victim")

	// In every case the third op fails: none of the others may be written.
	failing := []struct {
		name     string
		op       store.Op
		sentinel error
	}{
		{"insert existing", insert("p", "exists", "boom"), store.ErrExists},
		{"replace stale", store.Op{Kind: store.Replace, Entity: ent("p", "exists", "boom"), IfMatch: stale}, store.ErrPrecondition},
		{"replace missing", store.Op{Kind: store.Replace, Entity: ent("p", "missing", "boom")}, store.ErrNotFound},
		{"delete stale", store.Op{Kind: store.Delete, Entity: ent("p", "exists", ""), IfMatch: stale}, store.ErrPrecondition},
		{"delete missing", store.Op{Kind: store.Delete, Entity: ent("p", "missing", "")}, store.ErrNotFound},
		{"touch stale", store.Op{Kind: store.Touch, Entity: ent("p", "exists", ""), IfMatch: stale}, store.ErrPrecondition},
		{"touch missing", store.Op{Kind: store.Touch, Entity: ent("p", "missing", "")}, store.ErrNotFound},
	}
	for _, f := range failing {
		t.Run(f.name, func(t *testing.T) {
			_, err := s.Batch(context.Background(), table, []store.Op{
				insert("p", "new1", "n1"),
				{Kind: store.Upsert, Entity: ent("p", "victim", "overwritten")},
				f.op,
				{Kind: store.Delete, Entity: ent("p", "victim2", "")},
				insert("p", "new2", "n2"),
			})
			wantBatchError(t, err, 2, f.sentinel)
			wantMissing(t, s, table, "p", "new1")
			wantMissing(t, s, table, "p", "new2")
			if e := wantData(t, s, table, "p", "victim", "v1"); e.ETag != before.ETag {
				t.Errorf("failed batch changed the ETag of a row it touched")
			}
			wantData(t, s, table, "p", "exists", "e0")
		})
	}
}

func testBatchInvalid(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "exists", "x"))
	tooMany := make([]store.Op, store.MaxBatchOps+1)
	for i := range tooMany {
		tooMany[i] = insert("p", fmt.Sprintf("row%03d", i), "x")
	}
	bad := func(pk, rk string) []store.Op {
		return []store.Op{insert("p", "ok", "x"), insert(pk, rk, "x")}
	}
	cases := []struct {
		name string
		ops  []store.Op
	}{
		{"empty", nil},
		{"101 ops", tooMany},
		{"two partitions", []store.Op{insert("p", "ok", "x"), insert("q", "ok", "x")}},
		{"duplicate row", []store.Op{insert("p", "ok", "x"), {Kind: store.Upsert, Entity: ent("p", "ok", "y")}}},
		{"slash in row key", bad("p", "a/b")},
		{"backslash in row key", bad("p", `a\b`)},
		{"hash in row key", bad("p", "a#b")},
		{"question mark in row key", bad("p", "a?b")},
		{"newline in row key", bad("p", "a\nb")},
		{"DEL in row key", bad("p", "a\x7fb")},
		{"C1 control in row key", bad("p", "a\u0085b")},
		{"invalid UTF-8 in row key", bad("p", "a\xffb")},
		{"row key too long", bad("p", strings.Repeat("k", store.MaxKeyLen+1))},
		{"slash in partition key", []store.Op{insert("p/q", "ok", "x")}},
		{"unknown kind", []store.Op{insert("p", "ok", "x"), {Kind: store.OpKind(99), Entity: ent("p", "z", "x")}}},
		{"batch data too large", []store.Op{
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big1", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big2", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big3", Data: make([]byte, store.MaxDataSize)}},
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big4", Data: make([]byte, 1)}},
		}},
		{"data too large", []store.Op{insert("p", "ok", "x"), {Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big", Data: make([]byte, store.MaxDataSize+1)}}}},
		{"failing op too", []store.Op{insert("p", "ok", "x"), insert("p", "exists", "x"), insert("q", "other", "x")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Batch(context.Background(), table, c.ops)
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Batch error = %v, want ErrInvalid", err)
			}
			for _, op := range c.ops {
				if store.ValidKey(op.Entity.PartitionKey) && store.ValidKey(op.Entity.RowKey) && op.Entity.RowKey != "exists" {
					wantMissing(t, s, table, op.Entity.PartitionKey, op.Entity.RowKey)
				}
			}
		})
	}
	if got := rowKeys(t, s, table, store.Query{PartitionKey: "p"}); !slices.Equal(got, []string{"exists"}) {
		t.Errorf("rows after invalid batches = %q, want only %q", got, "exists")
	}
}

func testBatchMaxOps(t *testing.T, s store.Store) {
	ops := make([]store.Op, store.MaxBatchOps)
	want := make([]string, len(ops))
	for i := range ops {
		want[i] = fmt.Sprintf("row%03d", i)
		ops[i] = insert("p", want[i], want[i])
	}
	rand.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	etags := mustBatch(t, s, table, ops...)
	es, err := s.List(context.Background(), table, store.Query{PartitionKey: "p"})
	if err != nil {
		t.Fatal(err)
	}
	byRow := map[string]string{}
	for i, op := range ops {
		byRow[op.Entity.RowKey] = etags[i]
	}
	var got []string
	for _, e := range es {
		got = append(got, e.RowKey)
		if string(e.Data) != e.RowKey {
			t.Errorf("row %q has data %q", e.RowKey, e.Data)
		}
		if e.ETag != byRow[e.RowKey] {
			t.Errorf("row %q: List ETag %q, Batch returned %q", e.RowKey, e.ETag, byRow[e.RowKey])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("List returned %d rows %q…, want %d in order", len(got), got[:min(len(got), 3)], len(want))
	}
}

func testMaxDataSize(t *testing.T, s store.Store) {
	big := make([]byte, store.MaxDataSize)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	etag := mustBatch(t, s, table, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "big", Data: big}})[0]
	e := mustGet(t, s, table, "p", "big")
	if !bytes.Equal(e.Data, big) {
		t.Fatalf("Data of %d bytes did not round-trip (got %d bytes)", len(big), len(e.Data))
	}
	if e.ETag != etag {
		t.Errorf("ETag = %q, Batch returned %q", e.ETag, etag)
	}
	// Shrinking a big row must not leave parts of the old one behind.
	mustBatch(t, s, table, store.Op{Kind: store.Replace, Entity: ent("p", "big", "small"), IfMatch: etag})
	wantData(t, s, table, "p", "big", "small")
	es, err := s.List(context.Background(), table, store.Query{PartitionKey: "p"})
	if err != nil || len(es) != 1 || string(es[0].Data) != "small" {
		t.Errorf("List after shrink = %d rows, %v; want the one small row", len(es), err)
	}
}

// testMaxBatchDataSize writes a batch carrying exactly MaxBatchDataSize
// bytes over many ops.
func testMaxBatchDataSize(t *testing.T, s store.Store) {
	const n = store.MaxBatchOps
	ops := make([]store.Op, n)
	want := make(map[string][]byte, n)
	for i := range ops {
		size := store.MaxBatchDataSize / n
		if i == n-1 {
			size = store.MaxBatchDataSize - (n-1)*size
		}
		rk := fmt.Sprintf("row%03d", i)
		want[rk] = bytes.Repeat([]byte{byte(i)}, size)
		ops[i] = store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: rk, Data: want[rk]}}
	}
	mustBatch(t, s, table, ops...)
	es, err := s.List(context.Background(), table, store.Query{PartitionKey: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("List returned %d rows, want %d", len(es), n)
	}
	for _, e := range es {
		if !bytes.Equal(e.Data, want[e.RowKey]) {
			t.Errorf("row %q: %d bytes read back, want %d", e.RowKey, len(e.Data), len(want[e.RowKey]))
		}
	}
}

// testMaxDataSizeReplace checks that the limit holds for every kind of
// write, not only for Insert.
func testMaxDataSizeReplace(t *testing.T, s store.Store) {
	etag := mustBatch(t, s, table, insert("p", "big", "small"))[0]
	for i, kind := range []store.OpKind{store.Replace, store.Upsert, store.Upsert} {
		rk := "big"
		if i == 2 {
			rk = "new" // an upsert that creates the row
		}
		big := bytes.Repeat([]byte{byte('a' + i)}, store.MaxDataSize)
		op := store.Op{Kind: kind, Entity: store.Entity{PartitionKey: "p", RowKey: rk, Data: big}}
		if kind == store.Replace {
			op.IfMatch = etag
		}
		etags, err := s.Batch(context.Background(), table, []store.Op{op})
		if err != nil {
			t.Errorf("%s of %d bytes: %v", kind, len(big), err)
			continue
		}
		e := mustGet(t, s, table, "p", rk)
		if !bytes.Equal(e.Data, big) || e.ETag != etags[0] {
			t.Errorf("%s of %d bytes: read back %d bytes, ETag %q (Batch returned %q)", kind, len(big), len(e.Data), e.ETag, etags[0])
		}
	}
}

func testDataRoundTrip(t *testing.T, s store.Store) {
	cases := map[string][]byte{
		"empty":   {},
		"json":    []byte(`{"userName":"Ärger@example.com","active":true}`),
		"binary":  {0, 1, 2, 0xff, 0xfe, 0, 0x80},
		"quotes":  []byte(`it's "quoted" \ and '' doubled`),
		"unicode": []byte("日本語 ✓ 😀"),
	}
	ops := []store.Op{}
	for rk, data := range cases {
		ops = append(ops, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: rk, Data: data}})
	}
	mustBatch(t, s, table, ops...)
	for rk, data := range cases {
		if e := mustGet(t, s, table, "p", rk); !bytes.Equal(e.Data, data) {
			t.Errorf("%s: Data = %q, want %q", rk, e.Data, data)
		}
	}
	// The caller may keep what it got: later writes (here ones that grow
	// the store and free the row's old space) must not change it.
	kept := mustGet(t, s, table, "p", "json").Data
	for i := range 8 {
		mustBatch(t, s, table,
			store.Op{Kind: store.Upsert, Entity: ent("p", "json", fmt.Sprintf("overwritten %d", i))},
			store.Op{Kind: store.Upsert, Entity: store.Entity{PartitionKey: "p", RowKey: "grow", Data: bytes.Repeat([]byte{byte(i)}, 256<<10)}},
		)
	}
	if !bytes.Equal(kept, cases["json"]) {
		t.Errorf("Data kept from an earlier Get changed to %q", kept)
	}
	mustBatch(t, s, table, store.Op{Kind: store.Upsert, Entity: store.Entity{PartitionKey: "p", RowKey: "json", Data: cases["json"]}})
	// And may change it; the stored row stays.
	e := mustGet(t, s, table, "p", "json")
	copy(e.Data, "XXXX")
	wantData(t, s, table, "p", "json", string(cases["json"]))
	// And may change what it wrote after the write returned.
	data := []byte("written")
	mustBatch(t, s, table, store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "mut", Data: data}})
	copy(data, "changed")
	wantData(t, s, table, "p", "mut", "written")
}

func testTablesIsolated(t *testing.T, s store.Store) {
	mustBatch(t, s, "tableone", insert("p", "r", "one"))
	mustBatch(t, s, "tabletwo", insert("p", "r", "two"))
	wantData(t, s, "tableone", "p", "r", "one")
	wantData(t, s, "tabletwo", "p", "r", "two")
	mustBatch(t, s, "tableone", store.Op{Kind: store.Delete, Entity: ent("p", "r", "")})
	wantMissing(t, s, "tableone", "p", "r")
	wantData(t, s, "tabletwo", "p", "r", "two")
}

func testMissingTable(t *testing.T, s store.Store) {
	ctx := context.Background()
	const fresh = "nosuchtable"
	wantMissing(t, s, fresh, "p", "r")
	es, err := s.List(ctx, fresh, store.Query{PartitionKey: "p"})
	if err != nil || len(es) != 0 {
		t.Errorf("List of a missing table = %v, %v; want empty, nil", es, err)
	}
	calls := 0
	if err := s.Scan(ctx, fresh, func(store.Entity) error { calls++; return nil }); err != nil || calls != 0 {
		t.Errorf("Scan of a missing table: %d calls, %v; want 0, nil", calls, err)
	}
	_, err = s.Batch(ctx, fresh, []store.Op{{Kind: store.Replace, Entity: ent("p", "r", "x")}})
	wantBatchError(t, err, 0, store.ErrNotFound)
	_, err = s.Batch(ctx, fresh, []store.Op{{Kind: store.Delete, Entity: ent("p", "r", "")}})
	wantBatchError(t, err, 0, store.ErrNotFound)
	// The first write creates the table.
	etag := mustBatch(t, s, fresh, insert("p", "r", "x"))[0]
	if e := wantData(t, s, fresh, "p", "r", "x"); e.ETag != etag {
		t.Errorf("ETag = %q, Batch returned %q", e.ETag, etag)
	}
	// An upsert creates one too.
	mustBatch(t, s, "othertable", store.Op{Kind: store.Upsert, Entity: ent("p", "r", "y")})
	wantData(t, s, "othertable", "p", "r", "y")
}

// orderedKeys are row keys in ascending byte order, mixing ASCII, EncodeKey
// output and non-ASCII text. They avoid characters at or above U+E000, whose
// order differs between UTF-8 and UTF-16 code units.
func orderedKeys() []string {
	keys := []string{
		"", " ", "!", "%", "0", "9", "A", "Z", "a", "a b", "a%b", "a-b", "aa", "ab", "z", "~",
		"é", "ü", "über", "ž", "Ω", "ク", "日本", "😀",
		store.EncodeKey("a/b"), store.EncodeKey("a#b"), store.EncodeKey("a?b"), store.EncodeKey(`a\b`),
		store.EncodeKey("a%b"), store.EncodeKey("a\tb"), store.EncodeKey("user@example.com"),
		store.EncodeKey("Ärger/ü"), store.EncodeKey(strings.Repeat("long/", 200)),
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "" }) // Azure rejects some empty keys in URLs
	slices.Sort(keys)
	return slices.Compact(keys)
}

func testListOrder(t *testing.T, s store.Store) {
	want := orderedKeys()
	ops := make([]store.Op, len(want))
	for i, k := range want {
		ops[i] = insert("p", k, "data:"+k)
	}
	rand.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	mustBatch(t, s, table, ops...)
	es, err := s.List(context.Background(), table, store.Query{PartitionKey: "p"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.RowKey)
		if string(e.Data) != "data:"+e.RowKey {
			t.Errorf("row %q has Data %q", e.RowKey, e.Data)
		}
		if e.ETag == "" {
			t.Errorf("row %q has no ETag", e.RowKey)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("List order:\n got %q\nwant %q", got, want)
	}
	for _, k := range want {
		wantData(t, s, table, "p", k, "data:"+k)
	}
}

func testListQuery(t *testing.T, s store.Store) {
	rows := []string{"a", "ab", "abc", "abd", "ac", "b", "ba", "ü1", "ü2", "üb"}
	ops := make([]store.Op, len(rows))
	for i, k := range rows {
		ops[i] = insert("p", k, "d"+k)
	}
	mustBatch(t, s, table, ops...)
	mustBatch(t, s, table, insert("a", "a", "other partition"), insert("a", "ab", "other partition"))
	mustBatch(t, s, table, insert("pp", "a", "other partition"))

	cases := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"all", store.Query{}, rows},
		{"prefix", store.Query{Prefix: "ab"}, []string{"ab", "abc", "abd"}},
		{"prefix exact only", store.Query{Prefix: "abc"}, []string{"abc"}},
		{"prefix none", store.Query{Prefix: "c"}, nil},
		{"prefix unicode", store.Query{Prefix: "ü"}, []string{"ü1", "ü2", "üb"}},
		{"after", store.Query{After: "abd"}, []string{"ac", "b", "ba", "ü1", "ü2", "üb"}},
		{"after missing key", store.Query{After: "abz"}, []string{"ac", "b", "ba", "ü1", "ü2", "üb"}},
		{"after last", store.Query{After: "üb"}, nil},
		{"after before all", store.Query{After: " "}, rows},
		{"prefix after", store.Query{Prefix: "ab", After: "ab"}, []string{"abc", "abd"}},
		{"prefix after inside", store.Query{Prefix: "a", After: "abc"}, []string{"abd", "ac"}},
		{"prefix after before prefix", store.Query{Prefix: "b", After: "a"}, []string{"b", "ba"}},
		{"prefix after past prefix", store.Query{Prefix: "a", After: "b"}, nil},
		{"limit", store.Query{Limit: 3}, []string{"a", "ab", "abc"}},
		{"limit one", store.Query{Limit: 1}, []string{"a"}},
		{"limit above count", store.Query{Limit: 100}, rows},
		{"prefix limit", store.Query{Prefix: "ü", Limit: 2}, []string{"ü1", "ü2"}},
		{"after limit", store.Query{After: "ac", Limit: 2}, []string{"b", "ba"}},
		{"prefix after limit", store.Query{Prefix: "a", After: "a", Limit: 2}, []string{"ab", "abc"}},
		{"keys only", store.Query{KeysOnly: true, Prefix: "b"}, []string{"b", "ba"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.PartitionKey = "p"
			es, err := s.List(context.Background(), table, c.q)
			if err != nil {
				t.Fatalf("List(%+v): %v", c.q, err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.RowKey)
				if e.PartitionKey != "p" {
					t.Errorf("row %q of partition %q", e.RowKey, e.PartitionKey)
				}
				switch {
				case c.q.KeysOnly && len(e.Data) != 0:
					t.Errorf("KeysOnly returned Data %q for %q", e.Data, e.RowKey)
				case !c.q.KeysOnly && string(e.Data) != "d"+e.RowKey:
					t.Errorf("row %q has Data %q", e.RowKey, e.Data)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("List(%+v) = %q, want %q", c.q, got, c.want)
			}
		})
	}
}

func testListPaging(t *testing.T, s store.Store) {
	const n = 250 // more than one batch, and more than one engine page
	var want []string
	for start := 0; start < n; start += store.MaxBatchOps {
		var ops []store.Op
		for i := start; i < min(n, start+store.MaxBatchOps); i++ {
			k := store.EncodeKey(fmt.Sprintf("user%04d@example.com/%d", i, i))
			want = append(want, k)
			ops = append(ops, insert("p", k, "x"))
		}
		mustBatch(t, s, table, ops...)
	}
	slices.Sort(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		keys := rowKeys(t, s, table, store.Query{PartitionKey: "p", After: after, Limit: 40, KeysOnly: true})
		if len(keys) > 40 {
			t.Fatalf("page of %d rows, limit 40", len(keys))
		}
		if len(keys) == 0 {
			break
		}
		got = append(got, keys...)
		after = keys[len(keys)-1]
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged List returned %d rows, want %d in order", len(got), len(want))
	}
	if all := rowKeys(t, s, table, store.Query{PartitionKey: "p"}); len(all) != n {
		t.Errorf("List without limit returned %d rows, want %d", len(all), n)
	}
}

func testListInvalid(t *testing.T, s store.Store) {
	mustBatch(t, s, table, insert("p", "r", "x"))
	for _, q := range []store.Query{
		{PartitionKey: "p/q"},
		{PartitionKey: "p'q#"},
		{PartitionKey: "p\x00"},
		{PartitionKey: "p", Limit: -1},
	} {
		if _, err := s.List(context.Background(), table, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("List(%+v) error = %v, want ErrInvalid", q, err)
		}
	}
}

func testListPartitionIsolated(t *testing.T, s store.Store) {
	// Partitions whose names are prefixes of each other, and rows whose keys
	// would sort differently if the two keys were simply concatenated.
	mustBatch(t, s, table, insert("p", "1z", "p"), insert("p", "2", "p"))
	mustBatch(t, s, table, insert("p1", "a", "p1"))
	mustBatch(t, s, table, insert("p'1", "a", "quote"))
	mustBatch(t, s, table, insert("P", "1", "upper"))
	for _, c := range []struct {
		pk   string
		want []string
	}{
		{"p", []string{"1z", "2"}},
		{"p1", []string{"a"}},
		{"p'1", []string{"a"}},
		{"P", []string{"1"}},
		{"p2", nil},
	} {
		if got := rowKeys(t, s, table, store.Query{PartitionKey: c.pk}); !slices.Equal(got, c.want) {
			t.Errorf("List(%q) = %q, want %q", c.pk, got, c.want)
		}
	}
	if got := rowKeys(t, s, table, store.Query{PartitionKey: "p", Prefix: "1"}); !slices.Equal(got, []string{"1z"}) {
		t.Errorf("List(p, prefix 1) = %q, want [1z]", got)
	}
}

func testScan(t *testing.T, s store.Store) {
	type key struct{ pk, rk string }
	var want []key
	// Partition names that are prefixes of each other and rows that would
	// interleave under a naive concatenation of the keys.
	parts := []string{"p", "p1", "p10", "p2", "q", "ü"}
	for _, pk := range parts {
		var ops []store.Op
		for _, rk := range []string{"0", "1z", "a", "zz"} {
			ops = append(ops, insert(pk, rk, pk+"|"+rk))
			want = append(want, key{pk, rk})
		}
		mustBatch(t, s, table, ops...)
	}
	// A bigger partition, so engines that page have to.
	var ops []store.Op
	for i := range store.MaxBatchOps {
		rk := fmt.Sprintf("row%03d", i)
		ops = append(ops, insert("r", rk, "r|"+rk))
		want = append(want, key{"r", rk})
	}
	mustBatch(t, s, table, ops...)
	mustBatch(t, s, "othertable", insert("p", "other", "x"))
	slices.SortFunc(want, func(a, b key) int {
		if c := strings.Compare(a.pk, b.pk); c != 0 {
			return c
		}
		return strings.Compare(a.rk, b.rk)
	})

	var got []key
	err := s.Scan(context.Background(), table, func(e store.Entity) error {
		got = append(got, key{e.PartitionKey, e.RowKey})
		if string(e.Data) != e.PartitionKey+"|"+e.RowKey {
			t.Errorf("Scan: %s/%s has Data %q", e.PartitionKey, e.RowKey, e.Data)
		}
		if e.ETag == "" {
			t.Errorf("Scan: %s/%s has no ETag", e.PartitionKey, e.RowKey)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Scan returned %d rows:\n got %v\nwant %v", len(got), got, want)
	}
}

func testScanStops(t *testing.T, s store.Store) {
	var ops []store.Op
	for i := range 20 {
		ops = append(ops, insert("p", fmt.Sprintf("r%02d", i), "x"))
	}
	mustBatch(t, s, table, ops...)
	stop := errors.New("enough")
	calls := 0
	err := s.Scan(context.Background(), table, func(store.Entity) error {
		calls++
		if calls == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("Scan error = %v, want the callback's error", err)
	}
	if calls != 5 {
		t.Errorf("Scan called fn %d times after it failed on the 5th", calls)
	}
}

func testUpdateConcurrent(t *testing.T, s store.Store) {
	const workers, each = 8, 25
	ctx := context.Background()
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		contention int
		errs       []error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				_, err := store.Update(ctx, s, table, "counters", "c", func(old store.Entity) ([]byte, []store.Op, error) {
					var n int
					if old.ETag != "" {
						if _, err := fmt.Sscan(string(old.Data), &n); err != nil {
							return nil, nil, fmt.Errorf("counter holds %q: %w", old.Data, err)
						}
					}
					return fmt.Appendf(nil, "%d", n+1), nil, nil
				})
				switch {
				case errors.Is(err, store.ErrTooMuchContention):
					// Allowed by the contract; nothing was written, so try again.
					mu.Lock()
					contention++
					mu.Unlock()
				case err != nil:
					mu.Lock()
					errs = append(errs, fmt.Errorf("worker %d: %w", w, err))
					mu.Unlock()
					return
				default:
					done++
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if contention > 0 {
		t.Logf("%d updates gave up on contention and were retried", contention)
	}
	wantData(t, s, table, "counters", "c", fmt.Sprint(workers*each))
}

func testUpdateExtraOps(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Create through Update, with an index row in the same batch.
	e, err := store.Update(ctx, s, table, "p", "user", func(old store.Entity) ([]byte, []store.Op, error) {
		if old.ETag != "" {
			t.Errorf("Update of a missing row got ETag %q", old.ETag)
		}
		return []byte("v1"), []store.Op{insert("p", "index-alice", "user")}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := wantData(t, s, table, "p", "user", "v1"); got.ETag != e.ETag {
		t.Errorf("Update returned ETag %q, Get says %q", e.ETag, got.ETag)
	}
	wantData(t, s, table, "p", "index-alice", "user")

	// An extra op that fails (the index row is taken) fails the update
	// without writing the row.
	mustBatch(t, s, table, insert("p", "index-bob", "someone else"))
	_, err = store.Update(ctx, s, table, "p", "user", func(old store.Entity) ([]byte, []store.Op, error) {
		return []byte("v2"), []store.Op{insert("p", "index-bob", "user")}, nil
	})
	wantBatchError(t, err, 1, store.ErrExists)
	wantData(t, s, table, "p", "user", "v1")

	// A nil result deletes the row.
	if _, err := store.Update(ctx, s, table, "p", "user", func(store.Entity) ([]byte, []store.Op, error) {
		return nil, []store.Op{{Kind: store.Delete, Entity: ent("p", "index-alice", "")}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, table, "p", "user")
	wantMissing(t, s, table, "p", "index-alice")
}

func testInsertRace(t *testing.T, s store.Store) {
	const racers = 16
	ctx := context.Background()
	type result struct {
		etag string
		err  error
	}
	results := make([]result, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			etags, err := s.Batch(ctx, table, []store.Op{
				insert("p", "contested", fmt.Sprintf("racer %d", i)),
				insert("p", fmt.Sprintf("side%02d", i), "x"),
			})
			if err == nil {
				results[i].etag = etags[0]
			}
			results[i].err = err
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, r := range results {
		if r.err == nil {
			if winner >= 0 {
				t.Errorf("racers %d and %d both inserted the row", winner, i)
			}
			winner = i
			continue
		}
		var be *store.BatchError
		if !errors.Is(r.err, store.ErrExists) || !errors.As(r.err, &be) || be.Index != 0 {
			t.Errorf("racer %d: error %v, want a BatchError at op 0 wrapping ErrExists", i, r.err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer inserted the row")
	}
	e := wantData(t, s, table, "p", "contested", fmt.Sprintf("racer %d", winner))
	if e.ETag != results[winner].etag {
		t.Errorf("ETag = %q, the winner's Batch returned %q", e.ETag, results[winner].etag)
	}
	// Only the winner's side row was written.
	if got, want := rowKeys(t, s, table, store.Query{PartitionKey: "p", Prefix: "side"}), []string{fmt.Sprintf("side%02d", winner)}; !slices.Equal(got, want) {
		t.Errorf("side rows = %q, want %q", got, want)
	}
}
