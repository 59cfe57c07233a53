package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/enginetest"
	"github.com/adfscim/adfscim/internal/tokens"
)

// The test clients. newEnv issues each one a token, with the scopes below,
// from the service's own token source; tokenAuth, for the tests of the HTTP
// layer alone, accepts a client's name as its token.
const (
	scimClient    = "test"    // scim.read and scim.write
	readClient    = "reader"  // scim.read
	writeClient   = "writer"  // scim.write
	opsClient     = "ops"     // ops.read and ops.write, no SCIM scope
	auditorClient = "auditor" // ops.read
)

// clients are the test clients in the order newEnv issues their tokens.
var clients = []string{scimClient, readClient, writeClient, opsClient, auditorClient}

// clientScopes returns a test client's scopes (nil for any other name).
func clientScopes(client string) []tokens.Scope {
	switch client {
	case scimClient:
		return []tokens.Scope{tokens.ScimRead, tokens.ScimWrite}
	case readClient:
		return []tokens.Scope{tokens.ScimRead}
	case writeClient:
		return []tokens.Scope{tokens.ScimWrite}
	case opsClient:
		return []tokens.Scope{tokens.OpsRead, tokens.OpsWrite}
	case auditorClient:
		return []tokens.Scope{tokens.OpsRead}
	}
	return nil
}

// tokenAuth is the token source of the tests that build the HTTP layer
// alone (handlers.New): a test client's name is its token.
type tokenAuth struct{}

func (tokenAuth) Authenticate(_ context.Context, token string) (tokens.Client, error) {
	if scopes := clientScopes(token); scopes != nil {
		return tokens.Client{Name: token, Scopes: scopes}, nil
	}
	return tokens.Client{}, tokens.ErrUnknownToken
}

// env is the whole service, built by app.New as serve builds it, behind a
// test server.
type env struct {
	t    *testing.T
	srv  *httptest.Server
	st   store.Store
	logs *lockedBuffer
	// app is the service: its audit trail (app.Trail), its reconciler
	// (app.Reconciler, whose worker does not run, so what is queued stays
	// pending), its store.
	app *app.App
	// tokens are the test clients' tokens, by client.
	tokens map[string]string
}

// envOptions vary the service newEnvWith builds.
type envOptions struct {
	// extensions is ADFSCIM_SCHEMA_EXTENSIONS.
	extensions string
	// mapping is ADFSCIM_MAPPING (default none: no factory is managed).
	mapping string
	// store is the store to serve (default a fresh one on the engine under
	// test, -engine).
	store store.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// newEnvWith builds the service from a configuration, as serve does, and
// issues the test clients' tokens.
func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.store == nil {
		o.store = enginetest.Open(t)
	}
	vars := map[string]string{
		"ADFSCIM_DATA_DIR":          t.TempDir(),
		"ADFSCIM_MAPPING":           o.mapping,
		"ADFSCIM_SCHEMA_EXTENSIONS": o.extensions,
	}
	cfg, err := config.Load(nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: o.store, logs: &lockedBuffer{}, tokens: map[string]string{}}
	a, err := app.New(context.Background(), cfg, app.Options{Store: o.store, Logger: zerolog.New(e.logs)})
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	for _, c := range clients {
		if e.tokens[c], err = a.Auth.Create(context.Background(), c, clientScopes(c), 0); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		e.srv.Close()
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// token returns the token of a test client.
func (e *env) token(client string) string {
	e.t.Helper()
	tok, ok := e.tokens[client]
	if !ok {
		e.t.Fatalf("no test client %q", client)
	}
	return tok
}

// bearer is the Authorization header of a test client.
func (e *env) bearer(client string) string { return "Bearer " + e.token(client) }

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, r.body)
	}
	return m
}

func (e *env) do(method, path string, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", e.bearer(scimClient))
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// wantError checks a SCIM Error response.
func wantError(t *testing.T, r resp, status int, scimType string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Errorf("Content-Type = %q, want application/scim+json", ct)
	}
	m := r.json(t)
	schemas, _ := m["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("schemas = %v, want the Error schema", m["schemas"])
	}
	if m["status"] != strconv.Itoa(status) {
		t.Errorf("status field = %v (%T), want the string %q", m["status"], m["status"], strconv.Itoa(status))
	}
	if got, _ := m["scimType"].(string); got != scimType {
		t.Errorf("scimType = %q, want %q", got, scimType)
	}
	if d, _ := m["detail"].(string); d == "" {
		t.Errorf("detail is empty")
	}
	return m
}

const alice = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Alice@Contoso.com","active":true,"password":"Pa55word!","name":{"givenName":"Alice","familyName":"Smith"},"emails":[{"value":"alice@contoso.com","type":"work","primary":true}]}`

