package rbac_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/rs/zerolog"

	. "github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

// TestBudgetStopsAtTheLine: a subscription already holding 4,490 role
// assignments (someone else's, on another factory) and a mapping that would
// add 100 gets 10 (up to 4,500, 90 % of Azure's 5,000) and no more; the plan
// says so, the report's run tells OnApplied (the audit trail), and the log
// has an error.
func TestBudgetStopsAtTheLine(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	sim, arm := tlsSim(t, st, nil, nil, 1000)
	other := "/subscriptions/" + sub + "/resourceGroups/rg-other/providers/Microsoft.DataFactory/factories/adf-z"
	for i := 0; i < 4490; i++ {
		if err := sim.Put(ctx, other, fmt.Sprintf("e0000000-0000-4000-8000-%012d", i), armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(pid(90000 + i)), RoleDefinitionID: to.Ptr(RoleDefinitionID(other, roleRdr))}); err != nil {
			t.Fatal(err)
		}
	}
	d := newDir()
	d.putGroup(Group{ID: "g1", DisplayName: "Analysts"})
	for i := 1; i <= 100; i++ {
		uid := fmt.Sprintf("u%03d", i)
		d.putUser(User{ID: uid, UserName: uid, ExternalID: pid(i), Active: true})
		d.setMember("g1", uid, true)
	}
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	var applied []Report
	r, err := New(Options{Mapping: mustMapping(t, `{"bindings":[{"group":"Analysts","role":"Reader","factories":["`+factoryA+`"]}]}`),
		Directory: d, ARM: arm, Store: st, Logger: &log, OnApplied: func(_ context.Context, rep Report) { applied = append(applied, rep) }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := BudgetLine{Subscription: sub, Line: 4500, Existing: 4490, Planned: 10, Held: 90}
	if len(p.Creates) != 10 || len(p.Held) != 90 || len(p.Budget) != 1 || p.Budget[0] != want {
		t.Fatalf("plan: %d creates, %d held, budget %+v; want 10, 90, %+v", len(p.Creates), len(p.Held), p.Budget, want)
	}
	rep, err := r.Reconcile(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 10 || len(rep.Plan.Held) != 90 {
		t.Errorf("reconcile created %d, held %d; want 10 and 90", rep.Created, len(rep.Plan.Held))
	}
	all, err := sim.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4500 {
		t.Errorf("ARM holds %d assignments, want 4500", len(all))
	}
	if len(applied) == 0 || !applied[len(applied)-1].Plan.OverBudget() {
		t.Errorf("the run that held creates was not reported for the audit trail")
	}
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "budget reached") || !strings.Contains(logs.String(), `"held":90`) {
		t.Errorf("no error logged: %s", logs.String())
	}
	// The next run finds the subscription at the line and creates nothing.
	rep, err = r.Reconcile(ctx, nil)
	if err != nil || rep.Created != 0 || len(rep.Plan.Held) != 90 {
		t.Errorf("second run: created %d, held %d, err %v", rep.Created, len(rep.Plan.Held), err)
	}
}
