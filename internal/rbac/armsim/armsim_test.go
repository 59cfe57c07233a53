package armsim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/adfscim/adfscim/internal/rbac/internal/memstore"
)

const (
	scope = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf"
	role  = "/subscriptions/11111111-2222-3333-4444-555555555555/providers/Microsoft.Authorization/roleDefinitions/673868aa-7521-48a0-acc6-0f60742d39f5"
	p1    = "00000000-0000-0000-0000-000000000001"
	n1    = "10000000-0000-4000-8000-000000000001"
	n2    = "10000000-0000-4000-8000-000000000002"
)

func client(t *testing.T, s *Sim) *armauthorization.RoleAssignmentsClient {
	t.Helper()
	c, err := armauthorization.NewRoleAssignmentsClient("", &azfake.TokenCredential{}, &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{Transport: s.Transport()}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func params() armauthorization.RoleAssignmentCreateParameters {
	return armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(p1), RoleDefinitionID: to.Ptr(role), PrincipalType: to.Ptr(armauthorization.PrincipalTypeUser)}}
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func TestSimulatorRules(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	c := client(t, New(Options{Store: st}))
	if _, err := c.Create(ctx, scope[1:], n1, params(), nil); err != nil {
		t.Fatal(err)
	}
	// Same principal and role under another name: 409 RoleAssignmentExists.
	_, err := c.Create(ctx, scope[1:], n2, params(), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusConflict || re.ErrorCode != "RoleAssignmentExists" {
		t.Fatalf("duplicate create: %v", err)
	}
	// Persisted in the store: a new simulator on the same store sees it.
	c2 := client(t, New(Options{Store: st}))
	got, err := c2.Get(ctx, scope[1:], n1, nil)
	if err != nil || *got.Properties.PrincipalID != p1 || *got.Properties.Scope != scope {
		t.Fatalf("get after restart: %+v, %v", got, err)
	}
	pager := c2.NewListForScopePager(scope[1:], &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("bogus")})
	if _, err := pager.NextPage(ctx); statusOf(err) != http.StatusBadRequest {
		t.Errorf("unknown filter: %v, want 400", err)
	}
	if _, err := c2.Delete(ctx, scope[1:], n1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Delete(ctx, scope[1:], n1, nil); err != nil {
		t.Fatalf("deleting a missing assignment must be 204: %v", err)
	}
	if _, err := c2.Get(ctx, scope[1:], n1, nil); statusOf(err) != http.StatusNotFound {
		t.Fatalf("get after delete: %v", err)
	}
	// The uniqueness row went with it: the same grant can be made again.
	if _, err := c2.Create(ctx, scope[1:], n2, params(), nil); err != nil {
		t.Fatal(err)
	}
}

// Lists of the same scope at once, paged, each get their own pages (the SDK
// fake alone keeps one pager per URL path, which they would share).
func TestConcurrentPagedListsOfOneScope(t *testing.T) {
	ctx := context.Background()
	c := client(t, New(Options{Store: memstore.New(), PageSize: 2}))
	principals := []string{p1, "00000000-0000-0000-0000-000000000002"}
	for pi, p := range principals {
		for i := 0; i < 5; i++ {
			ps := params()
			ps.Properties.PrincipalID = to.Ptr(p)
			ps.Properties.RoleDefinitionID = to.Ptr(fmt.Sprintf("%s%012d", role[:len(role)-12], i))
			if _, err := c.Create(ctx, scope[1:], fmt.Sprintf("10000000-0000-4000-8000-%06d%06d", pi, i), ps, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		p := principals[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			filter := "principalId%20eq%20'" + p + "'"
			pager := c.NewListForScopePager(scope[1:], &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: &filter})
			n, pages := 0, 0
			for pager.More() {
				page, err := pager.NextPage(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				pages++
				for _, ra := range page.Value {
					if *ra.Properties.PrincipalID != p {
						t.Errorf("list of %s got an assignment of %s", p, *ra.Properties.PrincipalID)
					}
					n++
				}
			}
			if n != 5 || pages != 3 {
				t.Errorf("list of %s: %d assignments in %d pages, want 5 in 3", p, n, pages)
			}
		}()
	}
	wg.Wait()
}
