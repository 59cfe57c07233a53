package main

// End-to-end tests of "access follows identity": the SCIM API of the real
// handler tree, the directory on a real store (bbolt, and Table Storage on
// Azurite), the whole service built by internal/app as serve builds it,
// and the real ARM client talking TLS to a fake ARM that speaks the role
// assignment REST API (api-version 2022-04-01) and injects 429 +
// Retry-After, 500s, timeouts and lost responses.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// Role definition GUIDs, written out here (not taken from internal/rbac) so
// the oracle stays independent of the code under test.
const (
	e2eRoleContributor = "673868aa-7521-48a0-acc6-0f60742d39f5" // Data Factory Contributor
	e2eRoleReader      = "acdd72a7-3385-48ef-bd42-f606fba81ae7" // Reader
	e2eRoleOperator    = "5e0f1c2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f" // a custom "ADF Operator" role
	e2eRoleUnmapped    = "b24988ac-6180-42a0-ab88-20f7382dd24c" // Contributor: never in a mapping
	e2eSubscription    = "11111111-2222-4333-8444-555555555555"
	e2eToken           = "rbac-e2e-token-0123456789abcdefghijklmnop"
	e2eEnterprise      = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	e2eObjectIDAttr    = e2eEnterprise + ":employeeNumber"
	e2eMarker          = "managed-by:adfscim"
)

var e2eFactories = []string{
	"/subscriptions/" + e2eSubscription + "/resourceGroups/rg-analytics/providers/Microsoft.DataFactory/factories/adf-one",
	"/subscriptions/" + e2eSubscription + "/resourceGroups/rg-analytics/providers/Microsoft.DataFactory/factories/adf-two",
	"/subscriptions/" + e2eSubscription + "/resourceGroups/rg-ops/providers/Microsoft.DataFactory/factories/adf-three",
}

// ---------------------------------------------------------------------------
// The fake ARM.

// fakeRA is one role assignment held by the fake ARM.
type fakeRA struct {
	ID, Name, Scope, PrincipalID, PrincipalType, RoleDefinitionID, Description string
}

func (a fakeRA) key() string {
	return strings.ToLower(a.Scope) + "|" + strings.ToLower(a.PrincipalID) + "|" + roleOf(a.RoleDefinitionID)
}

func roleOf(id string) string { return strings.ToLower(id[strings.LastIndex(id, "/")+1:]) }

const raSegment = "/providers/microsoft.authorization/roleassignments"

// fakeARM speaks the role assignment REST API over TLS. Listing honours
// atScope() (assignments at the scope and above, as ARM does) and
// principalId eq '…', in pages with nextLink. Creating a second assignment
// of the same principal and role at the same scope answers 409
// RoleAssignmentExists, as ARM does.
type fakeARM struct {
	mu       sync.Mutex
	byID     map[string]fakeRA // lower-case id -> assignment
	pageSize int
	// Faults, per request, when enabled.
	rng                         *rand.Rand
	p429, p500, pTimeout, pLost float64
	// script, when set, names the faults of the next writes, in order,
	// before the random ones ("" for none), so every kind happens.
	script   []string
	injected map[string]int
	// latency, when set, delays every request (a realistic ARM).
	latency func() time.Duration
	// applied counts, per "PUT <name>" and "DELETE <name>", the writes that
	// changed the state (a create that made the assignment, a delete that
	// removed it). writes counts every PUT/DELETE that reached the state.
	applied map[string]int
	writes  int
	// reads counts the list pages served.
	reads int
	// onApplied, when set, is told (under mu) of every write that changed
	// the state: "PUT" or "DELETE" and the assignment.
	onApplied func(op string, ra fakeRA)
	// gate, when set, holds every write until it is closed; waiting counts
	// the writes held.
	gate    chan struct{}
	waiting int
	// changed is closed and replaced on every change of the state.
	changed chan struct{}
	badReqs []string
	// quit, closed when the test ends, releases hanging requests.
	quit chan struct{}
}

func newFakeARM(seed uint64) *fakeARM {
	return &fakeARM{byID: map[string]fakeRA{}, pageSize: 100, rng: rand.New(rand.NewPCG(seed, 7)),
		injected: map[string]int{}, applied: map[string]int{}, changed: make(chan struct{}), quit: make(chan struct{})}
}

func (f *fakeARM) setFaults(p429, p500, pTimeout, pLost float64, script ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p429, f.p500, f.pTimeout, f.pLost = p429, p500, pTimeout, pLost
	f.script = script
}

func (f *fakeARM) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// waitFor blocks until cond (called under the lock) holds or ctx ends.
func (f *fakeARM) waitFor(ctx context.Context, cond func() bool) error {
	for {
		f.mu.Lock()
		ok, ch := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *fakeARM) armErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":"fake ARM"}}`, code)
}

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	latency := f.latency
	f.mu.Unlock()
	if latency != nil {
		select {
		case <-time.After(latency()):
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	fault := ""
	if x := f.rng.Float64(); len(f.script) > 0 && r.Method != http.MethodGet {
		fault, f.script = f.script[0], f.script[1:]
	} else if x < f.p429 {
		fault = "429"
	} else if x < f.p429+f.p500 {
		fault = "500"
	} else if x < f.p429+f.p500+f.pTimeout {
		fault = "timeout"
	} else if x < f.p429+f.p500+f.pTimeout+f.pLost && r.Method != http.MethodGet {
		fault = "lost"
	}
	if fault != "" {
		f.injected[fault]++
	}
	f.mu.Unlock()
	switch fault {
	case "429":
		w.Header().Set("Retry-After", "1") // seconds, as ARM sends it
		f.armErr(w, http.StatusTooManyRequests, "TooManyRequests")
		return
	case "500":
		f.armErr(w, http.StatusInternalServerError, "InternalServerError")
		return
	case "timeout": // ARM never answers; the client's try timeout fires
		// (The body is read first: only then does the server notice the
		// client hanging up.)
		_, _ = io.Copy(io.Discard, r.Body)
		f.hang(r)
		return
	case "lost": // ARM applies the write; the answer never arrives
		f.serve(httptest.NewRecorder(), r)
		f.hang(r)
		return
	}
	f.serve(w, r)
}

// hang waits for the client to give up, or for the test to end.
func (f *fakeARM) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.quit:
	}
}

