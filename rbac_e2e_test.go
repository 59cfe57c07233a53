package main

// End-to-end tests of "access follows identity": the SCIM API of the real
// handler tree, the directory on a real store (bbolt, and Table Storage on
// Azurite), the whole service built by internal/app as serve builds it,
// and the real ARM client talking TLS to the simulated ARM
// (internal/rbac/armsim), which speaks the role assignment and PIM schedule
// REST APIs and injects 429 + Retry-After, 500s, timeouts and lost answers.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/adfscim/adfscim/internal/deploy"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
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
// applying them against the simulated ARM failing often, the mapping changed by
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
	// Faults on every request; the first writes see each kind in turn.
	faults := &armsim.Faults{P429: 0.01, P500: 0.03, PTimeout: 0.01, PLost: 0.03, Seed: seed,
		Script: []string{"429", "", "500", "", "timeout", "", "lost"}}
	faults.Pause()
	arm := newE2EARM(t, armsim.Options{PageSize: 20, Faults: faults}) // pages of 20, so lists take several
	s := newE2EServer(t, st, arm, armLimits{
		writesPerSecond: 500, writeBurst: 100, // the limiter has its own test in internal/rbac/armclient
		maxRetries: 10, tryTimeout: 300 * time.Millisecond, retryDelay: 10 * time.Millisecond, maxRetryDelay: 2 * time.Second,
	})
	mappings := e2eMappings()
	mi := 0
	s.start(mappings[mi].JSON(), "e2e", true)
	faults.Resume()

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

	var foreign []armRA
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
			f, ok := arm.addForeign(t, scope, principal, "User", role, ev)
			if !ok { // adfscim's own assignment is there: ARM refuses a second
				counts["foreign-refused"]++
				break
			}
			foreign = append(foreign, f)
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
	faults.Pause()
	checkE2E(t, s, m, mappings[mi], foreign)
	if n := len(m.expected(mappings[mi])); n < 10 || len(foreign) == 0 {
		t.Errorf("the run exercised too little: %d expected assignments, %d foreign", n, len(foreign))
	}

	// The timer then finds nothing left to do and writes nothing.
	_, before, _ := arm.counts()
	logs := s.timer()
	_, after, _ := arm.counts()
	if after != before || len(logs) == 0 || !strings.Contains(logs[0], "0 created, 0 deleted, 0 failed") {
		t.Errorf("a second timer run wrote %d times: %v", after-before, logs)
	}
	injected := map[string]int{}
	for _, f := range []string{"429", "500", "timeout", "lost"} {
		if injected[f] = faults.Count(f); injected[f] == 0 {
			t.Errorf("fault %s never injected", f)
		}
	}
	t.Logf("%d events %v; %d users; %d expected assignments; %d foreign; faults %v; final reconcile %d created %d deleted, %d drift",
		events, counts, len(m.users), len(m.expected(mappings[mi])), len(foreign), injected, rep.Created, rep.Deleted, len(rep.Plan.Drift))
}

// checkE2E compares ARM with the oracle, through ARM itself and through
// GET /ops/v1/assignments.
func checkE2E(t *testing.T, s *e2eServer, m *model, mp oMapping, foreign []armRA) {
	t.Helper()
	want := m.expected(mp)
	all := s.arm.all(t)
	foreignKeys := map[string]bool{}
	for _, f := range foreign {
		got, ok := all[strings.ToLower(f.ID)]
		if !ok {
			t.Errorf("foreign assignment %s (%s) was deleted", f.Name, f.key())
			continue
		}
		if got != f {
			t.Errorf("foreign assignment changed: %+v, was %+v", got, f)
		}
		foreignKeys[f.key()] = true
	}
	_, _, applied := s.arm.counts()
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
		if onFactory != listed[strings.ToLower(a.Name)] {
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
			arm := newE2EARM(t, armsim.Options{})
			limits := armLimits{writesPerSecond: 500, writeBurst: 100}
			mp := oMapping{{group: "Analysts", roleJSON: "Data Factory Contributor", role: e2eRoleContributor, factories: []int{0, 1, 2}}}
			a := newE2EServer(t, stA, arm, limits)
			b := newE2EServer(t, stB, arm, limits)
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
				_, writes, applied := arm.counts()
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
			release := arm.sim.Hold()
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
			arm.waitFor(t, ctx, "A's reconcile to write", func() bool { return arm.sim.Holding() > 0 })
			if logs := reconcileLines(b.timer()); len(logs) != 1 || !strings.Contains(logs[0], "another instance holds the lease") {
				t.Errorf("B's timer while A reconciles: %v", logs)
			}
			if status, body, _ := request("POST", b.base+"/ops/v1/reconcile", e2eToken, ""); status != http.StatusConflict {
				t.Errorf("B's ops reconcile while A reconciles: %d %s", status, body)
			}
			release()
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
	arm := newE2EARM(b, armsim.Options{PageSize: 500, Latency: 100 * time.Millisecond, LatencyJitter: 200 * time.Millisecond})
	s := newBoltE2EServer(b, arm, armLimits{}) // production defaults: 10 writes/s, burst 30
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
		arm.plantOwned(b, oid, e2eRoleContributor, e2eFactories...)
	}
	for i := 0; i < len(members); i += 100 {
		s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[%s]}]}`, patchOp, strings.Join(members[i:min(i+100, len(members))], ",")), nil)
	}
	// Drain the queue of the setup writes, then switch on the fast path.
	s.timer()
	s.start(mp.JSON(), "bench", true)
	var join, deact []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		oid := randomGUID(rng)
		var u struct{ ID string }
		s.do("POST", "/Users", fmt.Sprintf(`{"userName":"joiner%05d@contoso.com","externalId":%q,"active":true}`, i, oid), &u)
		_, mark := arm.calls(1 << 30)
		t0 := time.Now()
		s.do("PATCH", "/Groups/"+g.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Add","path":"members","value":[{"value":%q}]}]}`, patchOp, u.ID), nil)
		join = append(join, arm.waitChanges(b, mark, oid, http.MethodPut, 3).Done.Sub(t0))
		_, mark = arm.calls(1 << 30)
		t0 = time.Now()
		s.do("PATCH", "/Users/"+u.ID, fmt.Sprintf(`{%s,"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, patchOp), nil)
		deact = append(deact, arm.waitChanges(b, mark, oid, http.MethodDelete, 3).Done.Sub(t0))
	}
	b.StopTimer()
	b.ReportMetric(percentile(join, 50), "join-p50-ms")
	b.ReportMetric(percentile(join, 95), "join-p95-ms")
	b.ReportMetric(percentile(deact, 50), "deactivate-p50-ms")
	b.ReportMetric(percentile(deact, 95), "deactivate-p95-ms")
	b.ReportMetric(percentile(append(join, deact...), 95), "p95-ms")
}
