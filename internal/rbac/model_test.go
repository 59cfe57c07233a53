package rbac_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	. "github.com/adfscim/adfscim/internal/rbac"
)

const objectIDAttr = "urn:ietf:params:scim:schemas:extension:adfscim:2.0:User:objectId"

// Two mappings over the same factories; the model switches between them as
// an operator would (a restart with a new mapping).
var modelMappings = []string{
	`{"factories":{"a":"` + factoryA + `","b":"` + factoryB + `","c":"` + factoryC + `"},"bindings":[
		{"group":"Analysts","role":"Data Factory Contributor","factories":["a","b"]},
		{"groupExternalId":"okta-ops","role":"` + roleOps + `","factories":["c"]},
		{"group":"Viewers","role":"Reader","factories":["a"],"mode":"group"}]}`,
	`{"factories":{"a":"` + factoryA + `","b":"` + factoryB + `","c":"` + factoryC + `"},"bindings":[
		{"group":"Analysts","role":"Reader","factories":["a","c"]},
		{"group":"Engineers","role":"Data Factory Contributor","factories":["b"]},
		{"groupExternalId":"okta-ops","role":"` + roleOps + `","factories":["a","c"]},
		{"group":"Viewers","role":"Reader","factories":["b","c"],"mode":"group"}]}`,
}

// TestModelLifecycle drives thousands of random lifecycle events in the
// Entra (externalId is the object id) and Okta (externalId is Okta's id, the
// object id in an extension attribute) dialects, with the fast path draining
// as it goes and ARM failing at random (429 + Retry-After, 500, timeouts,
// lost responses), plus assignments made by someone else. After the timer's
// reconcile, ARM must hold exactly the expected assignments, and every
// foreign one untouched.
func TestModelLifecycle(t *testing.T) {
	events := 1000
	if testing.Short() {
		events = 300
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			onEngines(t, seed, func(t *testing.T, e *env) { runModel(t, e, seed, events) })
		})
	}
}

