package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/adfscim/adfscim/handlers"
	"github.com/adfscim/adfscim/internal/audit"
	"github.com/adfscim/adfscim/internal/directory"
	"github.com/adfscim/adfscim/internal/rbac"
	"github.com/adfscim/adfscim/internal/report"
	"github.com/adfscim/adfscim/internal/store/enginetest"
)

const reportMapping = `{
  "factories": {"prod": "/subscriptions/3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-prod"},
  "bindings": [{"group": "ADF Readers", "role": "Reader", "factories": ["prod"]}]
}`

// reportServer is a server with the access report wired as main.go wires
// it, holding one user granted Reader on adf-prod through "ADF Readers".
func reportServer(t *testing.T) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	st := enginetest.Open(t)
	dir := directory.New(st, directory.Options{})
	trail := audit.New(st, audit.Options{})
	mapping, err := rbac.ParseMapping([]byte(reportMapping))
	if err != nil {
		t.Fatal(err)
	}
	arm, _, err := rbac.NewLocalARM(st, rbac.ARMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rbac.New(rbac.Options{Mapping: mapping, Directory: rbac.FromDirectory(dir), ARM: arm, Store: st,
		OnApplied: func(ctx context.Context, rep rbac.Report) {
			// The rbac.assign records main.go writes, which date each grant.
			for _, res := range rep.Results {
				a := res.Assignment
				err := trail.Append(ctx, audit.Record{Actor: "reconciler", Action: audit.ActionRBACAssign,
					Target: audit.Target{Type: "RoleAssignment", ID: a.Scope + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name},
					Changes: []audit.Change{{Op: "set", Path: "scope", Value: a.Scope}, {Op: "set", Path: "principalId", Value: a.PrincipalID},
						{Op: "set", Path: "roleDefinitionId", Value: a.RoleID}, {Op: "set", Path: "scimSubject", Value: a.Subject}},
					Outcome: audit.Outcome{Success: res.Error == ""}})
				if err != nil {
					t.Error(err)
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := report.New(report.Options{
		Mapping: mapping, Directory: rbac.FromDirectory(dir), Resolver: rbac.Resolver{}, ARM: rec, Audit: trail,
		Verify: func(ctx context.Context) (audit.Result, error) {
			return audit.Verify(ctx, st, time.Time{}, time.Time{})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handlers.New(handlers.Options{
		Directory: dir, Auth: tokenAuth{}, Audit: trail, AuditQuery: trail, RBAC: rec, Report: b,
		Logger: zerolog.New(io.Discard),
	}))
	t.Cleanup(srv.Close)

	post := func(path, body string) string {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", path, res.StatusCode, err)
		}
		return m["id"].(string)
	}
	uid := post("/scim/v2/Users", `{"userName":"grace@contoso.com","externalId":"96ace000-0000-4000-8000-000000000007","active":true}`)
	post("/scim/v2/Groups", `{"displayName":"ADF Readers","members":[{"value":"`+uid+`"}]}`)
	if _, err := rec.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	return srv
}

func getReport(t *testing.T, srv *httptest.Server, method, query, token string, headers ...string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/ops/v1/report"+query, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: body}
}

// TestReportRoute: GET /ops/v1/report needs ops.read and answers the report
// in each format with its content type.
func TestReportRoute(t *testing.T) {
	srv := reportServer(t)

	t.Run("scopes", func(t *testing.T) {
		wantError(t, getReport(t, srv, "GET", "", ""), http.StatusUnauthorized, "")
		wantError(t, getReport(t, srv, "GET", "", testToken), http.StatusForbidden, "") // scim.read and scim.write only
		wantError(t, getReport(t, srv, "GET", "?format=html", readToken), http.StatusForbidden, "")
		if r := getReport(t, srv, "GET", "", noScopeToken); r.status != http.StatusOK {
			t.Errorf("with ops.read: %d %s", r.status, r.body)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		wantError(t, getReport(t, srv, "GET", "?format=pdf", noScopeToken), http.StatusBadRequest, "invalidValue")
		if r := getReport(t, srv, "POST", "", noScopeToken); r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", r.status)
		}
	})

	formats := []struct {
		query, accept, contentType string
		check                      func(t *testing.T, r resp)
	}{
		{"", "", "application/json", func(t *testing.T, r resp) {
			var rep report.Report
			if err := json.Unmarshal(r.body, &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Access) != 1 || rep.Access[0].UserName != "grace@contoso.com" || rep.Access[0].Role != "Reader" ||
				rep.Access[0].Factory != "adf-prod" || rep.Access[0].Status != report.StatusGranted || rep.Access[0].Since == nil {
				t.Errorf("access = %+v, want grace's Reader on adf-prod since its rbac.assign", rep.Access)
			}
			if !rep.Trail.OK {
				t.Errorf("trail = %+v, want verified", rep.Trail)
			}
		}},
		{"?format=json", "", "application/json", nil},
		{"", "text/csv", "text/csv", nil},
		{"", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "text/html", nil},
		{"?format=json", "text/html", "application/json", nil},
		{"?format=csv", "", "text/csv", func(t *testing.T, r resp) {
			rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || rows[0][0] != "status" || rows[1][1] != "grace@contoso.com" || rows[1][5] != "ADF Readers" || rows[1][6] != "Reader" {
				t.Errorf("csv = %q, want a header and grace's row", rows)
			}
			if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".csv") {
				t.Errorf("Content-Disposition = %q", cd)
			}
		}},
		{"?format=html", "", "text/html", func(t *testing.T, r resp) {
			body := string(r.body)
			for _, want := range []string{"<!doctype html>", `id="q"`, "grace@contoso.com", "ADF Readers", "verified: "} {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if csp := r.header.Get("Content-Security-Policy"); csp != report.ContentSecurityPolicy || !strings.HasPrefix(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy = %q", csp)
			}
			for _, external := range []string{"http://", "https://", "//cdn", "src=\""} {
				if strings.Contains(body, external) {
					t.Errorf("the page refers to something outside it: %q", external)
				}
			}
		}},
	}
	for _, f := range formats {
		t.Run("format"+f.query+" accept "+f.accept, func(t *testing.T) {
			r := getReport(t, srv, "GET", f.query, noScopeToken, "Accept", f.accept)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, f.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, f.contentType)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if f.check != nil {
				f.check(t, r)
			}
		})
	}
}
