package report_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"

	"github.com/adfscim/adfscim/internal/app"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/config"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/scim"
	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/bolt"
	"github.com/adfscim/adfscim/internal/tokens"
)

// Factories, roles and Entra object ids of the story.
const (
	sub         = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8"
	prodID      = "/subscriptions/" + sub + "/resourceGroups/rg-data/providers/Microsoft.DataFactory/factories/adf-prod"
	devID       = "/subscriptions/" + sub + "/resourceGroups/rg-data/providers/Microsoft.DataFactory/factories/adf-dev"
	contributor = "673868aa-7521-48a0-acc6-0f60742d39f5"
	reader      = "acdd72a7-3385-48ef-bd42-f606fba81ae7"

	aliceOID = "a11ce000-0000-4000-8000-000000000001"
	bobOID   = "b0b00000-0000-4000-8000-000000000002"
	carolOID = "ca201000-0000-4000-8000-000000000003"
	frankOID = "f2a2c000-0000-4000-8000-000000000006"
	erinOID  = "e2100000-0000-4000-8000-000000000005" // no SCIM user: someone granted her by hand
)

var mappingJSON = `{
  "factories": {"prod": "` + prodID + `", "dev": "` + devID + `"},
  "bindings": [
    {"group": "ADF Contributors", "role": "Data Factory Contributor", "factories": ["prod"]},
    {"group": "ADF Readers", "role": "Reader", "factories": ["prod", "dev"]}
  ]
}`

// clock is the story's time: it moves only when the story says so.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// world is a real deployment on an embedded store, built by the
// composition root (internal/app) as serve builds it: directory, audit
// trail and reconciler on the simulated ARM, with a client that writes to
// the directory and records each write the way the HTTP handlers do.
type world struct {
	t       *testing.T
	ctx     context.Context
	clock   *clock
	st      store.Store
	svc     *app.Services
	dir     *directory.Service
	trail   *audit.Log
	sim     *armsim.Sim
	rec     *rbac.Reconciler
	mapping *rbac.Mapping
	ids     map[string]string // userName or displayName -> SCIM id
}

// worldOptions change a world's mapping and its ARM.
type worldOptions struct {
	// mapping replaces the story's mapping (mappingJSON).
	mapping string
	// wrap changes the simulated ARM's server (a throttling ARM); its
	// client then does not retry, so that every answer ARM gives reaches
	// the trail.
	wrap func(*fake.RoleAssignmentsServer)
	// simClock runs the simulated ARM on the story's clock (schedules and
	// activations expire with it); otherwise it keeps the wall clock.
	simClock bool
}

func newWorld(t *testing.T) *world { t.Helper(); return newWorldOpts(t, worldOptions{}) }

// newWorldWith is newWorld with the simulated ARM's server changed by wrap.
func newWorldWith(t *testing.T, wrap func(*fake.RoleAssignmentsServer)) *world {
	t.Helper()
	return newWorldOpts(t, worldOptions{wrap: wrap})
}

func newWorldOpts(t *testing.T, o worldOptions) *world {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "adfscim.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, ctx: context.Background(), clock: &clock{}, st: st, ids: map[string]string{}}
	w.clock.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	simOpts := armsim.Options{Store: st}
	if o.simClock {
		simOpts.Now = w.clock.Now
	}
	w.sim = armsim.New(simOpts)
	arm := armclient.Options{Credential: &azfake.TokenCredential{}, Transport: w.sim.Transport()}
	if o.wrap != nil {
		srv := w.sim.Server()
		o.wrap(srv)
		arm.Transport, arm.MaxRetries = fake.NewRoleAssignmentsServerTransport(srv), -1
	}
	if o.mapping == "" {
		o.mapping = mappingJSON
	}
	env := map[string]string{"ADFSCIM_MAPPING": o.mapping, "ADFSCIM_ARM": config.ARMAzure}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w.svc, err = app.Open(w.ctx, cfg, app.Options{Store: st, ARM: arm, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.svc.Close() })
	w.dir, w.trail, w.rec = w.svc.Directory, w.svc.Trail, w.svc.Reconciler
	if w.mapping, _, err = w.svc.Mapping(); err != nil {
		t.Fatal(err)
	}
	return w
}

