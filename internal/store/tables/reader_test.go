package tables_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/adfscim/adfscim/internal/store"
	"github.com/adfscim/adfscim/internal/store/azuritetest"
	"github.com/adfscim/adfscim/internal/store/tables"
)

// readerPolicy answers every table creation as Azure answers an identity
// that holds only Storage Table Data Reader; other requests pass.
type readerPolicy struct{}

func (readerPolicy) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Tables") {
		body := `{"odata.error":{"code":"AuthorizationPermissionMismatch","message":{"lang":"en-US","value":"This request is not authorized to perform this operation using this permission."}}}`
		return &http.Response{
			StatusCode: http.StatusForbidden,
			Status:     "403 Forbidden",
			Header:     http.Header{"Content-Type": {"application/json"}, "X-Ms-Error-Code": {"AuthorizationPermissionMismatch"}},
			Body:       io.NopCloser(strings.NewReader(body)),
			Request:    r,
		}, nil
	}
	return req.Next()
}

// A data reader (plan, report, export, audit verify) opens a store whose
// tables exist although it may not create them, and reads it; where a table
// is missing, the error says which and what role creates it.
func TestOpenAsDataReader(t *testing.T) {
	ctx := context.Background()
	var prefix string
	writer := newStore(t, func(o *tables.Options) { o.Tables = []string{"scim", "audit"}; prefix = o.TablePrefix })
	mustBatch(t, writer, "scim", store.Op{Kind: store.Insert, Entity: ent("p", "a", "A")})

	reader, err := tables.Open(ctx, tables.Options{
		ConnectionString: azuritetest.Shared(t), TablePrefix: prefix, Tables: []string{"scim", "audit"},
		PerCallPolicies: []policy.Policy{readerPolicy{}},
	})
	if err != nil {
		t.Fatalf("a reader could not open a store whose tables exist: %v", err)
	}
	defer reader.Close()
	if e, err := reader.Get(ctx, "scim", "p", "a"); err != nil || string(e.Data) != "A" {
		t.Fatalf("reader Get = %q, %v", e.Data, err)
	}

	_, err = tables.Open(ctx, tables.Options{
		ConnectionString: azuritetest.Shared(t), TablePrefix: prefix, Tables: []string{"scim", "tokens"},
		PerCallPolicies: []policy.Policy{readerPolicy{}},
	})
	if err == nil || !strings.Contains(err.Error(), prefix+"tokens does not exist") || !strings.Contains(err.Error(), "Storage Table Data Contributor") {
		t.Fatalf("reader opening a missing table: got %v, want an error naming the table and the role", err)
	}
}
