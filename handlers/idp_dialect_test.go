package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// One table per IdP dialect (DESIGN.md §7). Each row is a sequence of
// HTTP requests as that IdP sends them, on a fresh server, with the state
// it must leave checked after the requests that change it.

const patchOp = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`

// ops wraps PATCH operations in a PatchOp body.
func ops(operations ...string) string {
	return `{` + patchOp + `,"Operations":[` + strings.Join(operations, ",") + `]}`
}

// scenario is one row of a dialect table.
type scenario struct {
	name  string
	calls []call
}

func runScenarios(t *testing.T, rows []scenario) {
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			newSeq(newEnv(t)).run(t, row.calls)
		})
	}
}

// entraUser is a user as Entra ID creates it, saved under name.
func entraUser(name, extra string) call {
	return call{
		name: "create " + name, method: "POST", path: "/scim/v2/Users", status: http.StatusCreated, save: name,
		body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","` + enterpriseURN + `"],` +
			`"externalId":"` + name + `-ext","userName":"` + name + `@contoso.com","active":true,` +
			`"name":{"givenName":"Given","familyName":"Family"},"displayName":"` + name + `"` + extra + `}`,
	}
}

// entraGroup is a group as Entra ID creates it, with the schema Entra adds.
func entraGroup(name, query string) call {
	return call{
		name: "create group " + name, method: "POST", path: "/scim/v2/Groups" + query, status: http.StatusCreated, save: name,
		body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],` +
			`"externalId":"` + name + `-ext","displayName":"` + name + `"}`,
	}
}

func patchUser(name, query, body string, check func(t *testing.T, s *seq, u map[string]any)) call {
	return call{
		name: "PATCH user " + name, method: "PATCH", path: "/scim/v2/Users/{" + name + "}" + query, body: body, status: http.StatusOK,
		check: func(t *testing.T, s *seq, r resp) {
			t.Helper()
			// The answer and a fresh read agree on the new state.
			check(t, s, r.json(t))
			check(t, s, s.user(t, name))
		},
	}
}

func patchGroup(name, query, body string, status int, check func(t *testing.T, s *seq)) call {
	return call{
		name: "PATCH group " + name, method: "PATCH", path: "/scim/v2/Groups/{" + name + "}" + query, body: body, status: status,
		check: func(t *testing.T, s *seq, r resp) {
			t.Helper()
			if check != nil {
				check(t, s)
			}
		},
	}
}

func members(group string, names ...string) func(t *testing.T, s *seq) {
	return func(t *testing.T, s *seq) { t.Helper(); s.wantMembers(t, group, names...) }
}

func memberList(names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = `{"value":"{` + n + `}"}`
	}
	return `[` + strings.Join(parts, ",") + `]`
}

func TestDialectEntraDefault(t *testing.T) {
	seedGroup := func() []call {
		return []call{
			entraUser("u1", ""), entraUser("u2", ""), entraUser("u3", ""), entraGroup("g", ""),
			patchGroup("g", "", ops(`{"op":"Add","path":"members","value":`+memberList("u1", "u2", "u3")+`}`), http.StatusNoContent, members("g", "u1", "u2", "u3")),
		}
	}
	runScenarios(t, []scenario{
		{"Test Connection filters on a random GUID", []call{
			entraUser("u", ""),
			{name: "test connection", method: "GET", path: "/scim/v2/Users?" + filterQuery(`userName eq "`+newGUID()+`"`), status: 200,
				check: func(t *testing.T, s *seq, r resp) { wantList(t, r, 0) }},
		}},
		{"capitalised ops and string booleans", []call{
			entraUser("u", ""),
			patchUser("u", "", ops(`{"op":"Replace","path":"active","value":"False"}`, `{"op":"Add","path":"title","value":"Engineer"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, false, "active")
					wantAt(t, u, "Engineer", "title")
				}),
			patchUser("u", "", ops(`{"op":"Replace","path":"active","value":"True"}`, `{"op":"Remove","path":"title"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, true, "active")
					wantAt(t, u, nil, "title")
				}),
		}},
		{"replace the work email in place", []call{
			entraUser("u", `,"emails":[{"type":"work","value":"old@contoso.com","primary":true},{"type":"home","value":"me@home.example"}]`),
			patchUser("u", "", ops(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@contoso.com"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					if email(u, "work") != "new@contoso.com" || email(u, "home") != "me@home.example" {
						t.Errorf("emails = %v, want work new@contoso.com and home untouched", u["emails"])
					}
					if es, _ := u["emails"].([]any); len(es) != 2 {
						t.Errorf("emails = %v, want two", u["emails"])
					}
				}),
		}},
		{"replace a work email the user did not have", []call{
			entraUser("u", ""),
			patchUser("u", "", ops(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"first@contoso.com"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					if email(u, "work") != "first@contoso.com" {
						t.Errorf("emails = %v, want a work email first@contoso.com", u["emails"])
					}
				}),
			{name: "the new email is filterable", method: "GET", status: 200,
				path: "/scim/v2/Users?" + filterQuery(`emails[type eq "work" and value eq "first@contoso.com"]`),
				check: func(t *testing.T, s *seq, r resp) {
					if res := wantList(t, r, 1); len(res) == 1 && res[0]["id"] != s.id(t, "u") {
						t.Errorf("found %v", res[0]["id"])
					}
				}},
		}},
		{"name sub-attribute", []call{
			entraUser("u", ""),
			patchUser("u", "", ops(`{"op":"Replace","path":"name.givenName","value":"Alicia"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, "Alicia", "name", "givenName")
					wantAt(t, u, "Family", "name", "familyName")
				}),
		}},
		{"enterprise extension paths", []call{
			entraUser("boss", ""), entraUser("u", ""),
			patchUser("u", "", ops(
				`{"op":"Add","path":"`+enterpriseURN+`:employeeNumber","value":"1234"}`,
				`{"op":"Replace","path":"`+enterpriseURN+`:department","value":"Data"}`,
				`{"op":"Add","path":"`+enterpriseURN+`:manager","value":"{boss}"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, "1234", enterpriseURN, "employeeNumber")
					wantAt(t, u, "Data", enterpriseURN, "department")
					wantAt(t, u, s.id(t, "boss"), enterpriseURN, "manager", "value")
					if sc, _ := u["schemas"].([]any); !strings.Contains(mustMarshal(t, sc), enterpriseURN) {
						t.Errorf("schemas = %v, want the enterprise extension listed", sc)
					}
				}),
			entraUser("boss2", ""),
			patchUser("u", "", ops(`{"op":"Replace","path":"`+enterpriseURN+`:manager","value":{"value":"{boss2}"}}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, s.id(t, "boss2"), enterpriseURN, "manager", "value")
					wantAt(t, u, "1234", enterpriseURN, "employeeNumber")
				}),
			patchUser("u", "", ops(`{"op":"Remove","path":"`+enterpriseURN+`:manager"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, nil, enterpriseURN, "manager")
					wantAt(t, u, "Data", enterpriseURN, "department")
				}),
		}},
		{"deactivation keeps the memberships", append(seedGroup(),
			patchUser("u2", "", ops(`{"op":"Replace","path":"active","value":"False"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, false, "active")
					if gs, _ := u["groups"].([]any); len(gs) != 1 {
						t.Errorf("groups = %v, want the one group kept", u["groups"])
					}
				}),
			call{name: "the group keeps the inactive member", method: "GET", path: "/scim/v2/Groups/{g}", status: 200,
				check: func(t *testing.T, s *seq, r resp) { s.wantMembers(t, "g", "u1", "u2", "u3") }},
		)},
		{"groups with Entra's schema, read without members", append(seedGroup(),
			call{name: "read without members", method: "GET", path: "/scim/v2/Groups/{g}?excludedAttributes=members", status: 200,
				check: func(t *testing.T, s *seq, r resp) {
					m := r.json(t)
					if _, ok := m["members"]; ok {
						t.Errorf("members present: %s", r.body)
					}
					wantAt(t, m, "g", "displayName")
					wantAt(t, m, "g-ext", "externalId")
				}},
			call{name: "find by displayName without members", method: "GET", status: 200,
				path: "/scim/v2/Groups?" + filterQuery(`displayName eq "g"`, "excludedAttributes=members"),
				check: func(t *testing.T, s *seq, r resp) {
					res := wantList(t, r, 1)
					if len(res) == 1 {
						if _, ok := res[0]["members"]; ok || res[0]["id"] != s.id(t, "g") {
							t.Errorf("found %v", res[0])
						}
					}
				}},
		)},
		{"member removal removes only that member", append(seedGroup(),
			patchGroup("g", "", ops(`{"op":"Remove","path":"members","value":[{"value":"{u2}"}]}`), http.StatusNoContent, members("g", "u1", "u3")),
			// Removing a member that is not (or no longer) in the group changes nothing.
			patchGroup("g", "", ops(`{"op":"Remove","path":"members","value":[{"value":"{u2}"}]}`), 0, members("g", "u1", "u3")),
		)},
		{"displayName and members in one PATCH", append(seedGroup(),
			patchGroup("g", "", ops(
				`{"op":"Replace","path":"displayName","value":"g renamed"}`,
				`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{u1}"}]}`,
				`{"op":"Add","path":"members","value":[{"$ref":null,"value":"{u1}"}]}`,
				`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{u3}"}]}`), http.StatusNoContent,
				func(t *testing.T, s *seq) {
					s.wantMembers(t, "g", "u1", "u2")
					wantAt(t, s.get(t, "Groups", "g", "excludedAttributes=members"), "g renamed", "displayName")
				}),
		)},
		{"externalId change moves the index", []call{
			entraUser("u", ""),
			patchUser("u", "", ops(`{"op":"Replace","path":"externalId","value":"new-ext"}`),
				func(t *testing.T, s *seq, u map[string]any) { wantAt(t, u, "new-ext", "externalId") }),
			{name: "found by the new externalId", method: "GET", path: "/scim/v2/Users?" + filterQuery(`externalId eq "new-ext"`), status: 200,
				check: func(t *testing.T, s *seq, r resp) {
					if res := wantList(t, r, 1); len(res) == 1 && res[0]["id"] != s.id(t, "u") {
						t.Errorf("found %v", res[0]["id"])
					}
				}},
			{name: "not by the old one", method: "GET", path: "/scim/v2/Users?" + filterQuery(`externalId eq "u-ext"`), status: 200,
				check: func(t *testing.T, s *seq, r resp) { wantList(t, r, 0) }},
			{name: "and-ed lookups as Entra sends them", method: "GET", status: 200,
				path:  "/scim/v2/Users?" + filterQuery(`externalId eq "new-ext" and userName eq "U@CONTOSO.COM"`),
				check: func(t *testing.T, s *seq, r resp) { wantList(t, r, 1) }},
			{name: "and-ed lookup that does not match", method: "GET", status: 200,
				path:  "/scim/v2/Users?" + filterQuery(`externalId eq "new-ext" and userName eq "other@contoso.com"`),
				check: func(t *testing.T, s *seq, r resp) { wantList(t, r, 0) }},
		}},
		{"renaming to a taken userName is 409 and changes nothing", []call{
			entraUser("u", ""), entraUser("v", ""),
			{name: "rename", method: "PATCH", path: "/scim/v2/Users/{u}", status: 409,
				body: ops(`{"op":"Replace","path":"userName","value":"V@Contoso.com"}`, `{"op":"Replace","path":"title","value":"changed"}`),
				check: func(t *testing.T, s *seq, r resp) {
					wantError(t, r, 409, "uniqueness")
					u := s.user(t, "u")
					wantAt(t, u, "u@contoso.com", "userName")
					wantAt(t, u, nil, "title")
				}},
		}},
		{"adding a member again is harmless", append(seedGroup(),
			patchGroup("g", "", ops(`{"op":"Add","path":"members","value":[{"value":"{u1}"}]}`), http.StatusNoContent, members("g", "u1", "u2", "u3")),
		)},
		{"a group PATCH that asks for attributes gets them", append(seedGroup(),
			call{name: "PATCH with attributes", method: "PATCH", path: "/scim/v2/Groups/{g}?attributes=displayName,members", status: 200,
				body: ops(`{"op":"Remove","path":"members","value":[{"value":"{u3}"}]}`),
				check: func(t *testing.T, s *seq, r resp) {
					m := r.json(t)
					wantAt(t, m, "g", "displayName")
					if got := memberIDs(t, m); len(got) != 2 {
						t.Errorf("members in the answer = %v, want u1 and u2", got)
					}
				}},
		)},
		{"deleting a user takes it out of its groups", append(seedGroup(),
			call{name: "delete u2", method: "DELETE", path: "/scim/v2/Users/{u2}", status: http.StatusNoContent,
				check: func(t *testing.T, s *seq, r resp) { s.wantMembers(t, "g", "u1", "u3") }},
			call{name: "u2 is gone", method: "GET", path: "/scim/v2/Users/{u2}", status: http.StatusNotFound},
		)},
		{"an undeclared custom extension is ignored and logged, the rest applied", []call{
			entraUser("u", `,"urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User":{"costCenter":"A"}`),
			patchUser("u", "", ops(
				`{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:costCenter","value":"B"}`,
				`{"op":"Replace","path":"title","value":"Engineer"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, "Engineer", "title")
					if strings.Contains(mustMarshal(t, u), "CustomExt") {
						t.Errorf("the unknown extension was stored: %v", u)
					}
					if !strings.Contains(s.e.logs.String(), "CustomExt:2.0:User:costCenter") {
						t.Errorf("the log does not name the ignored attribute:\n%s", s.e.logs)
					}
				}),
		}},
	})
}

func TestDialectEntraOptFlag(t *testing.T) {
	const q = "?aadOptscim062020"
	seedGroup := func() []call {
		return []call{
			entraUser("u1", ""), entraUser("u2", ""), entraUser("u3", ""), entraGroup("g", q),
			patchGroup("g", q, ops(`{"op":"add","path":"members","value":`+memberList("u1", "u2", "u3")+`}`), 0, members("g", "u1", "u2", "u3")),
		}
	}
	runScenarios(t, []scenario{
		{"lower-case ops and real booleans", []call{
			entraUser("u", ""),
			patchUser("u", q, ops(`{"op":"replace","path":"active","value":false}`, `{"op":"add","path":"nickName","value":"Al"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, false, "active")
					wantAt(t, u, "Al", "nickName")
				}),
			patchUser("u", q, ops(`{"op":"replace","path":"active","value":true}`, `{"op":"remove","path":"nickName"}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, true, "active")
					wantAt(t, u, nil, "nickName")
				}),
		}},
		{"member removal by value filter", append(seedGroup(),
			patchGroup("g", q, ops(`{"op":"remove","path":"members[value eq \"{u2}\"]"}`), 0, members("g", "u1", "u3")),
		)},
		{"path-less replace with dotted and URN keys", []call{
			entraUser("u", `,"emails":[{"type":"work","value":"old@contoso.com"}]`),
			patchUser("u", q, ops(`{"op":"replace","value":{"name.givenName":"A","`+enterpriseURN+`:department":"X","active":false,"displayName":"A Family","emails[type eq \"work\"].value":"a@contoso.com"}}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, "A", "name", "givenName")
					wantAt(t, u, "Family", "name", "familyName")
					wantAt(t, u, "X", enterpriseURN, "department")
					wantAt(t, u, false, "active")
					wantAt(t, u, "A Family", "displayName")
					if email(u, "work") != "a@contoso.com" {
						t.Errorf("emails = %v, want the work email replaced", u["emails"])
					}
				}),
		}},
		{"path-less add of the manager", []call{
			entraUser("boss", ""), entraUser("u", ""),
			patchUser("u", q, ops(`{"op":"add","value":{"`+enterpriseURN+`:manager":"{boss}","`+enterpriseURN+`:employeeNumber":"42"}}`),
				func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, s.id(t, "boss"), enterpriseURN, "manager", "value")
					wantAt(t, u, "42", enterpriseURN, "employeeNumber")
				}),
		}},
		{"group rename and members together", append(seedGroup(),
			patchGroup("g", q, ops(
				`{"op":"replace","path":"displayName","value":"renamed"}`,
				`{"op":"remove","path":"members[value eq \"{u1}\"]"}`,
				`{"op":"remove","path":"members[value eq \"{u3}\"]"}`), 0,
				func(t *testing.T, s *seq) {
					s.wantMembers(t, "g", "u2")
					wantAt(t, s.get(t, "Groups", "g"), "renamed", "displayName")
				}),
		)},
	})
}

