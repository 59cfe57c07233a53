package tables_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// Benchmarks of the engine against the shared Azurite: a measure of the
// engine's and the emulator's overhead, not of Azure. Run them short:
// go test -run XXX -bench . -benchtime 300x ./internal/store/tables/
func benchStore(b *testing.B) *tables.Store {
	b.Helper()
	s, err := tables.Open(context.Background(), tables.Options{
		ConnectionString: azuritetest.Shared(b),
		TablePrefix:      fmt.Sprintf("b%d", prefixSeq.Add(1)),
		Tables:           []string{"bench"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	mustBatchB(b, s, store.Op{Kind: store.Insert, Entity: ent("p", "r", `{"userName":"bjensen@example.com","active":true}`)})
	for b.Loop() {
		if _, err := s.Get(ctx, "bench", "p", "r"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInsert(b *testing.B) {
	s := benchStore(b)
	i := 0
	for b.Loop() {
		i++
		mustBatchB(b, s, store.Op{Kind: store.Insert, Entity: ent("p", rowName(i), `{"userName":"bjensen@example.com","active":true}`)})
	}
}

// BenchmarkInsertWithIndex is the shape of a SCIM user create: the resource
// row and its uniqueness row in one entity group transaction.
func BenchmarkInsertWithIndex(b *testing.B) {
	s := benchStore(b)
	i := 0
	for b.Loop() {
		i++
		mustBatchB(b, s,
			store.Op{Kind: store.Insert, Entity: ent("p", "u"+rowName(i), `{"userName":"bjensen@example.com","active":true}`)},
			store.Op{Kind: store.Insert, Entity: ent("p", "n"+rowName(i), "u"+rowName(i))})
	}
}

func mustBatchB(b *testing.B, s store.Store, ops ...store.Op) {
	b.Helper()
	if _, err := s.Batch(context.Background(), "bench", ops); err != nil {
		b.Fatal(err)
	}
}
