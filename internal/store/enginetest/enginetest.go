// Package enginetest gives tests above the store a fresh store on the engine
// chosen with the -engine test flag, so one suite runs unchanged on the
// embedded engine and on Table Storage (Azurite):
//
//	go test ./handlers/                      # bolt
//	go test ./handlers/ -args -engine=tables # Azurite
package enginetest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/tables"
)

var engine = flag.String("engine", "bolt", "store engine for tests: bolt or tables (Azurite)")

var prefixes atomic.Int64

// Engine names the engine under test: "bolt" or "tables".
func Engine() string { return *engine }

// Open returns a fresh, empty store on the selected engine, closed when the
// test ends. On tables, each call gets tables of its own (a unique prefix)
// in one Azurite shared by the test binary.
func Open(t testing.TB) store.Store {
	t.Helper()
	st, _ := open(t, nil)
	return st
}

// open is Open; on Table Storage the engine counts its transactions in
// counter (when set), and isTables says so.
func open(t testing.TB, counter *tables.Counter) (st store.Store, isTables bool) {
	t.Helper()
	switch *engine {
	case "bolt":
		s, err := bolt.Open(filepath.Join(t.TempDir(), "test.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st = s
	case "tables":
		isTables = true
		conn := azuritetest.Shared(t)
		s, err := tables.Open(context.Background(), tables.Options{
			ConnectionString: conn,
			// Unique per process and call: test binaries may share Azurite.
			TablePrefix: fmt.Sprintf("t%dx%d", os.Getpid(), prefixes.Add(1)),
			Counter:     counter,
		})
		if err != nil {
			t.Fatal(err)
		}
		st = s
	default:
		t.Fatalf("unknown -engine %q (bolt or tables)", *engine)
	}
	t.Cleanup(func() { st.Close() })
	return st, isTables
}
