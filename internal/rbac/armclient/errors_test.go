package armclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/rbac/armclient"
)

// refusing answers every request as ARM does a caller without the right:
// 403 AuthorizationFailed.
type refusing struct{}

func (refusing) Do(req *http.Request) (*http.Response, error) {
	b := `{"error":{"code":"AuthorizationFailed","message":"no write permission at this scope"}}`
	return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(b)), ContentLength: int64(len(b))}, nil
}

// unreachable fails every request before ARM answers.
type unreachable struct{}

var errDial = errors.New("dial tcp: connection refused")

func (unreachable) Do(*http.Request) (*http.Response, error) { return nil, errDial }

// TestFailuresAreAPIErrors: every call hands ARM's answer back as an
// rbac.APIError with the status and ARM's code, so the reconciler records
// them without knowing the SDK; a failure before any answer is not one.
func TestFailuresAreAPIErrors(t *testing.T) {
	const (
		sub   = "11111111-2222-3333-4444-555555555555"
		scope = "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.DataFactory/factories/f"
		pid   = "00000000-0000-0000-0000-000000000001"
		role  = "673868aa-7521-48a0-acc6-0f60742d39f5"
	)
	as := rbac.Assignment{Scope: scope, PrincipalID: pid, PrincipalType: rbac.PrincipalUser, RoleID: role,
		Name: rbac.AssignmentName(scope, pid, role)}
	eligible := as
	eligible.Kind = rbac.GrantEligible
	calls := []struct {
		name string
		do   func(ctx context.Context, c *armclient.Client) error
	}{
		{"list", func(ctx context.Context, c *armclient.Client) error { _, err := c.List(ctx, scope, ""); return err }},
		{"create", func(ctx context.Context, c *armclient.Client) error { return c.Create(ctx, as) }},
		{"delete", func(ctx context.Context, c *armclient.Client) error { return c.Delete(ctx, as) }},
		{"list schedules", func(ctx context.Context, c *armclient.Client) error {
			_, _, err := c.ListSchedules(ctx, scope, pid)
			return err
		}},
		{"request schedule", func(ctx context.Context, c *armclient.Client) error {
			return c.RequestSchedule(ctx, rbac.OpCreate, eligible)
		}},
		{"count", func(ctx context.Context, c *armclient.Client) error {
			_, err := c.CountAssignments(ctx, sub)
			return err
		}},
	}
	refused, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: refusing{}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	offline, err := armclient.New(armclient.Options{Credential: &azfake.TokenCredential{}, Transport: unreachable{}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			err := c.do(ctx, refused)
			var ae *rbac.APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "AuthorizationFailed" {
				t.Fatalf("err = %v (%#v), want an rbac.APIError with 403 AuthorizationFailed", err, ae)
			}
			if err := c.do(ctx, offline); !errors.Is(err, errDial) || errors.As(err, &ae) {
				t.Errorf("unreachable ARM: err = %v, want the transport's error and no rbac.APIError", err)
			}
		})
	}
}