// at moves the clock to day 2 March 2026 + d.
func (w *world) at(hhmm string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", "2026-03-02 "+hhmm)
	if err != nil {
		w.t.Fatal(err)
	}
	w.clock.Set(t)
	return t
}

func (w *world) record(typ, verb, id, display string, raw string) {
	w.t.Helper()
	w.recordAs("entra-prod", typ, verb, id, display, raw)
}

// recordAs records a write as made by actor.
func (w *world) recordAs(actor, typ, verb, id, display string, raw string) {
	w.t.Helper()
	var changes []audit.Change
	var err error
	if verb == "patch" {
		var body struct{ Operations json.RawMessage }
		if err := json.Unmarshal([]byte(raw), &body); err != nil {
			w.t.Fatal(err)
		}
		changes, err = audit.ChangesFromPatch(body.Operations)
	} else {
		changes, err = audit.ChangesFromResource(json.RawMessage(raw))
	}
	if err != nil {
		w.t.Fatal(err)
	}
	err = w.trail.Append(w.ctx, audit.Record{Actor: actor, Action: strings.ToLower(typ) + "." + verb,
		Target: audit.Target{Type: typ, ID: id, Display: display}, Changes: changes, Outcome: audit.Outcome{Success: true, Status: 200}})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) createUser(name, oid string) {
	w.t.Helper()
	body := map[string]any{"userName": name, "externalId": oid, "active": true, "password": "Secret-123!"}
	res, _, err := w.dir.Create(w.ctx, "User", body, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[name] = res.ID
	raw, _ := json.Marshal(body)
	w.record("User", "create", res.ID, name, string(raw))
}

func (w *world) createGroup(name string, members ...string) {
	w.t.Helper()
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": w.ids[m]})
	}
	body := map[string]any{"displayName": name, "members": ms}
	res, _, err := w.dir.Create(w.ctx, "Group", body, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.ids[name] = res.ID
	raw, _ := json.Marshal(body)
	w.record("Group", "create", res.ID, name, string(raw))
}

func (w *world) join(group, user string) {
	w.t.Helper()
	uid := w.ids[user]
	_, _, err := w.dir.Patch(w.ctx, "Group", w.ids[group], func(attrs map[string]any) (*directory.PatchResult, error) {
		return &directory.PatchResult{Attrs: attrs, AddMembers: []scim.Member{{Value: uid}}}, nil
	}, "", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.record("Group", "patch", w.ids[group], group, `{"Operations":[{"op":"Add","path":"members","value":[{"value":"`+uid+`"}]}]}`)
}

func (w *world) leave(group, user string) {
	w.t.Helper()
	uid := w.ids[user]
	_, _, err := w.dir.Patch(w.ctx, "Group", w.ids[group], func(attrs map[string]any) (*directory.PatchResult, error) {
		return &directory.PatchResult{Attrs: attrs, RemoveMembers: []string{uid}}, nil
	}, "", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.record("Group", "patch", w.ids[group], group, `{"Operations":[{"op":"remove","path":"members[value eq \"`+uid+`\"]"}]}`)
}

func (w *world) deactivate(user string) {
	w.t.Helper()
	_, _, err := w.dir.Patch(w.ctx, "User", w.ids[user], func(attrs map[string]any) (*directory.PatchResult, error) {
		attrs["active"] = false
		return &directory.PatchResult{Attrs: attrs}, nil
	}, "", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.record("User", "patch", w.ids[user], user, `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`)
}

// staticActor is the actor name the trail records for a request made with
// the static token (SCIM_BEARER_TOKEN), as the token source names it.
func (w *world) staticActor() string {
	w.t.Helper()
	const token = "static-token-set-by-SCIM_BEARER_TOKEN"
	src, err := tokens.NewLocal(w.st, tokens.LocalOptions{StaticToken: token})
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := src.Authenticate(w.ctx, token)
	if err != nil {
		w.t.Fatal(err)
	}
	return c.Name
}

// rename changes a user's displayName with the static token, as an
// operator's script would.
func (w *world) rename(user, displayName string) {
	w.t.Helper()
	_, _, err := w.dir.Patch(w.ctx, "User", w.ids[user], func(attrs map[string]any) (*directory.PatchResult, error) {
		attrs["displayName"] = displayName
		return &directory.PatchResult{Attrs: attrs}, nil
	}, "", nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.recordAs(w.staticActor(), "User", "patch", w.ids[user], user, `{"Operations":[{"op":"replace","path":"displayName","value":"`+displayName+`"}]}`)
}

// refuse records a request refused for its token, which changes nothing.
func (w *world) refuse() {
	w.t.Helper()
	err := w.trail.Append(w.ctx, audit.Record{Actor: "anonymous", Action: audit.ActionAuthFailure,
		Target: audit.Target{Type: "Endpoint", ID: "GET /scim/v2/Users"}, Outcome: audit.Outcome{Status: 401, Detail: "unknown token"}})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) reconcile() {
	w.t.Helper()
	if _, err := w.svc.Reconcile(w.ctx, nil); err != nil {
		w.t.Fatal(err)
	}
}

// plant makes an assignment by hand, as someone in the portal would.
func (w *world) plant(scope, principal, role string) {
	w.t.Helper()
	err := w.sim.Put(w.ctx, scope, "5e7d0000-0000-4000-8000-00000000beef", armauthorization.RoleAssignmentProperties{
		PrincipalID:      to.Ptr(principal),
		PrincipalType:    to.Ptr(armauthorization.PrincipalTypeUser),
		RoleDefinitionID: to.Ptr("/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role),
		Description:      to.Ptr("granted by hand for an incident"),
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) builder(recent int) *report.Builder {
	w.t.Helper()
	b, err := report.New(report.Options{
		Mapping: w.mapping, Directory: rbac.FromDirectory(w.dir), Resolver: rbac.Resolver{}, ARM: w.rec,
		Audit: w.trail,
		Verify: func(ctx context.Context) (audit.Result, error) {
			return audit.Verify(ctx, w.st, time.Time{}, time.Time{})
		},
		Recent: recent, Now: w.clock.Now,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *world) report() *report.Report {
	w.t.Helper()
	rep, err := w.builder(report.DefaultRecent).Build(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

// story plays joiners, a leaver, a deactivation, an unresolvable user and
// a hand-made assignment, and returns the world at the end.
func story(t *testing.T) *world {
	w := newWorld(t)
	w.at("09:00")
	w.createUser("alice@contoso.com", aliceOID)
	w.createUser("bob@contoso.com", bobOID)
	w.createUser("carol@contoso.com", carolOID)
	w.createUser("dave@contoso.com", "dave-not-an-object-id")
	w.createGroup("ADF Contributors", "alice@contoso.com", "bob@contoso.com")
	w.createGroup("ADF Readers", "carol@contoso.com", "dave@contoso.com")
	w.at("09:05")
	w.reconcile()

	w.at("10:00")
	w.leave("ADF Contributors", "bob@contoso.com")
	w.at("10:01")
	w.reconcile()

	w.at("11:00")
	w.deactivate("carol@contoso.com")
	w.at("11:01")
	w.reconcile()

	w.at("12:00")
	w.plant(prodID, erinOID, contributor)
	w.at("12:30")
	w.reconcile()

	w.at("13:00")
	w.join("ADF Readers", "alice@contoso.com")
	w.at("13:01")
	w.reconcile()
	w.at("13:30")
	w.rename("dave@contoso.com", "Dave Jones")
	w.at("13:40")
	w.refuse()
	w.at("14:00")
	return w
}

// row is what a reader checks of an access row.
type row struct {
	Who, Role, Factory, Status, Groups, Since, LastAction string
}

func rowsOf(rep *report.Report) []row {
	var out []row
	for _, a := range rep.Access {
		r := row{Who: a.UserName, Role: a.Role, Factory: a.Factory, Status: a.Status}
		if r.Who == "" {
			r.Who = a.PrincipalID
		}
		var gs []string
		for _, g := range a.Groups {
			gs = append(gs, g.DisplayName)
		}
		r.Groups = strings.Join(gs, ",")
		if a.Since != nil {
			r.Since = a.Since.Format("15:04")
		}
		if a.LastChange != nil {
			r.LastAction = a.LastChange.Time.Format("15:04") + " " + a.LastChange.Action
		}
		out = append(out, r)
	}
	return out
}

func TestStory(t *testing.T) {
	w := story(t)
	rep := w.report()

	want := []row{
		{"alice@contoso.com", "Reader", "adf-dev", report.StatusGranted, "ADF Readers", "13:01", "13:01 rbac.assign"},
		{"alice@contoso.com", "Data Factory Contributor", "adf-prod", report.StatusGranted, "ADF Contributors", "09:05", "09:05 rbac.assign"},
		{"alice@contoso.com", "Reader", "adf-prod", report.StatusGranted, "ADF Readers", "13:01", "13:01 rbac.assign"},
		{erinOID, "Data Factory Contributor", "adf-prod", report.StatusShadow, "", "12:30", "13:01 rbac.drift"},
	}
	got := rowsOf(rep)
	if len(got) != len(want) {
		t.Fatalf("access rows:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("access row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	if len(rep.Drift) != 1 || rep.Drift[0].PrincipalID != erinOID || rep.Drift[0].CoversDesired ||
		rep.Drift[0].Description != "granted by hand for an incident" {
		t.Errorf("drift = %+v, want erin's hand-made Contributor on adf-prod", rep.Drift)
	}
	if len(rep.Inactive) != 1 {
		t.Fatalf("inactive = %+v, want carol", rep.Inactive)
	}
	carol := rep.Inactive[0]
	if carol.UserName != "carol@contoso.com" || carol.Held != 0 || len(carol.Groups) != 1 || carol.Groups[0].DisplayName != "ADF Readers" {
		t.Errorf("inactive carol = %+v, want member of ADF Readers holding nothing", carol)
	}
	if carol.LastChange == nil || carol.LastChange.Action != "user.patch" || carol.LastChange.Time.Format("15:04") != "11:00" {
		t.Errorf("carol's last change = %+v, want the 11:00 deactivation", carol.LastChange)
	}
	if len(rep.Unresolved) != 1 || rep.Unresolved[0].UserName != "dave@contoso.com" {
		t.Errorf("unresolved = %+v, want dave", rep.Unresolved)
	}
	if len(rep.Pending) != 0 {
		t.Errorf("pending = %+v, want none after the reconcile", rep.Pending)
	}
	if !rep.Trail.Checked || !rep.Trail.OK || !strings.HasPrefix(rep.Trail.Status, "verified") || rep.Trail.LastHash == "" {
		t.Errorf("trail = %+v, want verified", rep.Trail)
	}
	wantSummary := report.Summary{Factories: 2, MappedGroups: 2, Members: 3, ActiveMembers: 2, Inactive: 1,
		Access: 4, Granted: 3, Shadow: 1, Unresolved: 1}
	if rep.Summary != wantSummary {
		t.Errorf("summary = %+v, want %+v", rep.Summary, wantSummary)
	}

	// Recent changes, newest first, tell the story backwards.
	var actions []string
	for _, e := range rep.Recent {
		actions = append(actions, e.Time.Format("15:04")+" "+e.Action+" "+e.Target)
	}
	wantHead := []string{
		"13:30 user.patch dave@contoso.com",
		"13:01 rbac.drift Data Factory Contributor on adf-prod for " + erinOID,
		"13:01 rbac.assign Reader on adf-prod for alice@contoso.com",
		"13:01 rbac.assign Reader on adf-dev for alice@contoso.com",
		"13:00 group.patch ADF Readers",
		"12:30 rbac.drift Data Factory Contributor on adf-prod for " + erinOID,
		"11:01 rbac.unassign Reader on adf-prod for carol@contoso.com",
		"11:01 rbac.unassign Reader on adf-dev for carol@contoso.com",
		"11:00 user.patch carol@contoso.com",
		"10:01 rbac.unassign Data Factory Contributor on adf-prod for bob@contoso.com",
		"10:00 group.patch ADF Contributors",
	}
	if len(actions) < len(wantHead) {
		t.Fatalf("recent = %q", actions)
	}
	for i := range wantHead {
		if actions[i] != wantHead[i] {
			t.Errorf("recent[%d] = %q, want %q", i, actions[i], wantHead[i])
		}
	}
	// Changes read as what happened to whom, not as the operations sent.
	for i, want := range map[int]string{4: "added alice@contoso.com", 8: "active: true → false (deactivated)", 10: "removed bob@contoso.com"} {
		if rep.Recent[i].Changes != want {
			t.Errorf("%s %s shows changes %q, want %q", rep.Recent[i].Action, rep.Recent[i].Target, rep.Recent[i].Changes, want)
		}
	}
	// No secret reaches the report in any format.
	for _, format := range []string{report.FormatJSON, report.FormatCSV, report.FormatHTML} {
		var b strings.Builder
		if err := report.Write(&b, rep, format); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "Secret-123!") {
			t.Errorf("the %s report contains a password", format)
		}
	}
}

// TestPending: between a SCIM write and the reconcile that applies it, the
// report shows the leaver still holding access (revoke pending) and the
// joiner not yet holding it (grant pending).
func TestPending(t *testing.T) {
	w := newWorld(t)
	w.at("09:00")
	w.createUser("alice@contoso.com", aliceOID)
	w.createUser("bob@contoso.com", bobOID)
	w.createUser("frank@contoso.com", frankOID)
	w.createGroup("ADF Contributors", "alice@contoso.com", "bob@contoso.com")
	w.reconcile()
	w.at("10:00")
	w.leave("ADF Contributors", "bob@contoso.com")
	w.join("ADF Contributors", "frank@contoso.com")

	rep := w.report()
	got := rowsOf(rep)
	want := []row{
		{"alice@contoso.com", "Data Factory Contributor", "adf-prod", report.StatusGranted, "ADF Contributors", "09:00", "09:00 rbac.assign"},
		{"bob@contoso.com", "Data Factory Contributor", "adf-prod", report.StatusRevokePending, "", "09:00", "10:00 group.patch"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("access rows:\n got %+v\nwant %+v", got, want)
	}
	var pend []string
	for _, p := range rep.Pending {
		pend = append(pend, p.Op+" "+p.UserName+" "+p.Role+" "+p.Factory)
	}
	wantPend := []string{"grant frank@contoso.com Data Factory Contributor adf-prod", "revoke bob@contoso.com Data Factory Contributor adf-prod"}
	if strings.Join(pend, "|") != strings.Join(wantPend, "|") {
		t.Errorf("pending = %q, want %q", pend, wantPend)
	}

	w.at("10:01")
	w.reconcile()
	rep = w.report()
	if len(rep.Pending) != 0 || rep.Summary.Granted != 2 || rep.Summary.Access != 2 {
		t.Errorf("after the reconcile: pending %+v, summary %+v; want none pending, alice and frank granted", rep.Pending, rep.Summary)
	}
}

// TestRecentBounded: the report lists only the last N changes.
func TestRecentBounded(t *testing.T) {
	w := story(t)
	rep, err := w.builder(3).Build(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Recent) != 3 || rep.Recent[0].Action != "user.patch" || rep.Recent[2].Action != "rbac.assign" {
		t.Errorf("recent = %+v, want the last 3 records newest first", rep.Recent)
	}
}

// TestRecentCountAgreesWithTrail: the page says how many records the
// recent changes table shows out of how many, and what else the trail
// holds, and the numbers add up to the records the trail verified.
func TestRecentCountAgreesWithTrail(t *testing.T) {
	w := story(t)
	for _, tc := range []struct {
		recent   int
		wantNote string
	}{
		{report.DefaultRecent, "All 21 user, group and role assignment records of the trail, newest first. " +
			"Not listed either: the trail's 1 other record (refused requests, tokens, configuration, retention). adfscim audit export has every record."},
		{5, "The 5 newest of the trail's 21 user, group and role assignment records; the 16 older ones are not listed here. " +
			"Not listed either: the trail's 1 other record (refused requests, tokens, configuration, retention). adfscim audit export has every record."},
	} {
		rep, err := w.builder(tc.recent).Build(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.RecentOf+rep.OtherRecords != rep.Trail.Records || len(rep.Recent) != min(tc.recent, rep.RecentOf) {
			t.Errorf("recent %d of %d plus %d others; the trail verified %d records", len(rep.Recent), rep.RecentOf, rep.OtherRecords, rep.Trail.Records)
		}
		if !strings.Contains(rep.Trail.Status, "verified: 22 records") {
			t.Errorf("trail status %q, want 22 records", rep.Trail.Status)
		}
		var page strings.Builder
		if err := report.WriteHTML(&page, rep); err != nil {
			t.Fatal(err)
		}
		if got := textOf(t, page.String(), "recent-count"); got != tc.wantNote {
			t.Errorf("showing %d: the page says\n %q\nwant\n %q", tc.recent, got, tc.wantNote)
		}
		if rows := strings.Count(section(page.String(), `id="recent"`, "</table>"), "<tr><td class=\"t\">"); rows != len(rep.Recent) {
			t.Errorf("the table shows %d rows, the report %d", rows, len(rep.Recent))
		}
	}
}

// TestStaticTokenActorExplained: a change made with the static token
// (SCIM_BEARER_TOKEN) names its actor as the token source does, and the
// report says who that is.
func TestStaticTokenActorExplained(t *testing.T) {
	w := story(t)
	rep := w.report()
	actor := w.staticActor()
	if rep.Recent[0].Actor != actor {
		t.Fatalf("the rename is recorded by %q, want %q", rep.Recent[0].Actor, actor)
	}
	var desc string
	for _, a := range rep.Actors {
		if a.Name == actor {
			desc = a.Description
		}
	}
	if !strings.Contains(desc, "SCIM_BEARER_TOKEN") {
		t.Errorf("the report explains actor %q as %q; want it to name the static token (SCIM_BEARER_TOKEN); actors %+v", actor, desc, rep.Actors)
	}
	var page strings.Builder
	if err := report.WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	if who := section(page.String(), `id="actors"`, "</dl>"); !strings.Contains(who, "<dt>"+actor+"</dt><dd>"+html.EscapeString(desc)) {
		t.Errorf("the page's list of actors does not explain %q:\n%s", actor, who)
	}
}

// section is the part of page from the first from to the next to.
func section(page, from, to string) string {
	i := strings.Index(page, from)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, to); j >= 0 {
		return rest[:j]
	}
	return rest
}

// textOf is the text of the element with the id, tags removed.
func textOf(t *testing.T, page, id string) string {
	t.Helper()
	s := section(page, `id="`+id+`"`, "</p>")
	if s == "" {
		t.Fatalf("the page has no element %s", id)
	}
	s = s[strings.IndexByte(s, '>')+1:]
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return html.UnescapeString(strings.Join(strings.Fields(b.String()), " "))
}
