package armclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/adfscim/adfscim/internal/rbac"
)

// scheduleClients are the PIM clients (api-version 2020-10-01), made with the
// role assignments client's options.
type scheduleClients struct {
	eligReq   *armauthorization.RoleEligibilityScheduleRequestsClient
	asgReq    *armauthorization.RoleAssignmentScheduleRequestsClient
	eligSched *armauthorization.RoleEligibilitySchedulesClient
	asgSched  *armauthorization.RoleAssignmentSchedulesClient
}

// Justification is what every schedule request adfscim makes says; ARM
// keeps it on the request.
const Justification = "Granted by adfscim from SCIM group membership (" + rbac.Marker + ")"

// ListSchedules lists the eligibility and role assignment schedules made
// exactly at scope (see rbac.ScheduleAPI). An assigned schedule without an end is
// how PIM shows a standing role assignment: it is left to List.
func (a *Client) ListSchedules(ctx context.Context, scope, principal string) ([]rbac.Assignment, map[string]bool, error) {
	filter, err := listFilter(principal)
	if err != nil {
		return nil, nil, err
	}
	// Unlike the role assignments client, the schedule clients encode
	// $filter themselves.
	filter = strings.ReplaceAll(filter, "%20", " ")
	scope = rbac.NormScope(scope)
	covered := map[string]bool{}
	var out []rbac.Assignment
	byID := map[string]int{} // eligibility schedule id (lower case) -> index in out
	ep := a.sched.eligSched.NewListForScopePager(strings.TrimPrefix(scope, "/"), &armauthorization.RoleEligibilitySchedulesClientListForScopeOptions{Filter: to.Ptr(filter)})
	for ep.More() {
		a.calls.SchedulePages.Add(1)
		page, err := ep.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list eligibility schedules at %s: %w", scope, apiError(err))
		}
		for _, s := range page.Value {
			if s == nil || s.Properties == nil || !live(s.Properties.Status) {
				continue
			}
			p := s.Properties
			as := scheduled(rbac.GrantEligible, p.Scope, p.PrincipalID, p.PrincipalType, p.RoleDefinitionID, p.RoleEligibilityScheduleRequestID, p.StartDateTime, p.EndDateTime, s.ID)
			if as.Scope != scope {
				continue
			}
			byID[strings.ToLower(as.ScheduleID)] = len(out)
			out = append(out, as)
		}
	}
	var activations []*armauthorization.RoleAssignmentSchedule
	ap := a.sched.asgSched.NewListForScopePager(strings.TrimPrefix(scope, "/"), &armauthorization.RoleAssignmentSchedulesClientListForScopeOptions{Filter: to.Ptr(filter)})
	for ap.More() {
		a.calls.SchedulePages.Add(1)
		page, err := ap.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list role assignment schedules at %s: %w", scope, apiError(err))
		}
		for _, s := range page.Value {
			if s == nil || s.Properties == nil || !live(s.Properties.Status) {
				continue
			}
			p := s.Properties
			if rbac.NormScope(str(p.Scope)) != scope {
				continue
			}
			if p.AssignmentType != nil && *p.AssignmentType == armauthorization.AssignmentTypeActivated {
				activations = append(activations, s)
				covered[rbac.CoveredKey(scope, str(p.PrincipalID), rbac.RoleGUID(str(p.RoleDefinitionID)))] = true
				continue
			}
			if p.EndDateTime == nil || p.EndDateTime.IsZero() {
				continue // a standing assignment, as PIM shows it
			}
			as := scheduled(rbac.GrantTimeBound, p.Scope, p.PrincipalID, p.PrincipalType, p.RoleDefinitionID, p.RoleAssignmentScheduleRequestID, p.StartDateTime, p.EndDateTime, s.ID)
			covered[rbac.CoveredKey(as.Scope, as.PrincipalID, as.RoleID)] = true
			out = append(out, as)
		}
	}
	for _, s := range activations {
		p := s.Properties
		i, ok := byID[strings.ToLower(str(p.LinkedRoleEligibilityScheduleID))]
		if !ok {
			continue // activated from an eligibility elsewhere (above this scope)
		}
		act := &rbac.Activation{ScheduleID: str(s.ID)}
		if p.StartDateTime != nil {
			act.Start = p.StartDateTime.UTC()
		}
		if p.EndDateTime != nil {
			act.End = p.EndDateTime.UTC()
		}
		out[i].Activation = act
	}
	return out, covered, nil
}

