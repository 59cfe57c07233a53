package patch

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/adfscim/adfscim/internal/scim"
)

// FuzzApply: Parse and Apply never panic; on error the resource is
// unchanged and the error is a 4xx *scim.Error; on success the result
// still marshals to JSON and the input is unchanged too.
func FuzzApply(f *testing.F) {
	seeds := []string{
		body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y"},{"op":"Replace","path":"active","value":"False"}`),
		body(`{"op":"replace","value":{"name.givenName":"B","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"m"}}`),
		body(`{"op":"add","path":"members","value":[{"value":"a"}]},{"op":"remove","path":"members[value eq \"a\"]"}`),
		body(`{"op":"replace","value":{"id":"2819c223-7f76-453a-919d-413861904646","active":false}}`),
		body(`{"op":"remove","path":"emails[type eq \"home\"].primary"},{"op":"add","path":"age","value":"7"}`),
		body(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"department":"x"}}`),
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, group bool) {
		ops, err := Parse(b)
		if err != nil {
			if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeInvalid {
				t.Fatalf("Parse error %v is not a 400", err)
			}
			return
		}
		rt, base := testUser, baseUser
		if group {
			rt, base = testGroup, baseGroup
		}
		res := decode(t, base)
		snapshot := decode(t, base)
		r, err := Apply(res, ops, rt, Options{ID: userID, External: []string{"members"}})
		if !reflect.DeepEqual(res, snapshot) {
			t.Fatalf("Apply modified its input (err %v)", err)
		}
		if err != nil {
			if se, ok := scim.AsError(err); !ok || se.Code != scim.CodeInvalid {
				t.Fatalf("Apply error %v is not a 400", err)
			}
			return
		}
		out, err := json.Marshal(r.Resource)
		if err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("result is not valid JSON: %s", out)
		}
	})
}
