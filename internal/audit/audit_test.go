package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// engine opens a fresh, empty store for one test.
type engine struct {
	name string
	open func(t testing.TB) store.Store
}

// engines lists the store engines the trail is tested on.
func engines() []engine {
	return []engine{
		{"bolt", func(t testing.TB) store.Store { return openBolt(t) }},
		{"tables", func(t testing.TB) store.Store { return openTables(t, azuritetest.Shared(t), "") }},
	}
}

func TestMain(m *testing.M) { os.Exit(azuritetest.Main(m)) }

var tablePrefixes atomic.Int64

// openTables opens the Table Storage engine on the Azurite at conn, with
// tables of its own unless prefix names shared ones.
func openTables(t testing.TB, conn, prefix string) store.Store {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("a%dx%d", os.Getpid(), tablePrefixes.Add(1))
	}
	s, err := tables.Open(context.Background(), tables.Options{ConnectionString: conn, TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// openBolt opens a fresh embedded store in the test's temporary directory.
func openBolt(t testing.TB) store.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// clock is a test clock that callers move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(s string) *clock {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &clock{t: t}
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func rec(actor, action, id string) Record {
	return Record{Actor: actor, Action: action, Target: Target{Type: "User", ID: id, Display: id + "@example.com"},
		Outcome: Outcome{Success: true, Status: 200}, RequestID: "req-" + id, Source: "10.0.0.1"}
}

// trail writes perDay records on each of days consecutive days starting
// 2026-03-01 and returns the log and its clock (left on the last day).
func trail(t *testing.T, s store.Store, days, perDay int) (*Log, *clock) {
	t.Helper()
	c := newClock("2026-03-01T08:00:00Z")
	l := New(s, Options{Now: c.Now})
	ctx := context.Background()
	for d := 0; d < days; d++ {
		if d > 0 {
			c.Add(24 * time.Hour)
		}
		for i := 0; i < perDay; i++ {
			if err := l.Append(ctx, rec("entra", ActionUserCreate, fmt.Sprintf("u%d-%d", d, i))); err != nil {
				t.Fatalf("append: %v", err)
			}
		}
	}
	return l, c
}

func mustVerify(t *testing.T, s store.Store) Result {
	t.Helper()
	res, err := Verify(context.Background(), s, time.Time{}, time.Time{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return res
}

func TestAppendVerifyAcrossDays(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			trail(t, s, 3, 4)
			res := mustVerify(t, s)
			if !res.OK {
				t.Fatalf("untouched trail does not verify: %v", res.Break)
			}
			if res.Records != 12 || res.Days != 3 || res.FirstSeq != 1 || res.LastSeq != 12 {
				t.Errorf("got %d records in %d days, seq %d..%d; want 12 in 3, 1..12", res.Records, res.Days, res.FirstSeq, res.LastSeq)
			}
			if res.FirstDay != "20260301" || res.LastDay != "20260303" || res.Trust != "start of the trail" {
				t.Errorf("days %s..%s trust %q", res.FirstDay, res.LastDay, res.Trust)
			}
			// Each day's first record chains to the previous day's last.
			p, err := query(context.Background(), s, time.Time{}, Filter{Limit: 100}, MaxExamined)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != 12 {
				t.Fatalf("query returned %d records", len(p.Records))
			}
			for i := 1; i < len(p.Records); i++ {
				if p.Records[i].PrevHash != p.Records[i-1].Hash || p.Records[i].Seq != p.Records[i-1].Seq+1 {
					t.Errorf("record %d does not follow record %d", p.Records[i].Seq, p.Records[i-1].Seq)
				}
			}
			if p.Records[4].Day != "20260302" || p.Records[4].Target.ID != "u1-0" {
				t.Errorf("record 5 is %s/%s, want day 20260302 target u1-0", p.Records[4].Day, p.Records[4].Target.ID)
			}
		})
	}
}

// raw reads and decodes a record row for tampering.
func raw(t *testing.T, s store.Store, day string, seq uint64) rowData {
	t.Helper()
	e, err := s.Get(context.Background(), Table, day, rowKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	var d rowData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func put(t *testing.T, s store.Store, pk, rk string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Batch(context.Background(), Table, []store.Op{{Kind: store.Upsert, Entity: store.Entity{PartitionKey: pk, RowKey: rk, Data: b}}}); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, s store.Store, pk, rk string) {
	t.Helper()
	if _, err := s.Batch(context.Background(), Table, []store.Op{{Kind: store.Delete, Entity: store.Entity{PartitionKey: pk, RowKey: rk}}}); err != nil {
		t.Fatal(err)
	}
}

func head(t *testing.T, s store.Store, day string) headData {
	t.Helper()
	h, _, err := getHead(context.Background(), s, day)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// withActor rewrites a record body's actor.
func withActor(t *testing.T, body []byte, actor string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["actor"] = actor
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The trail used by TestVerifyFindsTampering: days 20260301..03, 5 records
// each, seq 1-5, 6-10, 11-15.
func TestVerifyFindsTampering(t *testing.T) {
	const d1, d2, d3 = "20260301", "20260302", "20260303"
	tests := []struct {
		name   string
		tamper func(t *testing.T, s store.Store)
		want   *Break // nil: the trail verifies
	}{
		{"untouched", func(t *testing.T, s store.Store) {}, nil},
		{"modify a record's content", func(t *testing.T, s store.Store) {
			d := raw(t, s, d2, 7)
			d.Rec = withActor(t, d.Rec, "mallory")
			put(t, s, d2, rowKey(7), d)
		}, &Break{Day: d2, Seq: 7, Kind: Modified}},
		{"modify a record and recompute its hash", func(t *testing.T, s store.Store) {
			d := raw(t, s, d2, 7)
			d.Rec = withActor(t, d.Rec, "mallory")
			d.Hash = chainHash(d.Seq, d.Prev, d.Rec)
			put(t, s, d2, rowKey(7), d)
		}, &Break{Day: d2, Seq: 7, Kind: Modified}},
		{"modify the last record of a day and rehash", func(t *testing.T, s store.Store) {
			d := raw(t, s, d2, 10)
			d.Rec = withActor(t, d.Rec, "mallory")
			d.Hash = chainHash(d.Seq, d.Prev, d.Rec)
			put(t, s, d2, rowKey(10), d)
		}, &Break{Day: d2, Seq: 10, Kind: HeadMismatch}},
		{"delete a record", func(t *testing.T, s store.Store) {
			del(t, s, d2, rowKey(8))
		}, &Break{Day: d2, Seq: 8, Kind: Deleted}},
		{"delete the first record of the trail", func(t *testing.T, s store.Store) {
			del(t, s, d1, rowKey(1))
		}, &Break{Day: d1, Seq: 1, Kind: Deleted}},
		{"delete the last record of a day", func(t *testing.T, s store.Store) {
			del(t, s, d2, rowKey(10))
		}, &Break{Day: d2, Seq: 10, Kind: Deleted}},
		{"delete a whole day in the middle", func(t *testing.T, s store.Store) {
			for seq := uint64(6); seq <= 10; seq++ {
				del(t, s, d2, rowKey(seq))
			}
			del(t, s, d2, headRK)
		}, &Break{Day: d2, Seq: 10, Kind: Deleted}},
		{"delete the newest day", func(t *testing.T, s store.Store) {
			for seq := uint64(11); seq <= 15; seq++ {
				del(t, s, d3, rowKey(seq))
			}
			del(t, s, d3, headRK)
		}, &Break{Day: d3, Seq: 0, Kind: Deleted}},
		{"delete the oldest day without an expiry record", func(t *testing.T, s store.Store) {
			for seq := uint64(1); seq <= 5; seq++ {
				del(t, s, d1, rowKey(seq))
			}
			del(t, s, d1, headRK)
		}, &Break{Day: d1, Seq: 5, Kind: Deleted}},
		{"trail's start moved forward over kept days", func(t *testing.T, s store.Store) {
			put(t, s, metaPK, metaRK, metaData{First: d2, Latest: d3})
		}, &Break{Day: d1, Seq: 0, Kind: HeadMismatch}},
		{"trail state row deleted (appends rebuild it)", func(t *testing.T, s store.Store) {
			del(t, s, metaPK, metaRK)
			l := New(s, Options{Now: func() time.Time { return time.Date(2026, 3, 4, 1, 0, 0, 0, time.UTC) }})
			if err := l.Append(context.Background(), rec("entra", ActionUserCreate, "after")); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"insert a record after the day's last", func(t *testing.T, s store.Store) {
			last := raw(t, s, d2, 10)
			body, _ := json.Marshal(rec("mallory", ActionUserCreate, "ghost"))
			put(t, s, d2, rowKey(11), rowData{Seq: 11, Prev: last.Hash, Hash: chainHash(11, last.Hash, body), Rec: body})
		}, &Break{Day: d2, Seq: 11, Kind: Inserted}},
		{"insert a record by shifting the later ones", func(t *testing.T, s store.Store) {
			// Records 8..10 move to 9..11 unchanged; a forged record 8,
			// chained to record 7, takes their place; the head is moved.
			for seq := uint64(10); seq >= 8; seq-- {
				d := raw(t, s, d2, seq)
				put(t, s, d2, rowKey(seq+1), d)
			}
			p := raw(t, s, d2, 7)
			body, _ := json.Marshal(rec("mallory", ActionUserCreate, "ghost"))
			put(t, s, d2, rowKey(8), rowData{Seq: 8, Prev: p.Hash, Hash: chainHash(8, p.Hash, body), Rec: body})
			h := head(t, s, d2)
			h.Seq = 11
			put(t, s, d2, headRK, h)
		}, &Break{Day: d2, Seq: 8, Kind: Inserted}},
		{"insert a row with a foreign key", func(t *testing.T, s store.Store) {
			put(t, s, d2, "r00000000000000000007x", map[string]string{"actor": "mallory"})
		}, &Break{Day: d2, Seq: 8, Kind: Inserted}},
		{"reorder two records", func(t *testing.T, s store.Store) {
			a, b := raw(t, s, d2, 7), raw(t, s, d2, 8)
			put(t, s, d2, rowKey(7), b)
			put(t, s, d2, rowKey(8), a)
		}, &Break{Day: d2, Seq: 7, Kind: Reordered}},
		{"head hash changed", func(t *testing.T, s store.Store) {
			h := head(t, s, d3)
			h.Hash = zeroHash
			put(t, s, d3, headRK, h)
		}, &Break{Day: d3, Seq: 15, Kind: HeadMismatch}},
		{"genesis of a day changed", func(t *testing.T, s store.Store) {
			h := head(t, s, d2)
			h.GenesisHash = zeroHash
			put(t, s, d2, headRK, h)
		}, &Break{Day: d2, Seq: 5, Kind: HeadMismatch}},
		{"record moved to another day", func(t *testing.T, s store.Store) {
			d := raw(t, s, d2, 6)
			del(t, s, d2, rowKey(6))
			put(t, s, d1, rowKey(6), d)
		}, &Break{Day: d1, Seq: 6, Kind: Inserted}},
	}
	for _, e := range engines() {
		for _, tc := range tests {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				s := e.open(t)
				trail(t, s, 3, 5)
				tc.tamper(t, s)
				res := mustVerify(t, s)
				if tc.want == nil {
					if !res.OK {
						t.Fatalf("want OK, got %v", res.Break)
					}
					return
				}
				if res.OK || res.Break == nil {
					t.Fatalf("tampering not detected: %+v", res)
				}
				got := *res.Break
				if got.Day != tc.want.Day || got.Seq != tc.want.Seq || got.Kind != tc.want.Kind {
					t.Errorf("break = %v; want %s at day %s seq %d", got, tc.want.Kind, tc.want.Day, tc.want.Seq)
				}
				if got.Detail == "" {
					t.Error("break has no detail")
				}
			})
		}
	}
}

// TestConcurrentAppenders runs many goroutines on two Logs that share one
// store (two instances), across a midnight, and checks that the chain is
// valid, gapless and holds every record exactly once.
func TestConcurrentAppenders(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			// Each call of the shared clock moves it 50 ms, starting a
			// little before midnight, so the day rolls over mid-test.
			var ticks atomic.Int64
			start := time.Date(2026, 3, 1, 23, 59, 50, 0, time.UTC)
			now := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 50 * time.Millisecond) }
			logs := []*Log{New(s, Options{Now: now}), New(s, Options{Now: now})}
			const workers, each = 16, 40
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					l := logs[w%2]
					for i := 0; i < each; i++ {
						r := rec(fmt.Sprintf("client%d", w), ActionUserPatch, fmt.Sprintf("w%d-%d", w, i))
						var err error
						if i%5 == 0 {
							r2 := r
							r2.Action = ActionRBACAssign
							err = l.Append(context.Background(), r, r2)
						} else {
							err = l.Append(context.Background(), r)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("append: %v", err)
			}
			want := workers * (each + each/5)
			res := mustVerify(t, s)
			if !res.OK {
				t.Fatalf("chain written concurrently does not verify: %v", res.Break)
			}
			if res.Records != want || res.LastSeq != uint64(want) {
				t.Errorf("verified %d records up to seq %d, want %d", res.Records, res.LastSeq, want)
			}
			if res.Days < 2 {
				t.Errorf("the test did not cross midnight (%d days)", res.Days)
			}
			// Every record is there once, and a call's records are adjacent.
			seen := map[string]int{}
			var all []Record
			f := Filter{Limit: MaxLimit}
			for {
				p, err := query(context.Background(), s, now(), f, MaxExamined)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, p.Records...)
				if p.Next == "" {
					break
				}
				f.Cursor = p.Next
			}
			for i, r := range all {
				seen[r.Action+" "+r.Target.ID]++
				if r.Action == ActionRBACAssign && (i == 0 || all[i-1].Target.ID != r.Target.ID) {
					t.Errorf("record %d of a two-record append is not next to its partner", r.Seq)
				}
			}
			if len(seen) != want {
				t.Errorf("%d distinct records, want %d", len(seen), want)
			}
			for k, n := range seen {
				if n != 1 {
					t.Errorf("%s recorded %d times", k, n)
				}
			}
		})
	}
}

