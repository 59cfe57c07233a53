// Package azuritetest starts the Azurite Table Storage emulator for tests, so
// the Table Storage engine and everything built on it are exercised against
// the real wire protocol rather than a mock.
//
// Azurite is the npm package pinned in the module's package.json; run
// `npm ci` at the module root to install it. When it is missing, tests skip
// locally and fail when the CI environment variable is "true", so CI can
// never silently skip the engine's tests.
package azuritetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Account and Key are Azurite's well-known development account credentials.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startupBudget bounds how long Start waits for Azurite to answer. It is a
// readiness deadline, not a performance assertion: a busy machine may need
// several seconds to start node.
const startupBudget = 90 * time.Second

// Server is one running Azurite table service.
type Server struct {
	// ConnString is a full shared-key connection string for the server.
	ConnString string
	// Endpoint is the table service URL, account included.
	Endpoint string
	// HTTPClient reaches the server (it trusts StartTLS's certificate).
	HTTPClient *http.Client
	proc       *process
}

// ErrNotInstalled means node_modules/.bin/azurite-table was not found.
var ErrNotInstalled = errors.New("azuritetest: azurite-table not installed (run npm ci at the module root)")

// Start starts a fresh in-memory Azurite for the calling test and stops it
// at the test's cleanup. It returns the connection string.
func Start(t testing.TB) string {
	t.Helper()
	srv, err := StartServer()
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(srv.Stop)
	return srv.ConnString
}

// StartTLS starts a fresh Azurite that speaks HTTPS with a self-signed
// certificate for 127.0.0.1 and accepts OAuth bearer tokens (Azurite's
// "basic" check: a JWT with a Microsoft issuer, a storage audience and a
// valid lifetime; the signature is not verified). It is how tests exercise
// the token-credential path, which the SDK allows only over HTTPS. Use
// Server.HTTPClient, which trusts the certificate.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		skipOrFail(t, err)
	}
	dir := t.TempDir()
	pool, err := writeCert(dir)
	if err != nil {
		t.Fatalf("azuritetest: certificate: %v", err)
	}
	srv, err := startOnce(bin, &tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"), pool: pool})
	if err != nil {
		t.Fatalf("azurite: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

type tlsFiles struct {
	cert, key string
	pool      *x509.CertPool
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 and its
// key to dir, and returns a pool that trusts it.
func writeCert(dir string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "azurite"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns the connection string of one Azurite per test binary,
// started on first use. Tests isolate from each other with distinct table
// names (the engine's table prefix). The process is killed when the test
// binary exits (Linux parent-death signal), or explicitly by Main.
func Shared(t testing.TB) string {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = StartServer()
	}
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	return shared.srv.ConnString
}

// Main runs the tests and then stops the shared Azurite, if one was started.
// Use it from TestMain: func TestMain(m *testing.M) { os.Exit(azuritetest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		shared.srv.Stop()
		shared.srv = nil
	}
	shared.mu.Unlock()
	return code
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skipf("%v; skipping (set CI=true to make this a failure)", err)
	}
	t.Fatalf("azurite: %v", err)
}

// Binary finds node_modules/.bin/azurite-table by walking up from the
// working directory to the module root (the directory holding go.mod).
func Binary() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "node_modules", ".bin", "azurite-table")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return "", ErrNotInstalled
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotInstalled
		}
		dir = parent
	}
}

// StartServer starts Azurite on a free local port and waits until it
// answers. The caller must Stop it.
func StartServer() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		srv, err := startOnce(bin, nil)
		if err == nil {
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(bin string, tf *tlsFiles) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--inMemoryPersistence", "--tableHost", "127.0.0.1",
		"--tablePort", strconv.Itoa(port), "--disableTelemetry", "--skipApiVersionCheck", "--silent"}
	scheme := "http"
	client := &http.Client{Timeout: 2 * time.Second}
	if tf != nil {
		args = append(args, "--cert", tf.cert, "--key", tf.key, "--oauth", "basic")
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tf.pool}}
	}
	endpoint := fmt.Sprintf("%s://127.0.0.1:%d/%s", scheme, port, Account)
	proc, err := launch("azurite-table", bin, args, client, endpoint+"/Tables")
	if err != nil {
		return nil, err
	}
	return &Server{
		ConnString: fmt.Sprintf("DefaultEndpointsProtocol=%s;AccountName=%s;AccountKey=%s;TableEndpoint=%s;", scheme, Account, Key, endpoint),
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: client.Transport},
		proc:       proc,
	}, nil
}

// Stop kills the server's process group and waits for it to exit.
func (s *Server) Stop() {
	if s != nil {
		s.proc.Stop()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