// live reports whether a schedule's status is one that grants (or will).
func live(s *armauthorization.Status) bool {
	if s == nil {
		return true
	}
	switch *s {
	case armauthorization.StatusProvisioned, armauthorization.StatusAccepted, armauthorization.StatusGranted,
		armauthorization.StatusProvisioningStarted, armauthorization.StatusScheduleCreated:
		return true
	}
	return false
}

func scheduled(kind rbac.GrantKind, scope, principal *string, pt *armauthorization.PrincipalType, role, request *string, start, end *time.Time, id *string) rbac.Assignment {
	as := rbac.Assignment{Kind: kind, Scope: rbac.NormScope(str(scope)), PrincipalID: strings.ToLower(str(principal)), RoleID: rbac.RoleGUID(str(role)),
		Name: strings.ToLower(lastSegment(str(request))), ScheduleID: str(id)}
	if pt != nil {
		as.PrincipalType = rbac.PrincipalType(*pt)
	}
	if end != nil && !end.IsZero() {
		as.EndsAt = end.UTC().Truncate(time.Second)
	}
	if start != nil {
		as.Start = start.UTC().Truncate(time.Millisecond)
	}
	return as
}

func lastSegment(id string) string { return id[strings.LastIndex(id, "/")+1:] }

func listFilter(principal string) (string, error) {
	filter := "atScope()"
	if principal != "" {
		if !rbac.IsGUID(principal) {
			return "", fmt.Errorf("armclient: principal %q is not a GUID", principal)
		}
		filter = "principalId eq '" + strings.ToLower(principal) + "'"
	}
	// The SDK splices $filter into the query unencoded.
	return strings.ReplaceAll(filter, " ", "%20"), nil
}

// expiration is a schedule request's expiration for end.
func expiration(end time.Time) (*armauthorization.Type, *time.Time) {
	if end.IsZero() {
		return to.Ptr(armauthorization.TypeNoExpiration), nil
	}
	return to.Ptr(armauthorization.TypeAfterDateTime), to.Ptr(end.UTC())
}

func startOf(a rbac.Assignment) *time.Time {
	if a.Start.IsZero() {
		return nil
	}
	return to.Ptr(a.Start.UTC())
}

// scheduleErr turns ARM's answers that mean "already done" into success.
func scheduleErr(op rbac.Op, err error) error {
	var re *azcore.ResponseError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	switch {
	case op == rbac.OpCreate && re.ErrorCode == "RoleAssignmentExists":
		return nil
	case op == rbac.OpDelete && (re.StatusCode == http.StatusNotFound || re.ErrorCode == "RoleAssignmentDoesNotExist"):
		return nil
	}
	return err
}

