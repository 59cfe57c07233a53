package rbac

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
)

func TestResolver(t *testing.T) {
	const attr = "urn:ietf:params:scim:schemas:extension:adfscim:2.0:User:objectId"
	var gotAuth, gotPath string
	graph := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		default:
			http.Error(w, `{"error":{"code":"Request_ResourceNotFound"}}`, http.StatusNotFound)
		}
	}))
	defer graph.Close()
	withGraph := Resolver{Attribute: attr, Graph: &GraphOptions{Endpoint: graph.URL, Credential: &azfake.TokenCredential{}, Client: graph.Client()}}
	noGraph := Resolver{Attribute: attr}

	tests := []struct {
		name     string
		r        Resolver
		u        User
		want     string
		wantPath string
		unres    bool
	}{
		{"externalId GUID", noGraph, User{ExternalID: "AAAAAAAA-0000-0000-0000-000000000001"}, "aaaaaaaa-0000-0000-0000-000000000001", "", false},
		{"extension attribute", noGraph, User{ExternalID: "00u1abcd", Attributes: map[string]string{attr: pid(7)}}, pid(7), "", false},
		{"attribute not a GUID, no graph", noGraph, User{ExternalID: "00u1abcd", Attributes: map[string]string{attr: "nope"}}, "", "", true},
		{"graph by userName", withGraph, User{ExternalID: "00u1abcd", UserName: "okta.user@example.com"}, "abcdef01-0000-0000-0000-000000000042", "/v1.0/users/okta.user@example.com", false},
		{"graph escapes the userName", withGraph, User{UserName: "we?ird/#name@example.com"}, pid(43), "/v1.0/users/we%3Fird%2F%23name@example.com", false},
		{"graph 404", withGraph, User{UserName: "ghost@example.com"}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotPath, gotAuth = "", ""
			got, err := tt.r.Resolve(context.Background(), tt.u)
			if tt.unres {
				if !errors.Is(err, ErrUnresolved) {
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
			if tt.wantPath != "" {
				if gotPath != tt.wantPath {
					t.Errorf("graph path = %q, want %q", gotPath, tt.wantPath)
				}
				if gotAuth != "Bearer fake_token" {
					t.Errorf("graph Authorization = %q", gotAuth)
				}
			}
		})
	}
}

func TestResolverGraphErrorIsNotUnresolved(t *testing.T) {
	graph := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer graph.Close()
	r := Resolver{Graph: &GraphOptions{Endpoint: graph.URL, Credential: &azfake.TokenCredential{}, Client: graph.Client()}}
	_, err := r.Resolve(context.Background(), User{UserName: "a@example.com"})
	if err == nil || errors.Is(err, ErrUnresolved) {
		t.Fatalf("a Graph outage must be an error but not 'unresolvable': %v", err)
	}
}

// TestGraphDenied: when Graph answers 401 or 403 (the identity lacks
// User.Read.All), the lookup and the start-up probe return a
// *GraphDeniedError whose text says what to grant, and the user is not
// called unresolvable.
func TestGraphDenied(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		graph := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`))
		}))
		r := Resolver{Graph: &GraphOptions{Endpoint: graph.URL, Credential: &azfake.TokenCredential{}, Client: graph.Client()}}
		_, err := r.Resolve(context.Background(), User{UserName: "a@example.com"})
		var denied *GraphDeniedError
		if !errors.As(err, &denied) || denied.Status != status || errors.Is(err, ErrUnresolved) {
			t.Errorf("%d: Resolve err = %v, want a GraphDeniedError", status, err)
		}
		if err == nil || !strings.Contains(err.Error(), "Graph denied the lookup") || !strings.Contains(err.Error(), "User.Read.All") {
			t.Errorf("%d: the error %v does not say what to grant", status, err)
		}
		if err := r.ProbeGraph(context.Background()); !errors.As(err, &denied) {
			t.Errorf("%d: ProbeGraph = %v, want a GraphDeniedError", status, err)
		}
		graph.Close()
	}
	if err := (Resolver{}).ProbeGraph(context.Background()); err != nil {
		t.Errorf("ProbeGraph without Graph = %v", err)
	}
}
