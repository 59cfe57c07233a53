package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/enginetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// Every Table Storage transaction is billed, so the number each SCIM
// operation costs is part of the product. Counts are deterministic, unlike
// time: this test reads the engine's Counter around each request sent to
// the SCIM API (built by app.New, audit trail included) on Azurite and
// holds every operation to its figure. docs/BENCHMARKS-storage.md explains them.

// costServer is the SCIM API over Table Storage with transaction counters,
// built by app.New as serve builds it. Its store sends each table to one of
// three engine instances on the same account, so the costs can be told
// apart: the directory's rows (and the tokens'), the audit trail, and the
// access queue the reconciler keeps (its share is logged, not held to a
// figure: docs/BENCHMARKS-storage.md counts the directory and the trail).
type costServer struct {
	url          string
	counter      *tables.Counter
	auditCounter *tables.Counter
	queueCounter *tables.Counter
	// audit and queue are what the audit trail and the access queue spent
	// on the last request.
	audit, queue tables.Counts
}

func newCostServer(t *testing.T) *costServer {
	t.Helper()
	conn := azuritetest.Start(t)
	c := &costServer{counter: new(tables.Counter), auditCounter: new(tables.Counter), queueCounter: new(tables.Counter)}
	open := func(counter *tables.Counter) *tables.Store {
		st, err := tables.Open(context.Background(), tables.Options{ConnectionString: conn, Tables: deploy.Tables(), Counter: counter})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := enginetest.Split(open(c.counter), map[string]store.Store{audit.Table: open(c.auditCounter), rbac.DefaultTable: open(c.queueCounter)})
	t.Cleanup(func() { _ = st.Close() })
	env := map[string]string{
		"TABLES_CONNECTION_STRING": conn,
		"SCIM_BEARER_TOKEN":        multiToken,
		"ADFSCIM_DATA_DIR":         t.TempDir(),
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); _ = a.Close() })
	c.url = srv.URL + handlers.ScimPrefix
	return c
}

// cost sends a request and returns its answer and the transactions it took
// on the directory's rows; c.audit holds the audit trail's share.
func (c *costServer) cost(t *testing.T, method, path, body string, want int) ([]byte, tables.Counts) {
	t.Helper()
	before, auditBefore, queueBefore := c.counter.Snapshot(), c.auditCounter.Snapshot(), c.queueCounter.Snapshot()
	status, b, err := request(method, c.url+path, multiToken, body)
	spent := c.counter.Snapshot().Sub(before)
	c.audit = c.auditCounter.Snapshot().Sub(auditBefore)
	c.queue = c.queueCounter.Snapshot().Sub(queueBefore)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %s (%v), want %d", method, path, status, b, err, want)
	}
	return b, spent
}

