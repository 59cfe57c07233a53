package rbac

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
)

func TestARMIdempotentWrites(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 1)
	a := desiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "u1")
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
		PrincipalID: to.Ptr(pid(2)), RoleDefinitionID: to.Ptr(roleDefinitionResourceID(factoryB, roleDFC))}); err != nil {
		t.Fatal(err)
	}
	if err := e.arm.Create(ctx, desiredAssignment(factoryB, pid(2), PrincipalUser, roleDFC, "u2")); err != nil {
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
		if err := e.arm.Create(ctx, desiredAssignment(factoryA, pid(i), PrincipalUser, roleDFC, "")); err != nil {
			t.Fatal(err)
		}
	}
	// Inherited from the subscription: not at the factory's scope.
	if err := e.sim.Put(ctx, "/subscriptions/"+sub, "deadbeef-0000-4000-8000-000000000002", armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(pid(500)), RoleDefinitionID: to.Ptr(roleDefinitionResourceID(factoryA, roleDFC))}); err != nil {
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
			a := desiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "u1")
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
	if err := e.arm.Create(context.Background(), desiredAssignment(factoryA, pid(1), PrincipalUser, roleDFC, "")); err != nil {
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

func TestWriteLimiterBucket(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newWriteLimiter(10, 3)
	steps := []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 0}, {0, 0}, {0, 0}, // the burst
		{0, 100 * time.Millisecond}, // then 10/s
		{0, 200 * time.Millisecond},
		{time.Second, 0}, // refilled (tokens were -2, +10, capped at 3)
		{time.Second, 0},
		{time.Second, 0},
		{time.Second, 100 * time.Millisecond},
	}
	for i, s := range steps {
		if got := l.reserve("sub", t0.Add(s.at)); (got - s.want).Abs() > time.Millisecond {
			t.Errorf("step %d: wait %v, want %v", i, got, s.want)
		}
	}
	// Sustained: 100 writes from an empty bucket take 10 s of waits at 10/s.
	l = newWriteLimiter(10, 1)
	var last time.Duration
	for i := 0; i < 101; i++ {
		last = l.reserve("sub", t0)
	}
	if (last - 10*time.Second).Abs() > time.Millisecond {
		t.Errorf("101st write waits %v, want 10s", last)
	}
}
