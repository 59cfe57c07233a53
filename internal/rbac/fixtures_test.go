package rbac_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/store/tables"
)

func TestMain(m *testing.M) { os.Exit(azuritetest.Main(m)) }

// dir is an in-memory SCIM state implementing Directory.
type dir struct {
	mu      sync.Mutex
	groups  map[string]Group
	members map[string]map[string]bool
	users   map[string]User
}

func newDir() *dir {
	return &dir{groups: map[string]Group{}, members: map[string]map[string]bool{}, users: map[string]User{}}
}

func (d *dir) Groups(ctx context.Context, fn func(Group) error) error {
	d.mu.Lock()
	gs := make([]Group, 0, len(d.groups))
	for _, g := range d.groups {
		gs = append(gs, g)
	}
	d.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].ID < gs[j].ID })
	for _, g := range gs {
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

func (d *dir) Members(ctx context.Context, id string, fn func(string) error) error {
	d.mu.Lock()
	var ms []string
	for m := range d.members[id] {
		ms = append(ms, m)
	}
	d.mu.Unlock()
	sort.Strings(ms)
	for _, m := range ms {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

func (d *dir) User(ctx context.Context, id string) (User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	if !ok {
		return User{}, fmt.Errorf("user %s: %w", id, ErrUserNotFound)
	}
	return u, nil
}

func (d *dir) putUser(u User) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[u.ID] = u
}

func (d *dir) deleteUser(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.users, id)
	for _, ms := range d.members {
		delete(ms, id)
	}
}

func (d *dir) putGroup(g Group) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[g.ID] = g
	if d.members[g.ID] == nil {
		d.members[g.ID] = map[string]bool{}
	}
}

func (d *dir) deleteGroup(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.groups, id)
	delete(d.members, id)
}

func (d *dir) setMember(gid, uid string, in bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if in {
		d.members[gid][uid] = true
	} else {
		delete(d.members[gid], uid)
	}
}

// indexedDir is dir with the optional UserGroups index.
type indexedDir struct{ *dir }

func (d indexedDir) UserGroups(ctx context.Context, uid string, fn func(string) error) error {
	d.mu.Lock()
	var gs []string
	for gid, ms := range d.members {
		if ms[uid] {
			gs = append(gs, gid)
		}
	}
	d.mu.Unlock()
	sort.Strings(gs)
	for _, g := range gs {
		if err := fn(g); err != nil {
			return err
		}
	}
	return nil
}

// faults injects ARM failures in front of a transport: 429 with a
// Retry-After header, 500, a timeout before the request reaches ARM, and a
// lost response (ARM applied the write, the client never heard).
type faults struct {
	inner policy.Transporter
	mu    sync.Mutex
	rng   *rand.Rand
	// Probabilities per request.
	P429, P500, PTimeout, PLost float64
	// RetryAfter is the header and value sent with 429s.
	RetryAfterHeader, RetryAfterValue string
	// FailPrincipal makes every create naming this principal fail with 500.
	FailPrincipal string
	// Script, when set, decides the fault of the n-th request (0-based):
	// "", "429", "500", "timeout", "lost".
	Script func(n int, req *http.Request) string

	n        int
	n0       int // test bookmark into n
	injected map[string]int
	log      []reqLog
}

type reqLog struct {
	method, path, fault string
	at                  time.Time
}

func newFaults(inner policy.Transporter, seed uint64) *faults {
	return &faults{inner: inner, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), injected: map[string]int{},
		RetryAfterHeader: "Retry-After", RetryAfterValue: "1"}
}

func (f *faults) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	f.mu.Lock()
	fault := ""
	if f.Script != nil {
		fault = f.Script(f.n, req)
	} else {
		x := f.rng.Float64()
		switch {
		case x < f.P429:
			fault = "429"
		case x < f.P429+f.P500:
			fault = "500"
		case x < f.P429+f.P500+f.PTimeout:
			fault = "timeout"
		case x < f.P429+f.P500+f.PTimeout+f.PLost:
			fault = "lost"
		}
	}
	if f.FailPrincipal != "" && strings.Contains(string(body), f.FailPrincipal) {
		fault = "500"
	}
	f.n++
	if fault != "" {
		f.injected[fault]++
	}
	f.log = append(f.log, reqLog{req.Method, req.URL.Path, fault, time.Now()})
	f.mu.Unlock()

	switch fault {
	case "429":
		h := http.Header{"Content-Type": {"application/json"}}
		h.Set(f.RetryAfterHeader, f.RetryAfterValue)
		return armError(req, http.StatusTooManyRequests, "TooManyRequests", h), nil
	case "500":
		return armError(req, http.StatusInternalServerError, "InternalServerError", http.Header{"Content-Type": {"application/json"}}), nil
	case "timeout":
		return nil, timedOut(req)
	case "lost":
		resp, err := f.inner.Do(req)
		if err == nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		return nil, timedOut(req)
	}
	return f.inner.Do(req)
}

