package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

const (
	testToken   = "app-test-token-0123456789abcdefghijklmnop"
	testFactory = "/subscriptions/11111111-2222-4333-8444-555555555555/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-one"
	testObject  = "0b5e0000-0000-4000-8000-00000000000a"
)

// errRefused is what the refusing store answers the audit trail's writes.
var errRefused = errors.New("audit table unavailable")

// refusals makes a store refuse the next n writes to the audit trail's
// table, as a throttled or unreachable table does.
type refusals struct {
	mu sync.Mutex
	n  int
}

func (r *refusals) set(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n = n
}

func (r *refusals) left() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *refusals) refuse(table string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if table != audit.Table || r.n == 0 {
		return nil
	}
	r.n--
	return errRefused
}

type refusingStore struct {
	store.Store
	r *refusals
}

func (s refusingStore) Batch(ctx context.Context, table string, ops []store.Op) ([]string, error) {
	if err := s.r.refuse(table); err != nil {
		return nil, err
	}
	return s.Store.Batch(ctx, table, ops)
}

// refusingFollower keeps an engine's multi-table commits (bbolt), so the
// trail writes the way it does in production there.
type refusingFollower struct {
	refusingStore
	f store.Follower
}

func (s refusingFollower) BatchFollow(ctx context.Context, table string, ops []store.Op, follow store.Follow) ([]string, error) {
	if err := s.r.refuse(table); err != nil {
		return nil, err
	}
	return s.f.BatchFollow(ctx, table, ops, follow)
}

func refusing(st store.Store, r *refusals) store.Store {
	rs := refusingStore{Store: st, r: r}
	if f, ok := st.(store.Follower); ok {
		return refusingFollower{rs, f}
	}
	return rs
}

// newApp builds the service as serve does, on a fresh store of the engine
// under test (-engine), with the simulated ARM.
func newApp(t *testing.T, st store.Store, opts app.Options) (*app.App, *httptest.Server) {
	t.Helper()
	env := map[string]string{
		"ADFSCIM_DATA_DIR":  t.TempDir(),
		"SCIM_BEARER_TOKEN": testToken,
		"ADFSCIM_MAPPING": fmt.Sprintf(`{"factories":{"one":%q},"bindings":[{"group":"Analysts","role":"Reader","factories":["one"]}]}`,
			testFactory),
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	a, err := app.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

func mustCall(t *testing.T, srv *httptest.Server, method, path, body string, want int) []byte {
	t.Helper()
	status, b := call(t, srv, method, path, body)
	if status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, want)
	}
	return b
}

func id(t *testing.T, b []byte) string {
	t.Helper()
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil || r.ID == "" {
		t.Fatalf("no id in %s (%v)", b, err)
	}
	return r.ID
}

// timerRun plays the Functions host firing ReconcileRbac.
func timerRun(t *testing.T, srv *httptest.Server) (int, []string) {
	t.Helper()
	status, b := call(t, srv, "POST", "/ReconcileRbac", `{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`)
	var res struct{ Logs []string }
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("timer answer %s: %v", b, err)
	}
	return status, res.Logs
}

func assignRecords(t *testing.T, a *app.App) []audit.Record {
	t.Helper()
	page, err := a.Trail.Query(context.Background(), audit.Filter{Action: audit.ActionRBACAssign})
	if err != nil {
		t.Fatal(err)
	}
	return page.Records
}

// TestRoleAuditRecordsAreRetriedAndSurfaced: when the trail refuses the
// records of role assignments the reconciler made, the records are retried,
// the timer run fails (the Functions host shows a failed run) and the
// records are written by the next run; none is lost, none written twice.
func TestRoleAuditRecordsAreRetriedAndSurfaced(t *testing.T) {
	r := &refusals{}
	a, srv := newApp(t, refusing(enginetest.Open(t), r), app.Options{AuditRetry: app.Backoff{Attempts: 2, Delay: time.Millisecond}})
	gid := id(t, mustCall(t, srv, "POST", handlers.ScimPrefix+"/Groups", `{"displayName":"Analysts","members":[]}`, http.StatusCreated))
	uid := id(t, mustCall(t, srv, "POST", handlers.ScimPrefix+"/Users",
		fmt.Sprintf(`{"userName":"ada@contoso.com","externalId":%q,"active":true}`, testObject), http.StatusCreated))
	mustCall(t, srv, "PATCH", handlers.ScimPrefix+"/Groups/"+gid,
		fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid), http.StatusNoContent)

	// The trail refuses five writes: the two tries after the reconcile
	// applied, the two of the timer's own flush, and the first of the next
	// run.
	r.set(5)
	status, logs := timerRun(t, srv)
	if status/100 == 2 || !strings.Contains(strings.Join(logs, "\n"), "audit records of role assignment changes not written") {
		t.Errorf("timer with the trail refusing: %d %q, want a failed run naming the audit records", status, logs)
	}
	got, err := a.Reconciler.Assignments(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("assignments after the first run: %v %v, want the one granted", got, err)
	}
	if recs := assignRecords(t, a); len(recs) != 0 {
		t.Fatalf("records written while the trail refused: %v", recs)
	}
	if n := r.left(); n != 1 {
		t.Errorf("%d refusals left, want 1: the records were not tried four times", n)
	}

	// The next run writes the held records and succeeds.
	status, logs = timerRun(t, srv)
	if status != http.StatusOK {
		t.Fatalf("timer after the trail recovered: %d %q", status, logs)
	}
	recs := assignRecords(t, a)
	if len(recs) != 1 || recs[0].Target.ID != got[0].Scope+"/providers/Microsoft.Authorization/roleAssignments/"+got[0].Name {
		t.Fatalf("rbac.assign records after recovery: %+v, want one for %+v", recs, got[0])
	}
	// And a run with nothing held writes nothing more.
	if status, logs := timerRun(t, srv); status != http.StatusOK || len(assignRecords(t, a)) != 1 {
		t.Errorf("third run: %d %q, %d records", status, logs, len(assignRecords(t, a)))
	}
}

// TestOpsReconcileFailsWhileAuditRecordsAreHeld: POST /ops/v1/reconcile is
// held to the same rule as the timer.
func TestOpsReconcileFailsWhileAuditRecordsAreHeld(t *testing.T) {
	r := &refusals{}
	a, srv := newApp(t, refusing(enginetest.Open(t), r), app.Options{AuditRetry: app.Backoff{Attempts: 1, Delay: time.Millisecond}})
	gid := id(t, mustCall(t, srv, "POST", handlers.ScimPrefix+"/Groups", `{"displayName":"Analysts","members":[]}`, http.StatusCreated))
	uid := id(t, mustCall(t, srv, "POST", handlers.ScimPrefix+"/Users",
		fmt.Sprintf(`{"userName":"ada@contoso.com","externalId":%q,"active":true}`, testObject), http.StatusCreated))
	mustCall(t, srv, "PATCH", handlers.ScimPrefix+"/Groups/"+gid,
		fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid), http.StatusNoContent)
	r.set(2)
	if status, b := call(t, srv, "POST", "/ops/v1/reconcile", ""); status/100 == 2 {
		t.Errorf("ops reconcile with the trail refusing: %d %s, want a failure", status, b)
	}
	mustCall(t, srv, "POST", "/ops/v1/reconcile", "", http.StatusOK)
	if recs := assignRecords(t, a); len(recs) != 1 {
		t.Errorf("rbac.assign records: %d, want 1", len(recs))
	}
}
