package azuritetest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BlobServer is one running Azurite blob service.
type BlobServer struct {
	// ConnString is a shared-key connection string for the server.
	ConnString string
	// Endpoint is the blob service URL, account included.
	Endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
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
	workDir, err := os.MkdirTemp("", "azurite-blob-*")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--disableTelemetry", "--skipApiVersionCheck", "--silent")
	cmd.Dir = workDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(workDir, "azurite.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("azuritetest: start %s: %w", bin, err)
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d/%s", port, Account)
	srv := &BlobServer{
		ConnString: fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;", Account, Key, endpoint),
		Endpoint:   endpoint,
		cmd:        cmd,
		done:       make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		os.RemoveAll(workDir)
		close(srv.done)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startupBudget)
	for {
		select {
		case <-srv.done:
			out, _ := os.ReadFile(filepath.Join(workDir, "azurite.log"))
			return nil, fmt.Errorf("azuritetest: azurite-blob exited before answering: %s", out)
		default:
		}
		resp, err := client.Get(endpoint + "?comp=list")
		if err == nil {
			resp.Body.Close()
			return srv, nil // any HTTP answer means it is up
		}
		if time.Now().After(deadline) {
			srv.Stop()
			return nil, fmt.Errorf("azuritetest: azurite-blob did not answer on port %d: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server's process group and waits for it to exit.
func (s *BlobServer) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}
