package main

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/adfscim/adfscim/internal/grantstest"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/store"
)

// TestDirectGrantsEndToEnd replays Okta's entitlement sequence and Entra's
// roles PATCHes in both dialects through the service serve builds, with
// the fast path applying each change to the simulated ARM over TLS: after every step
// the user holds exactly the roles granted (the test waits for the fast
// path, never for the timer). A timer's full reconcile then changes
// nothing, and the assignments someone else made, on the same factories
// and to the same user, are untouched throughout.
func TestDirectGrantsEndToEnd(t *testing.T) {
	for _, eng := range e2eEngines() {
		t.Run(eng.name, func(t *testing.T) {
			for _, file := range []string{"okta-entitlements.json", "entra-roles.json", "entra-roles-aadoptscim062020.json"} {
				t.Run(file, func(t *testing.T) {
					runGrantsE2E(t, eng.open(t), file)
				})
			}
		})
	}
}

func runGrantsE2E(t *testing.T, st store.Store, file string) {
	arm := newE2EARM(t, armsim.Options{})
	s := newE2EServer(t, st, arm, armLimits{retryDelay: 10 * time.Millisecond})
	s.start(grantstest.Mapping(), "grants", true)
	oid := uuid.NewString()
	other := uuid.NewString()
	reader, contributor := e2eRoleReader, e2eRoleContributor
	var foreign []armRA
	for i, f := range []struct{ factory, principal, role string }{{"adf-two", oid, contributor}, {"adf-one", other, reader}} {
		ra, ok := arm.addForeign(t, grantstest.Factory(f.factory), f.principal, "User", f.role, i+1)
		if !ok {
			t.Fatalf("ARM refused the foreign assignment on %s", f.factory)
		}
		foreign = append(foreign, ra)
	}
	// owned lists the pairs adfscim holds for principal (its own
	// assignments: deterministic name and marker).
	owned := func(principal string) []string {
		out := []string{}
		for _, a := range arm.all(t) {
			if !strings.EqualFold(a.PrincipalID, principal) || !strings.Contains(a.Description, e2eMarker) {
				continue
			}
			if p := grantstest.Pair(a.Scope, a.RoleDefinitionID); p != "" {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	held := func(t testing.TB, principal string, want []string) []string {
		var have []string
		arm.waitFor(t, context.Background(), "the roles granted", func() bool {
			have = owned(principal)
			return slices.Equal(have, want)
		})
		return have
	}
	do := func(method, path, body string) (int, []byte) {
		status, b, err := request(method, s.url+path, e2eToken, body)
		if err != nil {
			t.Fatal(err)
		}
		return status, b
	}
	grantstest.Run(t, grantstest.Load(t, "testdata/idp-grants/"+file), do, held, oid)
	if t.Failed() {
		return
	}

	// A second person holds a direct grant and belongs to no group: the
	// timer's full reconcile must find and keep it, and change nothing.
	var list struct{ Resources []struct{ ID string } }
	s.do("GET", "/Entitlements?filter="+url.QueryEscape(`displayName eq "adf-two: Reader"`), "", &list)
	third := uuid.NewString()
	s.do("POST", "/Users", `{"userName":"ola@contoso.com","externalId":"`+third+`","entitlements":[{"value":"`+list.Resources[0].ID+`"}]}`, nil)
	held(t, third, []string{"adf-two|reader"})
	arm.settle(t)
	_, writes, _ := arm.counts()
	logs := reconcileLines(s.timer())
	if _, after, _ := arm.counts(); after != writes {
		t.Errorf("the full reconcile wrote %d times: %v", after-writes, logs)
	}
	all := arm.all(t)
	if got := owned(third); !slices.Equal(got, []string{"adf-two|reader"}) {
		t.Errorf("after the full reconcile the grant holder holds %v", got)
	}
	for _, f := range foreign {
		if got, ok := all[strings.ToLower(f.ID)]; !ok || got != f {
			t.Errorf("foreign assignment %s changed: %+v", f.ID, got)
		}
	}
}
