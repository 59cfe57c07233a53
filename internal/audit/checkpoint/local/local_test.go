package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit/checkpoint"
)

// TestKeyIsMadeOnceAndPrivate: the first use makes a 0600 key; later opens
// read the same key; without create, a missing key is ErrNoKey.
func TestKeyIsMadeOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenKey(dir, false); !errors.Is(err, ErrNoKey) {
		t.Fatalf("missing key: %v, want ErrNoKey", err)
	}
	k1, err := OpenKey(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := OpenKey(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if k1.KeyID() != k2.KeyID() {
		t.Errorf("reopened key %s, want %s", k2.KeyID(), k1.KeyID())
	}
}

// TestFileAppendsAtItsPosition: an append at a stale position is a
// conflict, not a second line after someone else's.
func TestFileAppendsAtItsPosition(t *testing.T) {
	ctx := context.Background()
	f := File{Path: filepath.Join(t.TempDir(), LinesFile)}
	_, pos, err := f.Last(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Append(ctx, []byte(`{"a":1}`), pos, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.Append(ctx, []byte(`{"a":2}`), pos, time.Now()); !errors.Is(err, checkpoint.ErrConflict) {
		t.Fatalf("append at a stale position: %v, want ErrConflict", err)
	}
	last, pos, err := f.Last(ctx)
	if err != nil || string(last) != `{"a":1}` {
		t.Fatalf("last = %s, %v", last, err)
	}
	if err := f.Append(ctx, []byte(`{"a":2}`), pos, time.Now()); err != nil {
		t.Fatal(err)
	}
	lines, err := f.List(ctx)
	if err != nil || len(lines) != 2 || string(lines[1]) != `{"a":2}` {
		t.Fatalf("lines = %q, %v", lines, err)
	}
}
