package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/report"
)

const reportMapping = `{
  "factories": {"prod": "/subscriptions/3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf-prod"},
  "bindings": [{"group": "ADF Readers", "role": "Reader", "factories": ["prod"]}]
}`

// reportServer is the service configured with reportMapping, holding one
// user granted Reader on adf-prod through "ADF Readers" by a full reconcile
// (whose rbac.assign record dates the grant).
func reportServer(t *testing.T) *env {
	t.Helper()
	e := newEnvWith(t, envOptions{mapping: reportMapping})
	post := func(path, body string) string {
		r := e.do("POST", path, body)
		if r.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
		return r.json(t)["id"].(string)
	}
	uid := post("/scim/v2/Users", `{"userName":"grace@contoso.com","externalId":"96ace000-0000-4000-8000-000000000007","active":true}`)
	post("/scim/v2/Groups", `{"displayName":"ADF Readers","members":[{"value":"`+uid+`"}]}`)
	if _, err := e.app.Reconcile(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// getReport asks for the report as client (none: no Authorization).
func getReport(t *testing.T, e *env, method, query, client string, headers ...string) resp {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/ops/v1/report"+query, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if client != "" {
		req.Header.Set("Authorization", e.with(t).bearer(client))
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
	e := reportServer(t)

	t.Run("scopes", func(t *testing.T) {
		wantError(t, getReport(t, e, "GET", "", ""), http.StatusUnauthorized, "")
		wantError(t, getReport(t, e, "GET", "", scimClient), http.StatusForbidden, "") // scim.read and scim.write only
		wantError(t, getReport(t, e, "GET", "?format=html", readClient), http.StatusForbidden, "")
		if r := getReport(t, e, "GET", "", opsClient); r.status != http.StatusOK {
			t.Errorf("with ops.read: %d %s", r.status, r.body)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		wantError(t, getReport(t, e, "GET", "?format=pdf", opsClient), http.StatusBadRequest, "invalidValue")
		if r := getReport(t, e, "POST", "", opsClient); r.status != http.StatusMethodNotAllowed {
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
			r := getReport(t, e, "GET", f.query, opsClient, "Accept", f.accept)
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