func (c *costServer) id(t *testing.T, path, body string) string {
	t.Helper()
	b, _ := c.cost(t, "POST", path, body, http.StatusCreated)
	var r struct{ ID string }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// check sends tc's request and holds it to its figures: tc.want on the
// directory's rows, and one audit batch for a write (every write request
// appends a record; requests that arrive together share a batch, one at a
// time each pays one), none for a read.
func (c *costServer) check(t *testing.T, tc costCase) {
	t.Helper()
	_, got := c.cost(t, tc.method, tc.path, tc.body, tc.status)
	t.Logf("%-55s %3d transactions: %d read, %d query, %d batch, %d write; audit %d; access queue %d", tc.name, got.Total(), got.Read, got.Query, got.Batch, got.Write, c.audit.Total(), c.queue.Total())
	if got != tc.want {
		t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
	}
	wantAudit := tables.Counts{Batch: 1}
	if tc.method == "GET" {
		wantAudit = tables.Counts{}
	}
	if c.audit != wantAudit {
		t.Errorf("%s: the audit trail spent %+v, want %+v", tc.name, c.audit, wantAudit)
	}
}

type costCase struct {
	name         string
	method, path string
	body         string
	status       int
	want         tables.Counts
}

func memberArray(ids []string) string {
	var vs []string
	for _, id := range ids {
		vs = append(vs, `{"value":"`+id+`"}`)
	}
	return "[" + strings.Join(vs, ",") + "]"
}

func ceilDiv(a, b int) int64 { return int64((a + b - 1) / b) }

func TestStorageTransactionsPerOperation(t *testing.T) {
	c := newCostServer(t)
	const users = 250
	ids := make([]string, users)
	for i := range ids {
		ids[i] = c.id(t, "/Users", fmt.Sprintf(`{"userName":"cost%03d@contoso.com","externalId":"ext-%03d","active":true}`, i, i))
	}
	gid := c.id(t, "/Groups", `{"displayName":"Cost Group","externalId":"cost-group"}`)
	in := func(f string) string { return url.QueryEscape(f) }
	patchUser := func(v string) string {
		return `{"schemas":["` + patchSchema + `"],"Operations":[{"op":"replace","path":"title","value":"` + v + `"}]}`
	}
	members := func(op string, from, to int) string {
		var vs []string
		for _, id := range ids[from:to] {
			vs = append(vs, `{"value":"`+id+`"}`)
		}
		return `{"schemas":["` + patchSchema + `"],"Operations":[{"op":"` + op + `","path":"members","value":[` + strings.Join(vs, ",") + `]}]}`
	}
	// Membership PATCH of k members when the group's own attributes do not
	// change: one read of the group row, then batches whose first operation
	// is a Touch of the group row (99 operations left). An add is 3
	// operations (membership row, reverse row, Touch of the user that fails
	// the batch when the user does not exist), a remove 2. When the adds
	// need more than one batch, every added user is read first so that an
	// unknown id fails the request before anything is written: batches of
	// up to 100 Touch operations on the users assert that they exist (a
	// single Touch goes as a plain write).
	addCost := func(k int) tables.Counts {
		n := ceilDiv(k, 99/3)
		if n > 1 {
			n += ceilDiv(k, 100)
		}
		return tables.Counts{Read: 1, Batch: n}
	}
	removeCost := func(k int) tables.Counts { return tables.Counts{Read: 1, Batch: ceilDiv(k, 99/2)} }

	tests := []costCase{
		{"GET user by id (with its groups)", "GET", "/Users/" + ids[0], "", 200, tables.Counts{Query: 1}},
		{"GET group by id without members", "GET", "/Groups/" + gid + "?excludedAttributes=members", "", 200, tables.Counts{Read: 1}},
		{"filter userName eq", "GET", "/Users?filter=" + in(`userName eq "COST001@contoso.com"`), "", 200, tables.Counts{Read: 1, Query: 1}},
		{"filter externalId eq", "GET", "/Users?filter=" + in(`externalId eq "ext-002"`), "", 200, tables.Counts{Query: 2}},
		{"filter userName eq, no match (Entra's Test Connection)", "GET", "/Users?filter=" + in(`userName eq "a1b2c3"`), "", 200, tables.Counts{Read: 1}},
		{"filter displayName eq, without members", "GET", "/Groups?excludedAttributes=members&filter=" + in(`displayName eq "cost group"`), "", 200, tables.Counts{Read: 2}},
		{"POST /Users", "POST", "/Users", `{"userName":"new@contoso.com","externalId":"new","name":{"givenName":"N","familyName":"U"}}`, 201, tables.Counts{Batch: 1}},
		{"POST /Users, userName taken in another case (409)", "POST", "/Users", `{"userName":"NEW@contoso.com"}`, 409, tables.Counts{Batch: 1}},
		{"POST /Groups without members", "POST", "/Groups", `{"displayName":"Another"}`, 201, tables.Counts{Batch: 1}},
		{"PATCH user replace title", "PATCH", "/Users/" + ids[3], patchUser("Engineer"), 200, tables.Counts{Query: 1, Write: 1}},
		{"PATCH user, same value again", "PATCH", "/Users/" + ids[3], patchUser("Engineer"), 200, tables.Counts{Query: 1}},
		{"PATCH user active=false (Okta, path-less)", "PATCH", "/Users/" + ids[4], `{"schemas":["` + patchSchema + `"],"Operations":[{"op":"replace","value":{"active":false}}]}`, 200, tables.Counts{Query: 1, Write: 1}},
		// A new userName moves its uniqueness row in the same batch.
		{"PATCH user userName", "PATCH", "/Users/" + ids[5], `{"schemas":["` + patchSchema + `"],"Operations":[{"op":"replace","path":"userName","value":"renamed@contoso.com"}]}`, 200, tables.Counts{Query: 1, Batch: 1}},
		{"PUT user", "PUT", "/Users/" + ids[6], `{"userName":"cost006@contoso.com","externalId":"ext-006","active":true,"title":"Put"}`, 200, tables.Counts{Query: 1, Write: 1}},
		{"DELETE user in no group", "DELETE", "/Users/" + ids[users-1], "", 204, tables.Counts{Read: 1, Query: 1, Batch: 1}},
	}
	for _, k := range []int{1, 10, 33, 34, 100, 200, 240} {
		from := 0
		if k < 200 {
			from = 10 // leave room so that each add is new
		}
		tests = append(tests,
			costCase{fmt.Sprintf("PATCH add %d members", k), "PATCH", "/Groups/" + gid, members("add", from, from+k), 204, addCost(k)},
			costCase{fmt.Sprintf("PATCH remove %d members", k), "PATCH", "/Groups/" + gid, members("remove", from, from+k), 204, removeCost(k)})
	}
	for _, tc := range tests {
		c.check(t, tc)
	}

	// Whole-group operations, on a group of 120 members.
	const m = 120
	big := c.id(t, "/Groups", `{"displayName":"Big","members":`+memberArray(ids[:m])+`}`)
	half := memberArray(ids[:m/2])
	for _, tc := range []costCase{
		{"GET group by id with 120 members", "GET", "/Groups/" + big, "", 200, tables.Counts{Read: 1, Query: 1}},
		// PUT: read the group and its members, write the difference (60
		// removes: 2 batches), then read both again for the answer.
		{"PUT group keeping 60 of 120 members", "PUT", "/Groups/" + big, `{"displayName":"Big","members":` + half + `}`, 200, tables.Counts{Read: 2, Query: 2, Batch: 2}},
		// Nothing changes: nothing is written (Okta re-sends whole groups).
		{"PUT group, same members again", "PUT", "/Groups/" + big, `{"displayName":"Big","members":` + half + `}`, 200, tables.Counts{Read: 2, Query: 2}},
		// DELETE: read the row and the relations, delete the relations
		// 50 at a time, then the row with its index rows.
		{"DELETE group of 60 members", "DELETE", "/Groups/" + big, "", 204, tables.Counts{Read: 1, Query: 1, Batch: 3}},
	} {
		c.check(t, tc)
	}

	// The answer to a user's PATCH lists the user's groups from the same
	// read that the PATCH starts from.
	c.cost(t, "PATCH", "/Groups/"+gid, members("add", 7, 8), 204)
	b, got := c.cost(t, "PATCH", "/Users/"+ids[7], patchUser("Member"), 200)
	var u struct {
		Title  string
		Groups []struct{ Value string }
	}
	if err := json.Unmarshal(b, &u); err != nil || u.Title != "Member" || len(u.Groups) != 1 || u.Groups[0].Value != gid {
		t.Errorf("PATCH answer of a member: %s (%v), want title Member and group %s", b, err, gid)
	}
	if want := (tables.Counts{Query: 1, Write: 1}); got != want {
		t.Errorf("PATCH of a member: %+v, want %+v", got, want)
	}
}