func TestAppendRejectsAndReportsFailures(t *testing.T) {
	s := openBolt(t)
	l := New(s, Options{})
	ctx := context.Background()
	tests := []struct {
		name string
		r    Record
	}{
		{"no action", Record{Actor: "entra"}},
		{"malformed action", Record{Actor: "entra", Action: "User Create"}},
		{"value that is not JSON", Record{Actor: "entra", Action: ActionUserCreate, Changes: []Change{{Op: "set", Path: "x", Value: func() {}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := l.Append(ctx, tc.r)
			if !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("err = %v, want ErrNotRecorded", err)
			}
		})
	}
	t.Run("store failure", func(t *testing.T) {
		err := New(failingStore{s}, Options{}).Append(ctx, rec("entra", ActionUserCreate, "x"))
		if !errors.Is(err, ErrNotRecorded) || !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrNotRecorded wrapping ErrUnavailable", err)
		}
	})
	if res := mustVerify(t, s); res.Records != 0 {
		t.Errorf("rejected records were written: %d", res.Records)
	}
}

// failingStore fails every write as an unreachable store would.
type failingStore struct{ store.Store }

func (failingStore) Batch(context.Context, string, []store.Op) ([]string, error) {
	return nil, fmt.Errorf("batch: %w", store.ErrUnavailable)
}

