package main

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAzure is a TLS server speaking enough of ARM (empty role assignment
// lists) and Microsoft Graph (every user lookup denied with 403, as Graph
// answers an identity without User.Read.All) for a workstation run against
// "Azure", and the environment that makes the binary trust it.
type fakeAzure struct {
	srv  *httptest.Server
	env  []string
	mu   sync.Mutex
	auth []string // Authorization headers ARM received
}

func newFakeAzure(t *testing.T) *fakeAzure {
	t.Helper()
	f := &fakeAzure{}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/v1.0/users") {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
			return
		}
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	t.Cleanup(f.srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	f.env = []string{"SSL_CERT_FILE=" + ca, "NO_PROXY=127.0.0.1,169.254.169.254", "no_proxy=127.0.0.1,169.254.169.254",
		"ADFSCIM_ARM=azure", "ADFSCIM_ARM_ENDPOINT=" + f.srv.URL}
	return f
}

func (f *fakeAzure) authorizations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// fakeAzPath returns a PATH holding only an `az` that prints an access token
// as `az account get-access-token -o json` does.
func fakeAzPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho '{\"accessToken\":\"token-from-az-login\",\"expiresOn\":\"2099-01-01 00:00:00.000000\",\"expires_on\":4070908800,\"tokenType\":\"Bearer\"}'\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

const azureTestMapping = `{"bindings":[{"group":"G","role":"Reader","factories":["/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-one"]}]}`

// TestWorkstationFallsBackToAzureCLI: on a workstation, where the managed
// identity named by AZURE_CLIENT_ID is not reachable (no IMDS, no App
// Service endpoint), the CLI authenticates with the developer's Azure CLI
// login; without one, the error says what was tried.
func TestWorkstationFallsBackToAzureCLI(t *testing.T) {
	az := newFakeAzure(t)
	env := cleanEnv(append(az.env, "AZURE_CLIENT_ID=0b9a3f1e-7c2d-4e5f-8a6b-1c2d3e4f5a6b", "PATH="+fakeAzPath(t),
		"ADFSCIM_DATA_DIR="+t.TempDir(), "ADFSCIM_MAPPING="+azureTestMapping)...)
	code, stdout, stderr := runIn(t, t.TempDir(), env, "plan")
	if code != 0 {
		t.Fatalf("plan against Azure from a workstation: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stderr, "adfscim plan: store=embedded ") || !strings.Contains(stderr, "arm=azure "+az.srv.URL) {
		t.Errorf("first line does not name the world: %s", stderr)
	}
	got := az.authorizations()
	if len(got) == 0 || got[0] != "Bearer token-from-az-login" {
		t.Errorf("ARM saw Authorization %q, want the Azure CLI's token", got)
	}

	// No Azure CLI login either: the error names what was tried.
	env = cleanEnv(append(az.env, "AZURE_CLIENT_ID=0b9a3f1e-7c2d-4e5f-8a6b-1c2d3e4f5a6b", "PATH="+t.TempDir(),
		"ADFSCIM_DATA_DIR="+t.TempDir(), "ADFSCIM_MAPPING="+azureTestMapping)...)
	code, _, stderr = runIn(t, t.TempDir(), env, "plan")
	if code == 0 {
		t.Fatal("plan without any credential succeeded")
	}
	for _, want := range []string{"tried the managed identity 0b9a3f1e-7c2d-4e5f-8a6b-1c2d3e4f5a6b (AZURE_CLIENT_ID)", "Azure CLI", "AzureCLICredential"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the authentication error does not say %q:\n%s", want, stderr)
		}
	}
}

// TestGraphDeniedIsSaid: when Microsoft Graph answers 403 (the identity
// lacks User.Read.All), serve says so at start, and the access report lists
// the users it could not look up with that reason.
func TestGraphDeniedIsSaid(t *testing.T) {
	const token = "graph-test-token-0123456789abcdefghijkl"
	az := newFakeAzure(t)
	env := append(az.env, "AZURE_CLIENT_ID=0b9a3f1e-7c2d-4e5f-8a6b-1c2d3e4f5a6b", "PATH="+fakeAzPath(t),
		"ADFSCIM_DATA_DIR="+t.TempDir(), "ADFSCIM_MAPPING="+azureTestMapping, "ADFSCIM_GRAPH_ENDPOINT="+az.srv.URL,
		"SCIM_BEARER_TOKEN="+token, "IDENTITY_ENDPOINT=", "MSI_ENDPOINT=", "AZURE_TENANT_ID=", "AZURE_CLIENT_SECRET=")
	p := start(t, env...)
	status, body, err := request("POST", p.url+"/Users", token, `{"userName":"okta.user@contoso.com","externalId":"00u1abcd","active":true}`)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST /Users: %d %s %v", status, body, err)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	if status, body, err := request("POST", p.url+"/Groups", token, `{"displayName":"G","members":[{"value":"`+u.ID+`"}]}`); err != nil || status != http.StatusCreated {
		t.Fatalf("POST /Groups: %d %s %v", status, body, err)
	}
	opsURL := strings.TrimSuffix(p.url, "/scim/v2") + "/ops/v1/report?format=json"
	status, body, err = request("GET", opsURL, token, "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET report: %d %s %v", status, body, err)
	}
	var rep struct {
		Unresolved []struct{ UserName, Reason string }
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Unresolved) != 1 || !strings.Contains(rep.Unresolved[0].Reason, "Graph denied the lookup (403") ||
		!strings.Contains(rep.Unresolved[0].Reason, "User.Read.All") {
		t.Errorf("unresolved = %+v, want the user with Graph's refusal as the reason", rep.Unresolved)
	}
	// The start-up probe logged it once, clearly.
	var logged bool
	for i := 0; i < 500 && !logged; i++ {
		logged = strings.Contains(p.logs.String(), "Microsoft Graph denied the principal lookup: grant the managed identity the Graph application permission User.Read.All")
		if !logged {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !logged {
		t.Errorf("serve did not say at start that Graph denied the lookup:\n%s", p.logs)
	}
}