func (f *fakeARM) bad(w http.ResponseWriter, r *http.Request, why string) {
	f.mu.Lock()
	f.badReqs = append(f.badReqs, r.Method+" "+r.URL.String()+": "+why)
	f.mu.Unlock()
	f.armErr(w, http.StatusBadRequest, "BadRequest")
}

func (f *fakeARM) serve(w http.ResponseWriter, r *http.Request) {
	if lp := strings.ToLower(r.URL.Path); r.Method == http.MethodGet && r.URL.Query().Get("api-version") == "2020-10-01" &&
		(strings.HasSuffix(lp, "/providers/microsoft.authorization/roleeligibilityschedules") || strings.HasSuffix(lp, "/providers/microsoft.authorization/roleassignmentschedules")) {
		// PIM's schedules, which the sweep reads: none here (the schedule
		// APIs are the simulated ARM's, internal/rbac/armsim).
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"value":[]}`)
		return
	}
	if r.URL.Query().Get("api-version") != "2022-04-01" {
		f.bad(w, r, "api-version")
		return
	}
	if r.Header.Get("Authorization") != "Bearer fake_token" {
		f.armErr(w, http.StatusUnauthorized, "AuthenticationFailed")
		return
	}
	path := strings.ToLower(r.URL.Path)
	i := strings.Index(path, raSegment)
	if i <= 0 {
		f.bad(w, r, "not a role assignment path")
		return
	}
	scope, rest := path[:i], strings.TrimPrefix(path[i+len(raSegment):], "/")
	if r.Method == http.MethodGet && rest == "" {
		f.list(w, r, scope)
		return
	}
	if rest == "" || strings.Contains(rest, "/") {
		f.bad(w, r, "no assignment name")
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.put(w, r, scope, rest)
	case http.MethodDelete:
		f.delete(w, r, scope, rest)
	default:
		f.bad(w, r, "method")
	}
}

// hold keeps a write waiting while the gate is set.
func (f *fakeARM) hold(ctx context.Context) bool {
	f.mu.Lock()
	g := f.gate
	if g != nil {
		f.waiting++
		f.notifyLocked()
	}
	f.mu.Unlock()
	if g == nil {
		return true
	}
	select {
	case <-g:
		return true
	case <-ctx.Done():
		return false
	}
}

func (f *fakeARM) put(w http.ResponseWriter, r *http.Request, scope, name string) {
	var body struct {
		Properties struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
			Description      string `json:"description"`
		} `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.bad(w, r, "body: "+err.Error())
		return
	}
	p := body.Properties
	switch {
	case !strings.HasPrefix(strings.ToLower(p.RoleDefinitionID), "/subscriptions/"+e2eSubscription+"/providers/microsoft.authorization/roledefinitions/"):
		f.bad(w, r, "roleDefinitionId "+p.RoleDefinitionID)
		return
	case p.PrincipalType != "User" && p.PrincipalType != "Group":
		f.bad(w, r, "principalType "+p.PrincipalType)
		return
	case p.PrincipalID == "":
		f.bad(w, r, "principalId")
		return
	}
	if !f.hold(r.Context()) {
		return
	}
	ra := fakeRA{ID: scope + raSegment + "/" + name, Name: name, Scope: scope, PrincipalID: p.PrincipalID,
		PrincipalType: p.PrincipalType, RoleDefinitionID: p.RoleDefinitionID, Description: p.Description}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	for _, old := range f.byID {
		if old.key() == ra.key() {
			f.armErr(w, http.StatusConflict, "RoleAssignmentExists")
			return
		}
	}
	if _, ok := f.byID[ra.ID]; ok {
		f.armErr(w, http.StatusConflict, "RoleAssignmentUpdateNotPermitted")
		return
	}
	f.byID[ra.ID] = ra
	f.applied["PUT "+name]++
	if f.onApplied != nil {
		f.onApplied("PUT", ra)
	}
	f.notifyLocked()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(ra.resource())
}

func (f *fakeARM) delete(w http.ResponseWriter, r *http.Request, scope, name string) {
	if !f.hold(r.Context()) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	id := scope + raSegment + "/" + name
	ra, ok := f.byID[id]
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	delete(f.byID, id)
	f.applied["DELETE "+name]++
	if f.onApplied != nil {
		f.onApplied("DELETE", ra)
	}
	f.notifyLocked()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ra.resource())
}

func (a fakeRA) resource() map[string]any {
	return map[string]any{"id": a.ID, "name": a.Name, "type": "Microsoft.Authorization/roleAssignments",
		"properties": map[string]any{"scope": a.Scope, "roleDefinitionId": a.RoleDefinitionID,
			"principalId": a.PrincipalID, "principalType": a.PrincipalType, "description": a.Description}}
}