func TestExpire(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			l, c := trail(t, s, 5, 3) // 20260301..05, seq 1..15
			ctx := context.Background()
			res, err := l.Expire(ctx, time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(res.Days) != "[20260301 20260302]" || res.Before != "20260303" || res.Rows != 8 {
				t.Errorf("expired %v (%d rows) before %s", res.Days, res.Rows, res.Before)
			}
			for _, day := range []string{"20260301", "20260302"} {
				rows, _ := s.List(ctx, Table, store.Query{PartitionKey: day})
				if len(rows) != 0 {
					t.Errorf("day %s still has %d rows", day, len(rows))
				}
			}
			v := mustVerify(t, s)
			if !v.OK || v.FirstSeq != 7 || v.LastSeq != 16 {
				t.Fatalf("after expiry: %+v", v)
			}
			if v.Trust == "" || v.Trust == "start of the trail" {
				t.Errorf("trust = %q, want it to name the expiry record", v.Trust)
			}
			p, err := l.Query(ctx, Filter{Action: ActionAuditExpire})
			if err != nil || len(p.Records) != 1 || p.Records[0].Actor != "retention" || p.Records[0].Day != "20260305" {
				t.Fatalf("expiry record: %+v, %v", p.Records, err)
			}
			// Later appends still chain; an unexplained loss of the next
			// day is still found.
			c.Add(24 * time.Hour)
			if err := l.Append(ctx, rec("entra", ActionUserDelete, "z")); err != nil {
				t.Fatal(err)
			}
			if v := mustVerify(t, s); !v.OK || v.LastSeq != 17 {
				t.Fatalf("after a later append: %+v", v)
			}
			for _, rk := range []string{rowKey(7), rowKey(8), rowKey(9), headRK} {
				del(t, s, "20260303", rk)
			}
			v = mustVerify(t, s)
			if v.OK || v.Break.Kind != Deleted || v.Break.Day != "20260303" {
				t.Errorf("unexplained loss of 20260303 not reported: %+v", v.Break)
			}
		})
	}
}

