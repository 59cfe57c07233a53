package memstore

import (
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/storetest"
)

// TestConformance: memstore keeps the store contract, as every engine must.
func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store { return New() })
}