func (f *fakeARM) list(w http.ResponseWriter, r *http.Request, scope string) {
	q := r.URL.Query()
	filter := q.Get("$filter")
	principal := ""
	below := filter == "" // unfiltered: at, above and below the scope (the budget's count at a subscription)
	if filter != "atScope()" && !below {
		principal = strings.TrimSuffix(strings.TrimPrefix(filter, "principalId eq '"), "'")
		if principal == filter || len(principal) != 36 {
			f.bad(w, r, "filter "+filter)
			return
		}
	}
	f.mu.Lock()
	f.reads++
	var match []fakeRA
	for _, a := range f.byID {
		// At the scope or above it (inherited), as ARM lists them.
		if (a.Scope == scope || strings.HasPrefix(scope, a.Scope+"/") || (below && strings.HasPrefix(a.Scope, scope+"/"))) && (principal == "" || strings.EqualFold(a.PrincipalID, principal)) {
			match = append(match, a)
		}
	}
	f.mu.Unlock()
	sort.Slice(match, func(i, j int) bool { return match[i].ID < match[j].ID })
	skip, _ := strconv.Atoi(q.Get("$skiptoken"))
	end := min(skip+f.pageSize, len(match))
	page := map[string]any{"value": []any{}}
	var vals []any
	for _, a := range match[min(skip, len(match)):end] {
		vals = append(vals, a.resource())
	}
	if vals != nil {
		page["value"] = vals
	}
	if end < len(match) {
		q.Set("$skiptoken", strconv.Itoa(end))
		page["nextLink"] = "https://" + r.Host + r.URL.Path + "?" + q.Encode()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

// addForeign makes an assignment the way a person or another tool would.
func (f *fakeARM) addForeign(scope, principal, principalType, role string, n int) fakeRA {
	scope = strings.ToLower(scope)
	name := fmt.Sprintf("f0000000-0000-4000-8000-%012d", n)
	ra := fakeRA{ID: scope + raSegment + "/" + name, Name: name, Scope: scope, PrincipalID: principal, PrincipalType: principalType,
		RoleDefinitionID: "/subscriptions/" + e2eSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + role,
		Description:      "granted by hand in the portal"}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[ra.ID] = ra
	f.notifyLocked()
	return ra
}

func (f *fakeARM) all() map[string]fakeRA {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]fakeRA, len(f.byID))
	for k, v := range f.byID {
		out[k] = v
	}
	return out
}

func (f *fakeARM) counts() (writes int, applied map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	applied = make(map[string]int, len(f.applied))
	for k, v := range f.applied {
		applied[k] = v
	}
	return f.writes, applied
}

// ---------------------------------------------------------------------------
// The server, built by app.New as serve builds it, restartable on the same
// store.

type e2eInstance struct {
	app     *app.App
	stopped bool
}

type e2eServer struct {
	t       testing.TB
	st      store.Store
	fake    *fakeARM
	armSrv  *httptest.Server
	http    *httptest.Server
	url     string // SCIM base
	base    string
	cur     atomic.Pointer[e2eInstance]
	armOpts armclient.Options
	dataDir string // the local checkpoint key and file
}

// newE2EServer serves the SCIM API on st with an ARM client pointed at fake.
func newE2EServer(t testing.TB, st store.Store, fake *fakeARM, armOpts armclient.Options) *e2eServer {
	s := &e2eServer{t: t, st: st, fake: fake, dataDir: t.TempDir()}
	s.armSrv = httptest.NewTLSServer(fake)
	t.Cleanup(s.armSrv.Close)
	t.Cleanup(func() {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		select {
		case <-fake.quit:
		default:
			close(fake.quit)
		}
	})
	armOpts.Credential = &azfake.TokenCredential{}
	armOpts.Transport = s.armSrv.Client()
	s.armOpts = armOpts
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.cur.Load().app.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.http.Close)
	s.base = s.http.URL
	s.url = s.http.URL + handlers.ScimPrefix
	t.Cleanup(s.stop)
	return s
}

// start builds an instance with a mapping, as a (re)start of the process
// does (app.New on the configuration), and serves it; with worker the
// background fast path runs.
func (s *e2eServer) start(mapping, instance string, worker bool) {
	t := s.t
	t.Helper()
	s.stop()
	env := map[string]string{
		"ADFSCIM_DATA_DIR":            s.dataDir,
		"SCIM_BEARER_TOKEN":           e2eToken,
		"ADFSCIM_MAPPING":             mapping,
		"ADFSCIM_ARM":                 config.ARMAzure,
		"ADFSCIM_ARM_ENDPOINT":        s.armSrv.URL,
		"ADFSCIM_PRINCIPAL_ATTRIBUTE": e2eObjectIDAttr,
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Store: s.st, ARM: s.armOpts, Instance: instance})
	if err != nil {
		t.Fatal(err)
	}
	if worker {
		a.StartWorker(0)
	}
	s.cur.Store(&e2eInstance{app: a})
}

// stop ends the background worker and waits for it.
func (s *e2eServer) stop() {
	if inst := s.cur.Load(); inst != nil && !inst.stopped {
		inst.stopped = true
		if err := inst.app.Close(); err != nil {
			s.t.Errorf("stop: %v", err)
		}
	}
}

