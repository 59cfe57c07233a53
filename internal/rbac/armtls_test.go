package rbac_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
)

// armServer speaks the role assignment REST API (api-version 2022-04-01)
// over TLS, the way ARM does, and answers the first write with 429.
type armServer struct {
	mu      sync.Mutex
	byID    map[string]map[string]any // full assignment id -> resource
	writes  int
	methods []string
}

func (s *armServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods = append(s.methods, r.Method)
	if r.URL.Query().Get("api-version") != "2022-04-01" || r.Header.Get("Authorization") != "Bearer fake_token" {
		http.Error(w, `{"error":{"code":"BadRequest"}}`, http.StatusBadRequest)
		return
	}
	const seg = "/providers/Microsoft.Authorization/roleAssignments"
	path := r.URL.Path
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPut || r.Method == http.MethodDelete {
		s.writes++
		if s.writes == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"TooManyRequests","message":"slow down"}}`))
			return
		}
	}
	switch r.Method {
	case http.MethodPut:
		var body struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":{"code":"InvalidRequestContent"}}`, http.StatusBadRequest)
			return
		}
		if _, ok := s.byID[strings.ToLower(path)]; ok {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"RoleAssignmentExists","message":"The role assignment already exists."}}`))
			return
		}
		scope := path[:strings.Index(path, seg)]
		body.Properties["scope"] = scope
		res := map[string]any{"id": path, "name": path[strings.LastIndex(path, "/")+1:], "type": "Microsoft.Authorization/roleAssignments", "properties": body.Properties}
		s.byID[strings.ToLower(path)] = res
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(res)
	case http.MethodDelete:
		res, ok := s.byID[strings.ToLower(path)]
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		delete(s.byID, strings.ToLower(path))
		_ = json.NewEncoder(w).Encode(res)
	case http.MethodGet:
		filter := r.URL.Query().Get("$filter")
		principal := strings.TrimSuffix(strings.TrimPrefix(filter, "principalId eq '"), "'")
		if !strings.HasSuffix(path, seg) || (filter != "atScope()" && !IsGUID(principal)) {
			http.Error(w, `{"error":{"code":"InvalidFilter"}}`, http.StatusBadRequest)
			return
		}
		scope := strings.ToLower(strings.TrimSuffix(path, seg))
		var out []any
		for id, res := range s.byID {
			p, _ := res["properties"].(map[string]any)
			if strings.HasPrefix(id, scope+"/") && (filter == "atScope()" || p["principalId"] == principal) {
				out = append(out, res)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"value": out})
	}
}

func TestARMAgainstTLSServer(t *testing.T) {
	ctx := context.Background()
	s := &armServer{byID: map[string]map[string]any{}}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	a, err := armclient.New(armclient.Options{Cloud: armclient.CloudConfig(srv.URL, "", ""), Credential: &azfake.TokenCredential{}, Transport: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	want := DesiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "u1")
	if err := a.Create(ctx, want); err != nil {
		t.Fatalf("create through a 429: %v", err)
	}
	if err := a.Create(ctx, want); err != nil {
		t.Fatalf("second create (409 RoleAssignmentExists): %v", err)
	}
	got, err := a.List(ctx, factoryA, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != want.Name || got[0].PrincipalType != PrincipalUser || !got[0].Owned() ||
		got[0].RoleID != roleDFC {
		t.Fatalf("listed %+v", got)
	}
	mine, err := a.List(ctx, factoryA, pid(1))
	if err != nil {
		t.Fatalf("list by principal: %v", err)
	}
	if len(mine) != 1 {
		t.Errorf("list by principal = %+v", mine)
	}
	if err := a.Delete(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, want); err != nil {
		t.Fatalf("delete of a missing assignment (204): %v", err)
	}
	if s.methods[0] != http.MethodPut || s.methods[1] != http.MethodPut {
		t.Errorf("the 429'd PUT was not retried: %v", s.methods)
	}
}
