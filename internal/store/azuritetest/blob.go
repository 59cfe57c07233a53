package azuritetest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BlobServer is one running Azurite blob service.
type BlobServer struct {
	// ConnString is a shared-key connection string for the server.
	ConnString string
	// Endpoint is the blob service URL, account included.
	Endpoint string
	proc     *process
}

// ErrBlobNotInstalled means node_modules/.bin/azurite-blob was not found.
var ErrBlobNotInstalled = errors.New("azuritetest: azurite-blob not installed (run npm ci at the module root)")

// StartBlob starts a fresh in-memory Azurite blob service for the calling
// test and stops it at the test's cleanup. Like Start, it skips locally and
// fails in CI when Azurite is not installed.
func StartBlob(t testing.TB) *BlobServer {
	t.Helper()
	tbl, err := Binary()
	if err != nil {
		skipOrFail(t, err)
	}
	bin := filepath.Join(filepath.Dir(tbl), "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		skipOrFail(t, ErrBlobNotInstalled)
	}
	var srv *BlobServer
	for range 3 { // the free port may be taken between probe and bind
		if srv, err = startBlobOnce(bin); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("azurite blob: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func startBlobOnce(bin string) (*BlobServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--disableTelemetry", "--skipApiVersionCheck", "--silent"}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d/%s", port, Account)
	proc, err := launch("azurite-blob", bin, args, &http.Client{Timeout: 2 * time.Second}, endpoint+"?comp=list")
	if err != nil {
		return nil, err
	}
	return &BlobServer{
		ConnString: fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", Account, Key, endpoint),
		Endpoint:   endpoint,
		proc:       proc,
	}, nil
}

// Stop kills the server's process group and waits for it to exit.
func (s *BlobServer) Stop() {
	if s != nil {
		s.proc.Stop()
	}
}
