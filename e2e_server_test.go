package main

// The rig of the end-to-end tests and benchmarks of RBAC: the simulated ARM
// (internal/rbac/armsim) served over TLS, which the real ARM client talks
// to over the wire, and the service built by internal/app as serve builds
// it, restartable on the same store.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
)

// ---------------------------------------------------------------------------
// The ARM.

// e2eARM is the simulated ARM over TLS, on a bbolt store of its own (so ARM
// is the same whichever engine the service under test runs on), logging
// every call it carries out.
type e2eARM struct {
	sim    *armsim.Sim
	srv    *httptest.Server
	faults *armsim.Faults // nil: none
}

// newE2EARM serves a simulated ARM with o (its Store and RecordCalls are
// set here) until the test ends.
func newE2EARM(t testing.TB, o armsim.Options) *e2eARM {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "arm.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o.Store, o.RecordCalls = st, true
	a := &e2eARM{sim: armsim.New(o), faults: o.Faults}
	a.srv = httptest.NewTLSServer(a.sim.Handler())
	// Close first releases the requests an injected timeout keeps hanging:
	// the server waits for its handlers.
	t.Cleanup(func() { a.sim.Close(); a.srv.Close() })
	return a
}

// armLimits are the ARM client's limits a test sets; zero fields keep the
// production defaults.
type armLimits struct {
	writesPerSecond                       float64
	writeBurst                            int
	maxRetries                            int32
	tryTimeout, retryDelay, maxRetryDelay time.Duration
}

// clientOptions are the ARM client's options for talking to a over TLS
// with limits l: the one place the tests name the ARM client's options.
func (a *e2eARM) clientOptions(l armLimits) armclient.Options {
	return armclient.Options{Credential: &azfake.TokenCredential{}, Transport: a.srv.Client(),
		WritesPerSecond: l.writesPerSecond, WriteBurst: l.writeBurst, MaxRetries: l.maxRetries,
		TryTimeout: l.tryTimeout, RetryDelay: l.retryDelay, MaxRetryDelay: l.maxRetryDelay}
}

// armRA is one role assignment ARM holds, as the tests compare them.
type armRA struct {
	ID, Name, Scope, PrincipalID, PrincipalType, RoleDefinitionID, Description string
}

func (a armRA) key() string {
	return strings.ToLower(a.Scope) + "|" + strings.ToLower(a.PrincipalID) + "|" + roleOf(a.RoleDefinitionID)
}

func roleOf(id string) string { return strings.ToLower(id[strings.LastIndex(id, "/")+1:]) }

// all returns every assignment ARM holds, by lower-case id.
func (a *e2eARM) all(t testing.TB) map[string]armRA {
	t.Helper()
	list, err := a.sim.All(context.Background())
	if err != nil {
		t.Fatalf("ARM's assignments: %v", err)
	}
	out := make(map[string]armRA, len(list))
	for _, ra := range list {
		p := ra.Properties
		r := armRA{ID: *ra.ID, Name: *ra.Name, Scope: *p.Scope, PrincipalID: *p.PrincipalID, RoleDefinitionID: *p.RoleDefinitionID}
		if p.PrincipalType != nil {
			r.PrincipalType = string(*p.PrincipalType)
		}
		if p.Description != nil {
			r.Description = *p.Description
		}
		out[strings.ToLower(r.ID)] = r
	}
	return out
}

// put makes an assignment directly in ARM's state, as it reads back; false
// when ARM already holds one of the principal and role at the scope (ARM
// refuses a second).
func (a *e2eARM) put(t testing.TB, scope, name, principal, principalType, role, description string) (armRA, bool) {
	t.Helper()
	err := a.sim.Put(context.Background(), scope, name, armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(principal), PrincipalType: to.Ptr(armauthorization.PrincipalType(principalType)),
		RoleDefinitionID: to.Ptr("/subscriptions/" + e2eSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + role),
		Description:      to.Ptr(description)})
	if store.IsExists(err) {
		return armRA{}, false
	}
	if err != nil {
		t.Fatalf("planting %s: %v", name, err)
	}
	return armRA{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, Scope: scope,
		PrincipalID: strings.ToLower(principal), PrincipalType: principalType,
		RoleDefinitionID: "/subscriptions/" + e2eSubscription + "/providers/Microsoft.Authorization/roleDefinitions/" + role, Description: description}, true
}

