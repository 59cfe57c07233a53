package handlers_test

import (
	"net/http"
	"testing"

	"github.com/adfscim/adfscim/internal/deploy"
)

// TestEveryRouteIsForwarded: every route the handlers serve is reachable
// through one of the Azure Functions in functions/ (the host forwards only
// their routes).
func TestEveryRouteIsForwarded(t *testing.T) {
	for _, rt := range []struct{ method, path string }{
		{"GET", "/scim/v2/Users"}, {"POST", "/scim/v2/Users"}, {"GET", "/scim/v2/Users/x"},
		{"PUT", "/scim/v2/Users/x"}, {"PATCH", "/scim/v2/Users/x"}, {"DELETE", "/scim/v2/Users/x"},
		{"POST", "/scim/v2/Users/.search"}, {"GET", "/scim/v2/Groups"}, {"PATCH", "/scim/v2/Groups/x"},
		{"GET", "/scim/v2/ServiceProviderConfig"}, {"GET", "/scim/v2/ResourceTypes"}, {"GET", "/scim/v2/Schemas"},
		{"GET", "/ops/v1/unknown-attributes"}, {"GET", "/ops/v1/audit"}, {"GET", "/ops/v1/plan"},
		{"GET", "/ops/v1/assignments"}, {"POST", "/ops/v1/reconcile"}, {"GET", "/ops/v1/report"},
	} {
		if _, ok := deploy.ForwardingFunction(rt.method, rt.path); !ok {
			t.Errorf("%s %s is served but no function forwards it", rt.method, rt.path)
		}
	}
	if _, ok := deploy.ForwardingFunction("POST", "/admin/functions/x"); ok {
		t.Errorf("a function claims the host's reserved /admin routes")
	}
}

// TestScopesOnEveryRoute sends each route a token without the scope it
// needs (403 with a SCIM Error) and one with it (not 401/403).
func TestScopesOnEveryRoute(t *testing.T) {
	e := newEnv(t)
	uid := e.createUser(`{"userName":"scoped@contoso.com"}`)["id"].(string)
	gr := e.do("POST", "/scim/v2/Groups", `{"displayName":"scoped"}`)
	gid := gr.json(t)["id"].(string)
	routes := []struct {
		method, path, body string
		scope              string
	}{
		{"GET", "/scim/v2/ServiceProviderConfig", "", "scim.read"},
		{"GET", "/scim/v2/ResourceTypes", "", "scim.read"},
		{"GET", "/scim/v2/ResourceTypes/User", "", "scim.read"},
		{"GET", "/scim/v2/Schemas", "", "scim.read"},
		{"GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", "", "scim.read"},
		{"GET", "/scim/v2/Users", "", "scim.read"},
		{"GET", "/scim/v2/Users/" + uid, "", "scim.read"},
		{"POST", "/scim/v2/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}`, "scim.read"},
		{"GET", "/scim/v2/Groups", "", "scim.read"},
		{"GET", "/scim/v2/Groups/" + gid, "", "scim.read"},
		{"POST", "/scim/v2/Groups/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}`, "scim.read"},
		{"POST", "/scim/v2/Users", `{"userName":"new@contoso.com"}`, "scim.write"},
		{"PUT", "/scim/v2/Users/" + uid, `{"userName":"scoped@contoso.com"}`, "scim.write"},
		{"PATCH", "/scim/v2/Users/" + uid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":true}]}`, "scim.write"},
		{"POST", "/scim/v2/Groups", `{"displayName":"new"}`, "scim.write"},
		{"PUT", "/scim/v2/Groups/" + gid, `{"displayName":"scoped"}`, "scim.write"},
		{"PATCH", "/scim/v2/Groups/" + gid, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"scoped"}]}`, "scim.write"},
		{"DELETE", "/scim/v2/Groups/" + gid, "", "scim.write"},
		{"DELETE", "/scim/v2/Users/" + uid, "", "scim.write"},
		{"GET", "/ops/v1/unknown-attributes", "", "ops.read"},
		{"GET", "/ops/v1/audit", "", "ops.read"},
		{"GET", "/ops/v1/plan", "", "ops.read"},
		{"GET", "/ops/v1/assignments", "", "ops.read"},
		{"POST", "/ops/v1/reconcile", "", "ops.write"},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			without := opsClient
			with := scimClient
			switch rt.scope {
			case "scim.read":
				without = writeClient
			case "scim.write":
				without = readClient
			case "ops.read":
				without, with = scimClient, auditorClient
			case "ops.write":
				without, with = auditorClient, opsClient
			}
			denied := e.do(rt.method, rt.path, rt.body, "Authorization", e.bearer(without))
			wantError(t, denied, http.StatusForbidden, "")
			allowed := e.do(rt.method, rt.path, rt.body, "Authorization", e.bearer(with))
			if allowed.status == http.StatusForbidden || allowed.status == http.StatusUnauthorized || allowed.status >= 500 {
				t.Errorf("with %s: %d %s", rt.scope, allowed.status, allowed.body)
			}
		})
	}
}
