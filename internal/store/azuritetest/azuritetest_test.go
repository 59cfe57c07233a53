package azuritetest_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/store/azuritetest"
)

func TestMain(m *testing.M) { os.Exit(azuritetest.Main(m)) }

func endpointOf(t *testing.T, conn string) string {
	t.Helper()
	for _, part := range strings.Split(conn, ";") {
		if v, ok := strings.CutPrefix(part, "TableEndpoint="); ok {
			return v
		}
	}
	t.Fatalf("no TableEndpoint in %q", conn)
	return ""
}

func answers(t *testing.T, endpoint string) bool {
	t.Helper()
	resp, err := http.Get(endpoint + "/Tables")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func TestStartAndStop(t *testing.T) {
	var endpoint string
	t.Run("start", func(t *testing.T) {
		endpoint = endpointOf(t, azuritetest.Start(t))
		if !answers(t, endpoint) {
			t.Fatal("started Azurite does not answer")
		}
	})
	if endpoint != "" && answers(t, endpoint) {
		t.Fatal("Azurite still answers after its test's cleanup")
	}
}

func TestSharedIsShared(t *testing.T) {
	a, b := azuritetest.Shared(t), azuritetest.Shared(t)
	if a != b {
		t.Fatalf("Shared started two servers: %q, %q", a, b)
	}
	if fresh := azuritetest.Start(t); fresh == a {
		t.Fatal("Start reused the shared server")
	}
	if !answers(t, endpointOf(t, a)) {
		t.Fatal("shared Azurite does not answer")
	}
}

func TestBinaryFromSubdirectory(t *testing.T) {
	// tests run in their package directory, three levels below the module
	// root that holds node_modules
	p, err := azuritetest.Binary()
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("%v", err)
		}
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, "node_modules/.bin/azurite-table") {
		t.Fatalf("Binary() = %q", p)
	}
}
