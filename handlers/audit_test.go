package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/store"
)

// TestAuditTellsTheStory performs a scripted provisioning story through the
// API and checks that the audit trail tells it completely and in order, that
// it verifies, and that no secret value is anywhere in it.
func TestAuditTellsTheStory(t *testing.T) {
	e := newEnv(t)
	const password = "Pa55word!-in-the-story"
	u := e.createUser(`{"userName":"frank@contoso.com","password":"` + password + `","active":true}`)
	uid := u["id"].(string)
	e.do("PATCH", "/scim/v2/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"},{"op":"replace","path":"password","value":"`+password+`2"}]}`)
	g := e.do("POST", "/scim/v2/Groups", `{"displayName":"adf-readers","members":[{"value":"`+uid+`"}]}`).json(t)
	gid := g["id"].(string)
	e.do("PATCH", "/scim/v2/Groups/"+gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"`+uid+`"}]}]}`)
	e.do("POST", "/scim/v2/Users", `{"userName":"FRANK@contoso.com"}`) // 409: recorded as a failure
	e.do("DELETE", "/scim/v2/Users/"+uid, "")
	e.do("GET", "/scim/v2/Users", "", "Authorization", "Bearer not-a-valid-token-value")
	e.do("POST", "/scim/v2/Users", `{"userName":"mallory"}`, "Authorization", e.bearer(readClient))

	r := e.do("GET", "/ops/v1/audit?count=100", "", "Authorization", e.bearer(opsClient))
	if r.status != 200 {
		t.Fatalf("GET /ops/v1/audit: %d %s", r.status, r.body)
	}
	var page struct {
		Records []audit.Record `json:"records"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		action, actor, target string
		success               bool
	}{
		{"config.load", "system", "serve", true}, // the service's start
		{"user.create", "test", uid, true},
		{"user.patch", "test", uid, true},
		{"group.create", "test", gid, true},
		{"group.patch", "test", gid, true},
		{"user.create", "test", "", false},
		{"user.delete", "test", uid, true},
		{"auth.failure", "anonymous", "", false},
		{"auth.forbidden", "reader", "", false},
	}
	if len(page.Records) != len(want) {
		t.Fatalf("the trail has %d records, want %d:\n%s", len(page.Records), len(want), r.body)
	}
	for i, w := range want {
		got := page.Records[i]
		if got.Action != w.action || got.Actor != w.actor || got.Outcome.Success != w.success || (w.target != "" && got.Target.ID != w.target) {
			t.Errorf("record %d = %s by %q on %s success=%v; want %s by %q on %s success=%v",
				i, got.Action, got.Actor, got.Target.ID, got.Outcome.Success, w.action, w.actor, w.target, w.success)
		}
		if got.RequestID == "" && i >= startRecords {
			t.Errorf("record %d has no request id", i)
		}
	}
	if p := page.Records[2]; len(p.Changes) != 2 || p.Changes[0].Path != "active" {
		t.Errorf("the PATCH record does not list its operations: %+v", p.Changes)
	}
	if d := page.Records[1].Target.Display; d != "frank@contoso.com" {
		t.Errorf("the create record names %q, want the userName", d)
	}
	if !bytes.Contains(r.body, []byte(`"status":409`)) {
		t.Errorf("the failed create's status is not recorded")
	}
	res, err := audit.Verify(context.Background(), e.st, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != len(want) {
		t.Errorf("the trail does not verify: %+v", res)
	}
	err = e.st.Scan(context.Background(), audit.Table, func(en store.Entity) error {
		if bytes.Contains(en.Data, []byte(password)) || bytes.Contains(en.Data, []byte("not-a-valid-token-value")) {
			t.Errorf("audit row %s/%s carries a secret", en.PartitionKey, en.RowKey)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAccessChangesQueued checks that every write that may change someone's
// access reaches the access queue, and only those: on the embedded engine
// in the write's own commit, on Table Storage in a batch after it.
func TestAccessChangesQueued(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(`{"userName":"grace@contoso.com","active":true}`)["id"].(string)
	other := e.createUser(`{"userName":"heidi@contoso.com"}`)["id"].(string)
	gid := e.do("POST", "/scim/v2/Groups", `{"displayName":"adf-operators","members":[{"value":"`+uid+`"}]}`).json(t)["id"].(string)
	e.do("PATCH", "/scim/v2/Users/"+other, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Heidi"}]}`)
	e.do("PATCH", "/scim/v2/Users/"+uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
	e.do("DELETE", "/scim/v2/Groups/"+gid, "")

	pending, err := e.app.Reconciler.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[rbac.Ref]bool{}
	for _, ref := range pending {
		got[ref] = true
	}
	// grace's deactivation and the group's creation and deletion (which
	// queue its member too); not heidi's new displayName.
	want := map[rbac.Ref]bool{rbac.UserRef(uid): true, rbac.GroupRef(gid): true}
	if !maps.Equal(got, want) {
		t.Errorf("queued %v, want %v", pending, want)
	}
	res, err := audit.Verify(context.Background(), e.st, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || res.Records != startRecords+6 {
		t.Errorf("trail: ok=%v with %d records, want the start's and 6 (one per write)", res.OK, res.Records)
	}
}

// TestWriteFailsWhenItsRecordCannotBeWritten damages the trail so that the
// next record cannot be appended (a row already holds its sequence number)
// and checks that a write is then refused with 503, not answered as done.
// On the embedded engine the change and its record share one commit, so the
// user is not created either; Table Storage writes the record after the
// change, so there the change stays (the compliance guide says so).
func TestWriteFailsWhenItsRecordCannotBeWritten(t *testing.T) {
	e := newEnv(t)
	e.createUser(`{"userName":"first@contoso.com"}`) // starts today's trail
	ctx := context.Background()
	day := time.Now().UTC().Format("20060102")
	h, err := e.st.Get(ctx, audit.Table, day, "head")
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Seq uint64 }
	if err := json.Unmarshal(h.Data, &head); err != nil {
		t.Fatal(err)
	}
	squatter := store.Op{Kind: store.Insert, Entity: store.Entity{PartitionKey: day, RowKey: fmt.Sprintf("r%020d", head.Seq+1), Data: []byte(`{}`)}}
	if _, err := e.st.Batch(ctx, audit.Table, []store.Op{squatter}); err != nil {
		t.Fatal(err)
	}

	r := e.do("POST", "/scim/v2/Users", `{"userName":"second@contoso.com"}`)
	if r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte("audit trail")) {
		t.Fatalf("POST with a broken trail: %d %s; want 503 naming the audit trail", r.status, r.body)
	}
	list := e.do("GET", `/scim/v2/Users?filter=userName+eq+"second@contoso.com"`, "").json(t)
	_, atomic := e.st.(store.Follower)
	if got, want := list["totalResults"], map[bool]float64{true: 0, false: 1}[atomic]; got != want {
		t.Errorf("after the refused POST %v users exist, want %v (change and record in one commit: %v)", got, want, atomic)
	}
}

