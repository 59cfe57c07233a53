package handlers_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// traceDir holds the exchanges Entra ID and Okta recorded against other
// SCIM servers (from elimity-com/scim, MIT licence, LICENSE.md beside them).
const traceDir = "../testdata/idp-traces"

// exchange is one recorded request and the recording server's answer.
type exchange struct {
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	Request    json.RawMessage `json:"request"`
	StatusCode int             `json:"statusCode"`
	Response   json.RawMessage `json:"response"`
}

// loadTraces reads every exchange recorded for one IdP, by file name
// without .json.
func loadTraces(t *testing.T, idp string) map[string]exchange {
	t.Helper()
	dir := filepath.Join(traceDir, idp)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err == nil && len(files) == 0 {
		_, err = os.Stat(dir)
	}
	if err != nil || len(files) == 0 {
		t.Fatalf("IdP traces missing from %s: %v", dir, err)
	}
	out := map[string]exchange{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ex exchange
		if err := json.Unmarshal(b, &ex); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if ex.Method == "" || !strings.HasPrefix(ex.Path, "/") || ex.StatusCode == 0 {
			t.Fatalf("%s: not an exchange (method %q, path %q, status %d)", f, ex.Method, ex.Path, ex.StatusCode)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = ex
	}
	return out
}

// replayer sends recorded requests with the recording's ids replaced by
// the ones this server returned.
type replayer struct {
	e      *env
	traces map[string]exchange
	// subst maps a recorded value (an id, a userName) to ours.
	subst map[string]string
}

func (p *replayer) rewrite(s string) string {
	for old, new := range p.subst {
		s = strings.ReplaceAll(s, old, new)
	}
	return s
}

// send replays one exchange, optionally with a different path, and checks
// that the answer is compatible with what the IdP accepted: 2xx where the
// recording had 2xx (and 201 for a create, which IdPs check).
func (p *replayer) send(t *testing.T, name string, headers ...string) resp {
	t.Helper()
	ex, ok := p.traces[name]
	if !ok {
		t.Fatalf("no recorded exchange %q", name)
	}
	var body string
	if len(ex.Request) > 0 && string(ex.Request) != "null" {
		body = p.rewrite(string(ex.Request))
	}
	path := "/scim/v2" + p.rewrite(ex.Path)
	r := p.e.with(t).do(ex.Method, path, body, headers...)
	switch {
	case ex.StatusCode == http.StatusCreated && r.status != http.StatusCreated:
		t.Fatalf("%s %s: status %d, the IdP expects 201; body %s", ex.Method, path, r.status, r.body)
	case ex.StatusCode/100 == 2 && r.status/100 != 2:
		t.Fatalf("%s %s: status %d, the recording had %d; body %s", ex.Method, path, r.status, ex.StatusCode, r.body)
	}
	return r
}

// recorded decodes the recorded request or response of an exchange.
func (p *replayer) recorded(t *testing.T, name string, response bool) map[string]any {
	t.Helper()
	raw := p.traces[name].Request
	if response {
		raw = p.traces[name].Response
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// TestReplayAzureAD replays Entra ID's recorded exchanges as one
// provisioning cycle: look the user up, create it, find it by filter, read
// it, update it, then create, find and update a group.
func TestReplayAzureAD(t *testing.T) {
	p := &replayer{e: newEnv(t), traces: loadTraces(t, "azuread"), subst: map[string]string{}}
	s := newSeq(p.e)
	var userID, userName string

	t.Run("get_user_query_0", func(t *testing.T) {
		wantList(t, p.send(t, "get_user_query_0"), 0)
	})
	t.Run("create_user", func(t *testing.T) {
		r := p.send(t, "create_user")
		m := r.json(t)
		req := p.recorded(t, "create_user", false)
		userID, _ = m["id"].(string)
		userName, _ = m["userName"].(string)
		if userID == "" || userName != req["userName"] {
			t.Fatalf("created id %q userName %q, want an id and %v", userID, userName, req["userName"])
		}
		if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/Users/"+userID) {
			t.Errorf("Location = %q", loc)
		}
		wantAt(t, m, req["externalId"], "externalId")
		wantAt(t, m, true, "active")
		wantAt(t, m, "givenName", "name", "givenName")
		if email(m, "work") != at(req, "emails").([]any)[0].(map[string]any)["value"] {
			t.Errorf("work email = %v", email(m, "work"))
		}
	})
	if userID == "" {
		t.Fatal("no user to continue with")
	}
	s.set("user", userID)
	// The recording looked up a user of its own; look up ours.
	rec := p.recorded(t, "get_user_query_resp", true)
	p.subst[at(rec, "Resources").([]any)[0].(map[string]any)["userName"].(string)] = userName
	p.subst[at(p.recorded(t, "get_user_resp", true), "id").(string)] = userID
	p.subst[at(p.recorded(t, "update_user", true), "id").(string)] = userID

	t.Run("get_user_query_resp", func(t *testing.T) {
		res := wantList(t, p.send(t, "get_user_query_resp"), 1)
		if len(res) != 1 || res[0]["id"] != userID {
			t.Errorf("Resources = %v, want the user %s", res, userID)
		}
	})
	t.Run("get_user_resp", func(t *testing.T) {
		m := p.send(t, "get_user_resp").json(t)
		wantAt(t, m, userID, "id")
		wantAt(t, m, userName, "userName")
	})
	t.Run("update_user", func(t *testing.T) {
		r := p.send(t, "update_user")
		if r.status != http.StatusOK {
			t.Errorf("PATCH of a user: %d, want 200 with the resource", r.status)
		}
		m := s.user(t, "user")
		if got := email(m, "work"); got != "updatedEmail@microsoft.com" {
			t.Errorf("work email = %v, want updatedEmail@microsoft.com", got)
		}
		if es, _ := m["emails"].([]any); len(es) != 1 {
			t.Errorf("emails = %v, want the one work email replaced in place", m["emails"])
		}
		wantAt(t, m, "updatedFamilyName", "name", "familyName")
		wantAt(t, m, "givenName", "name", "givenName")
		wantAt(t, m, "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com", "userName")
		wantAt(t, m, false, "active")
		// The new userName is what a lookup finds now; the old one is free.
		wantList(t, p.e.with(t).do("GET", "/scim/v2/Users?"+filterQuery(`userName eq "5B50642D-79fc-4410-9e90-4c077cdd1a59@testuser.com"`), ""), 1)
		wantList(t, p.e.with(t).do("GET", "/scim/v2/Users?"+filterQuery(`userName eq "`+userName+`"`), ""), 0)
	})

	// Groups. Two other members are in the group before the recorded
	// PATCH, which adds and removes the provisioned user in one request.
	var groupID string
	t.Run("create_group", func(t *testing.T) {
		m := p.send(t, "create_group").json(t)
		groupID, _ = m["id"].(string)
		req := p.recorded(t, "create_group", false)
		wantAt(t, m, req["displayName"], "displayName")
		wantAt(t, m, req["externalId"], "externalId")
	})
	if groupID == "" {
		t.Fatal("no group to continue with")
	}
	s.set("group", groupID)
	p.subst[at(p.recorded(t, "get_group", true), "id").(string)] = groupID
	p.subst[at(p.recorded(t, "update_group", true), "id").(string)] = groupID

	t.Run("get_group", func(t *testing.T) {
		m := p.send(t, "get_group").json(t)
		wantAt(t, m, groupID, "id")
		wantAt(t, m, "displayName", "displayName")
	})
	t.Run("get_group_dn", func(t *testing.T) {
		res := wantList(t, p.send(t, "get_group_dn"), 1)
		if len(res) != 1 || res[0]["id"] != groupID {
			t.Errorf("Resources = %v, want the group %s", res, groupID)
		}
	})

	// The recorded member id is one of ours: either the provisioned user
	// (not yet a member: added then removed) or one already in the group.
	for _, tc := range []struct {
		name   string
		member string // whose id replaces the recorded member id
		want   []string
	}{
		{"member added and removed in one PATCH", "user", []string{"other1", "other2"}},
		{"existing member removed", "other1", []string{"other2"}},
	} {
		t.Run("update_group/"+tc.name, func(t *testing.T) {
			e := p.e.with(t)
			for _, n := range []string{"other1", "other2"} {
				s.set(n, e.createUser(`{"userName":"` + newGUID() + `@contoso.com"}`)["id"].(string))
			}
			s.run(t, []call{{
				name: "seed members", method: "PATCH", path: "/scim/v2/Groups/{group}",
				body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"members","value":[{"value":"{other1}"},{"value":"{other2}"}]}]}`,
			}})
			recordedMember := "f648f8d5ea4e4cd38e9c"
			p.subst[recordedMember] = s.id(t, tc.member)
			defer delete(p.subst, recordedMember)
			p.send(t, "update_group")
			g := s.get(t, "Groups", "group")
			wantAt(t, g, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName", "displayName")
			s.wantMembers(t, "group", tc.want...)
			// The user side agrees.
			if gs, _ := s.user(t, tc.member)["groups"].([]any); len(gs) != 0 {
				t.Errorf("%s.groups = %v after its removal", tc.member, gs)
			}
		})
	}
}

// TestReplayOkta replays Okta's recorded exchanges as one cycle: check the
// user does not exist, create it, read it, replace it by PUT, deactivate it
// by PATCH, then push a group, rename it and change its members.
func TestReplayOkta(t *testing.T) {
	p := &replayer{e: newEnv(t), traces: loadTraces(t, "okta"), subst: map[string]string{}}
	s := newSeq(p.e)
	// Okta sends application/json.
	jsonCT := []string{"Content-Type", "application/json"}

	t.Run("user_exists before create", func(t *testing.T) {
		wantList(t, p.send(t, "user_exists"), 0)
	})
	var userID string
	t.Run("create_user", func(t *testing.T) {
		r := p.send(t, "create_user", jsonCT...)
		if strings.Contains(string(r.body), "1mz050nq") || strings.Contains(string(r.body), `"password"`) {
			t.Errorf("the response carries the password: %s", r.body)
		}
		m := r.json(t)
		userID, _ = m["id"].(string)
		wantAt(t, m, "test.user@okta.local", "userName")
		wantAt(t, m, "00ujl29u0le5T6Aj10h7", "externalId")
		wantAt(t, m, "en-US", "locale")
		wantAt(t, m, "Test User", "displayName")
	})
	if userID == "" {
		t.Fatal("no user to continue with")
	}
	s.set("user", userID)
	recordedUser := at(p.recorded(t, "create_user", true), "id").(string)
	p.subst[recordedUser] = userID

	t.Run("user_exists after create", func(t *testing.T) {
		res := wantList(t, p.send(t, "user_exists"), 1)
		if len(res) != 1 || res[0]["id"] != userID {
			t.Errorf("Resources = %v, want %s", res, userID)
		}
	})
	t.Run("retrieve_user", func(t *testing.T) {
		m := p.send(t, "retrieve_user").json(t)
		wantAt(t, m, userID, "id")
		wantAt(t, m, "Test", "name", "givenName")
	})
	t.Run("update_user", func(t *testing.T) {
		r := p.send(t, "update_user", jsonCT...)
		if r.status != http.StatusOK {
			t.Errorf("PUT: %d, want 200", r.status)
		}
		m := s.user(t, "user")
		wantAt(t, m, "Another", "name", "givenName")
		wantAt(t, m, "Excited", "name", "middleName")
		wantAt(t, m, "User", "name", "familyName")
		wantAt(t, m, true, "active")
		// PUT replaces: what the body left out is gone.
		wantAt(t, m, nil, "locale")
		wantAt(t, m, nil, "displayName")
	})
	t.Run("update_user_patch", func(t *testing.T) {
		p.send(t, "update_user_patch", jsonCT...)
		m := s.user(t, "user")
		wantAt(t, m, false, "active")
		wantAt(t, m, "Another", "name", "givenName")
		wantAt(t, m, "test.user@okta.local", "userName")
	})

	var groupID string
	t.Run("create_group", func(t *testing.T) {
		m := p.send(t, "create_group", jsonCT...).json(t)
		groupID, _ = m["id"].(string)
		wantAt(t, m, "Test SCIMv2", "displayName")
	})
	if groupID == "" {
		t.Fatal("no group to continue with")
	}
	s.set("group", groupID)
	p.subst[at(p.recorded(t, "create_group", true), "id").(string)] = groupID

	t.Run("retrieve_group", func(t *testing.T) {
		m := p.send(t, "retrieve_group").json(t)
		wantAt(t, m, "Test SCIMv2", "displayName")
		if ms := memberIDs(t, m); len(ms) != 0 {
			t.Errorf("members = %v, want none", ms)
		}
	})
	t.Run("update_group_name", func(t *testing.T) {
		// The body carries the group's id (ours, substituted): tolerated.
		p.send(t, "update_group_name", jsonCT...)
		wantAt(t, s.get(t, "Groups", "group"), "Test SCIMv2", "displayName")
	})
	t.Run("update_group_membership", func(t *testing.T) {
		// The recording removes a member, adds the provisioned user, then
		// replaces the list with both. The removed one is a member first.
		other := p.e.with(t).createUser(`{"userName":"other@okta.local"}`)["id"].(string)
		s.set("other", other)
		p.subst["89bb1940-b905-4575-9e7f-6f887cfb368e"] = other
		s.run(t, []call{{
			name: "other joins", method: "PATCH", path: "/scim/v2/Groups/{group}", headers: jsonCT,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"{other}"}]}]}`,
		}})
		s.wantMembers(t, "group", "other")
		p.send(t, "update_group_membership", jsonCT...)
		s.wantMembers(t, "group", "user", "other")
		gs, _ := s.user(t, "user")["groups"].([]any)
		if len(gs) != 1 || gs[0].(map[string]any)["value"] != groupID {
			t.Errorf("user.groups = %v, want [%s]", gs, groupID)
		}
	})
}
