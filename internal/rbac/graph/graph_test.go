package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/adfscim/adfscim/internal/rbac"
)

func pid(n int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", n) }

func TestLookup(t *testing.T) {
	var gotAuth, gotPath string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.EscapedPath()
		switch r.URL.Path {
		case "/v1.0/users/okta.user@example.com":
			if r.URL.Query().Get("$select") != "id" {
				http.Error(w, "want $select=id", http.StatusBadRequest)
				return
			}
			_, _ = w.Write([]byte(`{"id":"` + "ABCDEF01-0000-0000-0000-000000000042" + `"}`))
		case "/v1.0/users/we?ird/#name@example.com":
			_, _ = w.Write([]byte(`{"id":"` + pid(43) + `"}`))
		case "/v1.0/users/odd@example.com":
			_, _ = w.Write([]byte(`{"id":"not-a-guid"}`))
		default:
			http.Error(w, `{"error":{"code":"Request_ResourceNotFound"}}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	// Through the resolver, as the reconciler asks: the externalId is not
	// an object id, so Graph is asked by userName.
	r := rbac.Resolver{Lookup: &Client{Endpoint: srv.URL, Credential: &azfake.TokenCredential{}, HTTP: srv.Client()}}

	tests := []struct {
		name     string
		userName string
		want     string
		wantPath string
		unres    bool
	}{
		{"by userName", "okta.user@example.com", "abcdef01-0000-0000-0000-000000000042", "/v1.0/users/okta.user@example.com", false},
		{"the userName escaped", "we?ird/#name@example.com", pid(43), "/v1.0/users/we%3Fird%2F%23name@example.com", false},
		{"404", "ghost@example.com", "", "", true},
		{"an id that is not one", "odd@example.com", "", "", true},
		{"empty userName", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotPath, gotAuth = "", ""
			got, err := r.Resolve(context.Background(), rbac.User{ExternalID: "00u1abcd", UserName: tt.userName})
			if tt.unres {
				if !errors.Is(err, rbac.ErrUnresolved) {
					t.Fatalf("err = %v, want ErrUnresolved", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("principal = %q, want %q", got, tt.want)
			}
			if gotPath != tt.wantPath {
				t.Errorf("graph path = %q, want %q", gotPath, tt.wantPath)
			}
			if gotAuth != "Bearer fake_token" {
				t.Errorf("graph Authorization = %q", gotAuth)
			}
		})
	}
}

func TestOutageIsNotUnresolved(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, Credential: &azfake.TokenCredential{}, HTTP: srv.Client()}
	_, err := c.Lookup(context.Background(), "a@example.com")
	if err == nil || errors.Is(err, rbac.ErrUnresolved) {
		t.Fatalf("a Graph outage must be an error but not 'unresolvable': %v", err)
	}
	if err := c.Probe(context.Background()); err == nil {
		t.Error("Probe during an outage: no error")
	}
}

// TestDenied: when Graph answers 401 or 403 (the identity lacks
// User.Read.All), the lookup and the start-up probe return a *DeniedError
// whose text says what to grant, and the user is not called unresolvable.
func TestDenied(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
		}))
		c := &Client{Endpoint: srv.URL, Credential: &azfake.TokenCredential{}, HTTP: srv.Client()}
		_, err := rbac.Resolver{Lookup: c}.Resolve(context.Background(), rbac.User{UserName: "a@example.com"})
		var denied *DeniedError
		if !errors.As(err, &denied) || denied.Status != status || denied.Code != "Authorization_RequestDenied" || errors.Is(err, rbac.ErrUnresolved) {
			t.Errorf("%d: Resolve err = %v, want a DeniedError", status, err)
		}
		if err == nil || !strings.Contains(err.Error(), "Graph denied the lookup") || !strings.Contains(err.Error(), "User.Read.All") {
			t.Errorf("%d: the error %v does not say what to grant", status, err)
		}
		if err := c.Probe(context.Background()); !errors.As(err, &denied) {
			t.Errorf("%d: Probe = %v, want a DeniedError", status, err)
		}
		srv.Close()
	}
}
