package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// changeTable stands for the directory: the table of the changes recorded.
const changeTable = "changes"

// recordWithChange writes one change row and its record the way the
// handlers do on the embedded engine: the record in the change's commit
// when it can be, else by Append after it. It returns whether the record
// went in the same commit. It reports failures with t.Error, so that
// goroutines may call it.
func recordWithChange(t *testing.T, l *Log, s store.Follower, id string) bool {
	t.Helper()
	p, err := l.Prepare(rec("entra", ActionUserCreate, id))
	if err != nil {
		t.Error(err)
		return false
	}
	ctx := context.Background()
	_, err = s.BatchFollow(ctx, changeTable, []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: id, Data: []byte("{}")}}}, p.Writes)
	if err != nil {
		t.Errorf("change %s: %v", id, err)
		return false
	}
	if !p.Written() {
		if err := l.Append(ctx, rec("entra", ActionUserCreate, id)); err != nil {
			t.Errorf("append %s: %v", id, err)
		}
	}
	return p.Written()
}

func TestPreparedRecordsCommitWithTheChange(t *testing.T) {
	s := openBolt(t)
	fs := s.(store.Follower)
	c := newClock("2026-03-01T08:00:00Z")
	l := New(s, Options{Now: c.Now})

	// A fresh trail has no open day yet: the first record goes by Append,
	// which starts the trail; the next ones ride in their change's commit.
	if recordWithChange(t, l, fs, "u0") {
		t.Error("the first record of a fresh trail was written without starting the trail")
	}
	for i := 1; i < 5; i++ {
		if !recordWithChange(t, l, fs, fmt.Sprintf("u%d", i)) {
			t.Errorf("record u%d was not written in its change's commit", i)
		}
	}
	// Append after prepared records continues the chain (its cached head
	// is stale and must be re-read, not trusted).
	if err := l.Append(context.Background(), rec("okta", ActionUserCreate, "u5")); err != nil {
		t.Fatal(err)
	}
	// The next day: its first record rolls the day over through Append.
	c.Add(24 * time.Hour)
	if recordWithChange(t, l, fs, "u6") {
		t.Error("the first record of a new day was written without rolling the day over")
	}
	if !recordWithChange(t, l, fs, "u7") {
		t.Error("record u7 was not written in its change's commit")
	}

	res := mustVerify(t, s)
	if !res.OK || res.Records != 8 || res.Days != 2 {
		t.Fatalf("verify: ok=%v records=%d days=%d break=%v; want 8 records in 2 days", res.OK, res.Records, res.Days, res.Break)
	}
	p, err := query(context.Background(), s, time.Time{}, Filter{Limit: 100}, MaxExamined)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range p.Records {
		if want := fmt.Sprintf("u%d", i); r.Target.ID != want || r.Seq != uint64(i+1) {
			t.Errorf("record %d is %s seq %d, want %s seq %d", i, r.Target.ID, r.Seq, want, i+1)
		}
	}
}

// A change that fails its checks takes its record with it: nothing is
// written, and the caller records the failure separately.
func TestPreparedRecordNotWrittenWhenTheChangeFails(t *testing.T) {
	s := openBolt(t)
	fs := s.(store.Follower)
	l := New(s, Options{})
	recordWithChange(t, l, fs, "u0")
	recordWithChange(t, l, fs, "u1")
	p, err := l.Prepare(rec("entra", ActionUserCreate, "u1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.BatchFollow(context.Background(), changeTable, []store.Op{{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "u1", Data: []byte("{}")}}}, p.Writes)
	if !store.IsExists(err) {
		t.Fatalf("duplicate change: err = %v, want ErrExists", err)
	}
	if res := mustVerify(t, s); !res.OK || res.Records != 2 {
		t.Errorf("verify: ok=%v records=%d, want the 2 records of the changes that were made", res.OK, res.Records)
	}
}

// Prepared records and Appends from many goroutines at once (as a busy
// server writes changes and records authentication failures) make one
// unbroken chain holding every record exactly once.
func TestPreparedAndAppendedConcurrently(t *testing.T) {
	s := openBolt(t)
	fs := s.(store.Follower)
	l := New(s, Options{})
	if err := l.Append(context.Background(), rec("entra", ActionUserCreate, "start")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				if w%2 == 0 {
					recordWithChange(t, l, fs, id)
				} else if err := l.Append(context.Background(), rec("entra", ActionUserCreate, id)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	res := mustVerify(t, s)
	if !res.OK || res.Records != workers*each+1 {
		t.Fatalf("verify: ok=%v records=%d break=%v; want %d records", res.OK, res.Records, res.Break, workers*each+1)
	}
	p, err := query(context.Background(), s, time.Time{}, Filter{Limit: 1000}, MaxExamined)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range p.Records {
		seen[r.Target.ID]++
	}
	for w := range workers {
		for i := range each {
			if id := fmt.Sprintf("w%d-%d", w, i); seen[id] != 1 {
				t.Errorf("record %s appears %d times", id, seen[id])
			}
		}
	}
}

// encodeRow writes exactly what encoding/json writes for a rowData.
func TestEncodeRowMatchesEncodingJSON(t *testing.T) {
	body, err := json.Marshal(rec("entra", ActionUserCreate, `u"1<&>`))
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(rowData{Seq: 42, Prev: zeroHash, Hash: chainHash(42, zeroHash, body), Rec: body})
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeRow(42, zeroHash, chainHash(42, zeroHash, body), body); string(got) != string(want) {
		t.Errorf("encodeRow =\n%s\nwant\n%s", got, want)
	}
}