// do sends one SCIM request and decodes a JSON answer into out (if any);
// anything but a 2xx fails the test.
func (s *e2eServer) do(method, path, body string, out any) {
	s.t.Helper()
	u := s.url + path
	if strings.HasPrefix(path, "/ops/") || !strings.HasPrefix(path, "/") || path == "/ReconcileRbac" {
		u = s.base + path
	}
	status, b, err := request(method, u, e2eToken, body)
	if err != nil || status/100 != 2 {
		s.t.Fatalf("%s %s %s: %d %s %v", method, path, body, status, b, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// timer plays the Functions host firing the ReconcileRbac timer.
func (s *e2eServer) timer() []string {
	s.t.Helper()
	var res struct{ Logs []string }
	s.do("POST", "/ReconcileRbac", `{"Data":{"timer":{"Schedule":{},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"ReconcileRbac"}}}`, &res)
	return res.Logs
}

// reconcileLines are a timer run's log lines without the line of the audit
// checkpoint written after every run.
func reconcileLines(logs []string) []string {
	var out []string
	for _, l := range logs {
		if !strings.HasPrefix(l, "audit checkpoint ") {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// The model and its oracle.

type oBinding struct {
	group, groupExternalID string
	roleJSON, role         string // as the operator writes it; the GUID
	factories              []int
	groupMode              bool
}

type oMapping []oBinding

func (m oMapping) JSON() string {
	var bs []string
	for _, b := range m {
		var fs []string
		for _, f := range b.factories {
			fs = append(fs, fmt.Sprintf("%q", []string{"one", "two", "three"}[f]))
		}
		ref := fmt.Sprintf(`"group":%q`, b.group)
		if b.groupExternalID != "" {
			ref = fmt.Sprintf(`"groupExternalId":%q`, b.groupExternalID)
		}
		mode := "user"
		if b.groupMode {
			mode = "group"
		}
		bs = append(bs, fmt.Sprintf(`{%s,"role":%q,"factories":[%s],"mode":%q}`, ref, b.roleJSON, strings.Join(fs, ","), mode))
	}
	return fmt.Sprintf(`{"factories":{"one":%q,"two":%q,"three":%q},"bindings":[%s]}`,
		e2eFactories[0], e2eFactories[1], e2eFactories[2], strings.Join(bs, ","))
}

// The Entra object id of the Ops group, which one mapping binds by externalId.
const opsGroupObjectID = "0b5e0000-0000-4000-8000-000000000005"

func e2eMappings() []oMapping {
	opRole := "/subscriptions/" + e2eSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + e2eRoleOperator
	return []oMapping{
		{
			{group: "Analysts", roleJSON: "Data Factory Contributor", role: e2eRoleContributor, factories: []int{0, 1}},
			{groupExternalID: opsGroupObjectID, roleJSON: opRole, role: e2eRoleOperator, factories: []int{2}},
			{group: "Viewers", roleJSON: "Reader", role: e2eRoleReader, factories: []int{0}, groupMode: true},
		},
		{
			{group: "analysts", roleJSON: "Reader", role: e2eRoleReader, factories: []int{0, 2}},
			{group: "Engineers", roleJSON: "DataFactoryContributor", role: e2eRoleContributor, factories: []int{1}},
			{groupExternalID: opsGroupObjectID, roleJSON: e2eRoleOperator, role: e2eRoleOperator, factories: []int{0, 2}},
			{group: "Viewers", roleJSON: "Reader", role: e2eRoleReader, factories: []int{1, 2}, groupMode: true},
		},
	}
}

type mUser struct {
	id, userName, dialect, objectID string // objectID "" = cannot be resolved
	active                          bool
}

type mGroup struct {
	id, name, externalID, dialect string
	members                       map[string]bool
}

type model struct {
	users  map[string]*mUser
	order  []string // user ids, creation order (for reproducible picks)
	groups []*mGroup
}

// expected is the oracle: scope|principal|role -> principalType, from the
// model alone.
func (m *model) expected(mp oMapping) map[string]string {
	want := map[string]string{}
	for _, b := range mp {
		for _, g := range m.groups {
			if b.groupExternalID != "" && g.externalID != b.groupExternalID {
				continue
			}
			if b.groupExternalID == "" && !strings.EqualFold(b.group, g.name) {
				continue
			}
			for _, f := range b.factories {
				scope := strings.ToLower(e2eFactories[f])
				if b.groupMode {
					if len(g.externalID) == 36 { // an Entra group object id
						want[scope+"|"+strings.ToLower(g.externalID)+"|"+b.role] = "Group"
					}
					continue
				}
				for uid := range g.members {
					if u := m.users[uid]; u != nil && u.active && u.objectID != "" {
						want[scope+"|"+strings.ToLower(u.objectID)+"|"+b.role] = "User"
					}
				}
			}
		}
	}
	return want
}

func randomGUID(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
}

const patchOp = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`

// ---------------------------------------------------------------------------
// 1. The model-based test.

// e2eEvents is the number of random lifecycle events per run: moderate by
// default, ADFSCIM_RBAC_E2E_EVENTS=5000 for a long run.
func e2eEvents(t *testing.T, def int) int {
	if v := os.Getenv("ADFSCIM_RBAC_E2E_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("ADFSCIM_RBAC_E2E_EVENTS=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return def / 4
	}
	return def
}

type e2eEngine struct {
	name   string
	events int
	open   func(t *testing.T) store.Store
}

func e2eEngines() []e2eEngine {
	return []e2eEngine{
		{"bolt", 2000, func(t *testing.T) store.Store {
			st, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
		{"tables", 500, func(t *testing.T) store.Store {
			conn := azuritetest.Start(t) // skips locally without npm ci; fails when CI=true
			st, err := tables.Open(context.Background(), tables.Options{ConnectionString: conn, Tables: deploy.Tables()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
	}
}

// TestRBACAccessFollowsIdentityEndToEnd drives random lifecycle events in
// the Entra ID and Okta dialects through the SCIM API, with the fast path
// applying them against a fake ARM that fails often, the mapping changed by
// restarts, the timer firing now and then, and assignments made by someone
// else. After the final reconcile the factories hold exactly what the
// oracle expects, and every foreign assignment is untouched.
func TestRBACAccessFollowsIdentityEndToEnd(t *testing.T) {
	for _, eng := range e2eEngines() {
		t.Run(eng.name, func(t *testing.T) {
			runE2EModel(t, eng.open(t), 1, e2eEvents(t, eng.events))
		})
	}
}

func runE2EModel(t *testing.T, st store.Store, seed uint64, events int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	fake := newFakeARM(seed)
	fake.pageSize = 20 // so lists take several pages
	s := newE2EServer(t, st, fake, armclient.Options{
		WritesPerSecond: 500, WriteBurst: 100, // the limiter has its own test in internal/rbac
		MaxRetries: 10, TryTimeout: 300 * time.Millisecond, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second,
	})
	mappings := e2eMappings()
	mi := 0
	s.start(mappings[mi].JSON(), "e2e", true)
	fake.setFaults(0.01, 0.03, 0.01, 0.03, "429", "", "500", "", "timeout", "", "lost")

	m := &model{users: map[string]*mUser{}}
	// The groups: Entra groups carry their object id as externalId; Okta
	// groups have none.
	for _, g := range []struct{ name, ext, dialect string }{
		{"Analysts", randomGUID(rng), "entra"},
		{"Engineers", "", "okta"},
		{"Viewers", randomGUID(rng), "entra"},
		{"Other", "", "okta"},
		{"Operations", opsGroupObjectID, "entra"},
	} {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[]}`, g.name)
		if g.ext != "" {
			body = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":%q,"externalId":%q,"members":[]}`, g.name, g.ext)
		}
		var res struct{ ID string }
		s.do("POST", "/Groups", body, &res)
		m.groups = append(m.groups, &mGroup{id: res.ID, name: g.name, externalID: g.ext, dialect: g.dialect, members: map[string]bool{}})
	}
	names := []string{"Analysts", "Engineers", "Viewers", "Other", "Operations", "Contractors", "Data Team"}

	var foreign []fakeRA
	counts := map[string]int{}
	created := 0
	pickUser := func() *mUser {
		if len(m.order) == 0 {
			return nil
		}
		return m.users[m.order[rng.IntN(len(m.order))]]
	}
	for ev := 0; ev < events; ev++ {
		x := rng.IntN(100)
		switch {
		case x < 14 || len(m.users) < 4: // create, in one of the dialects
			created++
			n := created
			u := &mUser{userName: fmt.Sprintf("user%05d@contoso.com", n), active: true}
			var body string
			switch rng.IntN(3) {
			case 0: // Entra: externalId is the object id (case as Entra pleases)
				u.dialect, u.objectID = "entra", randomGUID(rng)
				ext := u.objectID
				if rng.IntN(2) == 0 {
					ext = strings.ToUpper(ext)
				}
				body = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",%q],"externalId":%q,"userName":%q,"active":true,"displayName":"User %d","emails":[{"primary":true,"type":"work","value":%q}],%q:{"department":"Analytics"}}`,
					e2eEnterprise, ext, u.userName, n, u.userName, e2eEnterprise)
			default: // Okta: its own id as externalId; the object id, if any, in an attribute
				u.dialect = "okta"
				ent := `"department":"Ops"`
				if rng.IntN(2) == 0 {
					u.objectID = randomGUID(rng)
					ent += fmt.Sprintf(`,"employeeNumber":%q`, u.objectID)
				}
				var list struct{ TotalResults int }
				s.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+u.userName+`"`)+"&startIndex=1&count=100", "", &list)
				if list.TotalResults != 0 {
					t.Fatalf("Okta's lookup of a new userName %s found %d", u.userName, list.TotalResults)
				}
				body = fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",%q],"userName":%q,"externalId":"00u%06d","name":{"givenName":"U","familyName":"%d"},"password":"Pa55-word-%d","active":true,"groups":[],%q:{%s}}`,
					e2eEnterprise, u.userName, n, n, n, e2eEnterprise, ent)
			}
			var res struct{ ID string }
			s.do("POST", "/Users", body, &res)
			u.id = res.ID
			m.users[u.id] = u
			m.order = append(m.order, u.id)
			counts["create-"+u.dialect]++
		case x < 44: // join
			u, g := pickUser(), m.groups[rng.IntN(len(m.groups))]
			if u == nil || m.users[u.id] == nil {
				break
			}
			op := fmt.Sprintf(`{"op":"Add","path":"members","value":[{"value":%q}]}`, u.id)
			if g.dialect == "okta" {
				op = fmt.Sprintf(`{"op":"add","path":"members","value":[{"value":%q,"display":%q}]}`, u.id, u.userName)
			}
			s.do("PATCH", "/Groups/"+g.id, `{`+patchOp+`,"Operations":[`+op+`]}`, nil)
			g.members[u.id] = true
			counts["join"]++
		case x < 53: // leave
			g := m.groups[rng.IntN(len(m.groups))]
			if len(g.members) == 0 {
				break
			}
			if g.dialect == "okta" && rng.IntN(8) == 0 { // Okta's group push may replace members with []
				s.do("PATCH", "/Groups/"+g.id, `{`+patchOp+`,"Operations":[{"op":"replace","path":"members","value":[]}]}`, nil)
				g.members = map[string]bool{}
				counts["leave-all"]++
				break
			}
			var ids []string // in creation order, not by server-made id, so a seed replays the same run
			for _, id := range m.order {
				if g.members[id] {
					ids = append(ids, id)
				}
			}
			uid := ids[rng.IntN(len(ids))]
			op := fmt.Sprintf(`{"op":"Remove","path":"members","value":[{"value":%q}]}`, uid)
			if g.dialect == "okta" {
				op = fmt.Sprintf(`{"op":"remove","path":"members[value eq \"%s\"]"}`, uid)
			}
			s.do("PATCH", "/Groups/"+g.id, `{`+patchOp+`,"Operations":[`+op+`]}`, nil)
			delete(g.members, uid)
			counts["leave"]++
		case x < 66: // deactivate or reactivate (half the time an inactive user comes back)
			u := pickUser()
			if rng.IntN(2) == 0 {
				for _, id := range m.order {
					if !m.users[id].active {
						u = m.users[id]
						break
					}
				}
			}
			if u == nil {
				break
			}
			next := !u.active
			switch {
			case u.dialect == "entra":
				s.do("PATCH", "/Users/"+u.id, fmt.Sprintf(`{%s,"Operations":[{"op":"Replace","path":"active","value":"%s"}]}`,
					patchOp, map[bool]string{true: "True", false: "False"}[next]), nil)
			case rng.IntN(2) == 0: // Okta: path-less replace
				s.do("PATCH", "/Users/"+u.id, fmt.Sprintf(`{%s,"Operations":[{"op":"replace","value":{"active":%t}}]}`, patchOp, next), nil)
			default: // Okta: PUT of the whole resource as read
				var res map[string]any
				s.do("GET", "/Users/"+u.id, "", &res)
				res["active"] = next
				b, _ := json.Marshal(res)
				s.do("PUT", "/Users/"+u.id, string(b), nil)
			}
			u.active = next
			counts["active-"+strconv.FormatBool(next)]++
		case x < 72: // delete (Entra only; Okta never deletes)
			u := pickUser()
			if u == nil || m.users[u.id] == nil || u.dialect != "entra" {
				break
			}
			s.do("DELETE", "/Users/"+u.id, "", nil)
			delete(m.users, u.id)
			for _, g := range m.groups {
				delete(g.members, u.id)
			}
			for i, id := range m.order {
				if id == u.id {
					m.order = append(m.order[:i], m.order[i+1:]...)
					break
				}
			}
			counts["delete"]++
		case x < 80: // rename a group to a name no other group holds
			g := m.groups[rng.IntN(len(m.groups))]
			name := names[rng.IntN(len(names))]
			taken := false
			for _, o := range m.groups {
				taken = taken || strings.EqualFold(o.name, name)
			}
			if taken {
				break
			}
			op := fmt.Sprintf(`{"op":"Replace","path":"displayName","value":%q}`, name)
			if g.dialect == "okta" {
				op = fmt.Sprintf(`{"op":"replace","value":{"id":%q,"displayName":%q}}`, g.id, name)
			}
			s.do("PATCH", "/Groups/"+g.id, `{`+patchOp+`,"Operations":[`+op+`]}`, nil)
			g.name = name
			counts["rename"]++
		case x < 82: // change the mapping: a restart with the other one
			mi = 1 - mi
			s.start(mappings[mi].JSON(), "e2e", true)
			counts["mapping"]++
		case x < 85: // the timer fires while the fast path works
			s.timer()
			counts["timer"]++
		case x < 92: // someone else grants access by hand
			scope := e2eFactories[rng.IntN(3)]
			if rng.IntN(6) == 0 {
				scope = "/subscriptions/" + e2eSubscription // inherited by every factory
			}
			principal := randomGUID(rng)
			if u := pickUser(); u != nil && u.objectID != "" && rng.IntN(2) == 0 {
				principal = strings.ToLower(u.objectID) // shadow access of a provisioned user
			}
			role := []string{e2eRoleContributor, e2eRoleReader, e2eRoleOperator, e2eRoleUnmapped}[rng.IntN(4)]
			foreign = append(foreign, fake.addForeign(scope, principal, "User", role, ev))
			counts["foreign"]++
		default:
			counts["quiet"]++
		}
	}
	// A last restart ends the fast path's work planned while the state was
	// still changing; then the timer's reconcile must bring ARM to the
	// oracle's state, faults and all.
	s.start(mappings[mi].JSON(), "e2e", true)
	var rep struct {
		Created, Deleted, Failed int
		Plan                     struct{ Drift []json.RawMessage }
	}
	for i := 0; ; i++ {
		s.do("POST", "/ops/v1/reconcile", "", &rep)
		if rep.Failed == 0 {
			break
		}
		if i == 5 {
			t.Fatalf("the reconcile still failed %d changes after %d runs", rep.Failed, i+1)
		}
	}
	fake.setFaults(0, 0, 0, 0)
	checkE2E(t, s, m, mappings[mi], foreign)
	if n := len(m.expected(mappings[mi])); n < 10 || len(foreign) == 0 {
		t.Errorf("the run exercised too little: %d expected assignments, %d foreign", n, len(foreign))
	}

	// The timer then finds nothing left to do and writes nothing.
	before, _ := fake.counts()
	logs := s.timer()
	after, _ := fake.counts()
	if after != before || len(logs) == 0 || !strings.Contains(logs[0], "0 created, 0 deleted, 0 failed") {
		t.Errorf("a second timer run wrote %d times: %v", after-before, logs)
	}
	injected := map[string]int{}
	fake.mu.Lock()
	for k, v := range fake.injected {
		injected[k] = v
	}
	fake.mu.Unlock()
	for _, f := range []string{"429", "500", "timeout", "lost"} {
		if injected[f] == 0 {
			t.Errorf("fault %s never injected", f)
		}
	}
	t.Logf("%d events %v; %d users; %d expected assignments; %d foreign; faults %v; final reconcile %d created %d deleted, %d drift",
		events, counts, len(m.users), len(m.expected(mappings[mi])), len(foreign), injected, rep.Created, rep.Deleted, len(rep.Plan.Drift))
}

