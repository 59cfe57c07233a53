package directory_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
)

// TestLegacyNameRows: a store written before names were folded keeps a
// non-ASCII name's uniqueness row under its lower case ("UN|straße" where
// the folded key is "UN|strasse"). Such a user is still found by its name,
// still blocks a duplicate, moves to the folded key on its next write, and
// deletes cleanly.
func TestLegacyNameRows(t *testing.T) {
	ctx := context.Background()
	s, cs := newService(t)
	const name = "Stra\u00dfe@contoso.com"
	res, _, err := s.Create(ctx, "User", map[string]any{"userName": name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := res.ID
	folded := "UN|" + store.EncodeKey(scim.FoldKey(name))
	legacy := "UN|" + store.EncodeKey(strings.ToLower(name))
	if folded == legacy {
		t.Fatalf("test name %q has one key", name)
	}
	// Put the row where the earlier version wrote it.
	if _, err := cs.Batch(ctx, directory.Table, []store.Op{
		{Kind: store.Delete, Entity: store.Entity{PartitionKey: directory.Partition, RowKey: folded}},
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: directory.Partition, RowKey: legacy, Data: []byte(id)}},
	}); err != nil {
		t.Fatal(err)
	}
	find := func(value string) []string {
		t.Helper()
		lr, err := s.List(ctx, "User", directory.ListOptions{Count: 10, Lookup: &directory.Lookup{Attr: "userName", Value: value}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range lr.Resources {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if got := find(name); len(got) != 1 || got[0] != id {
		t.Errorf("lookup of a legacy row's name found %v", got)
	}
	for _, dup := range []string{name, "STRA\u00dfE@contoso.com"} {
		_, _, err := s.Create(ctx, "User", map[string]any{"userName": dup}, nil)
		if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeConflict {
			t.Errorf("create %q beside a legacy row: %v, want 409", dup, err)
		}
	}
	// Its next write moves the row to the folded key.
	if _, _, err := s.Replace(ctx, "User", id, map[string]any{"userName": name, "displayName": "Straße"}, "", nil); err != nil {
		t.Fatal(err)
	}
	if e, err := cs.Get(ctx, directory.Table, directory.Partition, folded); err != nil || string(e.Data) != id {
		t.Errorf("after a write the folded row is %q, %v", e.Data, err)
	}
	if _, err := cs.Get(ctx, directory.Table, directory.Partition, legacy); !store.IsNotFound(err) {
		t.Errorf("after a write the legacy row is still there: %v", err)
	}
	if got := find("STRASSE@contoso.com"); len(got) != 1 || got[0] != id {
		t.Errorf("lookup by the folded spelling after the move found %v", got)
	}

	// A legacy row is deleted with its user.
	res, _, err = s.Create(ctx, "User", map[string]any{"userName": "\u039f\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd\u03c2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	name2 := "\u039f\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd\u03c2"
	folded2 := "UN|" + store.EncodeKey(scim.FoldKey(name2))
	legacy2 := "UN|" + store.EncodeKey(strings.ToLower(name2))
	if folded2 == legacy2 {
		t.Fatalf("test name %q has one key", name2)
	}
	if _, err := cs.Batch(ctx, directory.Table, []store.Op{
		{Kind: store.Delete, Entity: store.Entity{PartitionKey: directory.Partition, RowKey: folded2}},
		{Kind: store.Insert, Entity: store.Entity{PartitionKey: directory.Partition, RowKey: legacy2, Data: []byte(res.ID)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "User", res.ID, "", nil); err != nil {
		t.Fatalf("delete of a user with a legacy row: %v", err)
	}
	if _, err := cs.Get(ctx, directory.Table, directory.Partition, legacy2); !store.IsNotFound(err) {
		t.Errorf("the legacy row outlived its user: %v", err)
	}
	if _, _, err := s.Create(ctx, "User", map[string]any{"userName": name2}, nil); err != nil {
		t.Errorf("the name of a deleted user with a legacy row is not free: %v", err)
	}
}

// TestASCIINamesCostNoExtraReads: folding reads nothing more for the names
// whose key did not change, which is every ASCII name.
func TestASCIINamesCostNoExtraReads(t *testing.T) {
	ctx := context.Background()
	s, cs := newService(t)
	res, _, err := s.Create(ctx, "User", map[string]any{"userName": "plain@contoso.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reads := cs.Reset().Reads(); reads != 0 {
		t.Errorf("create read %d times", reads)
	}
	if _, _, err := s.Replace(ctx, "User", res.ID, map[string]any{"userName": "Plain2@contoso.com"}, "", nil); err != nil {
		t.Fatal(err)
	}
	if reads := cs.Reset().Reads(); reads != 1 {
		t.Errorf("a rename read %d times, want 1 (the resource)", reads)
	}
}

// TestLegacyRowsWithoutModified: a row written before the modification time
// was stored (the creation time alone before the JSON) still reads, with
// the row's Timestamp as its lastModified, and its next write stores one.
func TestLegacyRowsWithoutModified(t *testing.T) {
	ctx := context.Background()
	s, cs := newService(t)
	res, _, err := s.Create(ctx, "User", map[string]any{"userName": "old@contoso.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created := res.Created.UTC().Format(time.RFC3339Nano)
	row := []byte(created + "\n" + string(res.Body))
	if _, err := cs.Batch(ctx, directory.Table, []store.Op{{Kind: store.Replace, Entity: store.Entity{PartitionKey: directory.Partition, RowKey: "U|" + res.ID, Data: row}}}); err != nil {
		t.Fatal(err)
	}
	e, err := cs.Get(ctx, directory.Table, directory.Partition, "U|"+res.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "User", res.ID, directory.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(res.Created) || !got.Modified.Equal(e.Timestamp) {
		t.Errorf("legacy row: created %s modified %s, want %s and the row's Timestamp %s", got.Created, got.Modified, res.Created, e.Timestamp)
	}
	w, _, err := s.Replace(ctx, "User", res.ID, map[string]any{"userName": "old@contoso.com", "title": "x"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.Get(ctx, "User", res.ID, directory.GetOptions{}); err != nil || !again.Modified.Equal(w.Modified) || !again.Created.Equal(res.Created) {
		t.Errorf("after a write: %+v, %v; want modified %s", again, err, w.Modified)
	}
}