// oktaCT is the Content-Type Okta sends.
var oktaCT = []string{"Content-Type", "application/json"}

func oktaUser(name, userName string) call {
	return call{
		name: "create " + name, method: "POST", path: "/scim/v2/Users", headers: oktaCT, status: http.StatusCreated, save: name,
		body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + userName + `",` +
			`"name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"` + userName + `","type":"work"}],` +
			`"displayName":"Test User","locale":"en-US","externalId":"00u` + name + `","groups":[],"password":"Sup3rSecret!","active":true}`,
		check: func(t *testing.T, s *seq, r resp) {
			if strings.Contains(string(r.body), "Sup3rSecret") || strings.Contains(string(r.body), `"password"`) {
				t.Errorf("the answer carries the password: %s", r.body)
			}
		},
	}
}

func oktaGroup(name string, memberNames ...string) call {
	return call{
		name: "create group " + name, method: "POST", path: "/scim/v2/Groups", headers: oktaCT, status: http.StatusCreated, save: name,
		body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"` + name + `","members":` + memberList(memberNames...) + `}`,
	}
}

func oktaPatchGroup(name, body string, check func(t *testing.T, s *seq)) call {
	c := patchGroup(name, "", body, 0, check)
	c.headers = oktaCT
	return c
}

func TestDialectOkta(t *testing.T) {
	lookup := func(userName string, want int) call {
		return call{
			name: "lookup " + userName, method: "GET", status: 200,
			path: "/scim/v2/Users?" + filterQuery(`userName eq "`+userName+`"`, "startIndex=1", "count=100"),
			check: func(t *testing.T, s *seq, r resp) {
				res := wantList(t, r, want)
				if want == 1 && len(res) == 1 && res[0]["id"] != s.id(t, "u") {
					t.Errorf("found %v, want u", res[0]["id"])
				}
			},
		}
	}
	runScenarios(t, []scenario{
		{"lookup, then create with a password", []call{
			lookup("jane.doe@okta.local", 0),
			oktaUser("u", "jane.doe@okta.local"),
			lookup("jane.doe@okta.local", 1),
			lookup("Jane.Doe@OKTA.local", 1),
			{name: "read back without the password", method: "GET", path: "/scim/v2/Users/{u}", status: 200,
				check: func(t *testing.T, s *seq, r resp) {
					if strings.Contains(string(r.body), "Sup3rSecret") || strings.Contains(string(r.body), `"password"`) {
						t.Errorf("GET carries the password: %s", r.body)
					}
					wantAt(t, r.json(t), "en-US", "locale")
				}},
		}},
		{"PUT of the whole resource with id, meta and groups", []call{
			oktaUser("u", "jane@okta.local"),
			oktaGroup("g", "u"),
			{name: "PUT", method: "PUT", path: "/scim/v2/Users/{u}", headers: oktaCT, status: 200,
				body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"{u}","userName":"jane@okta.local",` +
					`"name":{"givenName":"Janet","middleName":"Q","familyName":"Doe"},"emails":[{"primary":true,"value":"janet@okta.local","type":"work"}],` +
					`"active":true,"groups":[],"meta":{"resourceType":"User","created":"2001-01-01T00:00:00Z"},"password":"An0therSecret"}`,
				check: func(t *testing.T, s *seq, r resp) {
					u := s.user(t, "u")
					wantAt(t, u, "Janet", "name", "givenName")
					wantAt(t, u, "Q", "name", "middleName")
					wantAt(t, u, "Doe", "name", "familyName")
					if email(u, "work") != "janet@okta.local" {
						t.Errorf("emails = %v", u["emails"])
					}
					if created, _ := at(u, "meta", "created").(string); strings.HasPrefix(created, "2001") {
						t.Errorf("meta.created taken from the body: %v", created)
					}
					// groups is read-only and derived: the PUT's [] does not
					// take the user out of its group.
					if gs, _ := u["groups"].([]any); len(gs) != 1 {
						t.Errorf("groups = %v, want the group kept", u["groups"])
					}
					s.wantMembers(t, "g", "u")
					if strings.Contains(string(r.body), "An0therSecret") {
						t.Errorf("PUT answer carries the password")
					}
				}},
		}},
		{"deactivation by path-less replace", []call{
			oktaUser("u", "jane@okta.local"),
			func() call {
				c := patchUser("u", "", ops(`{"op":"replace","value":{"active":false}}`), func(t *testing.T, s *seq, u map[string]any) {
					wantAt(t, u, false, "active")
					wantAt(t, u, "jane@okta.local", "userName")
					wantAt(t, u, "Test", "name", "givenName")
				})
				c.headers = oktaCT
				return c
			}(),
		}},
		{"group push: rename carrying the id, members added as arrays", []call{
			oktaUser("u1", "one@okta.local"), oktaUser("u2", "two@okta.local"), oktaUser("u3", "three@okta.local"),
			oktaGroup("g"),
			oktaPatchGroup("g", ops(`{"op":"replace","value":{"id":"{g}","displayName":"Okta Pushed"}}`), func(t *testing.T, s *seq) {
				wantAt(t, s.get(t, "Groups", "g"), "Okta Pushed", "displayName")
			}),
			oktaPatchGroup("g", ops(`{"op":"add","path":"members","value":`+memberList("u1", "u2")+`}`), members("g", "u1", "u2")),
			oktaPatchGroup("g", ops(`{"op":"add","path":"members","value":`+memberList("u3")+`}`), members("g", "u1", "u2", "u3")),
			oktaPatchGroup("g", ops(`{"op":"remove","path":"members[value eq \"{u2}\"]"}`), members("g", "u1", "u3")),
			oktaPatchGroup("g", ops(`{"op":"replace","path":"members","value":[]}`), members("g")),
			{name: "users no longer list the group", method: "GET", path: "/scim/v2/Users/{u1}", status: 200,
				check: func(t *testing.T, s *seq, r resp) {
					if gs, _ := r.json(t)["groups"].([]any); len(gs) != 0 {
						t.Errorf("groups = %v after emptying the group", gs)
					}
				}},
		}},
		{"group lookup, emptied by remove without a value, then deleted", []call{
			oktaUser("u1", "one@okta.local"), oktaUser("u2", "two@okta.local"),
			oktaGroup("g", "u1", "u2"),
			{name: "lookup", method: "GET", status: 200, path: "/scim/v2/Groups?" + filterQuery(`displayName eq "g"`, "startIndex=1", "count=100"),
				check: func(t *testing.T, s *seq, r resp) {
					if res := wantList(t, r, 1); len(res) == 1 && res[0]["id"] != s.id(t, "g") {
						t.Errorf("found %v", res[0]["id"])
					}
				}},
			oktaPatchGroup("g", ops(`{"op":"remove","path":"members"}`), members("g")),
			oktaPatchGroup("g", ops(`{"op":"add","path":"members","value":`+memberList("u2")+`}`), members("g", "u2")),
			{name: "delete", method: "DELETE", path: "/scim/v2/Groups/{g}", status: http.StatusNoContent},
			{name: "its members no longer list it", method: "GET", path: "/scim/v2/Users/{u2}", status: 200,
				check: func(t *testing.T, s *seq, r resp) {
					if gs, _ := r.json(t)["groups"].([]any); len(gs) != 0 {
						t.Errorf("groups = %v after the group was deleted", gs)
					}
				}},
			{name: "404 afterwards", method: "GET", path: "/scim/v2/Groups/{g}", status: http.StatusNotFound,
				check: func(t *testing.T, s *seq, r resp) { wantError(t, r, 404, "") }},
		}},
		{"custom attributes are ignored, and logged by name", []call{
			{name: "create with a custom attribute", method: "POST", path: "/scim/v2/Users", headers: oktaCT, status: http.StatusCreated, save: "u",
				body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"c@okta.local","costCenterOkta":"CC-1","active":true}`,
				check: func(t *testing.T, s *seq, r resp) {
					if strings.Contains(string(r.body), "CC-1") {
						t.Errorf("an unknown attribute was stored: %s", r.body)
					}
					if !strings.Contains(s.e.logs.String(), "costCenterOkta") {
						t.Errorf("the log does not name the ignored attribute:\n%s", s.e.logs)
					}
				}},
			{name: "PUT with it again", method: "PUT", path: "/scim/v2/Users/{u}", headers: oktaCT, status: 200,
				body:  `{"id":"{u}","userName":"c@okta.local","costCenterOkta":"CC-2","active":false}`,
				check: func(t *testing.T, s *seq, r resp) { wantAt(t, s.user(t, "u"), false, "active") }},
		}},
		{"group replaced by PUT with id, meta and the member list", []call{
			oktaUser("u1", "one@okta.local"), oktaUser("u2", "two@okta.local"), oktaUser("u3", "three@okta.local"),
			oktaGroup("g", "u1", "u2"),
			{name: "PUT", method: "PUT", path: "/scim/v2/Groups/{g}", headers: oktaCT, status: 200,
				body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"{g}","displayName":"g put",` +
					`"members":[{"value":"{u2}","display":"two"},{"value":"{u3}","display":"three"}],"meta":{"resourceType":"Group"}}`,
				check: func(t *testing.T, s *seq, r resp) {
					s.wantMembers(t, "g", "u2", "u3")
					wantAt(t, s.get(t, "Groups", "g"), "g put", "displayName")
					if gs, _ := s.user(t, "u1")["groups"].([]any); len(gs) != 0 {
						t.Errorf("u1.groups = %v after the PUT left it out", gs)
					}
				}},
		}},
		{"lookups that name the attributes they want", []call{
			oktaUser("u", "attrs@okta.local"),
			{name: "attributes=userName", method: "GET", status: 200,
				path: "/scim/v2/Users?" + filterQuery(`userName eq "attrs@okta.local"`, "attributes=userName", "startIndex=1", "count=100"),
				check: func(t *testing.T, s *seq, r resp) {
					res := wantList(t, r, 1)
					if len(res) != 1 {
						return
					}
					wantAt(t, res[0], s.id(t, "u"), "id")
					wantAt(t, res[0], "attrs@okta.local", "userName")
					for _, k := range []string{"emails", "name", "displayName", "active"} {
						if _, ok := res[0][k]; ok {
							t.Errorf("%s returned although only userName was asked for", k)
						}
					}
				}},
			{name: "excludedAttributes=emails,name", method: "GET", path: "/scim/v2/Users/{u}?excludedAttributes=emails,name", status: 200,
				check: func(t *testing.T, s *seq, r resp) {
					m := r.json(t)
					wantAt(t, m, nil, "emails")
					wantAt(t, m, nil, "name")
					wantAt(t, m, "attrs@okta.local", "userName")
				}},
		}},
		{"errors carry the SCIM Error schema", []call{
			{name: "401", method: "GET", path: "/scim/v2/Users?" + filterQuery(`userName eq "x"`), headers: []string{"Authorization", "Bearer not-a-token"}, status: 401,
				check: func(t *testing.T, s *seq, r resp) { wantError(t, r, 401, "") }},
			{name: "404 user", method: "GET", path: "/scim/v2/Users/" + newGUID(), status: 404,
				check: func(t *testing.T, s *seq, r resp) { wantError(t, r, 404, "") }},
			{name: "404 group PATCH", method: "PATCH", path: "/scim/v2/Groups/" + newGUID(), headers: oktaCT, status: 404,
				body:  ops(`{"op":"replace","value":{"displayName":"x"}}`),
				check: func(t *testing.T, s *seq, r resp) { wantError(t, r, 404, "") }},
		}},
	})
}