// addForeign makes an assignment the way a person or another tool would;
// false when ARM refuses it because the principal holds the role at the
// scope already (adfscim's own assignment, say).
func (a *e2eARM) addForeign(t testing.TB, scope, principal, principalType, role string, n int) (armRA, bool) {
	return a.put(t, scope, foreignName(n), principal, principalType, role, "granted by hand in the portal")
}

func foreignName(n int) string { return fmt.Sprintf("f0000000-0000-4000-8000-%012d", n) }

// plantOwned puts the assignment adfscim would have made of principal for
// role on each scope, as a setup that skips the writes.
func (a *e2eARM) plantOwned(t testing.TB, principal, role string, scopes ...string) {
	for _, scope := range scopes {
		if _, ok := a.put(t, scope, rbac.AssignmentName(scope, principal, role), principal, "User", role, "Granted by adfscim ("+e2eMarker+")"); !ok {
			t.Fatalf("planting %s's %s on %s: ARM holds it already", principal, role, scope)
		}
	}
}

// calls returns ARM's calls from index from on, and the next index.
func (a *e2eARM) calls(from int) ([]armsim.Call, int) { return a.sim.Calls(from) }

// counts are ARM's list pages read, and its writes (every PUT and DELETE
// that reached its state), so far; applied counts, per "PUT <name>" and
// "DELETE <name>", the writes that changed the state.
func (a *e2eARM) counts() (reads, writes int, applied map[string]int) {
	calls, _ := a.sim.Calls(0)
	applied = map[string]int{}
	for _, c := range calls {
		switch {
		case c.RoleAssignmentList():
			reads++
		case c.Write():
			writes++
			if c.Changed {
				applied[c.Method+" "+c.Name()]++
			}
		}
	}
	return reads, writes, applied
}

// waitFor blocks until cond holds, checked after every call ARM carries
// out, or fails the test when ctx ends first.
func (a *e2eARM) waitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	if err := a.sim.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// settle waits until no request is in flight at ARM, so that every change
// a test saw in ARM's state is in its call log.
func (a *e2eARM) settle(t testing.TB) {
	t.Helper()
	a.waitFor(t, context.Background(), "ARM's requests to end", func() bool { return a.sim.InFlight() == 0 })
}

// waitChanges waits until, from call index from on, n writes by method
// ("PUT", "DELETE") changed ARM for principal, and returns the last.
func (a *e2eARM) waitChanges(t testing.TB, from int, principal, method string, n int) armsim.Call {
	t.Helper()
	var last armsim.Call
	a.waitFor(t, context.Background(), method+" of "+principal, func() bool {
		calls, _ := a.sim.Calls(from)
		got := 0
		for _, c := range calls {
			if c.Changed && c.Method == method && c.Principal == principal {
				got, last = got+1, c
			}
		}
		return got >= n
	})
	return last
}

// percentile is the p-th percentile of d, in milliseconds (0 for none).
func percentile(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	d = append([]time.Duration(nil), d...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[min(len(d)-1, max(0, (len(d)*p+99)/100-1))].Milliseconds())
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
	arm     *e2eARM
	http    *httptest.Server
	url     string // SCIM base
	base    string
	cur     atomic.Pointer[e2eInstance]
	armOpts armclient.Options
	dataDir string // the local checkpoint key and file
}

// newE2EServer serves the SCIM API on st with the ARM client pointed at arm
// and limited by limits.
func newE2EServer(t testing.TB, st store.Store, arm *e2eARM, limits armLimits) *e2eServer {
	s := &e2eServer{t: t, st: st, arm: arm, dataDir: t.TempDir(), armOpts: arm.clientOptions(limits)}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.cur.Load().app.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.http.Close)
	s.base = s.http.URL
	s.url = s.http.URL + handlers.ScimPrefix
	t.Cleanup(s.stop)
	return s
}

// newBoltE2EServer is newE2EServer on a fresh bbolt store.
func newBoltE2EServer(t testing.TB, arm *e2eARM, limits armLimits) *e2eServer {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() }) // after the server's cleanups (they run last-in first-out)
	return newE2EServer(t, st, arm, limits)
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
		"ADFSCIM_ARM_ENDPOINT":        s.arm.srv.URL,
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
