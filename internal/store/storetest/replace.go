package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

// ReplacerStore is an engine that can also replace whole tables atomically.
type ReplacerStore interface {
	store.Store
	store.Replacer
}

// RunReplacerTests checks the store.Replacer contract: afterwards the listed
// tables hold exactly the rows given and other tables are untouched; a
// failure part-way leaves every table as it was.
func RunReplacerTests(t *testing.T, newStore func(t *testing.T) ReplacerStore) {
	runAll(t, newStore, []namedTest[ReplacerStore]{
		{"Exactly", testReplaceExactly},
		{"Empties", testReplaceEmpties},
		{"RowsFail", testReplaceRowsFail},
		{"InvalidRow", testReplaceInvalidRow},
		{"ThenWrite", testReplaceThenWrite},
	})
}

const otherTable = "untouched"

// rowsOf returns every row of tbl as "pk/rk=data", in Scan order.
func rowsOf(t *testing.T, s store.Store, tbl string) []string {
	t.Helper()
	var out []string
	err := s.Scan(context.Background(), tbl, func(e store.Entity) error {
		out = append(out, fmt.Sprintf("%s/%s=%s", e.PartitionKey, e.RowKey, e.Data))
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%s): %v", tbl, err)
	}
	return out
}

// seedReplace writes the "before" state: rows in table and otherTable.
func seedReplace(t *testing.T, s store.Store) {
	t.Helper()
	mustBatch(t, s, table, insert("p", "old", "1"), insert("p", "same", "before"))
	mustBatch(t, s, table, insert("q", "gone", "2"))
	mustBatch(t, s, otherTable, insert("p", "kept", "3"))
}

// puts returns a rows function that puts each "table|pk|rk|data" entry.
func puts(entries ...string) func(put func(string, store.Entity) error) error {
	return func(put func(string, store.Entity) error) error {
		for _, e := range entries {
			f := strings.SplitN(e, "|", 4)
			if err := put(f[0], ent(f[1], f[2], f[3])); err != nil {
				return err
			}
		}
		return nil
	}
}

func testReplaceExactly(t *testing.T, s ReplacerStore) {
	seedReplace(t, s)
	err := s.ReplaceTables(context.Background(), []string{table, "fresh"}, puts(
		table+"|p|same|after", table+"|r|new|4", "fresh|f|one|", table+"|p|same|twice"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowsOf(t, s, table), []string{"p/same=twice", "r/new=4"}; !slices.Equal(got, want) {
		t.Errorf("replaced table holds %q, want %q", got, want)
	}
	if got, want := rowsOf(t, s, "fresh"), []string{"f/one="}; !slices.Equal(got, want) {
		t.Errorf("new table holds %q, want %q", got, want)
	}
	if got, want := rowsOf(t, s, otherTable), []string{"p/kept=3"}; !slices.Equal(got, want) {
		t.Errorf("table not listed holds %q, want %q", got, want)
	}
}

func testReplaceEmpties(t *testing.T, s ReplacerStore) {
	seedReplace(t, s)
	if err := s.ReplaceTables(context.Background(), []string{table, "nosuchtable"}, puts()); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, s, table); len(got) != 0 {
		t.Errorf("emptied table holds %q", got)
	}
	if _, err := s.Get(context.Background(), table, "p", "old"); !store.IsNotFound(err) {
		t.Errorf("Get of a replaced-away row: %v, want ErrNotFound", err)
	}
}

// unchanged checks the seeded state is intact.
func unchanged(t *testing.T, s store.Store) {
	t.Helper()
	if got, want := rowsOf(t, s, table), []string{"p/old=1", "p/same=before", "q/gone=2"}; !slices.Equal(got, want) {
		t.Errorf("after a failed replace the table holds %q, want the old %q", got, want)
	}
	if got, want := rowsOf(t, s, otherTable), []string{"p/kept=3"}; !slices.Equal(got, want) {
		t.Errorf("after a failed replace the other table holds %q, want %q", got, want)
	}
}

func testReplaceRowsFail(t *testing.T, s ReplacerStore) {
	seedReplace(t, s)
	boom := errors.New("reading the backup failed")
	err := s.ReplaceTables(context.Background(), []string{table}, func(put func(string, store.Entity) error) error {
		if err := put(table, ent("p", "half", "x")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ReplaceTables = %v, want the rows function's error", err)
	}
	unchanged(t, s)
}

func testReplaceInvalidRow(t *testing.T, s ReplacerStore) {
	tests := []struct {
		name string
		row  string // table|pk|rk|data
	}{
		{"unlisted table", otherTable + "|p|x|1"},
		{"bad key", table + "|p|a/b|1"},
		{"too large", table + "|p|big|" + strings.Repeat("x", store.MaxDataSize+1)},
	}
	seedReplace(t, s)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.ReplaceTables(context.Background(), []string{table}, puts(table+"|p|fine|1", tc.row))
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ReplaceTables = %v, want ErrInvalid", err)
			}
			unchanged(t, s)
		})
	}
}

// testReplaceThenWrite: replaced rows are ordinary rows: their ETags work
// for if-match writes and an insert of a replaced-away key succeeds.
func testReplaceThenWrite(t *testing.T, s ReplacerStore) {
	ctx := context.Background()
	seedReplace(t, s)
	if err := s.ReplaceTables(ctx, []string{table}, puts(table+"|p|same|after")); err != nil {
		t.Fatal(err)
	}
	e, err := s.Get(ctx, table, "p", "same")
	if err != nil || string(e.Data) != "after" || e.ETag == "" {
		t.Fatalf("Get after replace: %+v, %v", e, err)
	}
	mustBatch(t, s, table, store.Op{Kind: store.Replace, Entity: ent("p", "same", "next"), IfMatch: e.ETag}, insert("p", "old", "again"))
	_, err = s.Batch(ctx, table, []store.Op{{Kind: store.Replace, Entity: ent("p", "same", "stale"), IfMatch: e.ETag}})
	wantBatchError(t, err, 0, store.ErrPrecondition)
}
