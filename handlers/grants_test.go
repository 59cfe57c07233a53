package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/grantstest"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/report"
)

// grantsEnv is a server whose mapping allows direct grants, with the
// reconciler on the simulated ARM; its worker does not run, so a test
// drains the queue itself and then reads what ARM holds.
type grantsEnv struct {
	env     *env
	rec     *rbac.Reconciler
	mapping *rbac.Mapping
	trail   *audit.Log
	report  *report.Builder
}

func newGrantsEnv(t *testing.T) *grantsEnv {
	t.Helper()
	e := newEnvWith(t, envOptions{mapping: grantstest.Mapping()})
	mapping, _, err := e.app.Mapping()
	if err != nil {
		t.Fatal(err)
	}
	return &grantsEnv{env: e, rec: e.app.Reconciler, mapping: mapping, trail: e.app.Trail, report: e.app.Report}
}

func (e *grantsEnv) do(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.env.srv.URL+handlers.ScimPrefix+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", e.env.bearer("test"))
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// held drains what the writes queued (the fast path's work) and lists what
// the principal holds on the mapped factories.
func (e *grantsEnv) held(t testing.TB, principal string, _ []string) []string {
	t.Helper()
	ctx := context.Background()
	for {
		rep, err := e.rec.Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failed > 0 {
			t.Fatalf("drain failed: %+v", rep.Results)
		}
		if rep.Items == 0 {
			break
		}
	}
	held, err := e.rec.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, a := range held {
		if a.PrincipalID != principal {
			continue
		}
		if p := grantstest.Pair(a.Scope, a.RoleID); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// TestOktaEntitlementsReplay replays Okta Identity Governance's discovery
// (ResourceTypes, Schemas, the entitlement endpoint in pages), the user
// import with entitlements, and grants and revocations by POST, PATCH and
// PUT; after each step the user holds exactly the roles granted.
func TestOktaEntitlementsReplay(t *testing.T) {
	e := newGrantsEnv(t)
	s := grantstest.Load(t, "../testdata/idp-grants/okta-entitlements.json")
	grantstest.Run(t, s, func(m, p, b string) (int, []byte) { return e.do(t, m, p, b) }, e.held, uuid.NewString())
}

// TestEntraRolesReplay replays Entra ID's app role assignments sent as
// roles (AppRoleAssignmentsComplex) in both dialects: the default one,
// whose PATCH values are JSON strings, and aadOptscim062020.
func TestEntraRolesReplay(t *testing.T) {
	for _, file := range []string{"entra-roles.json", "entra-roles-aadoptscim062020.json"} {
		t.Run(file, func(t *testing.T) {
			e := newGrantsEnv(t)
			s := grantstest.Load(t, "../testdata/idp-grants/"+file)
			grantstest.Run(t, s, func(m, p, b string) (int, []byte) { return e.do(t, m, p, b) }, e.held, uuid.NewString())
		})
	}
}

// TestEntitlementsEndpoint checks the catalogue's paging, filters, GET by
// id and its errors, and that ids derive from the pair alone.
func TestEntitlementsEndpoint(t *testing.T) {
	e := newGrantsEnv(t)
	status, body := e.do(t, "GET", "/Entitlements", "")
	if status != 200 {
		t.Fatalf("list: %d %s", status, body)
	}
	var list struct {
		TotalResults int
		Resources    []map[string]any
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if list.TotalResults != 4 || len(list.Resources) != 4 {
		t.Fatalf("want 4 entitlements, got %s", body)
	}
	first := list.Resources[0]
	id, _ := first["id"].(string)
	if want := rbac.GrantID(grantstest.Factory("adf-one"), "673868aa-7521-48a0-acc6-0f60742d39f5"); id != want || first["displayName"] != "adf-one: Data Factory Contributor" {
		t.Errorf("first entitlement = %v %v, want %s adf-one: Data Factory Contributor", id, first["displayName"], want)
	}
	ext, _ := first["urn:adfscim:scim:schemas:extension:1.0:Entitlement"].(map[string]any)
	if ext["factory"] != strings.ToLower(grantstest.Factory("adf-one")) {
		t.Errorf("factory = %v", ext["factory"])
	}
	for _, c := range []struct {
		path   string
		status int
		total  int
		scim   string
	}{
		{"/Entitlements?filter=" + urlq(`id eq "`+id+`"`), 200, 1, ""},
		{"/Entitlements?filter=" + urlq(`displayName sw "adf-three"`), 200, 2, ""},
		{"/Entitlements?filter=" + urlq(`displayName eq "nothing"`), 200, 0, ""},
		{"/Entitlements?count=0", 200, 4, ""},
		{"/Entitlements?filter=" + urlq(`displayName eq`), 400, 0, "invalidFilter"},
		{"/Entitlements?startIndex=x", 400, 0, "invalidValue"},
		{"/Entitlements/" + uuid.NewString(), 404, 0, ""},
	} {
		status, body := e.do(t, "GET", c.path, "")
		if status != c.status {
			t.Errorf("GET %s: %d, want %d: %s", c.path, status, c.status, body)
			continue
		}
		var doc map[string]any
		_ = json.Unmarshal(body, &doc)
		if c.status == 200 {
			if n, _ := doc["totalResults"].(float64); int(n) != c.total {
				t.Errorf("GET %s: totalResults %v, want %d", c.path, doc["totalResults"], c.total)
			}
		} else if c.scim != "" && doc["scimType"] != c.scim {
			t.Errorf("GET %s: scimType %v, want %s", c.path, doc["scimType"], c.scim)
		}
	}
	if status, _ := e.do(t, "POST", "/Entitlements", `{}`); status != 405 {
		t.Errorf("POST /Entitlements: %d, want 405", status)
	}
	// Without direct grants in the mapping there is no such endpoint and
	// discovery does not mention it.
	plain := newEnv(t)
	if r := plain.do("GET", handlers.ScimPrefix+"/Entitlements", ""); r.status != 404 {
		t.Errorf("GET /Entitlements without grants: %d, want 404", r.status)
	}
	if r := plain.do("GET", handlers.ScimPrefix+"/ResourceTypes", ""); strings.Contains(string(r.body), "Entitlement") {
		t.Errorf("ResourceTypes advertise entitlements without grants: %s", r.body)
	}
}

func urlq(s string) string { return strings.NewReplacer(" ", "%20", `"`, "%22").Replace(s) }

// TestGrantRefusedChangesNothing sends unknown values in every shape and
// checks that the user is unchanged and nothing is queued.
func TestGrantRefusedChangesNothing(t *testing.T) {
	e := newGrantsEnv(t)
	oid := uuid.NewString()
	status, body := e.do(t, "POST", "/Users", `{"userName":"kim@contoso.com","externalId":"`+oid+`","entitlements":[{"value":"nope"}]}`)
	if status != 400 || !strings.Contains(string(body), "invalidValue") {
		t.Fatalf("POST with an unknown entitlement: %d %s", status, body)
	}
	if status, body := e.do(t, "GET", "/Users?filter="+urlq(`userName eq "kim@contoso.com"`), ""); status != 200 || !strings.Contains(string(body), `"totalResults":0`) {
		t.Fatalf("a refused POST created the user: %s", body)
	}
	grant := e.mapping.Grants[0].ID
	status, body = e.do(t, "POST", "/Users", `{"userName":"kim@contoso.com","externalId":"`+oid+`","roles":[{"value":"`+grant+`"}]}`)
	if status != 201 {
		t.Fatalf("POST: %d %s", status, body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	before := e.held(t, oid, nil)
	for _, op := range []string{
		`{"op":"add","path":"roles","value":[{"value":"` + grant + `"},{"value":"x"}]}`,
		`{"op":"replace","path":"entitlements","value":[{"value":"x"}]}`,
		`{"op":"add","value":{"entitlements":[{"value":"x"}]}}`,
		`{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"1\",\"value\":\"x\",\"displayName\":\"x\"}"}]}`,
	} {
		status, body := e.do(t, "PATCH", "/Users/"+u.ID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+op+`]}`)
		if status != 400 || !strings.Contains(string(body), "invalidValue") {
			t.Errorf("PATCH %s: %d %s, want 400 invalidValue", op, status, body)
		}
	}
	if status, body := e.do(t, "PUT", "/Users/"+u.ID, `{"userName":"kim@contoso.com","externalId":"`+oid+`","entitlements":[{"value":"x"}]}`); status != 400 {
		t.Errorf("PUT: %d %s", status, body)
	}
	_, body = e.do(t, "GET", "/Users/"+u.ID, "")
	if !strings.Contains(string(body), grant) || strings.Contains(string(body), "entitlements") {
		t.Errorf("the user changed: %s", body)
	}
	if after := e.held(t, oid, nil); !slices.Equal(before, after) || len(after) != 1 {
		t.Errorf("access changed from %v to %v", before, after)
	}
}

// TestGrantsAreAudited checks that the trail names every grant and
// revocation, with the client that sent it.
func TestGrantsAreAudited(t *testing.T) {
	e := newGrantsEnv(t)
	g := e.mapping.Grants[0]
	status, body := e.do(t, "POST", "/Users", `{"userName":"lee@contoso.com","externalId":"`+uuid.NewString()+`","entitlements":[{"value":"`+g.ID+`"}]}`)
	if status != 201 {
		t.Fatalf("POST: %d %s", status, body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	e.do(t, "PATCH", "/Users/"+u.ID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"entitlements[value eq \"`+g.ID+`\"]"}]}`)
	page, err := e.trail.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, r := range page.Records {
		for _, c := range r.Changes {
			if c.Op == "grant" || c.Op == "revoke" {
				seen = append(seen, r.Actor+" "+c.Op+" "+c.Path+" "+c.Value.(string))
			}
		}
	}
	slices.Sort(seen)
	want := []string{
		"test grant entitlements " + g.DisplayName + " [" + g.ID + "]",
		"test revoke entitlements " + g.DisplayName + " [" + g.ID + "]",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("trail has %q, want %q", seen, want)
	}
}

// TestReportSaysWhy checks that the access report names, for a role held
// through a group and a direct grant at once, both reasons and the client
// that granted it; and that the trail's change lines read as grants.
func TestReportSaysWhy(t *testing.T) {
	e := newGrantsEnv(t)
	oid := uuid.NewString()
	var contributor, reader rbac.Grant
	for _, g := range e.mapping.Grants {
		switch g.DisplayName {
		case "adf-one: Data Factory Contributor":
			contributor = g
		case "adf-two: Reader":
			reader = g
		}
	}
	status, body := e.do(t, "POST", "/Users", `{"userName":"noor@contoso.com","externalId":"`+oid+`","entitlements":[{"value":"`+contributor.ID+`"},{"value":"`+reader.ID+`"}]}`)
	if status != 201 {
		t.Fatalf("POST: %d %s", status, body)
	}
	var u struct{ ID string }
	_ = json.Unmarshal(body, &u)
	if status, body := e.do(t, "POST", "/Groups", `{"displayName":"Analysts","members":[{"value":"`+u.ID+`"}]}`); status != 201 {
		t.Fatalf("POST group: %d %s", status, body)
	}
	e.held(t, oid, nil)
	rep, err := e.report.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	why := map[string]string{}
	for _, a := range rep.Access {
		var parts []string
		for _, g := range a.Groups {
			parts = append(parts, "group "+g.DisplayName)
		}
		for _, d := range a.DirectGrants {
			parts = append(parts, d.DisplayName+" by "+d.GrantedBy)
		}
		why[a.Factory+" "+a.Role+" "+a.UserName+" "+a.Status] = strings.Join(parts, ", ")
	}
	want := map[string]string{
		"adf-one Data Factory Contributor noor@contoso.com granted": "adf-one: Data Factory Contributor by test",
		"adf-two Reader noor@contoso.com granted":                   "adf-two: Reader by test",
		"adf-one Reader noor@contoso.com granted":                   "group Analysts",
	}
	if len(why) != len(want) {
		t.Errorf("report rows %v, want %v", why, want)
	}
	for k, w := range want {
		if why[k] != w {
			t.Errorf("%s: through %q, want %q", k, why[k], w)
		}
	}
	if rep.Summary.Direct != 2 {
		t.Errorf("summary counts %d direct grants, want 2", rep.Summary.Direct)
	}
	var lines []string
	for _, ev := range rep.Recent {
		for _, l := range ev.ChangeList {
			if strings.HasPrefix(l, "granted ") {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) != 2 || !strings.Contains(strings.Join(lines, "\n"), "granted adf-one: Data Factory Contributor [") {
		t.Errorf("trail lines %q, want one granted line per entitlement", lines)
	}
}