// TestExpireSaysWhyNothingWasRemoved: an expiry that removes nothing says
// why, and one that removes days says which and where the trail starts.
func TestExpireSaysWhyNothingWasRemoved(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			l, c := trail(t, s, 3, 2) // 20260301..03, the open day 20260303
			ctx := context.Background()
			day := func(d string) time.Time {
				t, _ := time.Parse("20060102", d)
				return t
			}
			steps := []struct {
				before, want string
			}{
				{"20260220", "removed nothing: the trail starts at 20260301, so there is no day before 20260220 to remove"},
				{"20260301", "removed nothing: the trail starts at 20260301, so there is no day before 20260301 to remove"},
				{"20260302", "removed 1 day, 20260301 (3 rows); the trail now starts at 20260302"},
				{"20260310", "removed 1 day, 20260302 (3 rows); the trail now starts at 20260303 (the day being written, 20260303, is never removed)"},
				{"20260310", "removed nothing: the trail holds only the day being written, 20260303, which is never removed"},
			}
			for _, st := range steps {
				res, err := l.Expire(ctx, day(st.before))
				if err != nil {
					t.Fatal(err)
				}
				if res.String() != st.want {
					t.Errorf("expire before %s says %q, want %q", st.before, res, st.want)
				}
			}
			c.Add(48 * time.Hour) // 20260305 opens; 20260303 still holds records
			if err := l.Append(ctx, rec("entra", ActionUserDelete, "z")); err != nil {
				t.Fatal(err)
			}
			res, err := l.Expire(ctx, day("20260310"))
			if err != nil {
				t.Fatal(err)
			}
			if want := "removed 1 day, 20260303 (5 rows); the trail now starts at 20260305 (the day being written, 20260305, is never removed)"; res.String() != want {
				t.Errorf("expire says %q, want %q", res, want)
			}
			if v := mustVerify(t, s); !v.OK {
				t.Errorf("after the expiries: %+v %v", v, v.Break)
			}
		})
	}
}

