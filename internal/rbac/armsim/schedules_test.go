package armsim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

// TestSchedules drives the PIM schedule APIs through the SDK's own clients:
// an eligibility and a time-bound assignment are made, a second grant is
// refused, an update moves the end, the time-bound one holds a role
// assignment that role assignment lists show, an activation holds one
// until an admin removes it, schedules expire with their role assignment,
// and a retried request answers the same.
func TestSchedules(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	s := New(Options{Store: memstore.New(), Now: func() time.Time { return now }})
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: s.Transport()}}
	cred := &azfake.TokenCredential{}
	eligReq, _ := armauthorization.NewRoleEligibilityScheduleRequestsClient(cred, opts)
	asgReq, _ := armauthorization.NewRoleAssignmentScheduleRequestsClient(cred, opts)
	eligSched, _ := armauthorization.NewRoleEligibilitySchedulesClient(cred, opts)
	asgSched, _ := armauthorization.NewRoleAssignmentSchedulesClient(cred, opts)
	sc := strings.TrimPrefix(scope, "/")
	end := now.Add(48 * time.Hour)
	eligible := func(name string, rt armauthorization.RequestType, end time.Time) error {
		_, err := eligReq.Create(ctx, sc, name, armauthorization.RoleEligibilityScheduleRequest{Properties: &armauthorization.RoleEligibilityScheduleRequestProperties{
			PrincipalID: to.Ptr(p1), RoleDefinitionID: to.Ptr(role), RequestType: to.Ptr(rt),
			ScheduleInfo: &armauthorization.RoleEligibilityScheduleRequestPropertiesScheduleInfo{Expiration: &armauthorization.RoleEligibilityScheduleRequestPropertiesScheduleInfoExpiration{
				Type: to.Ptr(armauthorization.TypeAfterDateTime), EndDateTime: to.Ptr(end)}}}}, nil)
		return err
	}
	code := func(err error) string {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return re.ErrorCode
		}
		if err != nil {
			return err.Error()
		}
		return ""
	}
	if err := eligible(n1, armauthorization.RequestTypeAdminAssign, end); err != nil {
		t.Fatal(err)
	}
	if err := eligible(n1, armauthorization.RequestTypeAdminAssign, end); err != nil {
		t.Errorf("a retried request: %v, want the same answer", err)
	}
	if c := code(eligible(n2, armauthorization.RequestTypeAdminAssign, end)); c != "RoleAssignmentExists" {
		t.Errorf("second eligibility: %q, want RoleAssignmentExists", c)
	}
	if err := eligible("10000000-0000-4000-8000-000000000003", armauthorization.RequestTypeAdminUpdate, end.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	page, err := eligSched.NewListForScopePager(sc, &armauthorization.RoleEligibilitySchedulesClientListForScopeOptions{Filter: to.Ptr("atScope()")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 || !page.Value[0].Properties.EndDateTime.Equal(end.Add(24*time.Hour)) ||
		!strings.HasSuffix(*page.Value[0].Properties.RoleEligibilityScheduleRequestID, "10000000-0000-4000-8000-000000000003") {
		t.Fatalf("eligibility schedules %+v, %v", page.Value, err)
	}
	// The person activates for 2 hours: an activated schedule holding a
	// role assignment.
	if err := s.Activate(ctx, scope, p1, role, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	c := client(t, s)
	count := func() int {
		t.Helper()
		ras, err := c.NewListForScopePager(sc, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("atScope()")}).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(ras.Value)
	}
	if n := count(); n != 1 {
		t.Errorf("%d role assignments during the activation, want 1", n)
	}
	ap, err := asgSched.NewListForScopePager(sc, nil).NextPage(ctx)
	if err != nil || len(ap.Value) != 1 || *ap.Value[0].Properties.AssignmentType != armauthorization.AssignmentTypeActivated ||
		!strings.EqualFold(*ap.Value[0].Properties.LinkedRoleEligibilityScheduleID, *page.Value[0].ID) {
		t.Fatalf("activation %+v, %v", ap.Value, err)
	}
	// An admin removes the activation.
	_, err = asgReq.Create(ctx, sc, "20000000-0000-4000-8000-000000000001", armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID: to.Ptr(p1), RoleDefinitionID: to.Ptr(role), RequestType: to.Ptr(armauthorization.RequestTypeAdminRemove)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d role assignments after the activation's removal, want 0", n)
	}
	// A time-bound assignment for another role, then its expiry.
	other := strings.Replace(role, "673868aa-7521-48a0-acc6-0f60742d39f5", "acdd72a7-3385-48ef-bd42-f606fba81ae7", 1)
	_, err = asgReq.Create(ctx, sc, "20000000-0000-4000-8000-000000000002", armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID: to.Ptr(p1), RoleDefinitionID: to.Ptr(other), RequestType: to.Ptr(armauthorization.RequestTypeAdminAssign),
		ScheduleInfo: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{
			Type: to.Ptr(armauthorization.TypeAfterDuration), Duration: to.Ptr("PT8H")}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d role assignments with the time-bound one, want 1", n)
	}
	sub, err := c.NewListForScopePager("subscriptions/11111111-2222-3333-4444-555555555555", nil).NextPage(ctx)
	if err != nil || len(sub.Value) != 1 {
		t.Errorf("the unfiltered list at the subscription: %d assignments, %v; want the one below it", len(sub.Value), err)
	}
	now = now.Add(9 * time.Hour)
	if n := count(); n != 0 {
		t.Errorf("%d role assignments after the time-bound one expired, want 0", n)
	}
	// Removing a missing schedule is refused as ARM does.
	_, err = asgReq.Create(ctx, sc, "20000000-0000-4000-8000-000000000003", armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
		PrincipalID: to.Ptr(p1), RoleDefinitionID: to.Ptr(other), RequestType: to.Ptr(armauthorization.RequestTypeAdminRemove)}}, nil)
	if c := code(err); c != "RoleAssignmentDoesNotExist" {
		t.Errorf("removal of a missing schedule: %q", c)
	}
}

// TestFaults: with faults on, requests fail with 429 (and the Retry-After
// asked for), 500 and lost answers, whose requests were carried out.
func TestFaults(t *testing.T) {
	f := &Faults{P429: 0.2, P500: 0.2, PLost: 0.2, RetryAfterHeader: "Retry-After", RetryAfterValue: "0", Seed: 3}
	s := New(Options{Store: memstore.New(), Faults: f})
	tr := s.Transport()
	statuses := map[int]int{}
	lost := 0
	for i := 0; i < 200; i++ {
		req, _ := http.NewRequest(http.MethodGet, "https://management.azure.com"+scope+"/providers/Microsoft.Authorization/roleEligibilitySchedules?api-version=2020-10-01", nil)
		resp, err := tr.Do(req)
		if errors.Is(err, ErrLost) {
			lost++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "0" {
			t.Errorf("429 without its Retry-After")
		}
		resp.Body.Close()
	}
	if statuses[429] != f.Count("429") || statuses[500] != f.Count("500") || lost != f.Count("lost") || lost == 0 || statuses[200] == 0 {
		t.Errorf("statuses %v, lost %d; injected 429:%d 500:%d lost:%d", statuses, lost, f.Count("429"), f.Count("500"), f.Count("lost"))
	}
}