// checkE2E compares the fake ARM with the oracle, through ARM itself and
// through GET /ops/v1/assignments.
func checkE2E(t *testing.T, s *e2eServer, m *model, mp oMapping, foreign []fakeRA) {
	t.Helper()
	want := m.expected(mp)
	all := s.fake.all()
	foreignKeys := map[string]bool{}
	for _, f := range foreign {
		got, ok := all[f.ID]
		if !ok {
			t.Errorf("foreign assignment %s (%s) was deleted", f.Name, f.key())
			continue
		}
		if got != f {
			t.Errorf("foreign assignment changed: %+v, was %+v", got, f)
		}
		foreignKeys[f.key()] = true
	}
	_, applied := s.fake.counts()
	for _, f := range foreign {
		if applied["DELETE "+f.Name] > 0 {
			t.Errorf("a DELETE reached foreign assignment %s", f.Name)
		}
	}
	owned := map[string]bool{}
	for _, a := range all {
		if strings.HasPrefix(a.Name, "f0000000-") {
			continue
		}
		if !strings.Contains(a.Description, e2eMarker) {
			t.Errorf("an assignment without the managed-by marker: %+v", a)
		}
		k := a.key()
		if owned[k] {
			t.Errorf("two owned assignments of %s", k)
		}
		owned[k] = true
		pt, ok := want[k]
		switch {
		case !ok:
			t.Errorf("extra assignment %s (%s)", k, a.PrincipalType)
		case pt != a.PrincipalType:
			t.Errorf("assignment %s has principalType %s, want %s", k, a.PrincipalType, pt)
		}
	}
	missing := 0
	for k := range want {
		if !owned[k] && !foreignKeys[k] {
			if missing++; missing <= 10 {
				t.Errorf("missing assignment %s", k)
			}
		}
	}
	// The ops endpoint shows what ARM holds on the mapped factories.
	var ops struct {
		Assignments []struct{ Scope, PrincipalID, RoleID, Name string }
	}
	s.do("GET", "/ops/v1/assignments", "", &ops)
	listed := map[string]bool{}
	for _, a := range ops.Assignments {
		listed[strings.ToLower(a.Name)] = true
	}
	for _, a := range all {
		onFactory := false
		for _, f := range e2eFactories {
			onFactory = onFactory || strings.EqualFold(a.Scope, f)
		}
		if onFactory != listed[a.Name] {
			t.Errorf("GET /ops/v1/assignments: listed=%v for %+v", listed[a.Name], a)
		}
	}
	// And the dry run plans nothing.
	var plan struct{ Creates, Deletes []json.RawMessage }
	s.do("GET", "/ops/v1/plan", "", &plan)
	if len(plan.Creates)+len(plan.Deletes) != 0 {
		t.Errorf("the plan after the reconcile: %d creates, %d deletes", len(plan.Creates), len(plan.Deletes))
	}
}

