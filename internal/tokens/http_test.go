package tokens

import (
	"context"
	"testing"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
		{"abc", "", false},
	}
	for _, tc := range tests {
		got, ok := BearerToken(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClientContext(t *testing.T) {
	if _, ok := ClientFrom(context.Background()); ok {
		t.Fatal("empty context has a client")
	}
	ctx := WithClient(context.Background(), Client{Name: "okta", Scopes: []Scope{ScimWrite}})
	c, ok := ClientFrom(ctx)
	if !ok || c.Name != "okta" || !c.Has(ScimWrite) || c.Has(ScimRead) {
		t.Fatalf("ClientFrom = %+v, %v", c, ok)
	}
}