// failDeletes fails every batch that deletes, as a store that goes away in
// the middle of an expiry would.
type failDeletes struct{ store.Store }

func (f failDeletes) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	if ops[0].Kind == store.Delete {
		return nil, fmt.Errorf("batch: %w", store.ErrUnavailable)
	}
	return f.Store.Batch(ctx, table, ops)
}

func TestExpireInterruptedThenResumed(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			_, c := trail(t, s, 4, 2) // 20260301..04
			ctx := context.Background()
			before := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
			if _, err := New(failDeletes{s}, Options{Now: c.Now}).Expire(ctx, before); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("interrupted expiry: err = %v", err)
			}
			// The expiry is recorded, the days are still there: the trail
			// verifies from the new start and the leftovers are accounted for.
			if v := mustVerify(t, s); !v.OK || v.FirstDay != "20260303" {
				t.Fatalf("after an interrupted expiry: %+v %v", v, v.Break)
			}
			res, err := New(s, Options{Now: c.Now}).Expire(ctx, before)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(res.Days) != "[20260301 20260302]" {
				t.Errorf("resumed expiry removed %v", res.Days)
			}
			p, err := query(ctx, s, c.Now(), Filter{Action: ActionAuditExpire}, MaxExamined)
			if err != nil || len(p.Records) != 1 {
				t.Errorf("want one expiry record, got %d (%v)", len(p.Records), err)
			}
			if v := mustVerify(t, s); !v.OK || v.FirstSeq != 5 {
				t.Fatalf("after the resumed expiry: %+v %v", v, v.Break)
			}
		})
	}
}

