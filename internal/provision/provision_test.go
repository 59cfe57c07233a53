package provision_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/provision"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/scim/patch"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

// Run with -args -engine=tables for Table Storage (Azurite).

type fixture struct {
	st    *enginetest.Counting // counts the commits a write makes
	dir   *directory.Service
	trail *audit.Log
	rec   *rbac.Reconciler
	svc   *provision.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := enginetest.OpenCounting(t)
	f := &fixture{st: st, dir: directory.New(st, directory.Options{}), trail: audit.New(st, audit.Options{})}
	mapping, err := rbac.LoadMapping("")
	if err != nil {
		t.Fatal(err)
	}
	arm, _, err := armclient.NewLocal(st, armclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.rec, err = rbac.New(rbac.Options{Mapping: mapping, Directory: rbac.FromDirectory(f.dir), ARM: arm, Store: st}); err != nil {
		t.Fatal(err)
	}
	f.svc = provision.New(provision.Options{Directory: f.dir, Trail: f.trail, Queue: f.rec, Logger: zerolog.Nop()})
	// The day's first record opens the day's chain outside any commit.
	if err := f.trail.Append(context.Background(), audit.Record{Actor: "test", Action: audit.ActionConfigLoad, Outcome: audit.Outcome{Success: true}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) records(t *testing.T) []audit.Record {
	t.Helper()
	p, err := f.trail.Query(context.Background(), audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return p.Records
}

func (f *fixture) pending(t *testing.T) map[rbac.Ref]bool {
	t.Helper()
	refs, err := f.rec.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[rbac.Ref]bool{}
	for _, r := range refs {
		out[r] = true
	}
	return out
}

// TestWriteUnit checks that one call makes the change, its audit record and
// its access-queue entry durable, and that it chooses the path by itself:
// on an engine that commits follow-ups, one commit for all three; on one
// that cannot, the change's batch and then the record and the queue entry
// written after it.
func TestWriteUnit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, canFollow := f.st.Store.(store.Follower)
	req := func(kind directory.Kind, id string, status int) provision.Request {
		return provision.Request{Kind: kind, ID: id, Status: status, Actor: "entra", RequestID: "r1", Source: "10.0.0.1"}
	}
	f.st.Reset()

	u := req(directory.User, "", 201)
	u.Body, u.Raw = map[string]any{"userName": "ada@contoso.com", "active": true}, []byte(`{"userName":"ada@contoso.com","active":true}`)
	user, err := f.svc.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	n := f.st.Reset()
	batch, follows := n.Batches, n.Follows
	if canFollow && (batch != 0 || follows != 1) {
		t.Errorf("create on a Follower: %d batches and %d commits with follow-ups, want 0 and 1", batch, follows)
	}
	if !canFollow && (follows != 0 || batch != 2) {
		t.Errorf("create on Table Storage: %d batches and %d commits with follow-ups, want 2 (the user, its record) and 0", batch, follows)
	}

	g := req(directory.Group, "", 201)
	g.Body = map[string]any{"displayName": "adf-readers", "members": []any{map[string]any{"value": user.Resource.ID}}}
	group, err := f.svc.Create(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := patch.Parse([]byte(`{"Operations":[{"op":"Replace","path":"active","value":false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := req(directory.User, user.Resource.ID, 200)
	p.Operations = ops
	f.st.Reset()
	if _, err := f.svc.Patch(ctx, p); err != nil {
		t.Fatal(err)
	}
	n = f.st.Reset()
	batch, follows = n.Batches, n.Follows
	if canFollow && (batch != 0 || follows != 1) {
		t.Errorf("patch on a Follower: %d batches and %d commits with follow-ups, want 0 and 1", batch, follows)
	}
	if !canFollow && (follows != 0 || batch != 3) {
		t.Errorf("patch on Table Storage: %d batches and %d commits with follow-ups, want 3 (the user, its record, its queue entry) and 0", batch, follows)
	}

	want := map[rbac.Ref]bool{rbac.UserRef(user.Resource.ID): true, rbac.GroupRef(group.Resource.ID): true}
	if got := f.pending(t); !maps.Equal(got, want) {
		t.Errorf("queued %v, want %v", got, want)
	}
	recs := f.records(t)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (config, two creates, the patch)", len(recs))
	}
	last := recs[3]
	if last.Action != "user.patch" || last.Target.ID != user.Resource.ID || last.Outcome.Status != 200 || !last.Outcome.Success ||
		len(last.Changes) != 1 || last.Changes[0].Op != "Replace" || last.Changes[0].Value != false || last.RequestID != "r1" {
		t.Errorf("patch record = %+v", last)
	}
	res, err := audit.Verify(ctx, f.st, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || !res.OK {
		t.Errorf("trail does not verify: %+v, %v", res, err)
	}
}

// TestRefused checks the record of a write that failed: the status the
// caller answered, the detail, what it tried to write; and that a write
// refused because its record could not be written is not recorded again.
func TestRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	req := provision.Request{Kind: directory.User, Actor: "okta", Raw: []byte(`{"userName":"dup@contoso.com"}`), Body: map[string]any{"userName": "dup@contoso.com"}, Status: 201}
	if _, err := f.svc.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Create(ctx, req)
	if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeConflict {
		t.Fatalf("duplicate create: %v, want a conflict", err)
	}
	f.svc.Refused(ctx, directory.ActionCreate, req, 409, err)
	f.svc.Refused(ctx, directory.ActionCreate, req, 503, provision.ErrNotRecorded)
	recs := f.records(t)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3 (config, the create, the refusal)", len(recs))
	}
	r := recs[2]
	if r.Outcome.Success || r.Outcome.Status != 409 || r.Outcome.Detail == "" || r.Target.Display != "dup@contoso.com" || len(r.Changes) != 1 {
		t.Errorf("refusal record = %+v", r)
	}
}

// TestUnknownKind: a kind the directory does not store is an error, not a
// user.
func TestUnknownKind(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(context.Background(), provision.Request{Kind: "Users", Body: map[string]any{"userName": "x@contoso.com"}, Status: 201})
	if !errors.Is(err, directory.ErrUnknownKind) {
		t.Errorf("create of kind Users: %v, want ErrUnknownKind", err)
	}
}

// TestObjectIDAttributeChangeQueuesTheUser: when users' object ids come from
// an extension attribute (Resolver.Attribute), a PATCH of that attribute
// changes the principal the user resolves to, so the user is queued, as for
// a changed externalId.
func TestObjectIDAttributeChangeQueuesTheUser(t *testing.T) {
	const ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ctx := context.Background()
	f := newFixture(t)
	mapping, err := rbac.LoadMapping("")
	if err != nil {
		t.Fatal(err)
	}
	arm, _, err := armclient.NewLocal(f.st, armclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rbac.New(rbac.Options{Mapping: mapping, Directory: rbac.FromDirectory(f.dir), ARM: arm, Store: f.st,
		Resolver: rbac.Resolver{Attribute: ext + ":employeeNumber"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := provision.New(provision.Options{Directory: f.dir, Queue: rec, Logger: zerolog.Nop()})
	body := map[string]any{"userName": "ada@contoso.com", "active": true,
		"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User", ext},
		ext:       map[string]any{"employeeNumber": "00000000-0000-0000-0000-000000000001"}}
	user, err := svc.Create(ctx, provision.Request{Kind: directory.User, Status: 201, Actor: "entra", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.pending(t); len(got) != 0 {
		t.Fatalf("a new user queued %v", got)
	}
	ops, err := patch.Parse([]byte(`{"Operations":[{"op":"replace","path":"` + ext + `:employeeNumber","value":"00000000-0000-0000-0000-000000000002"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Patch(ctx, provision.Request{Kind: directory.User, ID: user.Resource.ID, Status: 200, Actor: "entra", Operations: ops}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.pending(t), map[rbac.Ref]bool{rbac.UserRef(user.Resource.ID): true}; !maps.Equal(got, want) {
		t.Errorf("queued %v, want %v", got, want)
	}
}
