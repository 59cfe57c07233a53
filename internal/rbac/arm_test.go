package rbac_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
	"github.com/adfscim/adfscim/internal/rbac/armsim"
	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

func TestARMIdempotentWrites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	a := DesiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "u1")
	for i := 0; i < 2; i++ {
		if err := e.arm.Create(ctx, a); err != nil {
			t.Fatalf("create #%d: %v", i+1, err)
		}
	}
	got := e.simAssignments(t)
	if len(got) != 1 || got[0].Name != a.Name || got[0].PrincipalType != PrincipalUser || !got[0].Owned() {
		t.Fatalf("ARM holds %+v, want exactly the one owned assignment", got)
	}
	// Someone else already granted the same access under another name: 409
	// RoleAssignmentExists, counted as success, and theirs stays.
	if err := e.sim.Put(ctx, factoryB, "deadbeef-0000-4000-8000-000000000001", armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(pid(2)), RoleDefinitionID: to.Ptr(RoleDefinitionID(factoryB, roleDFC))}); err != nil {
		t.Fatal(err)
	}
	if err := e.arm.Create(ctx, DesiredAssignment(factoryB, pid(2), PrincipalUser, roleDFC, "u2")); err != nil {
		t.Fatalf("create over a foreign identical assignment: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := e.arm.Delete(ctx, a); err != nil {
			t.Fatalf("delete #%d: %v", i+1, err)
		}
	}
	if got := e.simAssignments(t); len(got) != 1 || got[0].Owned() {
		t.Fatalf("after deletes ARM holds %+v, want only the foreign one", got)
	}
}

func TestARMListPagesAndScope(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1) // page size 50
	for i := 0; i < 120; i++ {
		if err := e.arm.Create(ctx, DesiredAssignment(factoryA, pid(i), PrincipalUser, roleDFC, "")); err != nil {
			t.Fatal(err)
		}
	}
	// Inherited from the subscription: not at the factory's scope.
	if err := e.sim.Put(ctx, "/subscriptions/"+sub, "deadbeef-0000-4000-8000-000000000002", armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(pid(500)), RoleDefinitionID: to.Ptr(RoleDefinitionID(factoryA, roleDFC))}); err != nil {
		t.Fatal(err)
	}
	before := e.arm.Calls().ListPages
	got, err := e.arm.List(ctx, factoryA, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 {
		t.Errorf("listed %d assignments at the factory, want 120 (inherited ones excluded)", len(got))
	}
	if pages := e.arm.Calls().ListPages - before; pages != 3 {
		t.Errorf("list took %d pages, want 3 (121 rows at 50 a page)", pages)
	}
	one, err := e.arm.List(ctx, factoryA, strings.ToUpper(pid(7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].PrincipalID != pid(7) {
		t.Errorf("principal filter listed %+v", one)
	}
}

func TestARMRetriesFaults(t *testing.T) {
	tests := []struct {
		name   string
		script []string // faults of the first requests
	}{
		{"429 with Retry-After", []string{"429"}},
		{"500 twice", []string{"500", "500"}},
		{"timeout", []string{"timeout"}},
		{"lost response: applied, client retries into 409", []string{"lost"}},
		{"everything", []string{"429", "500", "timeout", "lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 1)
			e.faults.Script = func(n int, _ *http.Request) string {
				if n < len(tt.script) {
					return tt.script[n]
				}
				return ""
			}
			a := DesiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "u1")
			if err := e.arm.Create(ctx, a); err != nil {
				t.Fatalf("create: %v", err)
			}
			if got := e.simAssignments(t); len(got) != 1 || got[0].Name != a.Name {
				t.Fatalf("ARM holds %+v", got)
			}
			e.faults.Script = func(n int, _ *http.Request) string {
				if k := n - e.faults.n0; k >= 0 && k < len(tt.script) {
					return tt.script[k]
				}
				return ""
			}
			e.faults.n0 = e.faults.n
			if err := e.arm.Delete(ctx, a); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if got := e.simAssignments(t); len(got) != 0 {
				t.Fatalf("after delete ARM holds %+v", got)
			}
			for _, f := range tt.script {
				if e.faults.count(f) == 0 {
					t.Errorf("fault %s was never injected", f)
				}
			}
		})
	}
}

func TestARMHonoursRetryAfter(t *testing.T) {
	e := newEnv(t, 1)
	e.faults.Script = func(n int, _ *http.Request) string {
		if n == 0 {
			return "429"
		}
		return ""
	}
	if err := e.arm.Create(context.Background(), DesiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "")); err != nil {
		t.Fatal(err)
	}
	log := e.faults.log
	if len(log) != 2 || log[0].fault != "429" {
		t.Fatalf("requests = %+v, want a 429 then the retry", log)
	}
	// A lower bound only: the retry may come late on a busy machine, never early.
	if gap := log[1].at.Sub(log[0].at); gap < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
}

// Through the client: with a budget of one write per 1,000 s, a write to a
// factory in another subscription does not wait for the first's bucket.
func TestARMWriteBudgetPerSubscription(t *testing.T) {
	sim := armsim.New(armsim.Options{Store: memstore.New()})
	a, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: sim.Transport(), WritesPerSecond: 0.001, WriteBurst: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a deadlock guard, not a measurement
	defer cancel()
	for _, scope := range []string{
		"/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.DataFactory/factories/one",
		"/subscriptions/66666666-7777-4888-9999-000000000000/resourceGroups/rg/providers/Microsoft.DataFactory/factories/two",
	} {
		if err := a.Create(ctx, DesiredAssignment(scope, pid(1), PrincipalUser, roleDFC, "u1")); err != nil {
			t.Fatalf("create at %s: %v", scope, err)
		}
	}
}
