package patch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

// createdFrom builds the stored resource a POST of a recorded create
// request would have produced: the request body with an id.
func createdFrom(t *testing.T, name, id string) map[string]any {
	t.Helper()
	res := decode(t, string(traceRequest(t, name)))
	res["id"] = id
	return res
}

// TestTraces replays the PATCH requests Entra ID and Okta recorded, in
// sequence on the resource created by the recorded POST, and checks what
// the IdP expects to read back.
func TestTraces(t *testing.T) {
	t.Run("test types", func(t *testing.T) { replayTraces(t, testUser, testGroup) })
	t.Run("project types", func(t *testing.T) {
		replayTraces(t, scim.NewUserResourceType(), scim.NewGroupResourceType())
	})
}

func replayTraces(t *testing.T, testUser, testGroup *scim.ResourceType) {
	t.Run("azuread/update_user", func(t *testing.T) {
		res := createdFrom(t, "azuread/create_user.json", "u-1")
		ops, err := Parse(traceRequest(t, "azuread/update_user.json"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Apply(res, ops, testUser, Options{ID: "u-1"})
		if err != nil {
			t.Fatal(err)
		}
		got := r.Resource
		emails := got["emails"].([]any)
		if len(emails) != 1 || emails[0].(map[string]any)["value"] != "updatedEmail@microsoft.com" || emails[0].(map[string]any)["type"] != "work" {
			t.Errorf("emails = %v", emails)
		}
		if got["name"].(map[string]any)["familyName"] != "updatedFamilyName" || got["name"].(map[string]any)["givenName"] != "givenName" {
			t.Errorf("name = %v", got["name"])
		}
		if got["userName"] != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" || got["active"] != false {
			t.Errorf("userName, active = %v, %v", got["userName"], got["active"])
		}
		if want := []string{"active", "emails", "name", "userName"}; !reflect.DeepEqual(r.Changed, want) {
			t.Errorf("Changed = %q, want %q", r.Changed, want)
		}
	})
	t.Run("azuread/update_group", func(t *testing.T) {
		res := createdFrom(t, "azuread/create_group.json", "g-1")
		ops, err := Parse(traceRequest(t, "azuread/update_group.json"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Apply(res, ops, testGroup, Options{ID: "g-1", External: []string{"members"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Resource["displayName"] != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" {
			t.Errorf("displayName = %v", r.Resource["displayName"])
		}
		// Added, then removed again: the net change removes only that member.
		d := r.External["members"]
		if d == nil || d.RemoveAll || len(d.Added) != 0 || !reflect.DeepEqual(d.Removed, []string{"f648f8d5ea4e4cd38e9c"}) {
			t.Errorf("members delta = %+v", d)
		}
		if _, ok := r.Resource["members"]; ok {
			t.Errorf("members written into the resource: %v", r.Resource["members"])
		}
	})
	t.Run("okta/update_user_patch", func(t *testing.T) {
		res := createdFrom(t, "okta/create_user.json", "u-2")
		ops, err := Parse(traceRequest(t, "okta/update_user_patch.json"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Apply(res, ops, testUser, Options{ID: "u-2"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Resource["active"] != false || !reflect.DeepEqual(r.Changed, []string{"active"}) {
			t.Errorf("active = %v, Changed %q", r.Resource["active"], r.Changed)
		}
	})
	t.Run("okta/group push", func(t *testing.T) {
		res := createdFrom(t, "okta/create_group.json", "abf4dd94-a4c0-4f67-89c9-76b03340cb9b")
		delete(res, "members") // the service keeps members as rows
		opts := Options{ID: "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", External: []string{"members"}}
		ops, err := Parse(traceRequest(t, "okta/update_group_name.json"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := Apply(res, ops, testGroup, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r.Resource["displayName"] != "Test SCIMv2" || len(r.Changed) != 0 {
			t.Errorf("displayName = %v, Changed %q", r.Resource["displayName"], r.Changed)
		}
		ops, err = Parse(traceRequest(t, "okta/update_group_membership.json"))
		if err != nil {
			t.Fatal(err)
		}
		r, err = Apply(r.Resource, ops, testGroup, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := &Delta{RemoveAll: true, Added: []Member{
			{Value: "23a35c27-23d3-4c03-b4c5-6443c09e7173", Display: "test.user@okta.local"},
			{Value: "89bb1940-b905-4575-9e7f-6f887cfb368e", Display: "test.user@okta.local"},
		}}
		if d := r.External["members"]; d == nil || !reflect.DeepEqual(*d, *want) {
			t.Errorf("members delta = %+v, want %+v", d, want)
		}
	})
}

// TestMicrosoftCollectionPatches applies every PATCH body of Microsoft's
// Postman collection (with its variables filled in) to a resource of the
// right type: each must be accepted.
func TestMicrosoftCollectionPatches(t *testing.T) {
	t.Run("test types", func(t *testing.T) { collectionPatches(t, testUser, testGroup) })
	t.Run("project types", func(t *testing.T) {
		collectionPatches(t, scim.NewUserResourceType(), scim.NewGroupResourceType())
	})
}

func collectionPatches(t *testing.T, testUser, testGroup *scim.ResourceType) {
	b, err := os.ReadFile(filepath.Join(traceDir, "..", "microsoft", "scim-tests.postman_collection.json"))
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("collection not available here: %v", err)
		}
		t.Fatal(err)
	}
	type item struct {
		Name    string            `json:"name"`
		Item    []json.RawMessage `json:"item"`
		Request *struct {
			Method string `json:"method"`
			URL    any    `json:"url"`
			Body   struct {
				Raw string `json:"raw"`
			} `json:"body"`
		} `json:"request"`
	}
	var n int
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var it item
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		for _, c := range it.Item {
			walk(c)
		}
		if it.Request == nil || it.Request.Method != "PATCH" {
			return
		}
		n++
		rt, base, id := testUser, baseUser, userID
		if strings.Contains(fmt.Sprint(it.Request.URL), "Groups") {
			rt, base, id = testGroup, baseGroup, "abf4dd94"
		}
		bodyText := strings.NewReplacer("{{id4}}", "u4", "{{1stgroupid}}", id).Replace(it.Request.Body.Raw)
		ops, err := Parse([]byte(bodyText))
		if err != nil {
			t.Errorf("%s: Parse: %v", it.Name, err)
			return
		}
		if _, err := Apply(decode(t, base), ops, rt, Options{ID: id, External: []string{"members"}}); err != nil {
			t.Errorf("%s: Apply: %v", it.Name, err)
		}
	}
	var root struct {
		Item []json.RawMessage `json:"item"`
	}
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	for _, c := range root.Item {
		walk(c)
	}
	if n < 8 {
		t.Errorf("found %d PATCH requests in the collection, want at least 8", n)
	}
}

// TestLargeMembershipPatch: a PATCH adding 1,000 members yields 1,000
// deltas without touching the resource.
func TestLargeMembershipPatch(t *testing.T) {
	var vals []string
	for i := range 1000 {
		vals = append(vals, fmt.Sprintf(`{"value":"user-%04d"}`, i))
	}
	ops, err := Parse([]byte(body(`{"op":"Add","path":"members","value":[` + strings.Join(vals, ",") + `]}`)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Apply(decode(t, baseGroup), ops, testGroup, Options{ID: "abf4dd94", External: []string{"members"}})
	if err != nil {
		t.Fatal(err)
	}
	d := r.External["members"]
	if d == nil || len(d.Added) != 1000 || d.Added[999].Value != "user-0999" || d.RemoveAll || len(d.Removed) != 0 {
		t.Fatalf("delta: %d added", len(d.Added))
	}
	if !sameJSON(t, r.Resource, baseGroup) {
		t.Errorf("resource changed: %s", canon(t, r.Resource))
	}
}