// ---------------------------------------------------------------------------
// 4. Two instances running the timer at once.

// TestRBACTwoInstancesNeverApplyAPlanTwice runs two server instances on one
// store (two in-process instances sharing the bbolt store; two Table
// Storage clients on one Azurite) and fires both timers at once, first with
// the ARM writes held so the overlap is certain, then freely. Every
// assignment is written exactly once.
func TestRBACTwoInstancesNeverApplyAPlanTwice(t *testing.T) {
	for _, eng := range []struct {
		name string
		open func(t *testing.T) (store.Store, store.Store)
	}{
		{"bolt", func(t *testing.T) (store.Store, store.Store) {
			st := e2eEngines()[0].open(t)
			return st, st
		}},
		{"tables", func(t *testing.T) (store.Store, store.Store) {
			conn := azuritetest.Start(t)
			var sts [2]store.Store
			for i := range sts {
				st, err := tables.Open(context.Background(), tables.Options{ConnectionString: conn, Tables: deploy.Tables()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				sts[i] = st
			}
			return sts[0], sts[1]
		}},
	} {
		t.Run(eng.name, func(t *testing.T) {
			stA, stB := eng.open(t)
			fake := newFakeARM(3)
			opts := armclient.Options{WritesPerSecond: 500, WriteBurst: 100}
			mp := oMapping{{group: "Analysts", roleJSON: "Data Factory Contributor", role: e2eRoleContributor, factories: []int{0, 1, 2}}}
			a := newE2EServer(t, stA, fake, opts)
			b := newE2EServer(t, stB, fake, opts)
			// No background workers: only the timers apply.
			a.start(mp.JSON(), "instance-a", false)
			b.start(mp.JSON(), "instance-b", false)

			m := &model{users: map[string]*mUser{}}
			var g struct{ ID string }
			a.do("POST", "/Groups", `{"displayName":"Analysts","members":[]}`, &g)
			m.groups = []*mGroup{{id: g.ID, name: "Analysts", members: map[string]bool{}}}
			rng := rand.New(rand.NewPCG(3, 3))
			addUsers := func(s *e2eServer, n int) {
				for i := 0; i < n; i++ {
					u := &mUser{userName: fmt.Sprintf("u%04d@contoso.com", len(m.order)), objectID: randomGUID(rng), active: true}
					var res struct{ ID string }
					s.do("POST", "/Users", fmt.Sprintf(`{"userName":%q,"externalId":%q,"active":true}`, u.userName, u.objectID), &res)
					u.id = res.ID
					m.users[u.id], m.order = u, append(m.order, u.id)
					s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, patchOp, u.id), nil)
					m.groups[0].members[u.id] = true
				}
			}
			// checkWrites: since the last round, ARM saw exactly the writes
			// the change of the oracle's state needs, each once.
			prev := map[string]string{}
			prevWrites, prevApplied := 0, map[string]int{}
			checkWrites := func(round string) {
				t.Helper()
				want := m.expected(mp)
				writes, _ := fake.counts()
				need := 0
				for k := range want {
					if _, ok := prev[k]; !ok {
						need++
					}
				}
				for k := range prev {
					if _, ok := want[k]; !ok {
						need++
					}
				}
				if writes-prevWrites != need {
					t.Errorf("%s: ARM saw %d writes, the change needs %d", round, writes-prevWrites, need)
				}
				_, applied := fake.counts()
				for k, n := range applied {
					if n-prevApplied[k] > 1 {
						t.Errorf("%s: %s applied %d times", round, k, n-prevApplied[k])
					}
				}
				checkE2E(t, a, m, mp, nil)
				prev, prevWrites, prevApplied = want, writes, applied
			}

			// Round 1: A's timer holds the lease while its writes wait at
			// ARM; B's timer (and B's ops reconcile) must step aside.
			addUsers(a, 30)
			addUsers(b, 10)
			fake.mu.Lock()
			fake.gate = make(chan struct{})
			fake.mu.Unlock()
			logsA := make(chan []string, 1)
			go func() {
				status, body, err := request("POST", a.base+"/ReconcileRbac", e2eToken, `{"Data":{"timer":{"IsPastDue":false}}}`)
				var res struct{ Logs []string }
				_ = json.Unmarshal(body, &res)
				if err != nil || status != 200 {
					t.Errorf("A's timer: %d %s %v", status, body, err)
				}
				logsA <- res.Logs
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a deadlock guard, not a measurement
			defer cancel()
			if err := fake.waitFor(ctx, func() bool { return fake.waiting > 0 }); err != nil {
				t.Fatal("A's reconcile never wrote")
			}
			if logs := reconcileLines(b.timer()); len(logs) != 1 || !strings.Contains(logs[0], "another instance holds the lease") {
				t.Errorf("B's timer while A reconciles: %v", logs)
			}
			if status, body, _ := request("POST", b.base+"/ops/v1/reconcile", e2eToken, ""); status != http.StatusConflict {
				t.Errorf("B's ops reconcile while A reconciles: %d %s", status, body)
			}
			fake.mu.Lock()
			close(fake.gate)
			fake.gate = nil
			fake.mu.Unlock()
			if logs := reconcileLines(<-logsA); len(logs) != 1 || !strings.Contains(logs[0], "120 created, 0 deleted, 0 failed") {
				t.Errorf("A's timer: %v", logs)
			}
			if logs := reconcileLines(b.timer()); len(logs) != 1 || !strings.Contains(logs[0], "0 created, 0 deleted, 0 failed") {
				t.Errorf("B's timer after A's: %v", logs)
			}
			checkWrites("round 1")

			// Rounds 2–4: both timers fire at once, several times.
			for round := 2; round <= 4; round++ {
				addUsers(b, 5)
				for i := 0; i < 4; i++ { // deactivate some, reactivate others
					u := m.users[m.order[rng.IntN(len(m.order))]]
					u.active = !u.active
					a.do("PATCH", "/Users/"+u.id, fmt.Sprintf(`{%s,"Operations":[{"op":"Replace","path":"active","value":"%s"}]}`,
						patchOp, map[bool]string{true: "True", false: "False"}[u.active]), nil)
				}
				var wg sync.WaitGroup
				for _, s := range []*e2eServer{a, b, a, b} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						status, body, err := request("POST", s.base+"/ReconcileRbac", e2eToken, `{"Data":{"timer":{"IsPastDue":false}}}`)
						if err != nil || status != 200 || !strings.Contains(string(body), "reconcile") || strings.Contains(string(body), "failed: ") {
							t.Errorf("timer: %d %s %v", status, body, err)
						}
					}()
				}
				wg.Wait()
				checkWrites(fmt.Sprint("round ", round))
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 2. The fast path's latency through the server.

// BenchmarkRBACFastPathLatency measures, through the SCIM API, the time from
// the 2xx of a join (Entra's group PATCH Add) and of a deactivation
// (PATCH active "False") to ARM having created, resp. deleted, the user's
// assignments on all three factories. ARM answers every call after 100–300 ms
// and the client keeps its production write limiter; 1,000 other users are
// already members with their assignments in place. Reports p50/p95 in ms.
//
//	go test -run '^$' -bench BenchmarkRBACFastPathLatency -benchtime 40x .
func BenchmarkRBACFastPathLatency(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "adfscim.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() }) // after the server's cleanups (they run last-in first-out)
	fake := newFakeARM(5)
	fake.pageSize = 500
	s := newE2EServer(b, st, fake, armclient.Options{}) // production defaults: 10 writes/s, burst 30
	mp := oMapping{{group: "Analysts", roleJSON: "Data Factory Contributor", role: e2eRoleContributor, factories: []int{0, 1, 2}}}
	// Set up without the fast path, then put the existing users' assignments
	// in ARM directly.
	s.start(mp.JSON(), "bench", false)
	var g struct{ ID string }
	s.do("POST", "/Groups", `{"displayName":"Analysts","members":[]}`, &g)
	rng := rand.New(rand.NewPCG(5, 5))
	const existing = 1000
	var members []string
	for i := 0; i < existing; i++ {
		oid := randomGUID(rng)
		var res struct{ ID string }
		s.do("POST", "/Users", fmt.Sprintf(`{"userName":"member%05d@contoso.com","externalId":%q,"active":true}`, i, oid), &res)
		members = append(members, fmt.Sprintf(`{"value":%q}`, res.ID))
		fake.mu.Lock()
		for _, f := range e2eFactories {
			name := rbac.AssignmentName(f, oid, e2eRoleContributor)
			scope := strings.ToLower(f)
			fake.byID[scope+raSegment+"/"+name] = fakeRA{ID: scope + raSegment + "/" + name, Name: name, Scope: scope, PrincipalID: oid,
				PrincipalType: "User", RoleDefinitionID: "/subscriptions/" + e2eSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + e2eRoleContributor,
				Description: "Granted by adfscim (" + e2eMarker + ")"}
		}
		fake.mu.Unlock()
	}
	for i := 0; i < len(members); i += 100 {
		s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[%s]}]}`, patchOp, strings.Join(members[i:min(i+100, len(members))], ",")), nil)
	}
	// Drain the queue of the setup writes, then switch on the fast path and
	// ARM's latency.
	s.timer()
	s.start(mp.JSON(), "bench", true)
	fake.mu.Lock()
	fake.latency = func() time.Duration {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return 100*time.Millisecond + time.Duration(fake.rng.IntN(200))*time.Millisecond
	}
	fake.mu.Unlock()
	have := func(oid string) int { // assignments of oid, under fake.mu
		n := 0
		for _, a := range fake.byID {
			if a.PrincipalID == oid {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	var join, deact []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		oid := randomGUID(rng)
		var u struct{ ID string }
		s.do("POST", "/Users", fmt.Sprintf(`{"userName":"joiner%05d@contoso.com","externalId":%q,"active":true}`, i, oid), &u)
		t0 := time.Now()
		s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[{"value":%q}]}]}`, patchOp, u.ID), nil)
		if err := fake.waitFor(ctx, func() bool { return have(oid) == 3 }); err != nil {
			b.Fatal(err)
		}
		join = append(join, time.Since(t0))
		t0 = time.Now()
		s.do("PATCH", "/Users/"+u.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, patchOp), nil)
		if err := fake.waitFor(ctx, func() bool { return have(oid) == 0 }); err != nil {
			b.Fatal(err)
		}
		deact = append(deact, time.Since(t0))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p int) float64 {
		d = append([]time.Duration(nil), d...)
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[min(len(d)-1, len(d)*p/100)].Milliseconds())
	}
	b.ReportMetric(pct(join, 50), "join-p50-ms")
	b.ReportMetric(pct(join, 95), "join-p95-ms")
	b.ReportMetric(pct(deact, 50), "deactivate-p50-ms")
	b.ReportMetric(pct(deact, 95), "deactivate-p95-ms")
	b.ReportMetric(pct(append(join, deact...), 95), "p95-ms")
}
