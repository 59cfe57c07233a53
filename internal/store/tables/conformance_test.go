package tables_test

import (
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/storetest"
)

// TestConformance runs the engine-agnostic contract suite against Azurite,
// each sub-test in tables of its own (a fresh prefix).
func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store { return newStore(t) })
}
