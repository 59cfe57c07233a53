package dump_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/dump"
)

// engines opens a fresh store of each engine.
var engines = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"bolt", func(t *testing.T) store.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"tables", func(t *testing.T) store.Store { return azuriteStore(t) }},
}

// restoreTables are the tables of the restore tests: "later" holds rows
// only after the backup, so the backup names it nowhere.
var restoreTables = []string{"users", "groups", "later"}

func exportOf(t *testing.T, s store.Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := dump.Export(context.Background(), s, restoreTables, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeAfterBackup changes s the ways a running service does after a
// backup: new rows in a known partition and in new ones, in a table the
// backup has no rows of, a changed row and a deleted one.
func writeAfterBackup(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	for table, ops := range map[string][]store.Op{
		"users": {
			{Kind: store.Insert, Entity: store.Entity{PartitionKey: "u", RowKey: "user9999", Data: []byte("new")}},
			{Kind: store.Upsert, Entity: store.Entity{PartitionKey: "u", RowKey: "user0001", Data: []byte("changed")}},
			{Kind: store.Delete, Entity: store.Entity{PartitionKey: "u", RowKey: "user0002"}},
		},
		"groups": {{Kind: store.Insert, Entity: store.Entity{PartitionKey: "new", RowKey: "g", Data: []byte("1")}}},
		"later":  {{Kind: store.Insert, Entity: store.Entity{PartitionKey: "p", RowKey: "r", Data: []byte("1")}}},
	} {
		if _, err := s.Batch(ctx, table, ops); err != nil {
			t.Fatalf("write after backup to %s: %v", table, err)
		}
	}
}

// TestForceImportRestoresExactly: backup, further writes, a forced import
// of the backup: the export equals the backup byte for byte (rows written
// after the backup are gone, also from a table the backup has no rows
// of), no restore is pending, and a second forced import changes nothing.
func TestForceImportRestoresExactly(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			s := eng.open(t)
			fill(t, s)
			backup := exportOf(t, s)
			writeAfterBackup(t, s)
			if bytes.Equal(exportOf(t, s), backup) {
				t.Fatal("the writes after the backup changed nothing")
			}
			for range 2 {
				n, err := dump.Import(ctx, s, bytes.NewReader(backup), dump.Options{Force: true, Tables: restoreTables})
				if err != nil || n != 254 {
					t.Fatalf("forced import: %d, %v", n, err)
				}
				if got := exportOf(t, s); !bytes.Equal(got, backup) {
					t.Fatalf("export after the forced import differs from the backup:\n%.300s\n%.300s", got, backup)
				}
				if err := dump.CheckRestore(ctx, s); err != nil {
					t.Fatalf("CheckRestore after a finished import: %v", err)
				}
			}
		})
	}
}

// TestImportRefusalNamesTheTable: a plain import into a store with rows
// says which table holds them, once, without advice meant for another layer.
func TestImportRefusalNamesTheTable(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			s := eng.open(t)
			fill(t, s)
			backup := exportOf(t, s)
			_, err := dump.Import(context.Background(), s, bytes.NewReader(backup), dump.Options{})
			var ne *dump.NotEmptyError
			if !errors.Is(err, dump.ErrNotEmpty) || !errors.As(err, &ne) || ne.Table != "groups" {
				t.Fatalf("import into a full store: %v, want a NotEmptyError for table groups", err)
			}
			if got, want := err.Error(), "dump: table groups already holds rows"; got != want {
				t.Errorf("error reads %q, want %q", got, want)
			}
		})
	}
}

// cutAfter lets the first n write requests through and fails every later
// one before it is sent, as a lost network would: it stands for an import
// killed part-way.
type cutAfter struct{ left atomic.Int64 }

func (c *cutAfter) Do(req *policy.Request) (*http.Response, error) {
	if req.Raw().Method != http.MethodGet && c.left.Add(-1) < 0 {
		return nil, errors.New("injected: connection lost")
	}
	return req.Next()
}

// TestInterruptedRestoreIsFinishedByRerun cuts a forced import into Table
// Storage at several points. Once it has started changing rows the store
// reports the unfinished restore (with the backup's SHA-256) to
// CheckRestore and to a plain import; re-running the forced import finishes
// it: the export equals the backup and nothing is pending.
func TestInterruptedRestoreIsFinishedByRerun(t *testing.T) {
	tests := []struct {
		name    string
		writes  int64 // write requests that get through
		pending bool  // whether the cut leaves a pending restore
	}{
		{"before the marker", 0, false},
		{"while deleting", 4, true},
		{"while writing", 7, true},
	}
	backupDigest := func(b []byte) string {
		d := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(d[:])
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := newPrefix()
			s := openAzurite(t, prefix)
			fill(t, s)
			backup := exportOf(t, s)
			writeAfterBackup(t, s)
			// A second engine on the same tables, with the network cut.
			cut := new(cutAfter)
			cut.left.Store(tc.writes)
			broken := openAzurite(t, prefix, cut)
			_, err := dump.Import(ctx, broken, bytes.NewReader(backup), dump.Options{Force: true, Tables: restoreTables})
			if err == nil {
				t.Fatal("the import with the network cut succeeded")
			}
			t.Logf("cut import: %v", err)
			var pe *dump.PendingError
			if got := errors.As(err, &pe); got != tc.pending {
				t.Fatalf("import error %v: pending %v, want %v", err, got, tc.pending)
			}
			check := dump.CheckRestore(ctx, s)
			if !tc.pending {
				if check != nil {
					t.Fatalf("CheckRestore after a cut before the marker: %v", check)
				}
				if bytes.Equal(exportOf(t, s), backup) {
					t.Fatal("the cut came later than intended")
				}
			} else {
				if pe.Marker.Digest != backupDigest(backup) || pe.Marker.Rows != 254 {
					t.Errorf("marker %+v, want digest %s and 254 rows", pe.Marker, backupDigest(backup))
				}
				if !errors.Is(check, dump.ErrRestorePending) || !strings.Contains(check.Error(), backupDigest(backup)) {
					t.Fatalf("CheckRestore after an interrupted import: %v, want the pending restore of %s", check, backupDigest(backup))
				}
				if _, err := dump.Import(ctx, s, bytes.NewReader(backup), dump.Options{}); !errors.Is(err, dump.ErrRestorePending) {
					t.Fatalf("plain import into a half-restored store: %v, want ErrRestorePending", err)
				}
			}
			if n, err := dump.Import(ctx, s, bytes.NewReader(backup), dump.Options{Force: true, Tables: restoreTables}); err != nil || n != 254 {
				t.Fatalf("re-run of the forced import: %d, %v", n, err)
			}
			if err := dump.CheckRestore(ctx, s); err != nil {
				t.Fatalf("CheckRestore after the re-run: %v", err)
			}
			if got := exportOf(t, s); !bytes.Equal(got, backup) {
				t.Fatalf("export after the re-run differs from the backup:\n%.300s\n%.300s", got, backup)
			}
		})
	}
}
