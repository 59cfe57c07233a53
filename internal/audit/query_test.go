package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/store"
)

// story writes a small, varied trail over two days and returns its log.
func story(t *testing.T, s store.Store) *Log {
	t.Helper()
	c := newClock("2026-04-10T09:00:00Z")
	l := New(s, Options{Now: c.Now})
	ctx := context.Background()
	steps := []Record{
		{Actor: "entra", Action: ActionUserCreate, Target: Target{Type: "User", ID: "u1", Display: "Ann@example.com"}, Outcome: Outcome{Success: true, Status: 201}},
		{Actor: "entra", Action: ActionGroupCreate, Target: Target{Type: "Group", ID: "g1", Display: "ADF Operators"}, Outcome: Outcome{Success: true, Status: 201}},
		{Actor: "entra", Action: ActionGroupPatch, Target: Target{Type: "Group", ID: "g1", Display: "ADF Operators"}, Changes: []Change{{Op: "Add", Path: "members", Value: []any{map[string]any{"value": "u1"}}}}, Outcome: Outcome{Success: true, Status: 204}},
		{Actor: "reconciler", Action: ActionRBACAssign, Target: Target{Type: "RoleAssignment", ID: "ra1", Display: "=cmd|' /C calc'!A0"}, Outcome: Outcome{Success: true, Status: 201}},
		{Actor: "okta", Action: ActionAuthFailure, Outcome: Outcome{Success: false, Status: 401, Detail: "unknown token"}},
	}
	for i, r := range steps {
		if i == 3 {
			c.Add(24 * time.Hour)
		}
		r.Time = c.Now()
		c.Add(time.Minute)
		if err := l.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func seqs(rs []Record) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func TestQueryFilters(t *testing.T) {
	s := openBolt(t)
	l := story(t, s)
	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"everything", Filter{}, []uint64{1, 2, 3, 4, 5}},
		{"actor", Filter{Actor: "entra"}, []uint64{1, 2, 3}},
		{"action", Filter{Action: ActionGroupPatch}, []uint64{3}},
		{"action family", Filter{Action: "group."}, []uint64{2, 3}},
		{"target id", Filter{Target: "g1"}, []uint64{2, 3}},
		{"target type/id", Filter{Target: "User/u1"}, []uint64{1}},
		{"target display, any case", Filter{Target: "ann@EXAMPLE.com"}, []uint64{1}},
		{"time range", Filter{From: time.Date(2026, 4, 10, 9, 1, 0, 0, time.UTC), To: time.Date(2026, 4, 11, 9, 4, 0, 0, time.UTC)}, []uint64{2, 3, 4}},
		{"second day only", Filter{From: time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC)}, []uint64{4, 5}},
		{"no match", Filter{Actor: "nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := l.Query(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(p.Records); !equalSeqs(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueryPagingIsStable(t *testing.T) {
	s := openBolt(t)
	l, c := trail(t, s, 3, 7) // 21 records
	ctx := context.Background()
	var got []uint64
	f := Filter{Limit: 4}
	pages := 0
	for {
		p, err := l.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Records) > 4 {
			t.Fatalf("page of %d records, limit 4", len(p.Records))
		}
		got = append(got, seqs(p.Records)...)
		if pages == 2 {
			// Records appended while paging show up at the end, once.
			c.Add(time.Hour)
			if err := l.Append(ctx, rec("entra", ActionUserDelete, "late")); err != nil {
				t.Fatal(err)
			}
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if len(got) != 22 {
		t.Fatalf("paged %d records, want 22: %v", len(got), got)
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("position %d holds seq %d: %v", i, s, got)
		}
	}
	for _, bad := range []string{"nonsense", encodeCursor("2026031", "r1"), "YTE6MjAyNjAzMDE6aGVhZA"} {
		if _, err := l.Query(ctx, Filter{Cursor: bad}); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("cursor %q: err = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

// TestQueryScanBudget pages through a trail with a filter that matches
// little of it, reading at most a few rows per call: pages come back short
// but carry a cursor, and together they find every match once, in order.
func TestQueryScanBudget(t *testing.T) {
	s := openBolt(t)
	_, c := trail(t, s, 3, 6) // seq 1..18 over 20260301..03
	c.Add(72 * time.Hour)     // and empty days up to 20260306
	f := Filter{Target: "u1-3"}
	var got []uint64
	calls := 0
	for {
		p, err := query(context.Background(), s, c.Now(), f, 4)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		got = append(got, seqs(p.Records)...)
		if p.Next == "" {
			break
		}
		if calls > 50 {
			t.Fatal("paging does not end")
		}
		f.Cursor = p.Next
	}
	if !equalSeqs(got, []uint64{10}) {
		t.Errorf("found %v, want [10]", got)
	}
	if calls < 4 {
		t.Errorf("%d calls: the budget of 4 rows was not applied", calls)
	}
}

func TestExport(t *testing.T) {
	s := openBolt(t)
	story(t, s)
	ctx := context.Background()
	t.Run("jsonl", func(t *testing.T) {
		var b bytes.Buffer
		if err := Export(ctx, s, time.Time{}, FormatJSONL, &b); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&b)
		var prev string
		n := 0
		for sc.Scan() {
			var row struct {
				Seq      uint64 `json:"seq"`
				PrevHash string `json:"prevHash"`
				Hash     string `json:"hash"`
				Actor    string `json:"actor"`
				Action   string `json:"action"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			n++
			if row.Seq != uint64(n) || row.Action == "" || row.Actor == "" || len(row.Hash) != 64 {
				t.Errorf("line %d: %+v", n, row)
			}
			if n > 1 && row.PrevHash != prev {
				t.Errorf("line %d does not chain to line %d", n, n-1)
			}
			prev = row.Hash
		}
		if n != 5 {
			t.Errorf("%d lines, want 5", n)
		}
	})
	t.Run("csv since the second day", func(t *testing.T) {
		var b bytes.Buffer
		if err := Export(ctx, s, time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC), FormatCSV, &b); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[0][0] != "time" || rows[1][4] != ActionRBACAssign || rows[2][4] != ActionAuthFailure {
			t.Fatalf("csv = %q", rows)
		}
		if got := rows[1][7]; !strings.HasPrefix(got, "'=") {
			t.Errorf("formula-like cell exported as %q, want it defused", got)
		}
		if rows[2][8] != "false" || rows[2][9] != "401" {
			t.Errorf("outcome columns = %q", rows[2][8:10])
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		if err := Export(ctx, s, time.Time{}, "xml", &bytes.Buffer{}); !errors.Is(err, ErrInvalidFormat) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestRunCLI(t *testing.T) {
	s := openBolt(t)
	story(t, s)
	ctx := context.Background()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := RunCLI(ctx, args, s, &out, &errb)
		return code, out.String(), errb.String()
	}
	t.Run("verify with anchors", func(t *testing.T) {
		code, out, _ := run("verify", "-json")
		var res Result
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != ExitOK {
			t.Fatalf("verify -json: exit %d, %v: %s", code, err, out)
		}
		if code, out, _ := run("verify", "-anchor", fmt.Sprintf("%d:%s", res.LastSeq, res.LastHash)); code != ExitOK {
			t.Errorf("anchor of the last record: exit %d: %s", code, out)
		}
		if code, out, _ := run("verify", "-anchor", fmt.Sprintf("%d:%s", res.LastSeq+1, res.LastHash)); code != ExitBroken || !strings.Contains(out, "before the anchored record") {
			t.Errorf("anchor beyond the end: exit %d: %s", code, out)
		}
		if code, _, _ := run("verify", "-anchor", "nonsense"); code != ExitError {
			t.Errorf("malformed anchor: exit %d", code)
		}
	})
	tests := []struct {
		name     string
		args     []string
		tamper   bool
		wantCode int
		wantOut  string
	}{
		{"verify intact", []string{"verify"}, false, ExitOK, "OK: 5 records in 2 days"},
		{"verify as json", []string{"verify", "-json"}, false, ExitOK, `"ok": true`},
		{"verify a range", []string{"verify", "-from", "2026-04-11"}, false, ExitOK, "OK: 2 records in 1 days"},
		{"export csv", []string{"export", "-format", "csv", "-since", "2026-04-11T00:00:00Z"}, false, ExitOK, "auth.failure"},
		{"bad flag", []string{"verify", "-nope"}, false, ExitError, ""},
		{"bad command", []string{"frobnicate"}, false, ExitError, ""},
		{"verify tampered", []string{"verify"}, true, ExitBroken, "BROKEN: modified at day 20260410 seq 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tamper {
				d := raw(t, s, "20260410", 2)
				d.Rec = withActor(t, d.Rec, "mallory")
				put(t, s, "20260410", rowKey(2), d)
			}
			code, out, errOut := run(tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %s)", code, tc.wantCode, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout %q lacks %q", out, tc.wantOut)
			}
		})
	}
}

func TestRunCLIExpire(t *testing.T) {
	s := openBolt(t)
	story(t, s) // 20260410 (seq 1-3) and 20260411 (seq 4-5)
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := RunCLI(ctx, []string{"expire", "-before", "2026-04-11", "-actor", "ops-alice"}, s, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "removed 1 day, 20260410 (4 rows); the trail now starts at 20260411") {
		t.Errorf("stdout %q", out.String())
	}
	p, err := New(s, Options{}).Query(ctx, Filter{Action: ActionAuditExpire})
	if err != nil || len(p.Records) != 1 || p.Records[0].Actor != "ops-alice" {
		t.Fatalf("expiry record: %+v %v", p.Records, err)
	}
	if res := mustVerify(t, s); !res.OK || res.FirstSeq != 4 {
		t.Errorf("after expiry: %+v %v", res, res.Break)
	}
	out.Reset()
	if code := RunCLI(ctx, []string{"expire", "-before", "2026-04-11"}, s, &out, &errb); code != ExitOK {
		t.Fatalf("second expire: exit %d: %s", code, errb.String())
	}
	if want := "removed nothing: the trail starts at 20260411, so there is no day before 20260411 to remove\n"; out.String() != want {
		t.Errorf("a second expire says %q, want %q", out.String(), want)
	}
	if code := RunCLI(ctx, []string{"expire"}, s, &out, &errb); code != ExitError {
		t.Errorf("expire without -before: exit %d", code)
	}
}