func runModel(t *testing.T, e *env, seed uint64, events int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	e.faults.P429, e.faults.P500, e.faults.PTimeout, e.faults.PLost = 0.04, 0.04, 0.02, 0.02
	e.faults.RetryAfterHeader, e.faults.RetryAfterValue = "Retry-After-Ms", "20" // ARM's ms variant, to keep the run short
	mi := 0
	mappings := []*Mapping{mustMapping(t, modelMappings[0]), mustMapping(t, modelMappings[1])}
	newRec := func() *Reconciler {
		var d Directory = e.dir
		if seed%2 == 0 { // the even seeds use a directory with the by-user membership index
			d = indexedDir{e.dir}
		}
		r, err := New(Options{Mapping: mappings[mi], Directory: d, ARM: e.arm, Store: e.store,
			Resolver: Resolver{Attribute: objectIDAttr}, Instance: "model", Concurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newRec()

	groupNames := []string{"Analysts", "Engineers", "Viewers", "Other"}
	groupIDs := []string{"g1", "g2", "g3", "g4", "g5"}
	groupExt := map[string]string{"g5": "okta-ops"}
	for i, g := range groupIDs {
		name := "Ops"
		if i < len(groupNames) {
			name = groupNames[i]
		}
		e.dir.putGroup(Group{ID: g, DisplayName: name, ExternalID: groupExt[g]})
	}
	e.dir.putGroup(Group{ID: "g3", DisplayName: "Viewers", ExternalID: pid(9000)})
	var foreignNames []string
	nextUser := 0
	var users []string

	for ev := 0; ev < events; ev++ {
		var refs []Ref
		x := rng.IntN(100)
		switch {
		case x < 15 || len(users) < 5: // create, in one of the dialects
			nextUser++
			uid := fmt.Sprintf("u%05d", nextUser)
			u := User{ID: uid, UserName: uid + "@example.com", Active: true}
			switch rng.IntN(3) {
			case 0: // Entra
				u.ExternalID = strings.ToUpper(pid(nextUser))
			case 1: // Okta, object id in the extension
				u.ExternalID = "00u" + uid
				u.Attributes = map[string]string{objectIDAttr: pid(nextUser)}
			default: // Okta without an object id: unresolvable
				u.ExternalID = "00u" + uid
			}
			e.dir.putUser(u)
			users = append(users, uid)
			refs = append(refs, UserRef(uid))
		case x < 40: // join
			uid, gid := users[rng.IntN(len(users))], groupIDs[rng.IntN(len(groupIDs))]
			if _, err := e.dir.User(ctx, uid); err == nil {
				e.dir.setMember(gid, uid, true)
				refs = append(refs, UserRef(uid))
			}
		case x < 55: // leave
			uid, gid := users[rng.IntN(len(users))], groupIDs[rng.IntN(len(groupIDs))]
			e.dir.setMember(gid, uid, false)
			refs = append(refs, UserRef(uid))
		case x < 68: // deactivate / reactivate (Okta's replace active, Entra's Replace "False")
			uid := users[rng.IntN(len(users))]
			if u, err := e.dir.User(ctx, uid); err == nil {
				u.Active = !u.Active
				e.dir.putUser(u)
				refs = append(refs, UserRef(uid))
			}
		case x < 74: // delete (Entra; Okta never deletes)
			uid := users[rng.IntN(len(users))]
			e.dir.deleteUser(uid)
			refs = append(refs, UserRef(uid))
		case x < 80: // rename a group
			gid := groupIDs[rng.IntN(4)]
			g := e.dir.groups[gid]
			g.DisplayName = groupNames[rng.IntN(len(groupNames))]
			e.dir.putGroup(g)
			refs = append(refs, GroupRef(gid))
		case x < 82: // change the mapping: a restart with the other file
			mi = 1 - mi
			r = newRec()
			if _, err := r.Reconcile(ctx, nil); err != nil {
				t.Fatal(err)
			}
		case x < 88: // someone else grants access by hand
			f := []string{factoryA, factoryB, factoryC}[rng.IntN(3)]
			role := []string{roleDFC, roleRdr, roleOps, "b24988ac-6180-42a0-ab88-20f7382dd24c"}[rng.IntN(4)]
			name := fmt.Sprintf("f0000000-0000-4000-8000-%012d", ev)
			err := e.sim.Put(ctx, f, name, armauthorization.RoleAssignmentProperties{
				PrincipalID: to.Ptr(pid(50000 + ev)), RoleDefinitionID: to.Ptr(RoleDefinitionID(f, role)),
				PrincipalType: to.Ptr(armauthorization.PrincipalTypeUser), Description: to.Ptr("granted by hand")})
			if err != nil {
				t.Fatal(err)
			}
			foreignNames = append(foreignNames, name)
		default: // a quiet tick
		}
		if len(refs) > 0 {
			// The lead enqueues after every SCIM write; the worker drains.
			if err := r.Enqueue(ctx, refs...); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(10) == 0 {
			if _, err := r.Drain(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The fast path alone must have converged: drain what is left, check
	// ARM against the oracle, and the timer's reconcile then finds nothing
	// to change.
	for {
		rep, err := r.Drain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Failed > 0 {
			t.Fatalf("drain: %d failures", rep.Failed)
		}
		if rep.Items == 0 {
			break
		}
	}
	check(t, e, mappings[mi], foreignNames)
	rep, err := r.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Plan.Empty() || rep.Failed > 0 {
		t.Errorf("the timer's reconcile after the fast path still had %d creates, %d deletes (%d failed)",
			len(rep.Plan.Creates), len(rep.Plan.Deletes), rep.Failed)
	}
	wantKeys := check(t, e, mappings[mi], foreignNames)
	for _, f := range []string{"429", "500", "timeout", "lost"} {
		if e.faults.count(f) == 0 {
			t.Errorf("fault %s never injected", f)
		}
	}
	t.Logf("seed %d: %d events, %d users, %d expected assignments, %d foreign, faults %v, ARM calls %+v",
		seed, events, len(users), len(wantKeys), len(foreignNames), e.faults.injected, e.arm.Calls())
}

// check compares ARM with the oracle, computed from the model directly (not
// with Desired), and checks every foreign assignment is still there.
func check(t *testing.T, e *env, m *Mapping, foreignNames []string) []string {
	t.Helper()

	want := map[string]bool{}
	for _, b := range m.Bindings {
		for gid, g := range e.dir.groups {
			match := (b.GroupExternalID != "" && g.ExternalID == b.GroupExternalID) || (b.Group != "" && strings.EqualFold(b.Group, g.DisplayName))
			if !match {
				continue
			}
			for _, f := range b.Factories {
				if b.Mode == ModeGroup {
					if !IsGUID(g.ExternalID) {
						continue // reported as a problem, no assignment
					}
					want[f+"|"+strings.ToLower(g.ExternalID)+"|"+b.RoleID] = true
					continue
				}
				for uid := range e.dir.members[gid] {
					u := e.dir.users[uid]
					obj := ""
					if IsGUID(u.ExternalID) {
						obj = strings.ToLower(u.ExternalID)
					} else if v := u.Attributes[objectIDAttr]; v != "" {
						obj = v
					}
					if u.Active && obj != "" {
						want[f+"|"+obj+"|"+b.RoleID] = true
					}
				}
			}
		}
	}
	var wantKeys, gotKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	foreign := map[string]bool{}
	for _, a := range e.simAssignments(t) {
		if strings.HasPrefix(a.Name, "f0000000-") {
			foreign[a.Name] = true
			continue
		}
		if !a.Owned() {
			t.Errorf("unexpected assignment %+v", a)
		}
		gotKeys = append(gotKeys, a.Scope+"|"+a.PrincipalID+"|"+a.RoleID)
	}
	sort.Strings(wantKeys)
	sort.Strings(gotKeys)
	if !slices.Equal(wantKeys, gotKeys) {
		t.Errorf("ARM holds %d owned assignments, want %d\nmissing: %v\nextra: %v", len(gotKeys), len(wantKeys), diffKeys(wantKeys, gotKeys), diffKeys(gotKeys, wantKeys))
	}
	for _, n := range foreignNames {
		if !foreign[n] {
			t.Errorf("foreign assignment %s was deleted", n)
		}
	}
	if len(wantKeys) < 5 || len(foreignNames) == 0 {
		t.Errorf("the model exercised too little: %d expected assignments, %d foreign", len(wantKeys), len(foreignNames))
	}
	return wantKeys
}

func diffKeys(a, b []string) []string {
	in := map[string]bool{}
	for _, k := range b {
		in[k] = true
	}
	var out []string
	for _, k := range a {
		if !in[k] {
			out = append(out, k)
		}
	}
	if len(out) > 10 {
		out = append(out[:10], "…")
	}
	return out
}
