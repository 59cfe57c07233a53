package setup

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/adfscim/adfscim/internal/audit/checkpoint"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

func noCredential() (azcore.TokenCredential, error) {
	return nil, errors.New("no credential in this test")
}

// TestWhereCheckpointsGo: locally, the data directory; on Table Storage
// in Azure without both URLs, nowhere (the data directory does not last
// there); a SAS URL needs no credential.
func TestWhereCheckpointsGo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := bolt.Open(filepath.Join(dir, "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	w, where, err := Writer(ctx, Config{DataDir: dir, Credential: noCredential}, s)
	if err != nil || w == nil || !strings.Contains(where, filepath.Join(dir, "checkpoints.jsonl")) || !strings.Contains(where, "local:") {
		t.Fatalf("local: %v %q %v", w, where, err)
	}
	if _, err := w.Write(ctx); err != nil {
		t.Fatal(err)
	}
	pem, err := PublicKeyPEM(ctx, Config{DataDir: dir})
	if err != nil || !strings.HasPrefix(string(pem), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("public key: %s %v", pem, err)
	}
	r, err := Check(ctx, Config{DataDir: dir}, nil)
	if err != nil || r.Count != 1 || len(r.Problems) != 0 {
		t.Fatalf("check: %+v %v", r, err)
	}

	for _, c := range []Config{
		{HostedInAzure: true, DataDir: dir},
		{HostedInAzure: true, DataDir: dir, BlobURL: "https://a.blob.core.windows.net/c"},
		{HostedInAzure: true, DataDir: dir, KeyURL: "https://v.vault.azure.net/keys/k"},
	} {
		if _, _, err := Writer(ctx, c, s); !errors.Is(err, ErrOff) {
			t.Errorf("%+v: %v, want ErrOff", c, err)
		}
	}

	if _, where, err := (Config{BlobURL: "https://a.blob.core.windows.net/c?sv=2024&sp=rl&sig=x", Credential: noCredential}).sink(); err != nil || where != "https://a.blob.core.windows.net/c" {
		t.Errorf("SAS URL: %q %v (the signature must not be shown)", where, err)
	}
	if _, _, err := (Config{BlobURL: "ftp://x/c", Credential: noCredential}).sink(); err == nil {
		t.Error("an ftp URL was accepted")
	}
}

// TestLazyWriterRetriesOpening: a key or container that cannot be reached
// when the instance starts is tried again at every timer run; until it
// opens, each run fails and says why, and then checkpoints are written.
func TestLazyWriterRetriesOpening(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := bolt.Open(filepath.Join(dir, "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outage := errors.New("key vault unreachable")
	opens := 0
	lazy := &Lazy{Open: func(ctx context.Context) (*checkpoint.Writer, error) {
		opens++
		if opens <= 2 {
			return nil, outage
		}
		w, _, err := Writer(ctx, Config{DataDir: dir, Credential: noCredential}, s)
		return w, err
	}}
	timer := OnTimer(func(context.Context, bool) ([]string, error) { return []string{"reconcile: done"}, nil }, lazy)
	for run := 1; run <= 2; run++ {
		logs, err := timer(ctx, false)
		if !errors.Is(err, outage) || len(logs) != 1 {
			t.Fatalf("run %d during the outage: logs %q, error %v; want the run to fail with the outage", run, logs, err)
		}
	}
	for run := 3; run <= 4; run++ {
		logs, err := timer(ctx, false)
		if err != nil || len(logs) != 2 || !strings.HasPrefix(logs[1], "audit checkpoint ") {
			t.Fatalf("run %d after the outage: logs %q, error %v", run, logs, err)
		}
	}
	if opens != 3 {
		t.Errorf("opened %d times, want 3 (twice refused, then kept)", opens)
	}
	r, err := Check(ctx, Config{DataDir: dir}, nil)
	if err != nil || r.Count != 2 || len(r.Problems) != 0 {
		t.Fatalf("check: %+v %v", r, err)
	}
}