// startRecords is what the service records when it starts, before any
// request: the configuration it loaded (config.load).
const startRecords = 1

// requestRecords reads one page of GET /ops/v1/audit with the given query,
// which must start with the trail, and returns it without the service's
// start record (which it checks).
func (e *env) requestRecords(query string) []audit.Record {
	e.t.Helper()
	recs := e.auditPage(query)
	if len(recs) < startRecords || recs[0].Action != audit.ActionConfigLoad {
		e.t.Fatalf("the trail does not start with the service's %s: %+v", audit.ActionConfigLoad, recs)
	}
	return recs[startRecords:]
}

// auditPage reads one page of GET /ops/v1/audit with the given query.
func (e *env) auditPage(query string) []audit.Record {
	e.t.Helper()
	r := e.do("GET", "/ops/v1/audit?"+query, "", "Authorization", e.bearer(opsClient))
	if r.status != http.StatusOK {
		e.t.Fatalf("GET /ops/v1/audit?%s: %d %s", query, r.status, r.body)
	}
	var page struct {
		Records []audit.Record `json:"records"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Records
}

// TestAuditStatusIsTheStatusAnswered: each SCIM write's record states the
// status the client was answered, 204 of a group PATCH included.
func TestAuditStatusIsTheStatusAnswered(t *testing.T) {
	e := newEnv(t)
	const patchOp = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`
	uid := e.createUser(`{"userName":"ivan@contoso.com","active":true}`)["id"].(string)
	gid := e.do("POST", "/scim/v2/Groups", `{"displayName":"adf-auditors"}`).json(t)["id"].(string)
	writes := []struct{ method, path, body string }{
		{"PUT", "/scim/v2/Users/" + uid, `{"userName":"ivan@contoso.com","active":false}`},
		{"PATCH", "/scim/v2/Users/" + uid, patchOp + `{"op":"replace","path":"active","value":true}]}`},
		{"PATCH", "/scim/v2/Groups/" + gid, patchOp + `{"op":"add","path":"members","value":[{"value":"` + uid + `"}]}]}`},
		{"PATCH", "/scim/v2/Groups/" + gid + "?attributes=displayName", patchOp + `{"op":"replace","path":"displayName","value":"adf-audit"}]}`},
		{"PATCH", "/scim/v2/Groups/" + gid + "?excludedAttributes=members", patchOp + `{"op":"replace","path":"displayName","value":"adf-auditors"}]}`},
		{"PATCH", "/scim/v2/Groups/" + gid, patchOp + `{"op":"remove","path":"members[value eq \"` + uid + `\"]"}]}`},
		{"PATCH", "/scim/v2/Groups/00000000-0000-4000-8000-000000000000", patchOp + `{"op":"replace","path":"displayName","value":"x"}]}`},
		{"POST", "/scim/v2/Users", `{"userName":"ivan@contoso.com"}`},
		{"DELETE", "/scim/v2/Groups/" + gid, ""},
		{"DELETE", "/scim/v2/Users/" + uid, ""},
	}
	answered := []int{http.StatusCreated, http.StatusCreated}
	for _, w := range writes {
		answered = append(answered, e.do(w.method, w.path, w.body).status)
	}
	recs := e.requestRecords("count=100")
	if len(recs) != len(answered) {
		t.Fatalf("%d records for %d writes", len(recs), len(answered))
	}
	for i, rec := range recs {
		if rec.Outcome.Status != answered[i] {
			step := "the setup's create"
			if i >= 2 {
				step = writes[i-2].method + " " + writes[i-2].path
			}
			t.Errorf("%s was answered %d; its %s record says %d", step, answered[i], rec.Action, rec.Outcome.Status)
		}
	}
	if answered[4] != http.StatusNoContent {
		t.Errorf("the group PATCH was answered %d, want 204", answered[4])
	}
}

// TestRefusedCreateFoundByTarget: a create refused as a duplicate names
// what it tried to create, so searching the trail for that name finds it.
func TestRefusedCreateFoundByTarget(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(`{"userName":"judy@contoso.com"}`)["id"].(string)
	if r := e.do("POST", "/scim/v2/Users", `{"userName":"Judy@Contoso.com","password":"not-in-the-trail-9"}`); r.status != http.StatusConflict {
		t.Fatalf("duplicate POST: %d %s", r.status, r.body)
	}
	gid := e.do("POST", "/scim/v2/Groups", `{"displayName":"adf-judges"}`).json(t)["id"].(string)
	if r := e.do("POST", "/scim/v2/Groups", `{"displayName":"adf-judges"}`); r.status != http.StatusConflict {
		t.Fatalf("duplicate group POST: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		target, wantID string
	}{
		{"judy@contoso.com", uid},
		{"JUDY@contoso.com", uid},
		{"adf-judges", gid},
	} {
		recs := e.auditPage("target=" + url.QueryEscape(tc.target))
		var ok, refused int
		for _, r := range recs {
			switch {
			case r.Outcome.Success && r.Target.ID == tc.wantID:
				ok++
			case !r.Outcome.Success && r.Outcome.Status == http.StatusConflict && strings.EqualFold(r.Target.Display, tc.target):
				refused++
			}
		}
		if ok != 1 || refused != 1 || len(recs) != 2 {
			t.Errorf("target=%s finds %+v; want the create and the refused duplicate", tc.target, recs)
		}
	}
	for _, r := range e.auditPage("count=100") {
		if strings.Contains(fmt.Sprint(r), "not-in-the-trail-9") {
			t.Errorf("a record carries the password: %+v", r)
		}
	}
}
