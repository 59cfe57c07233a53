package tokens

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

func openBolt(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalOnBolt(t *testing.T) {
	runLocalTests(t, func(t *testing.T) store.Store {
		s := openBolt(t, filepath.Join(t.TempDir(), "adfscim.db"))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestLocalSurvivesRestartOnBolt closes and reopens the database file: the
// bootstrap token keeps working and is not generated again.
func TestLocalSurvivesRestartOnBolt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "adfscim.db")
	s := openBolt(t, path)
	l, _ := NewLocal(s, LocalOptions{})
	value, err := l.Bootstrap(ctx)
	if err != nil || value == "" {
		t.Fatalf("Bootstrap = %q, %v", value, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(value)) {
		t.Fatal("the database file holds the token value")
	}
	d := DigestOf(value)
	if !bytes.Contains(raw, []byte(hex.EncodeToString(d[:]))) {
		t.Fatal("the database file does not hold the token's digest")
	}
	s = openBolt(t, path)
	defer s.Close()
	l, _ = NewLocal(s, LocalOptions{})
	if again, err := l.Bootstrap(ctx); err != nil || again != "" {
		t.Fatalf("Bootstrap after restart = %q, %v; want nothing new", again, err)
	}
	c, err := l.Authenticate(ctx, value)
	if err != nil || c.Name != BootstrapClient {
		t.Fatalf("bootstrap token after restart: %+v, %v", c, err)
	}
}
