package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/adfscim/adfscim/internal/store"
)

const secret = "Hunter2-S3cr3t!"

func TestIsSecretName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true},
		{"Password", true},
		{"PASSWORD", true},
		{"newPassword", true},
		{"client_secret", true},
		{"clientSecret", true},
		{"accessToken", true},
		{"bearer-token", true},
		{"urn:ietf:params:scim:schemas:core:2.0:User:password", true},
		{"x.credentials", true},
		{"apiKey", true},
		{"userName", false},
		{"displayName", false},
		{"tokenName", false},
		{"emails", false},
		{"active", false},
		{"members", false},
	}
	for _, tc := range tests {
		if got := IsSecretName(tc.name); got != tc.want {
			t.Errorf("IsSecretName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"top-level password", `{"userName":"a","password":"` + secret + `"}`, `{"userName":"a"}`},
		{"any case", `{"PassWord":"` + secret + `","Client_Secret":"` + secret + `"}`, `{}`},
		{"nested in objects and arrays", `{"x":[{"y":{"apiKey":"` + secret + `","keep":1}}]}`, `{"x":[{"y":{"keep":1}}]}`},
		{"patch op on the password path", `{"op":"replace","path":"password","value":"` + secret + `"}`, `{"op":"replace","path":"password","value":"[redacted]"}`},
		{"patch op with a capitalised Value", `{"op":"Replace","path":"Password","Value":"` + secret + `"}`, `{"op":"Replace","path":"Password","Value":"[redacted]"}`},
		{"patch op with capitalised member names", `{"Op":"Replace","Path":"password","Value":"` + secret + `"}`, `{"Op":"Replace","Path":"password","Value":"[redacted]"}`},
		{"patch op on a URN path", `{"op":"add","path":"urn:x:User:clientSecret","value":"` + secret + `"}`, `{"op":"add","path":"urn:x:User:clientSecret","value":"[redacted]"}`},
		{"path-less patch with a password member", `{"op":"replace","value":{"active":false,"password":"` + secret + `"}}`, `{"op":"replace","value":{"active":false}}`},
		{"filter value that looks like a secret name is not one", `{"op":"replace","path":"emails[type eq \"token\"].value","value":"a@b.c"}`, `{"op":"replace","path":"emails[type eq \"token\"].value","value":"a@b.c"}`},
		{"scalar", `"plain"`, `"plain"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in, want any
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(in)
			got := Redact(in)
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				t.Errorf("Redact = %s, want %s", g, tc.want)
			}
			if after, _ := json.Marshal(in); !bytes.Equal(before, after) {
				t.Error("Redact modified its input")
			}
		})
	}
}

// TestNoSecretReachesTheStore appends records carrying passwords in every
// shape the IdPs send and checks that no stored byte contains the secret.
func TestNoSecretReachesTheStore(t *testing.T) {
	okta := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann@example.com","password":"` + secret + `","groups":[],"name":{"givenName":"Ann"}}`
	entraPatch := `[{"op":"Replace","path":"password","value":"` + secret + `"},{"op":"Replace","path":"active","value":"False"}]`
	pathless := `[{"op":"replace","value":{"active":false,"password":"` + secret + `","urn:ietf:params:scim:schemas:core:2.0:User:password":"` + secret + `"}}]`
	type creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	fromResource, err := ChangesFromResource(json.RawMessage(okta))
	if err != nil {
		t.Fatal(err)
	}
	fromPatch, err := ChangesFromPatch(json.RawMessage(entraPatch))
	if err != nil {
		t.Fatal(err)
	}
	fromPathless, err := ChangesFromPatch(json.RawMessage(pathless))
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{
		{Actor: "okta", Action: ActionUserCreate, Changes: fromResource},
		{Actor: "entra", Action: ActionUserPatch, Changes: fromPatch},
		{Actor: "okta", Action: ActionUserPatch, Changes: fromPathless},
		// Callers that forget to redact are covered by Append itself.
		{Actor: "entra", Action: ActionUserPatch, Changes: []Change{
			{Op: "replace", Path: "password", Value: secret},
			{Op: "replace", Path: "urn:ietf:params:scim:schemas:core:2.0:User:PASSWORD", Value: secret},
			{Op: "add", Value: map[string]any{"Password": secret, "x": []any{map[string]any{"token": secret}}}},
			{Op: "set", Path: "login", Value: creds{User: "ann", Password: secret}},
			{Op: "set", Path: "raw", Value: json.RawMessage(`{"clientSecret":"` + secret + `"}`)},
		}},
	}
	s := openBolt(t)
	if err := New(s, Options{}).Append(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.Scan(context.Background(), Table, func(e store.Entity) error {
		n++
		if bytes.Contains(e.Data, []byte(secret)) || bytes.Contains(e.Data, []byte("Hunter2")) {
			t.Errorf("row %s/%s holds the secret: %s", e.PartitionKey, e.RowKey, e.Data)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < len(recs) {
		t.Fatalf("scanned %d rows, want at least %d", n, len(recs))
	}
	// What is kept is still useful: the attribute names and the other values.
	p, err := New(s, Options{}).Query(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p.Records)
	if got := fromResource[2]; got.Path != "password" || got.Value != Redacted {
		t.Errorf("the Okta password is listed as %+v, want its name with %q", got, Redacted)
	}
	for _, want := range []string{`"path":"password","value":"[redacted]"`, `"path":"userName","value":"ann@example.com"`, `"path":"active","value":"False"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("trail lacks %s", want)
		}
	}
}

func FuzzRedactNeverLeaks(f *testing.F) {
	f.Add(`{"a":{"password":"S"}}`, "password")
	f.Add(`[{"op":"replace","path":"x","value":"S"}]`, "Client_Secret")
	f.Fuzz(func(t *testing.T, doc, key string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil || !IsSecretName(key) {
			return
		}
		if vb, _ := json.Marshal(v); bytes.Contains(vb, []byte(secret)) {
			return // the document carries the value outside a secret name
		}
		// Plant the secret under the secret key inside whatever doc is.
		planted := map[string]any{"wrap": v, key: secret, "op": "add", "path": key, "value": secret}
		b, _ := json.Marshal(Redact([]any{planted, v}))
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("secret leaked: %s", b)
		}
	})
}