func (e *env) createUser(body string) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/scim/v2/Users", body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create user: %d %s", r.status, r.body)
	}
	return r.json(e.t)
}

func TestErrorsAreSCIMErrors(t *testing.T) {
	e := newEnv(t)
	created := e.createUser(alice)
	id := created["id"].(string)
	big := `{"userName":"big","displayName":"` + strings.Repeat("x", handlers.MaxBodyBytes) + `"}`

	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		headers  []string
		status   int
		scimType string
	}{
		{"malformed JSON", "POST", "/scim/v2/Users", `{"userName": "bob"`, nil, 400, "invalidSyntax"},
		{"not an object", "POST", "/scim/v2/Users", `["userName"]`, nil, 400, "invalidSyntax"},
		{"trailing data", "POST", "/scim/v2/Users", `{"userName":"bob"} {}`, nil, 400, "invalidSyntax"},
		{"missing userName", "POST", "/scim/v2/Users", `{"active":true}`, nil, 400, "invalidValue"},
		{"wrong type", "POST", "/scim/v2/Users", `{"userName":"bob","active":"maybe"}`, nil, 400, "invalidValue"},
		{"missing token", "GET", "/scim/v2/Users", "", []string{"Authorization", ""}, 401, ""},
		{"wrong token", "GET", "/scim/v2/Users", "", []string{"Authorization", "Bearer nope"}, 401, ""},
		{"wrong scheme", "GET", "/scim/v2/Users", "", []string{"Authorization", "Basic " + e.token(scimClient)}, 401, ""},
		{"read-only token writes", "POST", "/scim/v2/Users", `{"userName":"bob"}`, []string{"Authorization", e.bearer(readClient)}, 403, ""},
		{"unknown user id", "GET", "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", "", nil, 404, ""},
		{"id that is not ours", "GET", "/scim/v2/Users/..%2f..%2fetc", "", nil, 404, ""},
		{"unknown group id", "DELETE", "/scim/v2/Groups/2819c223-7f76-453a-919d-413861904646", "", nil, 404, ""},
		{"unknown endpoint", "GET", "/scim/v2/Widgets", "", nil, 404, ""},
		{"duplicate userName in other case", "POST", "/scim/v2/Users", `{"userName":"alice@CONTOSO.com"}`, nil, 409, "uniqueness"},
		{"body too large", "POST", "/scim/v2/Users", big, nil, 413, ""},
		{"unsupported content type", "POST", "/scim/v2/Users", `userName=bob`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"unacceptable Accept", "GET", "/scim/v2/Users", "", []string{"Accept", "text/html"}, 406, ""},
		{"method not allowed", "PATCH", "/scim/v2/Users", `{}`, nil, 405, ""},
		{"If-Match mismatch", "PUT", "/scim/v2/Users/" + id, `{"userName":"alice@contoso.com"}`, []string{"If-Match", `W/"stale"`}, 412, ""},
		{"PUT with another id", "PUT", "/scim/v2/Users/" + id, `{"id":"2819c223-7f76-453a-919d-413861904646","userName":"alice@contoso.com"}`, nil, 400, "mutability"},
		{"member that is no user", "POST", "/scim/v2/Groups", `{"displayName":"g","members":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}`, nil, 400, "invalidValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, tc.headers...)
			wantError(t, r, tc.status, tc.scimType)
			if tc.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// Nothing above changed the stored user.
	r := e.do("GET", "/scim/v2/Users/"+id, "")
	if got := r.json(t)["userName"]; got != "Alice@Contoso.com" {
		t.Errorf("after failed requests userName = %v", got)
	}
	if n := e.do("GET", "/scim/v2/Users", "").json(t)["totalResults"]; n != float64(1) {
		t.Errorf("after failed requests totalResults = %v, want 1", n)
	}
}

func TestPasswordIsNeverStoredOrReturned(t *testing.T) {
	e := newEnv(t)
	created := e.createUser(alice)
	id := created["id"].(string)
	for _, r := range []resp{
		{body: mustJSON(created)},
		e.do("GET", "/scim/v2/Users/"+id, ""),
		e.do("GET", "/scim/v2/Users", ""),
		e.do("PUT", "/scim/v2/Users/"+id, `{"userName":"alice@contoso.com","password":"Other5ecret"}`),
	} {
		if bytes.Contains(r.body, []byte("Pa55word")) || bytes.Contains(r.body, []byte("Other5ecret")) || bytes.Contains(r.body, []byte(`"password"`)) {
			t.Errorf("a response carries the password: %s", r.body)
		}
	}
	err := e.st.Scan(context.Background(), directory.Table, func(en store.Entity) error {
		if bytes.Contains(en.Data, []byte("Pa55word")) || bytes.Contains(en.Data, []byte("Other5ecret")) {
			t.Errorf("row %s stores the password", en.RowKey)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.logs.Bytes(), []byte("Pa55word")) || bytes.Contains(e.logs.Bytes(), []byte(e.token(scimClient))) {
		t.Errorf("the log carries a secret:\n%s", e.logs)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	created := e.createUser(alice)
	id := created["id"].(string)
	meta := created["meta"].(map[string]any)
	if meta["resourceType"] != "User" || meta["created"] == nil || meta["lastModified"] == nil || meta["version"] == nil {
		t.Errorf("meta incomplete: %v", meta)
	}
	if loc, _ := meta["location"].(string); !strings.HasSuffix(loc, "/scim/v2/Users/"+id) {
		t.Errorf("meta.location = %q", loc)
	}
	got := e.do("GET", "/scim/v2/Users/"+id, "")
	if got.status != 200 || got.header.Get("ETag") != meta["version"] {
		t.Fatalf("GET: %d ETag %q, want 200 and %v", got.status, got.header.Get("ETag"), meta["version"])
	}
	if nm := e.do("GET", "/scim/v2/Users/"+id, "", "If-None-Match", got.header.Get("ETag")); nm.status != http.StatusNotModified {
		t.Errorf("If-None-Match with the current version: %d, want 304", nm.status)
	}
	// A stray slash and lower-case resource names are accepted.
	if r := e.do("GET", "/scim/v2/users/?filter=userName+eq+%22alice@contoso.com%22", ""); r.status != 200 || r.json(t)["totalResults"] != float64(1) {
		t.Errorf("lookup by userName in another case: %d %s", r.status, r.body)
	}
	put := e.do("PUT", "/scim/v2/Users/"+id, `{"userName":"alice.smith@contoso.com","active":false,"id":"`+id+`","meta":{"resourceType":"User"},"groups":[]}`, "If-Match", got.header.Get("ETag"))
	if put.status != 200 {
		t.Fatalf("PUT: %d %s", put.status, put.body)
	}
	pm := put.json(t)
	if pm["userName"] != "alice.smith@contoso.com" || pm["active"] != false || pm["emails"] != nil {
		t.Errorf("PUT did not replace the resource: %s", put.body)
	}
	// The old userName is free again, the new one is taken.
	if r := e.do("POST", "/scim/v2/Users", `{"userName":"ALICE@contoso.com"}`); r.status != 201 {
		t.Errorf("old userName not released: %d %s", r.status, r.body)
	}
	wantError(t, e.do("POST", "/scim/v2/Users", `{"userName":"Alice.Smith@contoso.com"}`), 409, "uniqueness")
	if r := e.do("DELETE", "/scim/v2/Users/"+id, ""); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	wantError(t, e.do("GET", "/scim/v2/Users/"+id, ""), 404, "")
	if r := e.do("POST", "/scim/v2/Users", `{"userName":"alice.smith@contoso.com"}`); r.status != 201 {
		t.Errorf("userName of a deleted user not released: %d %s", r.status, r.body)
	}
}

func TestGroupMembershipAndExcludedMembers(t *testing.T) {
	e := newEnv(t)
	u1 := e.createUser(`{"userName":"u1"}`)["id"].(string)
	u2 := e.createUser(`{"userName":"u2"}`)["id"].(string)
	r := e.do("POST", "/scim/v2/Groups", `{"displayName":"Data Engineers","members":[{"value":"`+u1+`","display":"User One"},{"value":"`+u2+`"}]}`)
	if r.status != 201 {
		t.Fatalf("create group: %d %s", r.status, r.body)
	}
	gid := r.json(t)["id"].(string)
	wantError(t, e.do("POST", "/scim/v2/Groups", `{"displayName":"data engineers"}`), 409, "uniqueness")

	g := e.do("GET", "/scim/v2/Groups/"+gid, "").json(t)
	if ms, _ := g["members"].([]any); len(ms) != 2 {
		t.Fatalf("members = %v, want 2", g["members"])
	}
	noMembers := e.do("GET", "/scim/v2/Groups/"+gid+"?excludedAttributes=members", "").json(t)
	if _, ok := noMembers["members"]; ok || noMembers["displayName"] != "Data Engineers" {
		t.Errorf("excludedAttributes=members: %v", noMembers)
	}
	user := e.do("GET", "/scim/v2/Users/"+u1, "").json(t)
	groups, _ := user["groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["value"] != gid {
		t.Errorf("user.groups = %v, want [%s]", user["groups"], gid)
	}
	// Deleting a user removes it from the group.
	e.do("DELETE", "/scim/v2/Users/"+u2, "")
	g = e.do("GET", "/scim/v2/Groups/"+gid, "").json(t)
	if ms, _ := g["members"].([]any); len(ms) != 1 {
		t.Errorf("after deleting u2 members = %v, want only u1", g["members"])
	}
	// PUT replaces the member list.
	if r := e.do("PUT", "/scim/v2/Groups/"+gid, `{"displayName":"Data Engineers","members":[]}`); r.status != 200 {
		t.Fatalf("PUT group: %d %s", r.status, r.body)
	}
	user = e.do("GET", "/scim/v2/Users/"+u1, "").json(t)
	if _, ok := user["groups"]; ok {
		t.Errorf("after emptying the group user.groups = %v", user["groups"])
	}
	// Deleting the group frees its name.
	e.do("DELETE", "/scim/v2/Groups/"+gid, "")
	if r := e.do("POST", "/scim/v2/Groups", `{"displayName":"Data Engineers"}`); r.status != 201 {
		t.Errorf("displayName of a deleted group not released: %d", r.status)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	sp := e.do("GET", "/scim/v2/ServiceProviderConfig", "").json(t)
	if sp["patch"].(map[string]any)["supported"] != true || sp["etag"].(map[string]any)["supported"] != true {
		t.Errorf("ServiceProviderConfig: %v", sp)
	}
	rts := e.do("GET", "/scim/v2/ResourceTypes", "").json(t)
	res := rts["Resources"].([]any)
	if len(res) != 2 || res[0].(map[string]any)["endpoint"] != "/Users" {
		t.Errorf("ResourceTypes: %v", rts)
	}
	schemas := e.do("GET", "/scim/v2/Schemas", "")
	for _, urn := range []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group"} {
		if !bytes.Contains(schemas.body, []byte(`"id":"`+urn+`"`)) {
			t.Errorf("/Schemas lacks %s", urn)
		}
	}
	one := e.do("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group", "")
	if one.status != 200 || one.json(t)["name"] != "Group" {
		t.Errorf("/Schemas/{id}: %d %s", one.status, one.body)
	}
}

// TestFunctionsHostShapes sends the two request shapes of the Azure
// Functions host: a forwarded HTTP request and a timer invocation.
func TestFunctionsHostShapes(t *testing.T) {
	e := newEnv(t)
	// Readiness probe.
	if r := e.do("GET", "/", "", "Authorization", ""); r.status != 200 {
		t.Errorf("readiness probe: %d", r.status)
	}
	// A forwarded request arrives with its original path, query, headers
	// and body, plus the host's headers.
	r := e.do("POST", "/scim/v2/Users?aadOptscim062020", `{"userName":"forwarded@contoso.com"}`,
		"X-Azure-Functions-InvocationId", "7e0d8f2a-1111-2222-3333-444455556666",
		"X-Forwarded-Proto", "https", "X-Forwarded-Host", "adfscim-func.azurewebsites.net",
		"Content-Type", "application/json")
	if r.status != 201 {
		t.Fatalf("forwarded POST: %d %s", r.status, r.body)
	}
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "https://adfscim-func.azurewebsites.net/scim/v2/Users/") {
		t.Errorf("Location = %q, want the public URL", loc)
	}
	if !strings.Contains(e.logs.String(), `"invocation_id":"7e0d8f2a-1111-2222-3333-444455556666"`) {
		t.Errorf("the access log lacks the invocation id:\n%s", e.logs)
	}
	// Timer invocation.
	payload := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2026-11-26T10:00:00Z","Next":"2026-11-26T10:05:00Z","LastUpdated":"2026-11-26T10:00:00Z"},"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"ReconcileRbac","UtcNow":"2026-11-26T10:05:00.01Z","RandGuid":"0fb3b14c-0f6f-4b2e-a0b4-5b8fb1d2c1a0"}}}`
	tr := e.do("POST", "/ReconcileRbac", payload, "Authorization", "", "Content-Type", "application/json")
	if tr.status != 200 {
		t.Fatalf("timer: %d %s", tr.status, tr.body)
	}
	var inv struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue any
	}
	if err := json.Unmarshal(tr.body, &inv); err != nil || inv.Outputs == nil || len(inv.Logs) == 0 || inv.ReturnValue != nil {
		t.Errorf("timer response %s (err %v), want {Outputs:{}, Logs:[...], ReturnValue:null}", tr.body, err)
	}
	// The timer ran the service's ReconcileRbac: one full reconcile.
	if n := strings.Count(strings.Join(inv.Logs, "\n"), "reconcile: "); n != 1 {
		t.Errorf("timer logs %q: %d reconciles, want 1", inv.Logs, n)
	}
}

// lockedBuffer is a log sink that tests may read while servers write to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}