// TestClockSkewBetweenInstances has an instance whose clock lags behind
// another's across midnight: once the other has started the new day, the
// lagging one must follow it there instead of writing to the sealed day.
func TestClockSkewBetweenInstances(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			ctx := context.Background()
			slow := New(s, Options{Now: func() time.Time { return time.Date(2026, 6, 1, 23, 59, 59, 0, time.UTC) }})
			fast := New(s, Options{Now: func() time.Time { return time.Date(2026, 6, 2, 0, 0, 1, 0, time.UTC) }})
			steps := []*Log{slow, fast, slow, slow, fast, slow}
			for i, l := range steps {
				if err := l.Append(ctx, rec("entra", ActionUserPatch, fmt.Sprint(i))); err != nil {
					t.Fatalf("append %d: %v", i, err)
				}
			}
			res := mustVerify(t, s)
			if !res.OK || res.Records != len(steps) || res.Days != 2 {
				t.Fatalf("verify: %+v %v", res, res.Break)
			}
			p, err := query(ctx, s, time.Time{}, Filter{}, MaxExamined)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range p.Records {
				wantDay := "20260602"
				if i == 0 {
					wantDay = "20260601"
				}
				if r.Day != wantDay || r.Target.ID != fmt.Sprint(i) {
					t.Errorf("record %d: day %s target %s; want day %s target %d", r.Seq, r.Day, r.Target.ID, wantDay, i)
				}
			}
		})
	}
}

// TestAnchorsGuardTheTail shows what a chain alone cannot see — a tail cut
// or rewritten with recomputed hashes and a matching head — and that an
// anchor noted from an earlier verify catches it.
func TestAnchorsGuardTheTail(t *testing.T) {
	const d3 = "20260303"
	tests := []struct {
		name   string
		tamper func(t *testing.T, s store.Store)
		want   *Break
	}{
		{"untouched", func(t *testing.T, s store.Store) {}, nil},
		{"tail cut and head rewound", func(t *testing.T, s store.Store) {
			del(t, s, d3, rowKey(15))
			del(t, s, d3, rowKey(14))
			h := head(t, s, d3)
			h.Seq, h.Hash = 13, raw(t, s, d3, 13).Hash
			put(t, s, d3, headRK, h)
		}, &Break{Day: d3, Seq: 14, Kind: Deleted}},
		{"last record rewritten with its hash and the head", func(t *testing.T, s store.Store) {
			d := raw(t, s, d3, 15)
			d.Rec = withActor(t, d.Rec, "mallory")
			d.Hash = chainHash(d.Seq, d.Prev, d.Rec)
			put(t, s, d3, rowKey(15), d)
			h := head(t, s, d3)
			h.Hash = d.Hash
			put(t, s, d3, headRK, h)
		}, &Break{Day: d3, Seq: 15, Kind: Modified}},
	}
	for _, e := range engines() {
		for _, tc := range tests {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				s := e.open(t)
				trail(t, s, 3, 5)
				before := mustVerify(t, s)
				anchor, err := ParseAnchor(fmt.Sprintf("%d:%s", before.LastSeq, before.LastHash))
				if err != nil {
					t.Fatal(err)
				}
				tc.tamper(t, s)
				if plain := mustVerify(t, s); !plain.OK {
					t.Fatalf("the tampering was meant to be invisible without an anchor: %v", plain.Break)
				}
				res, err := VerifyAnchored(context.Background(), s, time.Time{}, time.Time{}, anchor)
				if err != nil {
					t.Fatal(err)
				}
				if tc.want == nil {
					if !res.OK {
						t.Fatalf("want OK, got %v", res.Break)
					}
					return
				}
				if res.OK {
					t.Fatal("anchored verify did not notice")
				}
				if b := res.Break; b.Day != tc.want.Day || b.Seq != tc.want.Seq || b.Kind != tc.want.Kind {
					t.Errorf("break = %v; want %s at day %s seq %d", b, tc.want.Kind, tc.want.Day, tc.want.Seq)
				}
			})
		}
	}
	for _, bad := range []string{"", "12", "x:" + zeroHash, "0:" + zeroHash, "5:abc"} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("ParseAnchor(%q) accepted", bad)
		}
	}
}