// RequestSchedule submits the schedule request for op on a (see
// rbac.ScheduleAPI).
func (a *Client) RequestSchedule(ctx context.Context, op rbac.Op, as rbac.Assignment) error {
	scope := strings.TrimPrefix(rbac.NormScope(as.Scope), "/")
	role := to.Ptr(rbac.RoleDefinitionID(as.Scope, as.RoleID))
	pt := armauthorization.PrincipalType(as.PrincipalType)
	name, rt := as.Name, armauthorization.RequestTypeAdminAssign
	switch op {
	case rbac.OpCreate:
		a.calls.Creates.Add(1)
	case rbac.OpRenew:
		a.calls.Creates.Add(1)
		rt = armauthorization.RequestTypeAdminUpdate
	case rbac.OpDelete:
		a.calls.Deletes.Add(1)
		rt = armauthorization.RequestTypeAdminRemove
		name = rbac.RemoveRequestName(as.Kind, as.Scope, as.PrincipalID, as.RoleID, as.Name)
	default:
		return fmt.Errorf("armclient: unknown schedule operation %q", op)
	}
	switch as.Kind {
	case rbac.GrantEligible:
		if op == rbac.OpDelete && as.Activation != nil {
			// End the person's activation first: removing the eligibility
			// alone would leave it running until it expires.
			a.calls.Deletes.Add(1)
			_, err := a.sched.asgReq.Create(ctx, scope, rbac.RemoveRequestName(rbac.GrantTimeBound, as.Scope, as.PrincipalID, as.RoleID, as.Activation.ScheduleID),
				armauthorization.RoleAssignmentScheduleRequest{Properties: &armauthorization.RoleAssignmentScheduleRequestProperties{
					PrincipalID: to.Ptr(as.PrincipalID), RoleDefinitionID: role, RequestType: to.Ptr(armauthorization.RequestTypeAdminRemove),
					Justification: to.Ptr(Justification)}}, nil)
			if err = scheduleErr(rbac.OpDelete, err); err != nil {
				return fmt.Errorf("end activation of %s at %s: %w", as.PrincipalID, as.Scope, apiError(err))
			}
		}
		props := &armauthorization.RoleEligibilityScheduleRequestProperties{
			PrincipalID: to.Ptr(as.PrincipalID), RoleDefinitionID: role, RequestType: &rt, Justification: to.Ptr(Justification)}
		if op != rbac.OpDelete {
			props.PrincipalType = &pt
			t, end := expiration(as.EndsAt)
			props.ScheduleInfo = &armauthorization.RoleEligibilityScheduleRequestPropertiesScheduleInfo{StartDateTime: startOf(as),
				Expiration: &armauthorization.RoleEligibilityScheduleRequestPropertiesScheduleInfoExpiration{Type: t, EndDateTime: end}}
		}
		_, err := a.sched.eligReq.Create(ctx, scope, name, armauthorization.RoleEligibilityScheduleRequest{Properties: props}, nil)
		if err = scheduleErr(op, err); err != nil {
			return fmt.Errorf("%s eligibility of %s at %s: %w", op, as.PrincipalID, as.Scope, apiError(err))
		}
		return nil
	case rbac.GrantTimeBound:
		props := &armauthorization.RoleAssignmentScheduleRequestProperties{
			PrincipalID: to.Ptr(as.PrincipalID), RoleDefinitionID: role, RequestType: &rt, Justification: to.Ptr(Justification)}
		if op != rbac.OpDelete {
			props.PrincipalType = &pt
			t, end := expiration(as.EndsAt)
			props.ScheduleInfo = &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfo{StartDateTime: startOf(as),
				Expiration: &armauthorization.RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration{Type: t, EndDateTime: end}}
		}
		_, err := a.sched.asgReq.Create(ctx, scope, name, armauthorization.RoleAssignmentScheduleRequest{Properties: props}, nil)
		if err = scheduleErr(op, err); err != nil {
			return fmt.Errorf("%s time-bound assignment of %s at %s: %w", op, as.PrincipalID, as.Scope, apiError(err))
		}
		return nil
	}
	return fmt.Errorf("armclient: %q is not a schedule", as.Kind)
}

// CountAssignments counts the role assignments of subscription at every
// scope in it: one unfiltered list at the subscription's scope (it needs
// Microsoft.Authorization/roleAssignments/read there, which Reader has),
// its pages counted, the assignments inherited from above it left out.
func (a *Client) CountAssignments(ctx context.Context, subscription string) (int, error) {
	if !rbac.IsGUID(subscription) {
		return 0, fmt.Errorf("armclient: subscription %q is not a GUID", subscription)
	}
	sub := "/subscriptions/" + strings.ToLower(subscription)
	pager := a.client.NewListForScopePager(strings.TrimPrefix(sub, "/"), nil)
	n := 0
	for pager.More() {
		a.calls.CountPages.Add(1)
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("count role assignments of %s: %w", sub, apiError(err))
		}
		for _, ra := range page.Value {
			if ra == nil || ra.Properties == nil {
				continue
			}
			if s := rbac.NormScope(str(ra.Properties.Scope)); s == sub || strings.HasPrefix(s, sub+"/") {
				n++
			}
		}
	}
	return n, nil
}