// faultWait is how long an injected timeout or lost answer keeps the client
// waiting: shorter than the client's per-try timeout, which is kept long so
// that a slow store under the simulated ARM (Azurite on a busy machine) is
// not mistaken for a fault.
const faultWait = 200 * time.Millisecond

// timedOut waits as a request that gets no answer does, then fails it as
// the client's per-try timeout would (the SDK retries it).
func timedOut(req *http.Request) error {
	select {
	case <-req.Context().Done():
		return req.Context().Err()
	case <-time.After(faultWait):
		return fmt.Errorf("injected: no answer within %v: %w", faultWait, context.DeadlineExceeded)
	}
}

func armError(req *http.Request, status int, code string, h http.Header) *http.Response {
	b := `{"error":{"code":"` + code + `","message":"injected by the test"}}`
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Request: req,
		Body: io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b))}
}

func (f *faults) count(fault string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[fault]
}

// env is one simulated deployment: a store, the simulated ARM on it, and an
// ARM client whose transport injects faults.
type env struct {
	store  store.Store
	sim    *armsim.Sim
	faults *faults
	arm    *armclient.Client
	dir    *dir
}

func newEnv(t testing.TB, seed uint64) *env { return newEnvOn(t, seed, memstore.New()) }

// engines are the store engines the reconciler's state is tested on.
var engines = []struct {
	name string
	open func(t testing.TB) store.Store
}{
	{"mem", func(testing.TB) store.Store { return memstore.New() }},
	{"bolt", func(t testing.TB) store.Store {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}},
	{"tables", func(t testing.TB) store.Store {
		conn := azuritetest.Shared(t) // skips locally without npm ci; fails in CI
		st, err := tables.Open(context.Background(), tables.Options{ConnectionString: conn, TablePrefix: tablePrefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}},
}

// tablePrefixes numbers the prefixes this test process hands out.
var tablePrefixes atomic.Int64

// tablePrefix isolates a test's tables in the shared Azurite account: the
// test's name (to find them) and a number new on every call, so that a
// test run again in the same process (go test -count=2) starts on empty
// tables instead of the first run's data.
func tablePrefix(t testing.TB) string {
	var b strings.Builder
	b.WriteString("t")
	for _, r := range t.Name() {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > 34 {
		s = s[:17] + fmt.Sprintf("%x", sha256.Sum256([]byte(s)))[:17]
	}
	return fmt.Sprintf("%sx%d", s, tablePrefixes.Add(1))
}

// onEngines runs body once per store engine.
func onEngines(t *testing.T, seed uint64, body func(t *testing.T, e *env)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { body(t, newEnvOn(t, seed, eng.open(t))) })
	}
}

func newEnvOn(t testing.TB, seed uint64, st store.Store) *env {
	t.Helper()
	sim := armsim.New(armsim.Options{Store: st, PageSize: 50})
	e := &env{store: st, sim: sim, dir: newDir()}
	e.faults = newFaults(sim.Transport(), seed)
	a, err := armclient.New(armclient.Options{
		Credential: &azfake.TokenCredential{}, Transport: e.faults,
		WritesPerSecond: 1000, WriteBurst: 1000, // the limiter has its own test
		MaxRetries: 8, TryTimeout: 10 * time.Second, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.arm = a
	return e
}

func (e *env) reconciler(t testing.TB, m *Mapping, instance string) *Reconciler {
	t.Helper()
	r, err := New(Options{Mapping: m, Directory: e.dir, ARM: e.arm, Store: e.store, Instance: instance, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// simAssignments is what ARM holds, as the reconciler would list it.
func (e *env) simAssignments(t testing.TB) []Assignment {
	t.Helper()
	all, err := e.sim.All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []Assignment
	for _, ra := range all {
		p := ra.Properties
		a := Assignment{Scope: NormScope(str(p.Scope)), PrincipalID: str(p.PrincipalID), RoleID: RoleGUID(str(p.RoleDefinitionID)),
			Name: str(ra.Name), Description: str(p.Description)}
		if p.PrincipalType != nil {
			a.PrincipalType = PrincipalType(*p.PrincipalType)
		}
		out = append(out, a)
	}
	SortAssignments(out)
	return out
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
