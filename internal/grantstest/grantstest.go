// Package grantstest replays the identity providers' request sequences of
// testdata/idp-grants (Okta entitlements, Entra app roles) against a SCIM
// server, checking after each step the answer and the role assignments the
// user holds in Azure. The handlers tests run it on the simulated ARM, the
// root package's end-to-end test on the simulated ARM served over TLS.
package grantstest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
)

// Subscription is the subscription of the test mapping's factories.
const Subscription = "11111111-2222-4333-8444-555555555555"

// Factory is the resource id of the test factory named name.
func Factory(name string) string {
	rg := "rg-analytics"
	if name == "adf-three" {
		rg = "rg-ops"
	}
	return "/subscriptions/" + Subscription + "/resourceGroups/" + rg + "/providers/Microsoft.DataFactory/factories/" + name
}

// Mapping is the test mapping: group Analysts is bound to Reader on
// adf-one, and four pairs may be granted directly.
func Mapping() string {
	return fmt.Sprintf(`{"factories":{"one":%q,"two":%q,"three":%q},
 "bindings":[{"group":"Analysts","role":"Reader","factories":["one"]}],
 "grants":[{"factories":["one"],"roles":["Data Factory Contributor"]},
           {"factories":["two"],"roles":["Reader"]},
           {"factories":["three"],"roles":["Reader","DataFactoryContributor"]}]}`,
		Factory("adf-one"), Factory("adf-two"), Factory("adf-three"))
}

// Grants name the placeholders of the test mapping's grants by display name.
var Grants = map[string]string{
	"GRANT_A": "adf-one: Data Factory Contributor",
	"GRANT_B": "adf-two: Reader",
	"GRANT_C": "adf-three: Reader",
	"GRANT_D": "adf-three: Data Factory Contributor",
}

// Roles names the role definition guids a step's access names.
var Roles = map[string]string{
	"673868aa-7521-48a0-acc6-0f60742d39f5": "contributor",
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": "reader",
}

// Script is one file of testdata/idp-grants.
type Script struct {
	Source string `json:"source"`
	// Query is added to every request's URL (Entra's aadOptscim062020).
	Query string `json:"query"`
	Steps []Step `json:"steps"`
}

// Step is one request and what must hold after it.
type Step struct {
	Name   string          `json:"name"`
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
	// Save keeps the answer's id under this placeholder.
	Save     string   `json:"save"`
	Contains []string `json:"contains"`
	ScimType string   `json:"scimType"`
	// TotalResults and ItemsPerPage, when set, are a list answer's.
	TotalResults *int `json:"totalResults"`
	ItemsPerPage *int `json:"itemsPerPage"`
	// Access, when not nil, is the exact set of "factory|role" the user
	// holds after the step.
	Access []string `json:"access"`
}

// Load reads a script.
func Load(t testing.TB, path string) Script {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s Script
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// Do sends one request to the SCIM API and returns the status and body.
type Do func(method, path, body string) (int, []byte)

// Held returns the "factory|role" pairs the user's principal holds once
// the access the step changed has been applied, compared with want (the
// end-to-end test waits for the fast path to apply them).
type Held func(t testing.TB, principal string, want []string) []string

// Run replays s: placeholders are the grants' ids as GET /Entitlements
// (filtered by displayName) lists them, OID the user's principal, and
// those saved by earlier steps.
func Run(t *testing.T, s Script, do Do, held Held, oid string) {
	vars := map[string]string{"OID": oid}
	for ph, name := range Grants {
		status, body := do("GET", "/Entitlements?filter="+url.QueryEscape(`displayName eq "`+name+`"`), "")
		var list struct {
			TotalResults int
			Resources    []struct{ ID, DisplayName string }
		}
		if status != 200 || json.Unmarshal(body, &list) != nil || list.TotalResults != 1 || len(list.Resources) != 1 {
			t.Fatalf("GET /Entitlements by displayName %q: %d %s", name, status, body)
		}
		vars[ph] = list.Resources[0].ID
	}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{{"+k+"}}", v)
		}
		return s
	}
	for i, st := range s.Steps {
		ok := t.Run(fmt.Sprintf("%02d %s", i+1, st.Name), func(t *testing.T) {
			path := expand(st.Path)
			if s.Query != "" {
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				path += sep + s.Query
			}
			var body string
			if len(st.Body) > 0 {
				body = expand(string(st.Body))
			}
			status, got := do(st.Method, path, body)
			if status != st.Status {
				t.Fatalf("%s %s: status %d, want %d; body %s", st.Method, path, status, st.Status, got)
			}
			var doc map[string]any
			if len(got) > 0 {
				if err := json.Unmarshal(got, &doc); err != nil {
					t.Fatalf("answer is not JSON: %v: %s", err, got)
				}
			}
			if st.Save != "" {
				id, _ := doc["id"].(string)
				if id == "" {
					t.Fatalf("no id to save in %s", got)
				}
				vars[st.Save] = id
			}
			for _, c := range st.Contains {
				if c = expand(c); !strings.Contains(string(got), c) {
					t.Errorf("answer lacks %s:\n%s", c, got)
				}
			}
			if st.ScimType != "" && doc["scimType"] != st.ScimType {
				t.Errorf("scimType = %v, want %s: %s", doc["scimType"], st.ScimType, got)
			}
			for name, want := range map[string]*int{"totalResults": st.TotalResults, "itemsPerPage": st.ItemsPerPage} {
				if want == nil {
					continue
				}
				if n, _ := doc[name].(float64); int(n) != *want {
					t.Errorf("%s = %v, want %d", name, doc[name], *want)
				}
				if name == "itemsPerPage" {
					if rs, _ := doc["Resources"].([]any); len(rs) != *want {
						t.Errorf("%d Resources, want %d", len(rs), *want)
					}
				}
			}
			if st.Access != nil {
				want := slices.Sorted(slices.Values(st.Access))
				have := held(t, oid, want)
				if !slices.Equal(have, want) {
					t.Errorf("after %s the user holds %v, want %v", st.Name, have, want)
				}
			}
		})
		if !ok {
			return
		}
	}
}

// Pair names an assignment as a step's access does, "" when its role is
// not one of the test's.
func Pair(scope, roleID string) string {
	r := Roles[strings.ToLower(roleID[strings.LastIndex(roleID, "/")+1:])]
	if r == "" {
		return ""
	}
	scope = strings.TrimSuffix(scope, "/")
	return strings.ToLower(scope[strings.LastIndex(scope, "/")+1:]) + "|" + r
}