// blockingStore holds every Batch until release is closed, and says when
// the first one has started.
type blockingStore struct {
	store.Store
	started chan struct{}
	once    sync.Once
	release chan struct{}
}

func (b *blockingStore) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	if ops[len(ops)-1].Entity.RowKey == headRK && ops[0].Kind == store.Insert && len(ops) > 1 {
		b.once.Do(func() { close(b.started) })
		<-b.release
	}
	return b.Store.Batch(ctx, table, ops)
}

// TestCancelledAppendIsNotWritten cancels an Append queued behind a batch
// in flight: it must fail with ErrNotRecorded and its record must not appear,
// while the batch in flight completes.
func TestCancelledAppendIsNotWritten(t *testing.T) {
	bs := &blockingStore{Store: openBolt(t), started: make(chan struct{}), release: make(chan struct{})}
	l := New(bs, Options{})
	first := make(chan error, 1)
	go func() { first <- l.Append(context.Background(), rec("entra", ActionUserCreate, "first")) }()
	<-bs.started
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { second <- l.Append(ctx, rec("entra", ActionUserCreate, "second")) }()
	for queued := 0; queued == 0; {
		runtime.Gosched()
		l.mu.Lock()
		queued = len(l.queue)
		l.mu.Unlock()
	}
	cancel()
	if err := <-second; !errors.Is(err, ErrNotRecorded) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: err = %v", err)
	}
	close(bs.release)
	if err := <-first; err != nil {
		t.Fatalf("append in flight: %v", err)
	}
	p, err := l.Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Records) != 1 || p.Records[0].Target.ID != "first" {
		t.Errorf("trail holds %+v, want only the first record", p.Records)
	}
}

// TestIdleInstanceAfterExpiry has an instance remember a day that another
// instance expires meanwhile; its next append must still find the open day.
func TestIdleInstanceAfterExpiry(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			ctx := context.Background()
			c := newClock("2026-07-01T10:00:00Z")
			idle, busy := New(s, Options{Now: c.Now}), New(s, Options{Now: c.Now})
			if err := idle.Append(ctx, rec("entra", ActionUserCreate, "before")); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				c.Add(24 * time.Hour)
				if err := busy.Append(ctx, rec("okta", ActionUserPatch, fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := busy.Expire(ctx, c.Now().AddDate(0, 0, -1)); err != nil {
				t.Fatal(err)
			}
			if err := idle.Append(ctx, rec("entra", ActionUserDelete, "after")); err != nil {
				t.Fatalf("append after the remembered day was expired: %v", err)
			}
			if v := mustVerify(t, s); !v.OK || v.LastSeq != 6 {
				t.Fatalf("verify: %+v %v", v, v.Break)
			}
		})
	}
}

func TestEmptyTrail(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			s := e.open(t)
			if res := mustVerify(t, s); !res.OK || res.Records != 0 || res.Days != 0 {
				t.Errorf("verify of an empty trail: %+v", res)
			}
			p, err := New(s, Options{}).Query(context.Background(), Filter{})
			if err != nil || len(p.Records) != 0 || p.Next != "" {
				t.Errorf("query of an empty trail: %+v %v", p, err)
			}
		})
	}
}
